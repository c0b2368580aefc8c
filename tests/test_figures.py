"""Figures and the report from fixture result files (tests/fixtures/results, written by
`elasticity reproduce --preset quick` for theory and simulation, tests/fixtures/make_fixtures.py
for the experiments), under the Agg backend."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console import run_cli
from elasticity import report
from figures import counterfactual
from figures.build import build_all
from harness import store

# ELASTICITY_TEST_RESULTS: another copy of the fixtures (one upgraded to the current schema while the
# committed ones wait to be regenerated)
FIXTURES = Path(os.environ.get("ELASTICITY_TEST_RESULTS") or Path(__file__).parent / "fixtures" / "results")
EXPECTED = {"theory_gamma_vs_l", "theory_ratio_vs_k", "theory_sign_plane", "theory_closed_forms",
            "sim_mc_vs_exact", "sim_error_vs_m", "sim_huffman_band", "rebound_micro-dpo",
            *(f"resist_{run.name}" for run in (FIXTURES / "resist").iterdir()),
            "rebound_micro-sft-imdb", "theory_map_small",
            "rebound_cpu-full-sft_size", "rebound_cpu-full-sft_pretraining",
            *(f"counterfactual_{kind}_{run.name}" for kind, drawn in (
                ("effect", lambda doc: True), ("controls", counterfactual.has_controls),
                ("k", counterfactual.has_k_axis))
              for run in (FIXTURES / "counterfactual").iterdir()
              if drawn(json.loads((run / "result.json").read_text()))),
            *(f"theorem_{kind}_{run.name}" for kind in ("slopes", "sign", "capacity")
              for run in (FIXTURES / "theorem").iterdir()),
            *(f"scaling_{kind}_{run.name}" for kind in ("params", "examples", "slopes")
              for run in (FIXTURES / "scaling").iterdir())}


@pytest.fixture()
def results(tmp_path):
    return Path(shutil.copytree(FIXTURES, tmp_path / "results"))


def test_every_figure_builds_from_fixtures(results):
    built, skipped = build_all(results)
    assert skipped == [] and {e["name"] for e in built} == EXPECTED
    for entry in built:
        for ext in ("png", "pdf", "json"):
            assert (results / "figures" / f"{entry['name']}.{ext}").stat().st_size > 0
        assert entry["caption"] and entry["command"].split()[0] in ("elasticity", "tests/fixtures/make_fixtures.py")


def test_a_missing_or_malformed_result_skips_only_its_figures(results):
    shutil.rmtree(results / "huffman")
    (next((results / "sim-convergence").glob("*/result.json"))).write_text("{not json")
    doc = json.loads((results / "rebound" / "micro-dpo" / "result.json").read_text())
    del doc["metrics"]["curves"]  # resealed: the schema check, not the checksum, names what is missing
    (results / "rebound" / "micro-dpo" / "result.json").write_text(json.dumps(store.sealed(doc)))
    built, skipped = build_all(results)
    reasons = {s["figure"]: s["reason"] for s in skipped}
    assert set(reasons) == {"sim_huffman_band", "sim_error_vs_m", "rebound/micro-dpo"}
    assert "no result file at" in reasons["sim_huffman_band"]
    assert "not valid JSON" in reasons["sim_error_vs_m"]
    assert reasons["rebound/micro-dpo"].endswith("micro-dpo/result.json: missing field 'metrics.curves'")
    gone = {"sim_huffman_band", "sim_error_vs_m", "rebound_micro-dpo"}
    assert {e["name"] for e in built} == EXPECTED - gone


def test_report_links_only_figures_that_exist(results):
    built, skipped = build_all(results)
    ghost = {**built[0], "name": "ghost", "png": "ghost.png", "pdf": "ghost.pdf"}
    page, md = report.write(results, [*built, ghost], skipped)
    html, text = page.read_text(), md.read_text()
    assert "ghost" not in html and "ghost" not in text
    assert html.count("<figure") == len(built) and text.count("![") == len(built)
    assert html.count("Audit of the paper&#x27;s closed forms") == 2  # in the contents and once as a section
    assert "| erratum |" in text and "Table 2 analogue" in text and "H(theta_1, theta'_21)" in text
    assert "Counterfactual pre-training: cpu-standard" in html and "in-window control: anchor_beta = 10" in text
    assert "<h3>" in html.split("id='errata'")[1] and "## " not in html.split("id='errata'")[1]  # rendered


def test_figures_import_neither_torch_nor_jax(results):
    code = ("import sys; from figures.build import build_all; build_all(sys.argv[1]); "
            "bad = [m for m in ('torch', 'jax', 'transformers') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code, str(results)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


def test_figures_command_end_to_end(results, tmp_path):
    out = run_cli("figures", str(results), "--report")
    assert out.returncode == 0, out.stderr
    assert f"{len(EXPECTED)} figures" in out.stdout and (results / "report" / "index.html").is_file()
    missing = run_cli("figures", str(tmp_path / "absent"))
    assert missing.returncode == 2 and "is not a directory" in missing.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = run_cli("figures", str(empty))
    assert nothing.returncode == 0 and "0 figures" in nothing.stdout and "skipped theory" in nothing.stdout


def test_no_legend_covers_the_plotted_data(results):
    """Every figure, drawn: no legend box overlaps any axes' data area (legends sit outside)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from figures.build import figures

    made, skipped = figures(results)
    assert skipped == [] and {name for name, *_ in made} == EXPECTED
    for name, fig, _, _ in made:
        FigureCanvasAgg(fig).draw()
        legends = [*fig.legends, *(a.get_legend() for a in fig.axes if a.get_legend() is not None)]
        assert legends, name  # every figure explains its marks
        for legend in legends:
            box = legend.get_window_extent()
            for ax in fig.axes:
                assert not box.overlaps(ax.get_window_extent()), (name, ax.get_title())


