"""The numbers README.md and docs/*.md quote, generated from what they quote (the committed result
files under tests/fixtures/results, docs/measurements.json, the theory's code) so that a quoted
number and its source cannot disagree, and the inventory of every other number in them:

    .venv/bin/python tools/docs_tables.py              # rewrite the generated blocks and values in place
    .venv/bin/python tools/docs_tables.py --check      # exit 1 if a block differs from its source
    .venv/bin/python tools/docs_tables.py --inventory  # every number and what accounts for it
    .venv/bin/python tools/docs_tables.py --declare    # propose sources for new numbers (review the diff)

A block sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``, a measured value between
``<!-- value: ID -->`` and ``<!-- end -->`` (ID a record of docs/measurements.json, with its command,
commit, machine and date). tests/test_docs_numbers.py runs the check and checks that every result
file was made from a clean, committed tree; tests/test_docs_inventory.py runs the inventory.
"""

import argparse
import dataclasses
import json
import math
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from elasticity import render  # noqa: E402
from harness import store  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "results"
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
MEASUREMENTS = ROOT / "docs" / "measurements.json"


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
    """What a run's per-seed numbers depend on: its trainer, where it has the choice, and its
    numerics mode (and the CPU where it matters)."""
    p, trainer = doc["provenance"], doc["config"].get("trainer")
    made = f"the {trainer} trainer, " if trainer else ""
    if p.get("numerics") == "portable":
        return f"{made}portable numerics: the same bits on any x86-64 CPU"
    return f"{made}default numerics: per-seed values of this CPU, {p.get('cpu') or 'not recorded'}"


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
    sc = _one("scaling/scale-cpu-*/result.json")
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
        f"{_mean(iii)} over {iii['n']} world seeds: **{iii['verdict']}**; {_bridge(th)} ({_depends(th)}).\n"
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
        f"- **Scaling with model size and pre-training data** (the paper's Figures 3-4; `scaling --preset "
        f"scale-cpu`, {len(sc['config']['seeds'])} seeds, a world where capacity binds, fresh data): "
        f"{_scaling(sc)} ({_depends(sc)}).")


def _bridge(doc: dict) -> str:
    """The bridge arm's endpoint: sequentially aligned against jointly trained slopes at matched N_2."""
    b = doc["endpoints"].get("bridge")
    if not b or b.get("N_2", {}).get("mean") is None:
        return "the bridge arm (sequential alignment): not in this run"
    return (f"the bridge arm (pre-trained on p_1, then aligned to the joint model's N_2, as the paper's pipeline "
            f"trains), log-ratio of its slopes to the joint model's: s_1 {_mean(b['N_1'])}, s_2 {_mean(b['N_2'])} "
            f"over {b['N_2']['n']} world seeds (margin +-{b['N_2']['margin']:g}): **{b['verdict']}**")


def _scaling(doc: dict) -> str:
    """Each experiment's slopes per decade of parameters and of examples, with verdicts."""
    def one(name: str, label: str) -> str:
        e = doc["endpoints"][name]
        slopes = "; ".join(f"vs {axis} {render.interval(e[axis], 3)} per decade (margin +-{e[axis]['margin']:g}): "
                           f"**{e[axis]['verdict']}**" for axis in ("params", "examples"))
        return f"{label}: {slopes}"
    rebound = one("rebound", "the rebound (share of the alignment gain undone)")
    return f"{one('counterfactual', 'the counterfactual effect (logit)')}; {rebound}"


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
    for b in m.get("bridge", {}).get("by_params", []):  # results made before the bridge arm have none
        rows.append([f"bridge arm, {b['params']} parameters",
                     f"s_1 x {b['ratio_N_1'][0]:.2f} .. {b['ratio_N_1'][1]:.2f}, s_2 x {b['ratio_N_2'][0]:.2f} .. "
                     f"{b['ratio_N_2'][1]:.2f}", f"sequentially aligned / joint at matched N_2, {b['cells']} cells, "
                     f"{b['steps'][0]} .. {b['steps'][1]} alignment steps"])
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


def _cells(pattern: str) -> tuple[dict, list[dict]]:
    """The one committed theorem result at ``pattern`` and its cells (read through the store)."""
    doc = _one(pattern)
    return doc, [c for c in doc["cells"]]


def _sci(x: float, digits: int = 1) -> str:
    """``x`` in short scientific notation (7.0e-2; 5e-14)."""
    return f"{x:.{digits}e}".replace("e-0", "e-").replace("e+0", "e")


def _span(values, fmt=lambda x: f"{x:.2f}") -> str:
    low, high = min(values), max(values)
    return fmt(low) if fmt(low) == fmt(high) else f"{fmt(low)}-{fmt(high)}"


