"""The report: <out>/report/index.html (figures embedded) and report.md (figures linked).

Sections: the findings (one line per claim of the paper, with its verdict, interval, seeds,
control, and whether the run is evidence or a smoke test: ``elasticity.findings``); a table of
contents; the audit of the paper's closed forms (once); the experiments' numbers as tables
(verdicts with intervals, crossings, Table 2), read from the result files; every figure with
its caption and the command that made it; what was skipped and the command that would make it;
the errata (docs/errata.md) rendered as HTML. Only figures that exist are linked.
"""

import base64
import html
import os
import time
from pathlib import Path

from elasticity import findings, render
from figures.build import MAKES
from harness import store

ERRATA = Path(__file__).resolve().parents[1] / "docs" / "errata.md"


# each experiment's table as the report shows it (``elasticity export --table summary`` writes the same
# quantities as typed numbers)
TABLES = {"audit": render.audit_table, "counterfactual": render.counterfactual_table, "resist": render.resist_table,
          "rebound": render.rebound_table}


def tables(root, skipped: list[dict]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of every finished run's table: the audit's default run, then every
    counterfactual, resist and rebound run; damaged results go to skipped."""
    root = Path(root)
    folders = [root / "audit" / "default"] if (root / "audit" / "default" / store.RESULT_FILE).is_file() else []
    for experiment in ("counterfactual", "resist", "rebound"):
        folders += sorted(p.parent for p in (root / experiment).glob(f"*/{store.RESULT_FILE}"))
    out = []
    for folder in folders:
        experiment = folder.parent.name
        try:
            out.append(TABLES[experiment](folder.name, store.read_result(folder, experiment=experiment)))
        except store.StoreError as err:
            skipped.append({"figure": f"{folder.parent.name} table", "reason": str(err)})
    return out


def write(root, built: list[dict], skipped: list[dict], figures_dir=None, title: str = "",
          out=None) -> tuple[Path, Path]:
    """Write the report into ``out`` (default <root>/report); returns (index.html, report.md)."""
    root = Path(root)
    figures_dir = Path(figures_dir) if figures_dir else root / "figures"
    out = Path(out) if out else root / "report"
    out.mkdir(parents=True, exist_ok=True)
    existing = [e for e in built if (figures_dir / e["png"]).is_file()]
    skipped = list(skipped)
    numbers = tables(root, skipped)
    found = findings.findings(root)
    smoke = {r["run"] for r in found if r["grade"] != "evidence"}
    numbers = [(f"{name} (smoke test, not evidence)" if name.rsplit(": ", 1)[-1] in smoke else name, h, rows)
               for name, h, rows in numbers]
    for item in skipped:
        item.setdefault("make", MAKES.get(item["figure"].split("/")[0].split(" ")[0], ""))  # tables skipped here
    errata = ERRATA.read_text() if ERRATA.is_file() else None
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    title = title or "Alignment elasticity: theory and experiment"
    md = _markdown(title, stamp, found, existing, skipped, numbers, errata, Path(os.path.relpath(figures_dir, out)))
    page = _html(title, stamp, found, existing, skipped, numbers, errata, figures_dir)
    store.atomic_write_text(out / "report.md", md)
    store.atomic_write_text(out / "index.html", page)
    return out / "index.html", out / "report.md"


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _sections(entries, skipped, numbers, errata) -> list[str]:
    return (["Findings"] + [t for t, _, _ in numbers] + (["Figures"] if entries else [])
            + (["Skipped"] if skipped else []) + (["Errata"] if errata else []))


def _markdown(title, stamp, found, entries, skipped, numbers, errata, rel: Path) -> str:
    lines = [f"# {title}", "", f"Built {stamp} from saved results.", "", "## Findings", ""]
    lines += [f"- **[{r['grade']}]** {r['claim']} ({findings.run_label(r)}): **{r['verdict']}**; "
              f"{r['effect']}; {r['control']}" for r in found] or ["- no finished results"]
    lines += ["", "## Contents", ""]
    lines += [f"- [{s}](#{_anchor(s)})" for s in _sections(entries, skipped, numbers, errata)] + [""]
    for name, headers, rows in numbers:
        lines += [f"## {name}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows] + [""]
    if entries:
        lines += ["## Figures", ""]
    for e in entries:
        lines += [f"### {e['name']}", "", f"![{e['name']}]({rel / e['png']})", "", e["caption"], "",
                  f"Made by: `{e['command']}`", ""]
    if skipped:
        lines += ["## Skipped", ""] + [f"- {s['figure']}: {s['reason']}" + (f" (make it: `{s['make']}`)"
                                                                          if s["make"] else "") for s in skipped]
        lines.append("")
    if errata:
        lines += ["## Errata", "", errata.replace("\n# ", "\n### ").replace("\n## ", "\n### "), ""]
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
    return MarkdownIt("commonmark").enable("table").render(text.replace("\n# ", "\n### ").replace("\n## ", "\n### "))


def _html(title, stamp, found, entries, skipped, numbers, errata, figures_dir: Path) -> str:
    esc = html.escape
    parts = [
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title><style>"
        "body{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}"
        "img{max-width:100%}table{border-collapse:collapse;font-size:0.85em;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}code,pre{background:#f4f4f4}"
        "pre{white-space:pre-wrap;padding:1em}figure{margin:2em 0}</style></head><body>",
        f"<h1>{esc(title)}</h1><p>Built {esc(stamp)} from saved results.</p>",
        "<section id='findings'><h2>Findings</h2><ul>",
        *(f"<li><b>[{esc(r['grade'])}]</b> {esc(r['claim'])} ({esc(findings.run_label(r))}): "
          f"<b>{esc(r['verdict'])}</b>; {esc(r['effect'])}; {esc(r['control'])}</li>" for r in found),
        "</ul></section><nav><h2>Contents</h2><ul>",
        *(f"<li><a href='#{_anchor(s)}'>{esc(s)}</a></li>" for s in _sections(entries, skipped, numbers, errata)),
        "</ul></nav>",
    ]
    for name, headers, rows in numbers:
        parts.append(f"<section id='{_anchor(name)}'><h2>{esc(name)}</h2>{_table_html(headers, rows)}</section>")
    if entries:
        parts.append("<section id='figures'><h2>Figures</h2>")
        for e in entries:
            data = base64.b64encode((figures_dir / e["png"]).read_bytes()).decode()
            parts.append(f"<figure id='{esc(e['name'])}'><img alt='{esc(e['name'])}' src='data:image/png;base64,"
                         f"{data}'><figcaption>{esc(e['caption'])}<br>Made by: <code>{esc(e['command'])}</code>"
                         f"</figcaption></figure>")
        parts.append("</section>")
    if skipped:
        items = "".join(f"<li>{esc(s['figure'])}: {esc(s['reason'])}"
                        + (f" (make it: <code>{esc(s['make'])}</code>)" if s["make"] else "") + "</li>"
                        for s in skipped)
        parts.append(f"<section id='skipped'><h2>Skipped</h2><ul>{items}</ul></section>")
    if errata:
        parts.append(f"<section id='errata'><h2>Errata</h2>{_markdown_to_html(errata)}</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