def test_figures_leave_the_matplotlib_backend_alone():
    code = ("import matplotlib, figures.build, figures.style; import sys; "
            "sys.exit(0 if 'matplotlib.pyplot' not in sys.modules else 1)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120).returncode == 0


def test_the_report_page_is_well_formed_and_every_link_resolves(results, tmp_path):
    """Parsed with html.parser: tags balanced, every contents link points at an element id,
    every image is an embedded, non-empty PNG; --out puts the report outside the results."""
    from html.parser import HTMLParser

    class Page(HTMLParser):
        VOID = {"meta", "img", "br", "hr", "link", "input"}

        def __init__(self):
            super().__init__()
            self.stack, self.ids, self.links, self.images, self.errors = [], set(), [], [], []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if "id" in attrs:
                self.ids.add(attrs["id"])
            if tag == "a" and attrs.get("href", "").startswith("#"):
                self.links.append(attrs["href"][1:])
            if tag == "img":
                self.images.append(attrs.get("src", ""))
            if tag not in self.VOID:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            if not self.stack or self.stack.pop() != tag:
                self.errors.append(tag)

    out = run_cli("figures", str(results), "--out", str(tmp_path / "figs"), "--report")
    assert out.returncode == 0, out.stderr
    page = Page()
    page.feed((tmp_path / "figs" / "report" / "index.html").read_text())
    assert page.errors == [] and page.stack == []
    assert page.links and all(link in page.ids for link in page.links)
    assert len(page.images) == len(EXPECTED)
    assert all(src.startswith("data:image/png;base64,") and len(src) > 1000 for src in page.images)
    assert not (results / "report").exists()  # --out honoured: the results folder is left alone


def test_no_band_is_drawn_from_fewer_than_5_seeds(results):
    """A t-band from 2-4 seeds spans most of the axis: under 5 seeds a figure draws the mean only
    and its caption says so; from 5 on the band is there."""
    from matplotlib.collections import PolyCollection

    from figures.build import figures

    made, _ = figures(results)
    by_name = {name: (fig, caption) for name, fig, caption, _ in made}

    def bands(fig) -> int:
        return sum(isinstance(c, PolyCollection) for ax in fig.axes for c in ax.collections)

    fig, caption = by_name["rebound_micro-dpo"]  # 2 seeds
    assert bands(fig) == 0 and "no band under 5 seeds" in caption
    (effect,) = [n for n in by_name if n.startswith("counterfactual_effect_cpu-standard")]  # 47 seeds
    assert bands(by_name[effect][0]) > 0


def _drawn(handle, fig) -> bool:
    """Whether a legend entry points at something drawn: a line with a finite point, a non-empty
    collection, an error bar's line; a bare colour patch only as the key of a colour mesh."""
    import numpy as np
    from matplotlib.collections import Collection, QuadMesh
    from matplotlib.container import ErrorbarContainer
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if isinstance(handle, ErrorbarContainer):
        return _drawn(handle.lines[0], fig)
    if isinstance(handle, Line2D):
        y = np.asarray(handle.get_ydata(), dtype=float)
        return y.size > 0 and bool(np.isfinite(y).any())
    if isinstance(handle, Collection):
        return len(handle.get_paths()) > 0 and any(len(p.vertices) for p in handle.get_paths())
    if isinstance(handle, Patch):
        return any(isinstance(c, QuadMesh) for ax in fig.axes for c in ax.collections)
    return True


def _labelled_ticks(axis, low, high) -> int:
    ticks = [t for t in (*axis.get_majorticklabels(), *axis.get_minorticklabels())
             if t.get_visible() and t.get_text().strip()]
    lo, hi = sorted((low, high))
    positions = {round(float(t.get_position()[0 if axis.axis_name == "x" else 1]), 12) for t in ticks}
    return sum(lo <= p <= hi for p in positions)


def test_every_legend_entry_is_drawn_and_every_log_axis_is_readable(results):
    """What went wrong before: a legend entry for a curve with no finite point (a withheld arm), a
    bare colour patch with nothing of its colour, and log axes labelled only "0" and "10^0"."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from figures.build import figures

    made, _ = figures(results)
    assert {name for name, *_ in made} == EXPECTED
    for name, fig, _, _ in made:
        FigureCanvasAgg(fig).draw()
        for ax in fig.axes:  # the artists the legends were made from (a legend's own handles are copies)
            for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                assert _drawn(handle, fig), (name, label)
            for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
                if axis.get_scale() in ("log", "symlog"):
                    assert _labelled_ticks(axis, *limits) >= 3, (name, ax.get_title(), axis.axis_name)


def test_the_rendering_checks_catch_what_they_are_for():
    """A planted empty legend entry and a log axis with two labels fail the checks above."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from figures import style

    fig, ax = style.new()
    ax[0, 0].plot([1, 2], [float("nan")] * 2, label="withheld arm")
    ax[0, 0].plot([1, 10], [1, 1], label="drawn")
    ax[0, 0].set_xscale("log")
    ax[0, 0].set_xlim(1, 10)
    style.legend_outside(fig, ax[0, 0])
    FigureCanvasAgg(fig).draw()
    handles, _ = ax[0, 0].get_legend_handles_labels()
    assert [_drawn(h, fig) for h in handles] == [False, True]
    assert _labelled_ticks(ax[0, 0].xaxis, *ax[0, 0].get_xlim()) < 3


def test_the_report_puts_each_figure_in_its_section_and_the_audit_once(results, tmp_path):
    """One h1; every run's figures inside that run's section; the audit table once (the errata
    keep their prose, not a second copy); smoke runs labelled in their titles and captions; no
    None or null in the prose."""
    import re

    out = run_cli("figures", str(results), "--out", str(tmp_path / "figs"), "--report")
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "figs" / "report" / "index.html").read_text()
    md = (tmp_path / "figs" / "report" / "report.md").read_text()
    assert page.count("<h1>") == 1 and [line for line in md.splitlines() if line.startswith("# ")] == [
        md.splitlines()[0]]
    assert page.count("<th>what the paper says</th>") == 1 and md.count("| what the paper says |") == 1
    sections = re.findall(r"<section id='([^']+)'><h2>(.*?)</h2>(.*?)</section>", page, flags=re.S)
    where = {fig: anchor for anchor, _, body in sections for fig in re.findall(r"<figure id='([^']+)'>", body)}
    assert set(where) == EXPECTED
    for anchor, title, body in sections:
        run = title.split(": ")[-1].split(" (smoke")[0]
        for fig in re.findall(r"<figure id='([^']+)'>", body):
            if anchor.startswith(("counterfactual", "forward", "rebound")):  # a run's section: its own figures
                assert run in fig, (title, fig)
        if "(smoke test, not evidence)" in title:
            assert all(c.startswith("Smoke test, not evidence.") for c in re.findall(r"<figcaption>(.*?)<br>", body))
    assert where["rebound_micro-dpo"].endswith("smoke-test--not-evidence")
    prose = re.sub(r"`[^`]*`", "", md)  # code spans may name Python's None
    assert not re.search(r"\b(None|null)\b", prose)