def _excess_by_rank(cells: list[dict]) -> str:
    parts = []
    for rank in sorted({c["capacity"] for c in cells}):
        mine = [c for c in cells if c["capacity"] == rank]
        low, high = min(c["excess_l0"] for c in mine), max(c["excess_l0"] for c in mine)
        span = "below 1e-15" if high < 1e-15 else f"{_sci(low)} .. {_sci(high)}"
        parts.append(f"{span} at rank {rank} ({mine[0]['params']} parameters)")
    return ", ".join(parts)


def _worst_match(doc: dict) -> float:
    return max(max(c["rel_error_s1"], c["rel_error_s2"]) for c in doc["metrics"]["match_optimal"]["cells"])


def _disagree(cell: dict) -> str:
    return (f"alpha {cell['alpha']:g}, world {cell['world_seed']}, k = {cell['k']:g}, rank {cell['capacity']}: "
            f"{_sci(cell['dgamma2_dl_observed'])} observed, {_sci(cell['dgamma2_dl_optimal'])} (a), "
            f"{_sci(cell['dgamma2_dl_pruned'])} (b)").replace(" -", " \u2212").replace("\u2212", "-")


def _flips(cells: list[dict]) -> str:
    ranks = sorted({x["capacity"] for x in cells})
    return f"{len(cells)} (rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))})"


def _pruned_agree(cells: list[dict]) -> str:
    agree = sum((x["dgamma2_dl_pruned"] > 0) == (x["dgamma2_dl_observed"] > 0) for x in cells)
    return f"{agree} of {len(cells)}"


def theorem_measured_micro() -> str:
    """The micro preset's measured line, from its committed result."""
    doc, cells = _cells("theorem/micro/result.json")
    c, m = doc["config"], doc["metrics"]
    ranks = sorted({x["capacity"] for x in cells})
    fd = max(max(f["rel_diff"].values()) for f in m["fd_check"])
    return (f"- `elasticity theorem --preset micro` (alpha {', '.join(f'{a:g}' for a in c['alphas'])}, k = "
            f"{' and '.join(f'{k:g}' for k in c['ks'])}, {len(c['world_seeds'])} worlds, ranks "
            f"{', '.join(map(str, ranks))} on M = {c['V'] ** c['L']} leaves, {m['total']} cells): "
            f"{m['converged']}/{m['total']} converged; excess {_excess_by_rank(cells)}; the models at the "
            f"optimum match (a) within {_sci(_worst_match(doc))} relative; finite differences agree with the "
            f"implicit slopes to {_sci(fd)} relative on the declared cell. {_made_by(doc)}")


