"""The result tables quoted in README.md and docs/experiments.md, generated from the committed
result files (tests/fixtures/results) so that a quoted number and its file cannot disagree:

    .venv/bin/python tools/docs_tables.py          # rewrite the generated blocks in place
    .venv/bin/python tools/docs_tables.py --check  # exit 1 if a block differs from its file

A block sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``; tests/test_docs_numbers.py
runs the check in CI, and also checks that every such file was made from a clean, committed tree.
"""

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from elasticity import render  # noqa: E402
from harness import store  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "results"
DOCS = (ROOT / "README.md", ROOT / "docs" / "experiments.md")


def _one(pattern: str) -> dict:
    """The single committed result matching ``pattern`` under the fixtures (read and checked)."""
    found = sorted(FIXTURES.glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"docs_tables: expected one result at {pattern}, found {len(found)}")
    return store.read_result(found[0])


def _markdown(headers: list[str], rows: list[list[str]]) -> str:
    cell = lambda s: str(s).replace("|", "\\|")  # noqa: E731  (an unescaped pipe would split the cell)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _made_by(doc: dict) -> str:
    p = doc["provenance"]
    minutes, seconds = divmod(round(p["wall_time_s"] or 0), 60)
    return (f"Made by `{p['command']}` at commit `{(p['git_sha'] or '?')[:10]}` "
            f"({'clean tree' if p['git_dirty'] is False else 'DIRTY TREE'}), {minutes} min {seconds:02d} s "
            f"of wall time on {p['device']}.")


def _report_table(pattern: str, table, note=lambda doc: "") -> str:
    """The report's table of the one result at ``pattern``, as markdown, with where it came from."""
    doc = _one(pattern)
    _, headers, rows = table(doc["run_id"], doc)
    return _markdown(headers, rows) + "\n\n" + note(doc) + _made_by(doc)


def counterfactual_confirmatory() -> str:
    return _report_table("counterfactual/cpu-standard-*/result.json", render.counterfactual_table)


def counterfactual_calibration() -> str:
    return _report_table("counterfactual/calibration-*/result.json", render.window_scan_table,
                         lambda doc: f"The rule's choice: Q2 = {doc['metrics']['earliest_window_with_control']}. ")


def counterfactual_k_axis() -> str:
    """Effective k along the k axis: each size in each pre-training mode, and the jointly trained arms."""
    doc = _one("counterfactual/k-axis-*/result.json")
    rows = []
    for row in doc["effective_k"]:
        rows.append([str(row["n_pre"]), render.K_MODE_WORDS[row["k_mode"]], str(row["pretrain_steps"]),
                     f"{row['nominal_k']:g}", render.effective_k(row["observed"]),
                     render.operating_point(row["operating_point_k"]), f"{row['aligned_score']:.4f}"])
    headers = ["\\|D_pre\\|", "arm", "pre-training steps", "nominal k", "observed k [95% Fieller]",
               "operating point (1 - s)/(s - f)", "score s before the perturbation"]
    return _markdown(headers, rows) + f"\n\n{doc['effect']['n_seeds']} seeds. " + _made_by(doc)


def resist_quick() -> str:
    return _report_table("resist/quick-*/result.json", render.resist_table)


def _depends(doc: dict) -> str:
    """What a run's per-seed numbers depend on: its numerics mode (and the CPU where it matters)."""
    p = doc["provenance"]
    if p.get("numerics") == "portable":
        return "portable numerics: the same bits on any x86-64 CPU"
    return f"default numerics: per-seed values of this CPU, {p.get('cpu') or 'not recorded'}"


def _ci(interval) -> str:
    return "n/a" if interval is None else f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def _mean(stat: dict) -> str:
    return "n/a" if stat.get("mean") is None else render.interval(stat, 3)


AUDIT_WORDS = {"erratum": ("erratum", "errata"), "holds": ("holds", "hold"),
               "asymptotic": ("holds only asymptotically", "hold only asymptotically")}