def test_the_errata_keep_every_table_but_the_audits_copy():
    """The audit's table appears once (its own section); the k*(alpha) boundary table and any other
    table of docs/errata.md reach the report whole."""
    text = report.ERRATA.read_text()
    body = report._errata_body(text)
    assert "| k*(alpha) at l = 0 |" in body and "| alpha |" in body  # the boundary table: header and values
    assert "| claim | what the paper says |" not in body and "| eq77 |" not in body
    tables = [line for line in text.splitlines() if line.startswith("|")]
    audit = [line for line in tables if line.startswith(("| claim |", "| eq", "| thm", "| def"))]
    kept = [line for line in body.splitlines() if line.startswith("|")]
    assert len(kept) == len(tables) - len(audit) - 1  # everything but the audit table and its separator line
    html = report._markdown_to_html(body)
    assert "<table>" in html and "k*(alpha) at l = 0" in html


def _targets(page: Path) -> tuple[list[str], set[str]]:
    """(every <img src> and <a href> of an HTML file, its element ids)."""
    from html.parser import HTMLParser

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.found, self.ids = [], set()

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.ids.update([attrs["id"]] if "id" in attrs else [])
            if tag == "img" and "src" in attrs:
                self.found.append(attrs["src"])
            if tag == "a" and "href" in attrs:
                self.found.append(attrs["href"])

    parser = Links()
    parser.feed(page.read_text())
    return parser.found, parser.ids