def theorem_measured_cpu() -> str:
    """The cpu preset's measured paragraph: every number read from its committed result and cells."""
    doc, cells = _cells("theorem/cpu-*/result.json")
    c, m, e = doc["config"], doc["metrics"], doc["endpoints"]
    ranks = sorted({x["capacity"] for x in cells})
    ok = [x for x in cells if x["converged"]]
    fd = [max(f["rel_diff"].values()) for f in m["fd_check"]]
    residual = [x["residual"] for x in ok]
    bound = [x for x in ok if x["excess_l0"] >= c["match_excess_nats"]]

    def ratio(rank, num, den):
        mine = [x for x in bound if x["capacity"] == rank]
        return _span([x[num]["N_2"] / x[den]["N_2"] for x in mine])

    bound_ranks = sorted({x["capacity"] for x in bound})
    gap = min(x["hessian_min_kept_rel"] for x in ok) / max(x["hessian_max_dropped_rel"] for x in ok)
    optimum = ", ".join(f"{ratio(r, 'slopes_observed', 'slopes_optimal')} at rank {r}" for r in bound_ranks)
    pruned = ", ".join(ratio(r, "slopes_observed", "slopes_pruned") for r in bound_ranks)
    realised = {(w["alpha"], w["world_seed"]): w["k_star_realised"] for w in m["worlds"]}

    def graded(x):  # endpoint (ii)'s cells: k at least k_star_factor from its world's realised k*
        ks = realised[(x["alpha"], x["world_seed"])]
        return ks is None or max(x["k"] / ks, ks / x["k"]) >= c["k_star_factor"]

    i, ii, iii = e["slope_error"], e["sign"], e["capacity_trend"]
    flips = [x for x in ok if graded(x) and (x["dgamma2_dl_observed"] > 0) != (x["dgamma2_dl_optimal"] > 0)]
    down = [x for x in flips if x["dgamma2_dl_observed"] < 0]
    up = [x for x in flips if x["dgamma2_dl_observed"] > 0]
    capacity_bound = all(x["excess_l0"] >= c["match_excess_nats"] for x in flips)
    worlds = [w for w in m["worlds"] if w["k_star_realised"] is not None]
    return (
        f"- `elasticity theorem --preset cpu` (alpha {' and '.join(f'{a:g}' for a in c['alphas'])}, k = "
        f"{', '.join(f'{k:g}' for k in c['ks'])}, {len(c['world_seeds'])} worlds, ranks "
        f"{', '.join(map(str, ranks))} on M = {c['V'] ** c['L']} leaves, {m['total']} cells): "
        f"{m['converged']}/{m['total']} converged; excess {_excess_by_rank(cells)}; the "
        f"{len(m['match_optimal']['cells'])} cells at the optimum match (a) within {_sci(_worst_match(doc))} relative; "
        f"finite differences agree with the implicit slopes to {' and '.join(_sci(x, 0) for x in fd)} "
        f"relative (the declared rank-1 cells); residuals |k s_1 + s_2| / |s_2| {_sci(min(residual), 0)} .. "
        f"{_sci(max(residual), 0)}; at the solution the Hessian's dropped eigenvalues are at most "
        f"{_sci(max(x['hessian_max_dropped_rel'] for x in ok), 0)} of the largest and the kept ones at least "
        f"{_sci(min(x['hessian_min_kept_rel'] for x in ok), 0)} (a gap of "
        f"{math.floor(math.log10(gap))} decades or more, so the split does not depend on `null_rel`). In the "
        f"capacity-bound cells (excess >= "
        f"{c['match_excess_nats']:g} nats) the observed s_2 is {optimum} of the optimum's, while the pruned tree "
        f"(b) predicts it within a factor {pruned}. Endpoints: (i) log-ratio {_mean(i)} over {i['n']} worlds: "
        f"{i['verdict']} (margin {i['margin']:g}; {i['opposite_sign_cells']} cells of opposite sign); (ii) "
        f"{ii['verdict']}: {ii['agree']} of {ii['cells']} cells agree with the optimum's sign of dgamma_2/dl "
        f"({ii['below_k_star']} below a realised k*, {ii['above_k_star']} above; {m['converged'] - ii['cells']} "
        f"cells within {c['k_star_factor']:g}x of one are left out). The {len(flips)} that disagree are "
        f"{'all' if capacity_bound else 'not all'} capacity-bound, and the flips go both ways: {_flips(down)} "
        f"give dgamma_2/dl < 0 where the optimum gives it > 0 ({_disagree(down[0]) if down else 'none'}), and "
        f"{_flips(up)} give it > 0 where the optimum gives it < 0 ({_disagree(up[0]) if up else 'none'}); the "
        f"pruned tree's sign agrees with the observed in {_pruned_agree(down)} of the first kind and "
        f"{_pruned_agree(up)} of the second. "
        f"Realised k* (the sign boundary of each world's own masses in [1e-2, 1e12]): "
        + ", ".join(f"{w['k_star_realised']:.0f} (alpha {w['alpha']:g}, world {w['world_seed']})" for w in worlds)
        + f", none in the other {len(m['worlds']) - len(worlds)} worlds; the theory's k*(alpha) at M -> infinity is "
        + ", ".join(f"{w['k_star_theory']:.1f} (alpha {w['alpha']:g})" for w in m["worlds"] if w["world_seed"] == 0)
        + f". (iii) log-ratio {_mean(iii)}: {iii['verdict']}. {_made_by(doc)}")


def errata_audit() -> str:
    """The audit's verdict table, from the committed audit result (tests/test_audit.py checks its
    verdicts against today's computation)."""
    doc = _one("audit/default/result.json")
    return render.audit_markdown(doc["metrics"])


K_STAR_ALPHAS = (2.58, 2.6, 2.7, 2.8, 3, 3.5, 4, 5, 6, 8, 10, 20)


def errata_k_star() -> str:
    """k*(alpha) at l = 0 and its movement with l, computed by theory.boundary (about 1 s)."""
    from theory.boundary import k_star

    def fmt(x: float) -> str:
        return f"{x:.0f}" if x >= 1000 else f"{x:.4g}" if x >= 100 else f"{x:.2f}"

    row = [fmt(k_star(a)) for a in K_STAR_ALPHAS]
    table = _markdown(["alpha", *(f"{a:g}" for a in K_STAR_ALPHAS)], [["k*(alpha) at l = 0", *row]])
    moved = ", ".join(f"{fmt(k_star(3.0, l))} (l = {l:g})" for l in (0.0, 0.1, 1.0))
    return f"{table}\n\nIt moves with l: at alpha = 3, k* = {moved}."


# ---------------------------------------------------------------------------------------------
# Measurements: times, speeds and scores, each with its command, commit, machine and date
# (docs/measurements.json). Tables are generated blocks; a phrase in prose is a span
# <!-- value: ID -->TEXT<!-- end --> whose TEXT is the record's.

