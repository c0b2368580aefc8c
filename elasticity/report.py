"""The report: <out>/report/index.html (figures embedded) and report.md (figures linked).

Sections: the findings (one line per claim of the paper, with its verdict, interval, seeds,
control, and whether the run is evidence or a smoke test: ``elasticity.findings``); a table of
contents; the audit of the paper's closed forms (once, each claim stated in words) with the
theory figures; the simulation figures; then one section per experiment run: its numbers as a
table (verdicts with intervals, crossings, Table 2) and its own figures, each with its caption
and the command that made it; what was skipped and the command that would make it; the errata
(docs/errata.md, without its copy of the audit table) rendered as HTML. Only figures that exist
are linked.
"""

import base64
import html
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from elasticity import findings, render
from figures.build import MAKES
from harness import store

ERRATA = Path(__file__).resolve().parents[1] / "docs" / "errata.md"
GLOSSARY = ERRATA.parent / "glossary.md"  # every symbol and term the report prints, in plain words


# each experiment's table as the report shows it (``elasticity export --table summary`` writes the same
# quantities as typed numbers)
TABLES = {"audit": render.audit_table, "theorem": render.theorem_table, "counterfactual": render.counterfactual_table,
          "resist": render.resist_table, "rebound": render.rebound_table, "scaling": render.scaling_table}