def _broken(page: Path) -> list[str]:
    """The links of ``page`` that point at nothing: a missing file or element id, or anything not
    relative (an absolute path or a URL breaks when the folder moves)."""
    found, ids = _targets(page)
    bad = []
    for target in found:
        if target.startswith("data:image/png;base64,") and len(target) > 1000:
            continue  # an embedded figure
        path, _, fragment = target.partition("#")
        if "://" in target or target.startswith(("/", "data:")):
            bad.append(target)
        elif not path:
            bad += [] if fragment in ids else [target]
        elif not (page.parent / path).is_file():
            bad.append(target)
    return bad


def test_the_index_and_the_report_have_no_broken_link(results, tmp_path, monkeypatch):
    """`elasticity figures --report` writes OUT/index.html (every figure, its caption, its PDF) and
    the report, which links the glossary; every image and link in both resolves to a file or an
    element beside it."""
    from figures import index

    glossary = tmp_path / "glossary.md"
    glossary.write_text("# Glossary\n\n- **k**: |D_pre| / |D_align|.\n")
    monkeypatch.setattr(report, "GLOSSARY", glossary)
    out = tmp_path / "figs"
    built, skipped = build_all(results, out)
    page, md = report.write(results, built, skipped, out, out=out / "report")
    found, _ = _targets(out / index.INDEX)
    assert {f"{e['name']}.png" for e in built} <= set(found) and {f"{e['name']}.pdf" for e in built} <= set(found)
    text = (out / index.INDEX).read_text()
    assert all(html_escape(e["caption"]) in text for e in built)
    assert _broken(out / index.INDEX) == [] and _broken(page) == []
    assert "glossary.html" in _targets(page)[0] and "](glossary.md)" in md.read_text()
    assert "../index.html" in _targets(page)[0]  # the report sends a reader to the figure index
    assert (out / "report" / "glossary.html").is_file()
    (out / built[0]["png"]).unlink()  # the check itself: a missing figure is a broken link
    assert _broken(out / index.INDEX) == [built[0]["png"]]


def html_escape(text: str) -> str:
    import html

    return html.escape(text)


def test_without_a_glossary_the_report_names_its_path_and_links_nothing(results, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "GLOSSARY", tmp_path / "absent.md")
    page, md = report.write(results, [], [], out=tmp_path / "report")
    assert "docs/glossary.md in the repository" in md.read_text() and _broken(page) == []


def test_the_gamma_vs_l_caption_and_titles_say_what_the_curves_do():
    """Built from curves of known direction: the words follow the data (a fixed sentence once said
    gamma_1 falls where the curve rose)."""
    from figures import theory

    l = [0.0, 0.1, 0.2]
    curves = [{"k": 10.0, "alpha": 3.0, "l": l, "gamma_1": [0.1, 0.2, 0.3], "gamma_2": [0.5, 0.4, 0.3]},
              {"k": 100.0, "alpha": 3.0, "l": l, "gamma_1": [0.1, 0.15, 0.2], "gamma_2": [0.5, 0.6, 0.7]}]
    name, fig, caption = theory._gamma_vs_l({"gamma_vs_l": curves})
    assert "gamma_1 rises with l at every k" in caption
    assert "gamma_2 falls at k = 10; rises at k = 100" in caption
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].endswith("rises with l at every k") and titles[1].endswith("falls at k = 10; rises at k = 100")
    falling = [{**c, "gamma_1": c["gamma_1"][::-1]} for c in curves]
    assert "gamma_1 falls with l at every k" in theory._gamma_vs_l({"gamma_vs_l": falling})[2]
    assert theory.direction([1, 2, 1]) == "changes direction" and theory.direction([1, 1]) == "is flat"