def _audit_counts(doc: dict) -> str:
    counts = {}
    for claim in doc["metrics"]:
        counts[claim["verdict"]] = counts.get(claim["verdict"], 0) + 1
    words = lambda v, n: AUDIT_WORDS.get(v, (v, v))[n != 1]  # noqa: E731
    return ", ".join(f"{n} {words(v, n)}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def _excess(x: float) -> str:
    return "below 1e-15" if x < 1e-15 else f"{x:.1e}"  # at the optimum the excess is rounding, either sign


def headline() -> str:
    """The README's findings: one line per claim of the paper, each with its numbers, interval,
    verdict and what the numbers depend on, read from the committed result files."""
    audit = _one("audit/default/result.json")
    th = _one("theorem/cpu-*/result.json")
    cf = _one("counterfactual/cpu-standard-*/result.json")
    rs = _one("resist/quick-*/result.json")
    kx = _one("counterfactual/k-axis-*/result.json")
    i, ii, iii = (th["endpoints"][k] for k in ("slope_error", "sign", "capacity_trend"))
    m = th["metrics"]
    e, p, eq, dm = cf["effect"], cf["primary_endpoint"], cf["equivalence"], cf["dose_matched_probability"]
    rerun = render.replication_line(cf["replication"])
    attributable = "; ".join(f"({a['pair'][0]},{a['pair'][1]}) {render.interval(a, 3)}"
                             for a in rs["metrics"]["attributable"])
    readings = [line for line in rs["metrics"]["verdict_lines"] if line.startswith("pair ")]
    depends = sum("depends on the distance" in line for line in readings)
    valid = rs["metrics"]["valid_mass"]
    seeds = rs["metrics"]["table2"][0]["forward_minus_inverse"]["n"]
    after = [r["observed"]["mean"] for r in kx["effective_k"] if r["k_mode"] != "joint" and r["observed"]["mean"]
             is not None]  # an undefined ratio (its denominator not resolved from 0) has no value to range over
    joint = [r["observed"]["mean"] for r in kx["effective_k"] if r["k_mode"] == "joint" and r["observed"]["mean"]
             is not None]
    nominal = sorted({r["nominal_k"] for r in kx["effective_k"]})
    return (
        f"- **The theorem, computed exactly** (`elasticity audit`): of {len(audit['metrics'])} closed forms and "
        f"claims of the paper, {_audit_counts(audit)} (docs/errata.md).\n"
        f"- **The theorem against trained models** (`elasticity theorem --preset cpu`, {th['config']['model']} "
        f"models, {m['converged']} of "
        f"{m['total']} cells converged, excess KL from {_excess(m['excess_range'][0])} to "
        f"{_excess(m['excess_range'][1])} nats): (i) the pruned-tree prediction of dN_2/dl against the "
        f"observed, log-ratio {_mean(i)} over {i['n']} world seeds (margin +-{i.get('margin', 0):g}): "
        f"**{i['verdict']}**; (ii) the sign of "
        f"dgamma_2/dl agrees with the optimum's in {ii['agree']} of {ii['cells']} converged cells: "
        f"**{ii['verdict']}**; (iii) how (k + 1) dN_2/dl moves with capacity, log-ratio observed/predicted "
        f"{_mean(iii)} over {iii['n']} world seeds: **{iii['verdict']}** ({_depends(th)}).\n"
        f"- **Elasticity: does the pre-training data pull an aligned model back?** (`counterfactual --preset "
        f"cpu-standard`, {e['n_seeds']} seeds, window Q2 = {', '.join(map(str, p['q2']))} = "
        f"{', '.join(map(str, p['optimizer_steps']))} optimizer steps, {p['units']}): effect "
        f"{render.interval(e, 3)}, **{cf['verdict']}** (90% interval {_ci(eq['ci90'])} against a margin of "
        f"+-{cf['sesoi']:g}; one-sided p {render.p_text(eq['p_one_sided'])}); a same-size rerun would read: "
        f"{rerun}. Dose-matched, in probability units: {render.interval(dm, 3)} (Holm p "
        f"{render.p_text(dm['p_holm'])}) ({_depends(cf)}).\n"
        f"- **Resistance: forward against inverse alignment** (`resist --preset quick`, {seeds} seeds): the "
        f"part of forward - inverse attributable to pre-training on the declared distance "
        f"({rs['metrics']['primary_distance']['name']}), per pair: {attributable}; {depends} of the "
        f"{len(readings)} readings (with pre-training, attributable) depend{'s' if depends == 1 else ''} on the "
        f"distance; lowest valid mass over every seed, arm and path {valid['min']:.3f} ({_depends(rs)}).\n"
        f"- **Effective k** (`counterfactual --preset k-axis`, {kx['effect']['n_seeds']} seeds, nominal k "
        f"{nominal[0]:g} to {nominal[-1]:g}), a convergence diagnostic, not a test of the theorem: "
        f"{min(after):.2f} to {max(after):.2f} for models aligned after pre-training; {min(joint):.2f} to "
        f"{max(joint):.2f} for models trained jointly ({_depends(kx)}).\n"
        f"- **Scaling with model size and pre-training data** (the paper's Figures 3-4): not tested yet.")


def theorem_cpu() -> str:
    """The theorem experiment's declared endpoints and its checks, from the committed cpu run."""
    doc = _one("theorem/cpu-*/result.json")
    m = doc["metrics"]
    rows = [[f"endpoint {name}", verdict, note] for name, verdict, note in render.theorem_endpoints(doc)]
    low, high = m["excess_range"]
    rows += [["converged cells", f"{m['converged']}/{m['total']}", "unconverged cells are excluded from the endpoints"],
             ["excess KL(q* || model) at l = 0", f"{_excess(low)} .. {_excess(high)} nats", "over every cell"]]
    mo = m["match_optimal"]
    rows.append(["cells at the optimum against prediction (a)",
                 f"{sum(r['within'] for r in mo['cells'])}/{len(mo['cells'])} within", "s_1 and s_2 within 1%"])
    for f in m["fd_check"]:
        rows.append([f"finite differences (alpha {f['alpha']:g}, k {f['k']:g}, {f['params']} parameters)",
                     f"{max(f['rel_diff'].values()):.1e} relative", "implicit slopes against continuation in l"])
    return _markdown(["quantity", "value", "note"], rows) + "\n\n" + _made_by(doc)


def scaling_cpu() -> str:
    """The scaling experiment's six endpoints, its control and every cell, from the committed scale-cpu run."""
    doc = _one("scaling/scale-cpu-*/result.json")
    _, headers, rows = render.scaling_table(doc["run_id"], doc)
    seeds = f"{len(doc['seeds'])} seeds x 2 arms per cell. "
    return _markdown(headers, rows) + "\n\n" + seeds + _made_by(doc)


TABLES = {"theorem-cpu": theorem_cpu, "counterfactual-calibration": counterfactual_calibration,
          "counterfactual-confirmatory": counterfactual_confirmatory,
          "counterfactual-k-axis": counterfactual_k_axis, "resist-quick": resist_quick, "headline": headline,
          "scaling-cpu": scaling_cpu}


def rewritten(text: str) -> str:
    """``text`` with every generated block replaced by its table from the files."""
    def block(match):
        name = match.group(1)
        if name not in TABLES:
            raise SystemExit(f"docs_tables: unknown block {name!r}; known: {', '.join(TABLES)}")
        return f"<!-- generated: {name} -->\n{TABLES[name]()}\n<!-- end: {name} -->"
    return re.sub(r"<!-- generated: ([\w-]+) -->\n.*?<!-- end: \1 -->", block, text, flags=re.S)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report blocks that differ; change nothing")
    args = parser.parse_args(argv)
    stale = []
    for path in DOCS:
        text = path.read_text()
        new = rewritten(text)
        if new != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print(f"docs_tables: out of date with the result files: {', '.join(stale)} (run tools/docs_tables.py)")
        return 1
    print("docs_tables: " + ("up to date" if not stale else f"rewrote {', '.join(stale)}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