RECORD_FIELDS = ("id", "command", "commit", "machine", "date")


def measurements() -> dict:
    doc = json.loads(MEASUREMENTS.read_text())
    ids = [r["id"] for r in doc["records"]]
    if len(ids) != len(set(ids)):
        raise SystemExit("docs_tables: a measurement id appears twice in docs/measurements.json")
    return doc


def _record(record_id: str) -> dict:
    found = [r for r in measurements()["records"] if r["id"] == record_id]
    if not found:
        raise SystemExit(f"docs_tables: no measurement {record_id!r} in docs/measurements.json")
    return found[0]


def _measured_table(name: str) -> str:
    table = measurements()["tables"][name]
    return (_markdown(table["headers"], [_record(i)["row"] for i in table["rows"]])
            + "\n\nEach time's command, commit, machine and date: docs/measurements.json.")


for _name in ("two-commands", "reproduce", "speed", "sim-convergence", "ensemble", "world", "figure-scores"):
    TABLES[_name] = (lambda n: lambda: _measured_table(n))(_name)
TABLES.update({"theorem-measured-micro": theorem_measured_micro, "theorem-measured-cpu": theorem_measured_cpu,
               "errata-audit": errata_audit,
               "errata-k-star": errata_k_star})


def rewritten(text: str) -> str:
    """``text`` with every generated block replaced by its table from the files."""
    def block(match):
        name = match.group(1)
        if name not in TABLES:
            raise SystemExit(f"docs_tables: unknown block {name!r}; known: {', '.join(TABLES)}")
        return f"<!-- generated: {name} -->\n{TABLES[name]()}\n<!-- end: {name} -->"
    def span(match):
        return f"<!-- value: {match.group(1)} -->{_record(match.group(1))['text']}<!-- end -->"
    text = re.sub(r"<!-- generated: ([\w-]+) -->\n.*?<!-- end: \1 -->", block, text, flags=re.S)
    return re.sub(r"<!-- value: ([\w.-]+) -->.*?<!-- end -->", span, text, flags=re.S)


# ---------------------------------------------------------------------------------------------
# The inventory: every number in README.md and docs/*.md, and the rule that accounts for it.
#
# A number is accounted for when it is (a) inside a generated block or span (rewritten from its
# file above and compared by --check), (b) matched by a declared source: the section it sits in
# names the committed files, presets or constants it quotes, and the number must equal one of
# their values at the number's own printed precision (0.033 matches 0.0326; 7.0e-02 matches
# 0.0703), or (c) a structural number (a reference into the paper or this repository, a date, a
# list marker) or one of the reviewed ALLOWED entries, each with its reason.
# Not inventoried: fenced code blocks and `inline code` (commands, identifiers and file names,
# whose numbers are arguments; the README's Python blocks run in tests/test_readme.py).

ALL_DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))

_HASH = r"(?<![\w.])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}(?![\w])"
_NUM = r"(?:(?<![\w)\].])[-\u2212])?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]?\d+)?"
TOKEN = re.compile(rf"(?P<hash>{_HASH})|(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*)|(?P<num>{_NUM})(?P<pct>%?)")


def numbers_in(text: str):
    """(offset, string, is_percent) of every number in ``text`` (commit ids and identifiers skipped)."""
    for m in TOKEN.finditer(text):
        if m.group("num"):
            yield m.start("num"), m.group("num"), bool(m.group("pct"))


def _value(s: str) -> tuple[float, float]:
    """A printed number's value and the half-width of its last printed digit."""
    s = s.replace("\u2212", "-").replace(",", "")
    mantissa, _, exponent = s.partition("e")
    decimals = len(mantissa.partition(".")[2])
    try:
        return float(s), 0.5 * 10.0 ** (int(exponent or 0) - decimals)
    except OverflowError:  # a digit string longer than a float (a hash's digits): matches nothing
        return math.inf, 0.0


def _blank(text: str, pattern: str, flags=0) -> str:
    """``text`` with each match of ``pattern`` replaced by spaces (offsets and lines kept)."""
    return re.sub(pattern, lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=flags)


def prose(text: str) -> str:
    """The inventoried part of a document: generated blocks and spans, fenced code, inline code and
    HTML comments blanked out."""
    text = _blank(text, r"<!-- generated: ([\w-]+) -->\n.*?<!-- end: \1 -->", re.S)
    text = _blank(text, r"<!-- value: ([\w.-]+) -->.*?<!-- end -->", re.S)
    text = _blank(text, r"^```.*?^```", re.S | re.M)
    text = _blank(text, r"`[^`\n]*`")
    return _blank(text, r"<!--.*?-->", re.S)