def test_the_gamma_vs_l_caption_matches_the_fixture_curves(results):
    """On the committed curves (alpha = 2: both rates rise with l at every k, as (34) and (35) say)."""
    import numpy as np

    from figures import theory
    from figures.results import one

    curves = one(results, "theory-curves", "default")["metrics"]["gamma_vs_l"]
    assert all((np.diff(c[name]) > 0).all() for c in curves for name in ("gamma_1", "gamma_2"))
    _, _, caption = theory._gamma_vs_l({"gamma_vs_l": curves})
    assert "gamma_1 rises with l at every k" in caption and "gamma_2 rises with l at every k" in caption
    assert "fall" not in caption


def _figure(results, prefix):
    from figures.build import figures

    made, _ = figures(results)
    (found,) = [(fig, caption) for name, fig, caption, _ in made if name.startswith(prefix)]
    return found


def test_the_counterfactual_effect_shows_every_seed_the_margin_and_the_window(results):
    """Every seed's own difference at the primary window (not only a mean), the +-sesoi margin in
    the primary units, and the declared window shaded."""
    import numpy as np
    from matplotlib.collections import PolyCollection

    from figures.results import load

    (path,) = results.glob("counterfactual/cpu-standard-*/result.json")
    doc = load(path)
    fig, caption = _figure(results, "counterfactual_effect_cpu-standard")
    panel = next(ax for ax in fig.axes if doc["primary_endpoint"]["units"] in ax.get_title())
    dots = [line for line in panel.get_lines() if line.get_linestyle() == "None" and line.get_marker() == "o"]
    series = [e for e in doc["metrics"]["effects"] if e["units"] == doc["primary_endpoint"]["units"]]
    in_window = [r for e in series for r in e["by_q2"] if r["q2"] in doc["primary_endpoint"]["q2"]]
    assert sum(len(line.get_ydata()) for line in dots) == sum(len(r["per_seed"]) for r in in_window) >= len(
        series) * len(doc["seeds"])  # every seed the verdict reads, in every series
    spans = [c.get_paths()[0].vertices for c in panel.collections if isinstance(c, PolyCollection)]
    sesoi = doc["sesoi"]
    assert any(np.isclose(v[:, 1].min(), -sesoi) and np.isclose(v[:, 1].max(), sesoi) for v in spans)
    assert "equivalence margin" in " ".join(panel.get_legend_handles_labels()[1])
    assert "the declared primary window" in " ".join(fig.axes[1].get_legend_handles_labels()[1])
    assert f"+-{sesoi:g}" in caption and "every seed's own difference" in caption


def test_the_resist_figure_puts_the_control_beside_the_treatment_and_shows_what_is_attributable(results):
    from figures.results import load

    (path,) = results.glob("resist/quick-*/result.json")
    m = load(path)["metrics"]
    fig, caption = _figure(results, "resist_quick-")
    arms, attributable = fig.axes[:2]
    labels = arms.get_legend_handles_labels()[1]
    assert labels == ["pre-trained (treatment)", "format-only pre-training (control)"]
    assert attributable.get_title() == "the part attributable to pre-training"

    def dots(ax):
        return sum(len(line.get_xdata()) for line in ax.get_lines()
                   if line.get_linestyle() == "None" and len(line.get_xdata()) > 1)

    assert dots(arms) == sum(len(r["forward_minus_inverse"]["per_seed"])
                             for key in ("table2", "format_only") for r in m[key])
    assert dots(attributable) == sum(len(a["per_seed"]) for a in m["attributable"])
    assert all(a["verdict"] in caption for a in m["attributable"])