@dataclass
class Section:
    """One part of the report: a heading, the run's table (if any) and the figures that belong to it."""

    title: str
    table: tuple[list[str], list[list[str]]] | None = None
    figures: list[dict] = field(default_factory=list)
    run_id: str = ""
    experiment: str = ""
    smoke: bool = False

    @property
    def anchor(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


def tables(root, skipped: list[dict]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of every finished run's table (for callers that want the tables)."""
    return [(s.title, *s.table) for s in _run_sections(Path(root), skipped)]


def _run_sections(root: Path, skipped: list[dict]) -> list[Section]:
    """A section per finished run with a table: the audit's default run, then every
    theorem, counterfactual, resist and rebound run; damaged results go to skipped."""
    folders = [root / "audit" / "default"] if (root / "audit" / "default" / store.RESULT_FILE).is_file() else []
    for experiment in (name for name in TABLES if name != "audit"):
        folders += sorted(p.parent for p in (root / experiment).glob(f"*/{store.RESULT_FILE}"))
    out = []
    for folder in folders:
        experiment = folder.parent.name
        try:
            doc = store.read_result(folder, experiment=experiment)  # its stored id checked against the folder
            title, headers, rows = TABLES[experiment](doc["run_id"], doc)
        except store.StoreError as err:
            skipped.append({"figure": f"{experiment} table", "reason": str(err)})
            continue
        out.append(Section(title, (headers, rows), run_id="" if experiment == "audit" else doc["run_id"],
                           experiment=experiment))
    return out


def sections(root, built: list[dict], skipped: list[dict], found: list[dict]) -> list[Section]:
    """The report's sections in order: the audit with the theory figures, the simulation, then a
    section per experiment run with its table and its own figures; a figure no section claims
    goes to "Other figures". Runs graded smoke tests are labelled so, in titles and captions."""
    smoke = {r["run"] for r in found if r["grade"].startswith("smoke")}
    runs = _run_sections(Path(root), skipped)
    audit = next((s for s in runs if not s.run_id), Section("Audit of the paper's closed forms"))
    audit.title = "Audit of the paper's closed forms, and the theory"
    parts = [audit, Section("Simulation: finite trees and codes"),
             *(s for s in runs if s.run_id), Section("Other figures")]
    for s in parts:
        if s.run_id in smoke:
            s.smoke, s.title = True, f"{s.title} (smoke test, not evidence)"
    for entry in built:
        name = entry["name"]
        home = next((s for s in parts[2:-1] if name.startswith(f"{s.experiment}_")
                     and (name.endswith(s.run_id) or f"_{s.run_id}_" in name)), None)
        if home is None:
            home = parts[0] if name.startswith("theory") else parts[1] if name.startswith("sim") else parts[-1]
        home.figures.append(entry)
    return [s for s in parts if s.table or s.figures]


def write(root, built: list[dict], skipped: list[dict], figures_dir=None, title: str = "",
          out=None) -> tuple[Path, Path]:
    """Write the report into ``out`` (default <root>/report); returns (index.html, report.md)."""
    root = Path(root)
    figures_dir = Path(figures_dir) if figures_dir else root / "figures"
    out = Path(out) if out else root / "report"
    out.mkdir(parents=True, exist_ok=True)
    skipped = list(skipped)
    found = findings.findings(root)
    parts = sections(root, [e for e in built if (figures_dir / e["png"]).is_file()], skipped, found)
    for item in skipped:
        item.setdefault("make", MAKES.get(item["figure"].split("/")[0].split(" ")[0], ""))  # tables skipped here
    errata = _errata_body(ERRATA.read_text()) if ERRATA.is_file() else None
    linked = _copy_glossary(out)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    title = title or "Alignment elasticity: theory and experiment"
    rel = Path(os.path.relpath(figures_dir, out))
    index = rel / "index.html" if (figures_dir / "index.html").is_file() else None  # written by figures.index
    md = _markdown(title, stamp, found, parts, skipped, errata, rel, linked, index)
    page = _html(title, stamp, found, parts, skipped, errata, figures_dir, linked, index)
    store.atomic_write_text(out / "report.md", md)
    store.atomic_write_text(out / "index.html", page)
    return out / "index.html", out / "report.md"


def _copy_glossary(out: Path) -> bool:
    """docs/glossary.md copied beside the report (as .md and rendered .html), so the report's link
    survives the report being moved or mailed; False where the repository has no glossary."""
    if not GLOSSARY.is_file():
        return False
    text = GLOSSARY.read_text()
    store.atomic_write_text(out / "glossary.md", text)
    store.atomic_write_text(out / "glossary.html", "<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
                            "<title>Glossary</title></head><body>" + _markdown_to_html(text) + "</body></html>\n")
    return True


GLOSSARY_WORDS = "Symbols and terms (k, l, Q1, Q2, f, alpha, beta, gamma_j, SESOI, operating point, valid mass)"


def _glossary_line(linked: bool, href: str) -> tuple[str, str]:
    """(markdown, html) of the sentence that sends a reader to the glossary."""
    if not linked:
        text = f"{GLOSSARY_WORDS} are defined in docs/glossary.md in the repository."
        return text, html.escape(text)
    return (f"{GLOSSARY_WORDS} are defined in the glossary, [docs/glossary.md]({href}.md).",
            f"{html.escape(GLOSSARY_WORDS)} are defined in the glossary, <a href='{href}.html'>docs/glossary.md</a>.")


def _errata_body(text: str) -> str:
    """docs/errata.md under the report's "Errata" heading: its title dropped, its headings one
    level down (## -> ###), its copy of the audit table dropped (the audit section shows it);
    every other table (the k*(alpha) boundary) kept whole."""
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    body, skipping = [], False
    for line in lines:
        if not line.startswith("|"):
            skipping = False
        elif not body or not body[-1].startswith("|"):  # a table's header line decides for the whole table
            skipping = skipping or _is_audit_table(line)
        if not skipping:
            body.append(line)
    text = "\n".join(f"#{line}" if line.startswith("#") else line for line in body
                     if not re.fullmatch(r"<!-- (generated|end): [\w-]+ -->", line))  # docs_tables' markers
    return re.sub(r"\(Generated from the committed audit result by .*?current output\.\)",
                  "(The table is in the audit section above.)", text, flags=re.S)


def _is_audit_table(header: str) -> bool:
    """The audit's own table, by its header row (render.audit_table's columns)."""
    return [c.strip() for c in header.strip("|").split("|")][:2] == ["claim", "what the paper says"]


def _caption(section: Section, entry: dict) -> str:
    return ("Smoke test, not evidence. " if section.smoke else "") + entry["caption"]


def _contents(parts: list[Section], skipped, errata) -> list[tuple[str, str]]:
    """(title, anchor) of every section, in order."""
    out = [("Findings", "findings"), *((s.title, s.anchor) for s in parts)]
    return out + ([("Skipped", "skipped")] if skipped else []) + ([("Errata", "errata")] if errata else [])


def _markdown(title, stamp, found, parts, skipped, errata, rel: Path, linked: bool = False, index=None) -> str:
    lines = [f"# {title}", "", f"Built {stamp} from saved results. {_glossary_line(linked, 'glossary')[0]}"
             + (f" Every figure with its PDF: [the figure index]({index})." if index else ""), "",
             "## Findings", ""]
    lines += [f"- **[{r['grade']}]** {r['claim']} ({findings.run_label(r)}): **{r['verdict']}**; "
              f"{r['effect']}; {r['control']}" for r in found] or ["- no finished results"]
    lines += ["", "## Contents", ""]
    lines += [f"- [{name}](#{anchor})" for name, anchor in _contents(parts, skipped, errata)] + [""]
    for s in parts:
        lines += [f"## {s.title}", ""]
        if s.table:
            headers, rows = s.table
            lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
            lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows] + [""]
        for e in s.figures:
            lines += [f"### {e['name']}", "", f"![{e['name']}]({rel / e['png']})", "", _caption(s, e), "",
                      f"Made by: `{e['command']}`", ""]
    if skipped:
        lines += ["## Skipped", ""] + [f"- {s['figure']}: {s['reason']}" + (f" (make it: `{s['make']}`)"
                                                                          if s["make"] else "") for s in skipped]
        lines.append("")
    if errata:
        lines += ["## Errata", "", errata, ""]
    return "\n".join(lines)


def _table_html(headers, rows) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _markdown_to_html(text: str) -> str:
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # the optional renderer is missing: the text as it is
        return f"<pre>{html.escape(text)}</pre>"
    return MarkdownIt("commonmark").enable("table").render(text)


def _html(title, stamp, found, parts, skipped, errata, figures_dir: Path, linked: bool = False, index=None) -> str:
    esc = html.escape
    out = [
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title><style>"
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}"
        "img{max-width:100%}table{border-collapse:collapse;font-size:0.85em;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}code,pre{background:#f4f4f4}"
        "pre{white-space:pre-wrap;padding:1em}figure{margin:2em 0}</style></head><body>",
        f"<h1>{esc(title)}</h1><p>Built {esc(stamp)} from saved results. {_glossary_line(linked, 'glossary')[1]}"
        + (f" Every figure with its PDF: <a href='{esc(str(index))}'>the figure index</a>." if index else "") + "</p>",
        "<section id='findings'><h2>Findings</h2><ul>",
        *(f"<li><b>[{esc(r['grade'])}]</b> {esc(r['claim'])} ({esc(findings.run_label(r))}): "
          f"<b>{esc(r['verdict'])}</b>; {esc(r['effect'])}; {esc(r['control'])}</li>" for r in found),
        "</ul></section><nav><h2>Contents</h2><ul>",
        *(f"<li><a href='#{anchor}'>{esc(name)}</a></li>" for name, anchor in _contents(parts, skipped, errata)),
        "</ul></nav>",
    ]
    for s in parts:
        out.append(f"<section id='{s.anchor}'><h2>{esc(s.title)}</h2>" + (_table_html(*s.table) if s.table else ""))
        for e in s.figures:
            data = base64.b64encode((figures_dir / e["png"]).read_bytes()).decode()
            out.append(f"<figure id='{esc(e['name'])}'><h3>{esc(e['name'])}</h3><img alt='{esc(e['name'])}' "
                       f"src='data:image/png;base64,{data}'><figcaption>{esc(_caption(s, e))}<br>Made by: "
                       f"<code>{esc(e['command'])}</code></figcaption></figure>")
        out.append("</section>")
    if skipped:
        items = "".join(f"<li>{esc(s['figure'])}: {esc(s['reason'])}"
                        + (f" (make it: <code>{esc(s['make'])}</code>)" if s["make"] else "") + "</li>"
                        for s in skipped)
        out.append(f"<section id='skipped'><h2>Skipped</h2><ul>{items}</ul></section>")
    if errata:
        out.append(f"<section id='errata'><h2>Errata</h2>{_markdown_to_html(errata)}</section>")
    out.append("</body></html>")
    return "\n".join(out)