def _keyed(obj, key: str, out: list) -> list:
    """(key, value) of every number a document can quote from a JSON-like object: numbers printed
    inside its strings included (key#n for the n-th), raw arrays (longer than RAW_ARRAY) left out."""
    if isinstance(obj, bool) or obj is None:
        return out
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, (int, float)):
        out.append((key, float(obj)))
    elif isinstance(obj, str):
        out.extend((f"{key}#{n}", _value(s)[0]) for n, (_, s, _) in enumerate(numbers_in(obj)))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _keyed(v, f"{key}.{k}" if key else str(k), out)
    elif isinstance(obj, (list, tuple)):
        if len(obj) > RAW_ARRAY and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in obj):
            return out
        for i, v in enumerate(obj):
            _keyed(v, f"{key}[{i}]", out)
    return out


RAW_ARRAY = 64  # a list of more numbers than this is raw data (masses, grids, per-step values), not a quoted value


def _source(name: str) -> dict[str, float]:
    """The values a named source holds, by key: ``fixture:GLOB`` (the result files there and their
    cells; key: folder/file:json.path), ``preset:EXPERIMENT/NAME`` (a preset's configuration; key:
    its field path), ``module:MODULE`` (its numeric constants; key: the name), ``file:PATH`` (the
    numbers written in a committed file; key: the literal as written), ``measurements`` (the records
    of docs/measurements.json; key: id.field), ``k-star`` (theory.boundary's k* at the errata's
    alphas; key: the alpha)."""
    kind, _, arg = name.partition(":")
    out: list = []
    if kind == "fixture":
        for path in sorted(FIXTURES.glob(arg)):
            folder = path.parent.relative_to(FIXTURES).as_posix()
            doc = {k: v for k, v in store.read_result(path).items() if k != "provenance"}  # times: measurements
            _keyed(doc, f"{folder}/{path.name}:", out)
            for cell in sorted((path.parent / "cells").glob("*.json")):
                _keyed(json.loads(cell.read_text()), f"{folder}/cells/{cell.name}:", out)
    elif kind == "preset":
        from harness import presets
        _keyed(presets.get(*arg.split("/")), "", out)
    elif kind == "module":
        import importlib
        module = importlib.import_module(arg)
        out = [(k, float(v)) for k, v in vars(module).items()
               if k.isupper() and isinstance(v, (int, float)) and not isinstance(v, bool)]
    elif kind == "file":
        out = [(s, _value(s)[0]) for _, s, _ in numbers_in((ROOT / arg).read_text())]
    elif kind == "measurements":
        for record in measurements()["records"]:
            _keyed({k: v for k, v in record.items() if k in ("text", "row")}, record["id"], out)
    elif kind == "theorem-sizes":  # M = V^L and the log-linear models' parameter counts of each theorem preset
        from harness import presets
        for name_, c in presets.THEOREM.items():
            out.append((f"{name_}.M", float(c.V ** c.L)))
            out += [(f"{name_}.P[{r}]", float(c.V ** (c.L - 1) * r + c.V * r)) for r in c.capacities]
    elif kind == "k-star":
        from theory.boundary import k_star
        out = [(f"{a:g}", k_star(a)) for a in K_STAR_ALPHAS] + [(f"alpha={a:g}", float(a)) for a in K_STAR_ALPHAS]
    else:
        raise SystemExit(f"docs_tables: unknown source {name!r}")
    return {k: v for k, v in reversed(out)}  # the first key of a repeated literal wins


def _matches(printed: str, percent: bool, value: float) -> bool:
    """Whether a printed number equals ``value`` to its last printed digit (sign aside: prose says
    "falls by 0.5" of a slope of -0.5)."""
    x, half = _value(printed)
    candidates = [(abs(x), half)] + ([(abs(x) / 100, half / 100)] if percent else [])
    # strictly within half a unit of the last digit (3.5 is not "3"), or equal to rounding
    return any(abs(abs(value) - c) < h * (1 - 1e-9) or abs(abs(value) - c) <= 1e-12 * abs(c) for c, h in candidates)


def _cached(cache: dict, name: str) -> dict[str, float]:
    if name not in cache:
        cache[name] = _source(name)
    return cache[name]


def _sections(text: str):
    """(offset, heading) of every heading of a markdown text (fenced code skipped)."""
    plain = _blank(text, r"^```.*?^```", re.S | re.M)
    return [(m.start(), m.group(1).strip()) for m in re.finditer(r"^#{1,4} (.+)$", plain, flags=re.M)]


NUMBER_SOURCES = ROOT / "docs" / "number-sources.json"
NUMBER_SOURCES_ABOUT = (
    "The committed value each number of README.md and docs/*.md quotes, where it is neither generated nor "
    "allowed (tools/docs_tables.py: STRUCTURAL, ALLOWED): the document, its section, the prose just before "
    "the number (which says which number it is), the number as printed, and the source and key of the value "
    "it equals to its last printed digit. tests/test_docs_inventory.py checks every entry against its source; "
    "`tools/docs_tables.py --declare` proposes entries for new numbers, for review.")