def test_rebound_curves_mark_every_seeds_crossing(results):
    """A triangle per seed that returns to its reference (treatment and controls alike), none for a
    seed that never does; the caption counts those. Checked on the fixture and on a planted crossing."""
    import copy

    from figures import experiments
    from figures.results import load

    doc = load(results / "rebound" / "micro-dpo" / "result.json")

    def drawn(doc):
        _, fig, caption = experiments.rebound("micro-dpo", doc)[0]
        lines = [line for line in fig.axes[0].get_lines() if line.get_marker() == "v"]
        return sorted(float(x) for line in lines for x in line.get_xdata()), caption, fig

    def crossings(doc):
        return sorted(q for c in doc["metrics"]["curves"] for q in c["crossing_q2"]["per_seed"].values()
                      if q is not None)

    x, caption, fig = drawn(doc)
    assert x == crossings(doc)
    curves = doc["metrics"]["curves"]
    never = sum(c["crossing_q2"]["never"] for c in curves)
    assert f"{never} of {sum(len(c['crossing_q2']['per_seed']) for c in curves)} seed-curves never" in caption
    assert fig.axes[0].get_title().startswith("After negative fine-tuning, does the score return")
    planted = copy.deepcopy(doc)
    first = planted["metrics"]["curves"][0]["crossing_q2"]
    first["per_seed"] = {seed: (20.0 if i == 0 else None) for i, seed in enumerate(first["per_seed"])}
    assert 20.0 in drawn(planted)[0] and drawn(planted)[0] == crossings(planted)


def test_the_effective_k_figure_is_captioned_as_a_diagnostic_with_counted_coverage(results):
    from figures.results import load

    (path,) = results.glob("counterfactual/k-axis-*/result.json")
    rows = load(path)["effective_k"]
    fig, caption = _figure(results, "counterfactual_k_k-axis")
    assert caption.startswith("Convergence diagnostic") and "not a test of the theorem" in caption
    assert fig.axes[0].get_title().startswith("Convergence diagnostic")
    steps = [r for r in rows if r["k_mode"] == "steps"]
    covered = sum(r["observed"]["ci95"] is not None and r["observed"]["ci95"][0] <= r["nominal_k"]
                  <= r["observed"]["ci95"][1] for r in steps)
    assert f"(same steps): the interval covers the nominal k at {covered} of {len(steps)} sizes" in caption


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no headless chromium on this machine")
def test_the_index_renders_in_a_headless_browser(results, tmp_path):
    """The documented check: chromium --headless --screenshot of OUT/index.html draws a page (look at
    the screenshot to review the figures as a reader sees them)."""
    out = tmp_path / "figs"
    build_all(results, out)
    shot = tmp_path / "index.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1100,2400",
                    f"--screenshot={shot}", (out / "index.html").as_uri()], capture_output=True, timeout=120,
                   cwd=tmp_path)
    assert shot.is_file() and shot.stat().st_size > 50_000  # a blank page is a few kB; figures make it large


def test_the_theory_captions_read_their_claims_from_the_numbers():
    """The ratio's growth, the closed forms' agreement and the boundary are measured, so a caption
    changes when the numbers do."""
    from figures import theory

    k = [10.0, 100.0, 1000.0]
    assert theory.growth(k, [1.0, 10.0, 100.0]).startswith("grows like k (log-log slope 1.00")
    assert theory.growth(k, [1.0, 0.5, 0.5]).startswith("levels off (log-log slope 0.00")
    assert theory.growth(k, [1.0, -0.5, -0.5]) == "changes sign between k = 10 and 100"
    slopes = [{"k": 10.0, "dS_1_dl_printed_eq88": 1.0, "dS_1_dl_exact": 2.0, "dH_dl_printed_eq95": -1.0,
               "dH_dl_exact": 1.0}]
    said = theory._agreement({"S_1_printed_eq77": [1.0], "S_1_exact_k_inf": [1.0], "S_2_printed_eq81": [2.0],
                              "S_2_exact_k_inf": [1.0], "slopes_alpha_2": slopes})
    assert "(77) is within a relative 0.0e+00" in said and "(81) is within a relative 1.0e+00" in said
    assert "(88) has the exact sign at 1 of 1 k" in said and "(95) has the exact sign at 0 of 1 k" in said
    edge = [{"alpha": 3.0, "k_star": 100.0}, {"alpha": 5.0, "k_star": 40.0}]
    assert "k* grows as alpha falls" in theory._boundary_words(edge, 2.57)
    assert "grows" not in theory._boundary_words([{"alpha": 3.0, "k_star": 10.0}, edge[1]], 2.57)


def test_no_title_is_clipped(results):
    """Every figure's question (its suptitle) and every panel title lies inside the figure: a long
    question on a one-panel figure was once cut off at both sides."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from figures.build import figures

    made, _ = figures(results)
    for name, fig, _, _ in made:
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        page = fig.bbox
        titles = [t for t in (fig._suptitle, *(a.title for a in fig.axes)) if t is not None and t.get_text()]
        for title in titles:
            box = title.get_window_extent(canvas.get_renderer())
            assert box.x0 >= page.x0 - 1 and box.x1 <= page.x1 + 1, (name, title.get_text())
