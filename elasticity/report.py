"""The report: results/report/index.html (figures embedded, each with its caption and the
command that made it; the audit table; the errata) and results/report/report.md (the same,
linking the figure files). Only figures that were built are linked."""

import base64
import html
import os
import time
from pathlib import Path

from elasticity import render, store

ERRATA = Path(__file__).resolve().parents[1] / "docs" / "errata.md"


def _audit_rows(root: Path, skipped: list[dict]) -> list[dict] | None:
    """The audit's findings, or None (a damaged result is listed among the skipped items)."""
    path = root / "audit" / "default"
    if not (path / "result.json").is_file():
        return None
    try:
        return store.read_result(path, experiment="audit")["metrics"]
    except store.StoreError as err:
        skipped.append({"figure": "audit table", "reason": str(err)})
        return None


def _errata_text() -> str | None:
    return ERRATA.read_text() if ERRATA.is_file() else None


def write(
    root, built: list[dict], skipped: list[dict], figures_dir=None, title: str = ""
) -> tuple[Path, Path]:
    root = Path(root)
    figures_dir = Path(figures_dir) if figures_dir else root / "figures"
    out = root / "report"
    out.mkdir(parents=True, exist_ok=True)
    existing = [e for e in built if (figures_dir / e["png"]).is_file()]
    skipped = list(skipped)
    audit, errata = _audit_rows(root, skipped), _errata_text()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    title = title or "Alignment elasticity: theory and experiment"
    md = _markdown(title, stamp, existing, skipped, audit, errata, Path(os.path.relpath(figures_dir, out)))
    page = _html(title, stamp, existing, skipped, audit, errata, figures_dir)
    (out / "report.md").write_text(md)
    (out / "index.html").write_text(page)
    return out / "index.html", out / "report.md"


def _markdown(title, stamp, entries, skipped, audit, errata, rel: Path) -> str:
    lines = [f"# {title}", "", f"Built {stamp} from saved results.", ""]
    if audit:
        lines += ["## Audit of the paper's closed forms", "", render.audit_markdown(audit), ""]
    lines += ["## Figures", ""]
    for e in entries:
        lines += [
            f"### {e['name']}",
            "",
            f"![{e['name']}]({rel / e['png']})",
            "",
            e["caption"],
            "",
            f"Made by: `{e['command']}`",
            "",
        ]
        if "table" in e:
            lines += ["| pair | inverse (nats/token) | forward (nats/token) | verdict |", "|---|---|---|---|"]
            lines += [
                f"| {r['pair']} | {r['inverse']} | {r['forward']} | {r['verdict']} |" for r in e["table"]
            ]
            lines.append("")
    if skipped:
        lines += ["## Skipped figures", ""] + [f"- {s['figure']}: {s['reason']}" for s in skipped] + [""]
    if errata:
        lines += ["## Errata (docs/errata.md)", "", errata.replace("\n# ", "\n### ")]
    return "\n".join(lines) + "\n"


def _html(title, stamp, entries, skipped, audit, errata, figures_dir: Path) -> str:
    esc = html.escape
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title><style>"
        "body{font-family:sans-serif;max-width:980px;margin:2em auto;line-height:1.4}"
        "img{max-width:100%}table{border-collapse:collapse;font-size:0.85em}"
        "td,th{border:1px solid #ccc;padding:3px 6px}code,pre{background:#f4f4f4}"
        "pre{white-space:pre-wrap;padding:1em}figure{margin:2em 0}</style></head><body>",
        f"<h1>{esc(title)}</h1><p>Built {esc(stamp)} from saved results.</p>",
    ]
    if audit:
        rows = "".join(
            f"<tr><td>{esc(r['claim'])}</td><td>{esc(r['verdict'])}</td><td>{esc(r['evidence'])}</td></tr>"
            for r in audit
        )
        parts.append(
            f"<h2>Audit of the paper's closed forms</h2><table><tr><th>claim</th><th>verdict</th>"
            f"<th>evidence</th></tr>{rows}</table>"
        )
    parts.append("<h2>Figures</h2>")
    for e in entries:
        data = base64.b64encode((figures_dir / e["png"]).read_bytes()).decode()
        parts.append(
            f"<figure id='{esc(e['name'])}'><img alt='{esc(e['name'])}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{esc(e['caption'])}<br>Made by: <code>{esc(e['command'])}</code></figcaption>"
            "</figure>"
        )
        if "table" in e:
            rows = "".join(
                f"<tr><td>{esc(r['pair'])}</td><td>{esc(r['inverse'])}</td><td>{esc(r['forward'])}</td>"
                f"<td>{esc(r['verdict'])}</td></tr>"
                for r in e["table"]
            )
            parts.append(
                "<table><tr><th>pair</th><th>inverse (nats/token)</th><th>forward (nats/token)</th>"
                f"<th>verdict</th></tr>{rows}</table>"
            )
    if skipped:
        items = "".join(f"<li>{esc(s['figure'])}: {esc(s['reason'])}</li>" for s in skipped)
        parts.append(f"<h2>Skipped figures</h2><ul>{items}</ul>")
    if errata:
        parts.append(f"<h2>Errata (docs/errata.md)</h2><pre>{esc(errata)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