CONTEXT = 30  # characters of prose before a number that, with its section, say which number it is


def _context(plain: str, offset: int) -> str:
    return " ".join(plain[max(0, offset - 3 * CONTEXT):offset].split())[-CONTEXT:]


def _located(paths=None, text_of=None):
    """(document, line, section, context, printed, percent, allowed-reason or None) of every
    inventoried number."""
    for path in paths or ALL_DOCS:
        name = path.relative_to(ROOT).as_posix()
        text = text_of(path) if text_of else path.read_text()
        plain = prose(text)
        allowed = []  # (start, end, reason)
        for pattern, reason in STRUCTURAL:
            allowed += [(m.start(), m.end(), reason) for m in re.finditer(pattern, plain, flags=re.M)]
        for doc, snippet, reason in ALLOWED:
            if doc == name:
                at = plain.find(snippet)
                if at >= 0:
                    allowed.append((at, at + len(snippet), reason))
        heads = _sections(text)
        for offset, printed, percent in numbers_in(plain):
            reason = next((r for a, b, r in allowed if a <= offset < b), None)
            if reason is None and printed in SMALL_INTEGERS:
                reason = "0, 1, 2 and -1 as integers (formula constants, counts of two, list items)"
            heading = ([h for at, h in heads if at <= offset] or [""])[-1]
            around = plain[max(0, offset - 80):offset + 80]
            yield (name, plain.count("\n", 0, offset) + 1, heading, _context(plain, offset), printed, percent,
                   reason, around)


def _words(text: str) -> set[str]:
    """The words of a text or a key (MIN_WINDOW_STEPS, world.content_vocab), lower case, 3 letters or more."""
    return {w for w in re.split(r"[^a-z]+", text.lower()) if len(w) >= 3}


def _declared() -> dict:
    entries = json.loads(NUMBER_SOURCES.read_text())["numbers"] if NUMBER_SOURCES.exists() else []
    return {(e["doc"], e["section"], e["context"], e["number"]): e for e in entries}


def inventory(paths=None, text_of=None):
    """Every inventoried number of the documents: (document, line, number, rule, problem). rule
    names what accounts for it (allowed: REASON, or source: SOURCE KEY = VALUE); problem is None, or
    says why the number is not accounted for."""
    cache: dict = {}
    declared = _declared()
    rows = []
    for name, line, heading, context, printed, percent, reason, _ in _located(paths, text_of):
        shown = printed + ("%" if percent else "")
        if reason is not None:
            rows.append((name, line, shown, f"allowed: {reason}", None))
            continue
        entry = declared.get((name, heading, context, shown))
        if entry is None:
            rows.append((name, line, shown, None, f"no declared source (section {heading!r}, after {context!r})"))
            continue
        values = _cached(cache, entry["source"])
        rule = f"source: {entry['source']} {entry['key']}"
        if entry["key"] not in values:
            rows.append((name, line, shown, rule, "the declared key is not in its source"))
        elif not _matches(printed, percent, values[entry["key"]]):
            rows.append((name, line, shown, rule, f"the source holds {values[entry['key']]!r}"))
        else:
            rows.append((name, line, shown, f"{rule} = {values[entry['key']]:.6g}", None))
    return rows


def propose(paths=None) -> list[dict]:
    """A declared source for every number that lacks one: the first source of its section (SOURCES,
    in order) holding a value it equals at its printed precision. The result is for review: it is
    what --declare writes to docs/number-sources.json beside the entries that still hold."""
    cache: dict = {}
    declared = _declared()
    kept, missing = [], []
    for name, line, heading, context, printed, percent, reason, around in _located(paths):
        if reason is not None:
            continue
        shown = printed + ("%" if percent else "")
        key = (name, heading, context, shown)
        entry = declared.get(key)
        if entry is not None and not _per_seed(entry["key"]) and entry["key"] in _cached(cache, entry["source"]) \
                and _matches(printed, percent, _cached(cache, entry["source"])[entry["key"]]):
            kept.append(entry)
            continue
        for doc, head, sources in SOURCES:
            if doc == name and re.match(head, heading):
                words = _words(around)
                candidates = [(not _per_seed(k), _setting(s, k), len(words & _words(k)), -i, s, k)
                              for i, s in enumerate(sources)
                              for k, v in _cached(cache, s).items() if _matches(printed, percent, v)]
                # a per-seed value last (thousands of them hold any short number by chance); a setting or
                # constant before a result (a short round number is far more often a setting than a result
                # that happens to equal it); then the key that shares most words with the prose around the
                # number; then the section's first source
                found = max(candidates, key=lambda c: c[:4])[4:] if candidates else None
                if found:
                    kept.append({"doc": name, "section": heading, "context": context, "number": shown,
                                 "source": found[0], "key": found[1]})
                    break
        else:
            missing.append((name, line, shown, context))
    return kept, missing


