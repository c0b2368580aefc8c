"""The figure index: OUT/index.html, every saved figure (PNG, linked to its PDF) with its caption
and the command that made its result, grouped by what it shows; what was skipped and the command
that would make it. Links are relative, so the folder can be moved, zipped or served as it is.

To see it as a reader does: ``chromium --headless --no-sandbox --window-size=1100,2400
--screenshot=index.png file://$PWD/OUT/index.html`` (tests/test_figures.py runs this where chromium
is installed)."""

import html
from pathlib import Path

from harness import store

INDEX = "index.html"
# figure-name prefix -> group heading, in reading order (the theory first, the experiments after)
GROUPS = (("theory", "Theory: the paper's rates, exactly"), ("sim", "Simulation: finite trees and codes"),
          ("rebound", "Rebound: does the fine-tuned model return towards pre-training?"),
          ("resist", "Resistance: does the inverse path end closer than the forward one?"),
          ("counterfactual", "Counterfactual pre-training: does the pre-training data pull back?"))
STYLE = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;line-height:1.4}img{max-width:100%}"
         "figure{margin:2em 0}figcaption{font-size:0.92em}code{background:#f4f4f4}")


def group_of(name: str) -> str:
    return next((title for prefix, title in GROUPS if name.startswith(prefix)), "Other figures")


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _figure(entry: dict) -> str:
    esc = html.escape
    name = entry["name"]
    return (f"<figure id='{esc(name)}'><h3>{esc(name)}</h3><a href='{esc(entry['pdf'])}'><img alt='{esc(name)}' "
            f"src='{esc(entry['png'])}'></a><figcaption>{esc(entry['caption'])}<br>Made by: "
            f"<code>{esc(entry['command'])}</code> (<a href='{esc(entry['pdf'])}'>PDF</a>)</figcaption></figure>")


def page(built: list[dict], skipped: list[dict], title: str = "Figures") -> str:
    """The index as HTML text (``built``: the entries ``style.save`` returned)."""
    esc = html.escape
    groups: dict[str, list[dict]] = {}
    for entry in built:
        groups.setdefault(group_of(entry["name"]), []).append(entry)
    order = [t for _, t in GROUPS if t in groups] + (["Other figures"] if "Other figures" in groups else [])
    out = [f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
           f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>",
           f"<p>{len(built)} figures from saved results; each image links to its PDF.</p><nav><ul>",
           *(f"<li><a href='#{_anchor(t)}'>{esc(t)}</a> ({len(groups[t])})</li>" for t in order),
           *(["<li><a href='#skipped'>Skipped</a></li>"] if skipped else []), "</ul></nav>"]
    for t in order:
        out.append(f"<section id='{_anchor(t)}'><h2>{esc(t)}</h2>" + "".join(map(_figure, groups[t])) + "</section>")
    if skipped:
        items = "".join(f"<li>{esc(s['figure'])}: {esc(s['reason'])}"
                        + (f" (make it: <code>{esc(s['make'])}</code>)" if s.get("make") else "") + "</li>"
                        for s in skipped)
        out.append(f"<section id='skipped'><h2>Skipped</h2><ul>{items}</ul></section>")
    out.append("</body></html>\n")
    return "\n".join(out)


def write(out_dir, built: list[dict], skipped: list[dict]) -> Path:
    path = Path(out_dir) / INDEX
    path.parent.mkdir(parents=True, exist_ok=True)
    store.atomic_write_text(path, page(built, skipped))
    return path