def _setting(source: str, key: str) -> bool:
    """A configured value or a constant of the code, not a measured one: a preset's field, a
    module's constant, a number written in a source file, a result file's configuration."""
    return source.partition(":")[0] in ("preset", "module", "file") or ":.config." in key


def _per_seed(key: str) -> bool:
    """A key of one seed's value in a result file (its per-seed table, its raw cell records)."""
    return any(part in key for part in ("per_seed", ":.cells[", "/cells/", "cell_files"))


SMALL_INTEGERS = ("0", "1", "2", "-1")

# Numbers that are references or structure, not values: the pattern, and why it is allowed.
STRUCTURAL = [
    (r"\b(?:Theorem|Lemma|Remark|Assumption|Definition|Appendix|Section|Figures?|Tables?|Proposition|"
     r"Corollary|eqs?\.?|equation|claim|finding|issue|item|section|protocol version)\s+\(?"
     r"(?:[A-Z]\.)?\d+(?:\.\d+)*\)?(?:\s*(?:-|and|,)\s*\(?(?:[A-Z]\.)?\d+(?:\.\d+)*\)?)*",
     "a reference into the paper or this repository (theorem, equation, table, issue)"),
    (r"\((?:\d{2,3}|C\.\d+)\)", "an equation number of the paper, as printed"),
    (r"^#{1,4} \d+\.", "a section number"),
    (r"^\s*\d+\. ", "a list item's number"),
    (r"\b\d{4}-\d{2}-\d{2}\b", "a calendar date (when something was measured)"),
    (r"\^\(?-?\d+(?:/\d+)?\)?(?![.\d])", "an integer exponent in a formula (2^20, M^(-1/2), alpha^3)"),
    (r"(?<![\w.])\d+ ?(?=(?:alpha|P\^|m[01]\b|C\^|h\b))", "a coefficient in a formula (3 alpha, 9 P^3)"),
    (r"\b[jd] = \d+", "an index in a formula (j = 3, d = 4)"),
    (r"theta_\d\.\.\d|\(\d,\d\)", "the indices of the paper's models theta_1..3 and of their pairs (1,3)"),
    (r"\b\d{2}:\d{2}\b", "a time of day (UTC, when something was measured)"),
]

# Reviewed one by one: the document, the exact text (outside code), and why its numbers need no source.
ALLOWED = [
    ("README.md", "0.5B-7B", "the paper's model sizes, as the paper states them"),
    ("docs/design.md", "The goal, 5x at E = 48", "the target set for the ensemble trainer (48 members, as run)"),
    ("docs/figures.md", "scored 1-5", "the scale of the scores, not a measurement"),
    ("docs/figures.md", "still under 4", "the score every figure should reach, a standard the project sets"),
    ("docs/experiments.md", "0.5B-7B", "the paper's model sizes, as the paper states them"),
    ("README.md", "in about 20 s", "a rounded promise; the measured time stands beside it (decisive-figures)"),
    ("README.md", "Python 3.11", "the Python version the project requires (pyproject.toml)"),
    ("docs/design.md", "Python 3.11", "the Python version the project requires (pyproject.toml)"),
    ("docs/errata.md", "a minimum near alpha = 6", "read off the k*(alpha) table below"),
    ("docs/glossary.md", "j = 1 pre-training, 2 alignment, 3 perturbation", "the datasets' indices in the paper"),
    ("docs/errata.md", "H = 1.04 nats", "the same H as the 1.5 bits beside it, times ln 2"),
    ("docs/errata.md", "(1/2, 1/4, 1/4)", "the textbook dyadic law of the example, its lengths (1, 2, 2)"),
    ("docs/experiments.md", "(0.5016 at f = 0.5, k = 312.5", "arithmetic shown beside it: (k f + 1)/(k + 1)"),
    ("docs/experiments.md", "seen 60 times, the largest 0.6 times",
     "arithmetic: 300 steps of 128 over |D_pre| = 640 and 64000"),
]

# Which committed sources each section quotes (the document, a regex on its heading, the sources).
_THEORY_CODE = ["file:theory/validate.py", "file:theory/quadrature.py", "file:theory/exact.py",
                "file:theory/boundary.py", "file:theory/audit.py"]
_CF = ["module:harness.configs", "preset:counterfactual/cpu-standard", "preset:counterfactual/calibration",
       "preset:counterfactual/k-axis", "preset:counterfactual/gpu-scale", "preset:counterfactual/gpu-calibration",
       "preset:counterfactual/cpu-explore", "fixture:counterfactual/*/result.json"]
_STATS = ["file:empirical/statistics.py"]
SOURCES = [
    ("README.md", "What it found", ["fixture:*/*/result.json"]),
    ("README.md", "The two commands", ["file:constraints-cpu.txt"]),
    ("README.md", "Numba and JAX", ["file:tests/test_batch.py", "file:tests/golden/gen_theory_golden.py"]),
    ("README.md", "Runs, configs and the store", ["module:theory.quadrature", "module:theory.exact",
                                                  "module:sim.limits", "module:harness.params",
                                                  "file:harness/store.py", *_THEORY_CODE]),
    ("README.md", "Tests and the mutation score", ["file:tests/golden/gen_theory_golden.py"]),
    ("docs/errata.md", "", [*_THEORY_CODE, "fixture:audit/default/result.json", "k-star",
                            "file:tests/test_boundary.py", "file:tests/test_exact.py"]),
    ("docs/glossary.md", "", ["file:elasticity/findings.py", "k-star", "file:empirical/scaling_stats.py", *_STATS]),
    ("docs/simulation.md", "", ["file:sim/tree.py", "file:elasticity/cli.py", "measurements"]),
    ("docs/figures.md", "", ["module:figures.style"]),
    ("docs/design.md", "", ["preset:rebound/quick", *_STATS, "module:harness.params", "module:harness.configs",
                            "file:tests/test_ensemble.py", "file:tests/test_llama_fn.py",
                            "file:empirical/resist_synthetic.py", "file:constraints-cpu.txt",
                            "module:empirical.together"]),
    ("docs/experiments.md", "The world", ["preset:rebound/quick", "file:harness/configs.py",
                                          "file:tests/test_world.py"]),
    ("docs/experiments.md", "What an experimental claim needs", [*_STATS, *_CF]),
    ("docs/experiments.md", "The decisive experiment", [*_STATS, *_CF]),
    ("docs/experiments.md", "Rebound", ["preset:rebound/micro", "preset:rebound/quick", "preset:rebound/cpu-full",
                                        "file:harness/presets.py", "module:empirical.metrics"]),
    ("docs/experiments.md", "Forward vs inverse", [*_STATS, "fixture:resist/*/result.json", "preset:resist/quick",
                                                   "preset:resist/paper"]),
    ("docs/experiments.md", "The theorem meets", ["fixture:theorem/*/result.json", "preset:theorem/cpu",
                                                  "preset:theorem/micro", "preset:theorem/gpu",
                                                  "preset:theorem/llama-micro",
                                                  "theorem-sizes",
                                                  "k-star", *_STATS]),
    ("docs/experiments.md", "Scaling", ["fixture:scaling/*/result.json", "preset:scaling/scale-cpu",
                                        "preset:scaling/micro", "preset:scaling/scale-gpu",
                                        "preset:scaling/scale-gpu-full", "file:empirical/scale_world.py",
                                        "file:empirical/scaling.py", "file:empirical/scaling_stats.py",
                                        "file:benchmarks/bench_scaling.py", "file:harness/configs.py", "measurements",
                                        *_STATS]),
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="report blocks that differ; change nothing")
    parser.add_argument("--inventory", action="store_true",
                        help="list every number of README.md and docs/*.md with what accounts for it; exit 1 if "
                             "one is not accounted for")
    parser.add_argument("--declare", action="store_true",
                        help="propose a source for every number without one and write docs/number-sources.json "
                             "(review the diff: each entry says which committed value a number quotes)")
    args = parser.parse_args(argv)
    if args.inventory:
        rows = inventory()
        for name, line, number, rule, problem in rows:
            print(f"{name}:{line}: {number}: {problem or rule}" + (f" [{rule}]" if problem and rule else ""))
        bad = sum(r[4] is not None for r in rows)
        print(f"docs_tables: {len(rows)} numbers, {bad} not accounted for")
        return 1 if bad else 0
    if args.declare:
        kept, missing = propose()
        keys = [(e["doc"], e["section"], e["context"], e["number"]) for e in kept]
        kept = [e for i, e in enumerate(kept) if keys[i] not in keys[:i]]  # one entry per place, however often
        NUMBER_SOURCES.write_text(json.dumps({"about": NUMBER_SOURCES_ABOUT, "numbers": kept}, indent=1,
                                             ensure_ascii=False) + "\n")
        for name, line, number, context in missing:
            print(f"{name}:{line}: {number} (after {context!r}): no source of its section holds it")
        print(f"docs_tables: {len(kept)} numbers declared, {len(missing)} without a source")
        return 1 if missing else 0
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
