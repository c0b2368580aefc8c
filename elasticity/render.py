"""Plain-text renderings of results, for the CLI and the report (one place for each table).

Every function takes result data (as stored) and returns text; nothing here computes a number.
"""

from harness.records import one

THEORY_KEYS = ("alpha", "k", "l", "N_1", "N_2", "N_3", "H", "gamma_1", "gamma_2", "gamma_3",
               "dN_1_dl", "dN_2_dl", "dH_dl", "dgamma_1_dl", "dgamma_2_dl")


def interval(stat: dict, digits: int = 4) -> str:
    """``mean [lo, hi]``, or ``mean (no interval)`` where there is none (one seed)."""
    ci = stat.get("ci95")
    if ci is None:
        return f"{stat['mean']:.{digits}f} (no interval)"
    return f"{stat['mean']:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def theory(rows: list[dict], errors: bool) -> str:
    lines = []
    for row in rows:
        lines.append(f"alpha={row['alpha']:g}  k={row['k']:g}  l={row['l']:g}")
        for key in THEORY_KEYS[3:]:
            extra = f"   +- {row['abs_error'][key]:.1e}" if errors else ""
            lines.append(f"  {key:<12} {row[key]: .15e}{extra}")
        lines.append("  (gamma_j and dgamma_j/dl are the ratio form, gamma_j = N_j / H; the later version's "
                     "difference form takes gamma_j to be N_j itself: read the N_j and dN_j/dl rows for it)")
    return "\n".join(lines)


def audit_text(findings: list[dict]) -> str:
    counts = {v: sum(f["verdict"] == v for f in findings) for v in ("holds", "asymptotic", "erratum")}
    lines = [f"{f['claim']:<8} {f['verdict']:<10} {f['evidence']}" for f in findings]
    lines.append(f"\n{len(findings)} claims: {counts['holds']} hold, {counts['asymptotic']} asymptotic, "
                 f"{counts['erratum']} errata. See docs/errata.md.")
    return "\n".join(lines)


def audit_markdown(findings: list[dict]) -> str:
    from theory.audit import STATEMENTS

    rows = [f"| {f['claim']} | {STATEMENTS[f['claim']]} | {f['verdict']} | {f['evidence'].replace('|', '/')} |"
            for f in findings]
    return "\n".join(["| claim | what the paper says | verdict | evidence |", "|---|---|---|---|", *rows])


def sim_check(metrics: dict, names) -> str:
    m = metrics
    lines = [f"alpha={m['alpha']:g} k={m['k']:g} l={m['l']:g}: M = 2^{m['depth'] - 1} leaves, "
             f"{m['replicates']} replicates"]
    for name in names:
        est, (lo, hi) = metrics[name], metrics[name]["ci95"]
        inside = "inside" if metrics["exact_inside_ci95"][name] else "OUTSIDE"
        lines.append(f"  {name:<12} {est['mean']: .6e}  95% CI [{lo: .6e}, {hi: .6e}]"
                     f"  exact {metrics['exact'][name]: .6e} ({inside})")
    return "\n".join(lines)


def convergence(result: dict) -> str:
    import math

    names = list(result["slope"])
    lines = ["M        " + "  ".join(f"{n:>12}" for n in names)]
    for i, m in enumerate(result["leaves"]):
        row = "  ".join(f"{result['rms_error'][n][i]:12.3e}" for n in names)
        lines.append(f"2^{int(math.log2(m)):<6} {row}")
    lines.append("slope    " + "  ".join(f"{result['slope'][n]:12.3f}" for n in names))
    return "\n".join(lines)


def key_values(result: dict) -> str:
    return "\n".join(f"{key:<22} {value}" for key, value in result.items())


def trees(out: dict) -> str:
    lines = ["  ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
             for row in out["trees"]]
    lines += [f"mixture {key}: {value}" for key, value in out.get("mixture", {}).items()]
    return "\n".join(lines)


def _vuong(v: dict) -> str:
    """The Vuong test in words: which law the likelihood ratio favours, and whether it is significant."""
    law = {"pareto": "Pareto", "lognormal": "log-normal"}[v["favours"]]
    strength = "significant at 5%" if v["p_value"] < 0.05 else "not significant at 5%: neither law is preferred"
    return (f"Vuong Pareto vs log-normal: z={v['z']:.3f} (> 0 favours Pareto), p={v['p_value']:.3g}: favours {law}, "
            f"{strength}")


def fit(result: dict) -> str:
    par = result["pareto"]
    return "\n".join([
        f"n={result['n']}  Pareto alpha={par['alpha']:.4f} "
        f"(95% CI {par['alpha_ci95'][0]:.4f}..{par['alpha_ci95'][1]:.4f})",
        _vuong(result["vuong_pareto_vs_lognormal"]),
        "KS: " + ", ".join(f"{k}={v:.4f}" for k, v in result["ks"].items())
        + f"  -> best: {result['best_by_ks']}",
    ])


def rebound(result: dict) -> str:
    m = result["metrics"]
    if "runs" in m:
        return "\n\n".join(f"== {run['run']} ({run['run_id']})\n" + _rebound_run(run) for run in m["runs"])
    lines = []
    if "scorer" in result:
        info = result["scorer"]
        lines.append(f"scorer: {info['name']} - {info['measures']} ({info['direction']})")
    lines.append(f"reference score (pre-trained, mean over seeds): {result['reference_score']:.4f}")
    return "\n".join(lines) + "\n" + _rebound_run(m)


def _rebound_run(m: dict) -> str:
    q2s = m["curves"][0]["q2"]
    lines = [f"{'arm':<11}{'q1':>6}  " + "  ".join(f"q2={q:<6}" for q in q2s) + "  returns at Q2 (seeds)"]
    for curve in m["curves"]:
        row = "  ".join(f"{s['mean']:<9.4f}" if s else f"{'withheld':<9}" for s in curve["score"])
        cross = curve["crossing_q2"]
        shown = "never" if cross["mean"] is None else interval(cross, 0)
        if curve["arm"] == "no_sft":
            lines.append(f"{curve['arm']:<11}{curve['q1']:>6}  {row}  n/a (it starts at the reference)")
            continue
        lines.append(f"{curve['arm']:<11}{curve['q1']:>6}  {row}  {shown} ({cross['n']} returned, "
                     f"{cross['never']} never)")
    for row in m["versus_controls"]:
        diff = row["difference_q2"]
        shown = "" if diff is None else f"pre-trained - never pre-trained = {interval(diff, 1)} examples; "
        lines.append(f"Q1={row['q1']}: {shown}{row['verdict']} ({row['seeds_paired']} seeds paired)")
    for row in m.get("effective_k", []):
        obs = row["observed"]
        lines.append(f"Q1={row['q1']}: effective k {('n/a' if obs['mean'] is None else interval(obs, 2))} "
                     f"against |D_pre|/Q1 = {row['nominal_k']:g}")
    if any(s is None for curve in m["curves"] for s in curve["score"]):
        lines.append("withheld: every seed's model put under min_valid_mass of its probability on well-formed "
                     "responses there, so its score is not measured")
    if any(curve["arm"] == "scratch" for curve in m["curves"]):
        lines.append("scratch: the never-pre-trained control (synthetic world: pre-trained on the format only)")
    return "\n".join(lines)


def resist(result: dict) -> str:
    """The CLI's view: the report's table as aligned text, then the verdict's lines."""
    _, headers, rows = resist_table(result["run_id"], result)
    lines = result["metrics"].get("verdict_lines", [])
    return _text_table(headers, rows) + "".join(f"\nverdict: {line}" for line in lines)


def _text_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    return "\n".join("  ".join(f"{str(cell):<{w}}" for cell, w in zip(r, widths, strict=True)).rstrip()
                     for r in [headers, *rows])


def _ci(stat: dict, digits: int = 4) -> str:
    return interval(stat, digits)


def p_text(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.2g}"


def verdict_line(doc: dict) -> str:
    """The verdict with what it rests on: the 95% and 90% intervals and the one-sided p."""
    e, eq = doc["effect"], doc["equivalence"]
    ci90 = "n/a" if eq["ci90"] is None else f"[{eq['ci90'][0]:+.3f}, {eq['ci90'][1]:+.3f}]"
    sign = f" ({'above' if e['mean'] > 0 else 'below'} 0)" if doc["verdict"].startswith("significant") else ""
    return (f"{doc['verdict']}{sign}: {_cell(e, 3)}, 90% {ci90} within +-{doc['sesoi']:g}? "
            f"{'yes' if eq['within_margin'] else 'no'}; one-sided p {p_text(eq['p_one_sided'])}")


def replication_line(chances: dict | None) -> str:
    if chances is None:
        return "n/a"
    return ", ".join(f"{name} {p:.0%}" for name, p in chances.items() if p >= 0.005)


def counterfactual(result: dict) -> str:
    """The CLI's view: the verdict and its note, then the report's table as aligned text."""
    _, headers, rows = counterfactual_table(result["run_id"], result)
    width = max(len(r[0]) for r in rows[1:])
    lines = [f"verdict: {verdict_line(result)}", f"  {result['verdict_note']}"]
    lines += [f"{r[0]:<{width}}  {r[1]:<30} {r[2]}".rstrip() for r in rows[1:]]
    return "\n".join(lines)


def world(info: dict) -> str:
    lines = [f"world of seed {info['seed']}: {info['responses']} responses, {info['tokens_per_response']} tokens "
             f"each (EOS included); D_pre at positive share {info['pre_positive_fraction']:g}"]
    for name, h in info["entropy_nats_per_token"].items():
        lines.append(f"  entropy of D_{name:<8} {h:.4f} nats/token")
    lines.append(f"  KL(D_pre || uniform)   {info['kl_pre_to_uniform_nats_per_token']:.4f} nats/token")
    lines.append("  styles: disjoint supports (KL infinite; Jensen-Shannon log 2 = 0.6931 nats)")
    for name, kl in info.get("kl_between_pretraining_laws_nats_per_token", {}).items():
        lines.append(f"  KL({name})  {kl:.4f} nats/token")
    if "pretrained" in info:
        p = info["pretrained"]
        lines.append(f"pre-trained {p['model_size']} model ({p['steps']} steps of {p['batch_size']}, lr {p['lr']:g}, "
                     f"{p['seconds']:.1f} s): style score {p['score']:.4f}, valid mass {p['valid_mass']:.4f}")
        for name, x in p["excess_nats_per_token"].items():
            lines.append(f"  excess code length on D_{name:<8} {x:.4f} nats/token")
        lines.append(f"  captures {p['captured_share_of_kl']:.1%} of D_pre's KL to uniform")
    return "\n".join(lines)


# ------------------------------------------------------- tables for the report: (title, headers, rows)

def _cell(stat: dict | None, digits: int = 4) -> str:
    return "n/a" if stat is None or stat.get("mean") is None else interval(stat, digits)


def effective_k(observed: dict) -> str:
    """An observed effective k: mean and Fieller interval, or what is undefined about it."""
    if observed["mean"] is None:
        return "undefined"
    return interval(observed, 2) if observed["ci95"] is not None else f"{observed['mean']:.2f} (interval undefined)"


def operating_point(value: float | None) -> str:
    """(1 - s)/(s - f), or why there is none (the score is not above f)."""
    return "n/a (score <= f)" if value is None else f"{value:.2f}"


def audit_table(run_id: str, doc: dict) -> tuple[str, list[str], list[list[str]]]:
    from theory.audit import STATEMENTS

    return ("Audit of the paper's closed forms", ["claim", "what the paper says", "verdict", "evidence"],
            [[r["claim"], STATEMENTS.get(r["claim"], "(a claim this toolkit no longer audits)"), r["verdict"],
              r["evidence"]] for r in doc["metrics"]])


def counterfactual_table(run_id: str, doc: dict) -> tuple[str, list[str], list[list[str]]]:
    m, e, p = doc["metrics"], doc["effect"], doc["primary_endpoint"]
    units = p["units"]
    window = f"Q2 = {', '.join(str(q) for q in p['q2'])}"
    eq = doc["equivalence"]
    steps = ", ".join(f"{s:g}" for s in p["optimizer_steps"])
    rows = [["verdict", verdict_line(doc), doc["verdict_note"]],
            [f"primary effect ({window}, {units})", _cell(e),
             f"drop({m['low_arm']}) - drop({m['high_arm']}), {p['alignment']}-matched, lr {p['second_lr']:g}, "
             f"{steps} optimizer steps, {e['n_seeds']} seeds paired (> 0: elasticity); declared before the run"],
            ["equivalence (90% interval)",
             "n/a" if eq["ci90"] is None else f"[{eq['ci90'][0]:.4f}, {eq['ci90'][1]:.4f}]",
             f"inside +-{doc['sesoi']:g} (the smallest effect of interest): {'yes' if eq['within_margin'] else 'no'}; "
             f"TOST p = {p_text(eq['p_tost'])}; one-sided p of the sign = {p_text(eq['p_one_sided'])}"],
            ["a same-size rerun would read", replication_line(doc["replication"]),
             "plug-in: if the true effect and spread were the observed ones"],
            ["minimal detectable effect", "n/a" if doc["minimal_detectable_effect"] is None
             else f"{doc['minimal_detectable_effect']:.4f}", f"{units}, 80% power, two-sided 5%"]]
    if doc["excluded_seeds"]:
        rows.append(["seeds excluded", str(len(doc["excluded_seeds"])),
                     "an extreme arm never reached the target score (pre-declared rule)"])
    dm = doc["dose_matched_probability"]
    rows.append([f"dose-matched, probability units ({window})", _cell(dm),
                 f"secondary: the same window when every arm sees the same alignment examples; Holm p = "
                 f"{p_text(dm['p_holm'])}"])
    adj = doc["adjusted_effect"]
    means = ", ".join(f"{k} {v:+.3f}" for k, v in adj.get("covariate_means", {}).items())
    rows.append(["effect adjusted for dose and start", _cell(adj),
                 adj.get("note") or f"exploratory, post-treatment: the intercept of a paired regression on "
                 f"{', '.join(adj['covariates']) or 'nothing'}" + (f" (mean differences {means}: an extrapolation "
                                                                  f"to equal covariates)" if means else "")])
    if doc["dose_effect"] is not None:
        d = doc["dose_effect"]
        rows.append([f"dose effect alone ({d['arm']})", _cell(d),
                     f"exploratory: drop at align lr {d['align_lrs'][0]:g} - at {d['align_lrs'][1]:g} (same target); "
                     f"log Q1 ratio {d['log_q1_ratio']['mean']:.3f}"])
    controls = doc["positive_controls"]
    for row in controls["in_window"]:
        rows.append([f"in-window control: anchor_beta = {row['anchor_beta']!r}", _cell(row["effect"]),
                     "detected" if row["detected"] else "not detected"])
    for row in controls["spring"]:
        rows.append([f"late control: spring = {row['spring']!r}", _cell(row["effect"]),
                     "detected (late window)" if row["detected"] else "not detected"])
    if "replay" in controls:
        r = controls["replay"]
        rows.append(["late control: replay (each arm's own D_pre)", _cell(r["effect"]),
                     "detected (late window)" if r["detected"] else "not detected"])
    if "replay_shared" in controls:
        r = controls["replay_shared"]
        rows.append(["check: replay of one shared pool in both arms", _cell(r["effect"]),
                     "adds something: the mechanics alone move the contrast" if r["detected"]
                     else "adds nothing detectable (expected: the replayed data do not differ)"])
    family = len(m["secondary"])
    for row in m["secondary"]:
        if row["q2"] == "area" and row["units"] == units:
            adjusted = {"mean": row["mean"], "ci95": row["ci95_adjusted"]}
            p_holm = "n/a" if row["p_holm"] is None else f"{row['p_holm']:.3g}"
            rows.append([f"exploratory: area, {row['alignment']}-matched, lr {row['second_lr']:g}", _cell(adjusted),
                         f"mean over the Q2 grid; interval at 1 - 0.05/{family}, Holm p = {p_holm} "
                         f"(one family of {family} secondary endpoints)"])
    for variant, pl in m.get("placebo", {}).items():
        rows.append([f"placebo ({variant})", _cell(pl), "covers 0" if pl["covers_zero"] else "EXCLUDES 0"])
    for row in doc["effective_k"]:
        rows.append([f"effective k, |D_pre| = {row['n_pre']} ({K_MODE_WORDS[row['k_mode']]})",
                     effective_k(row["observed"]),
                     f"nominal {row['nominal_k']:g}; operating point {operating_point(row['operating_point_k'])}; "
                     f"optimal compressor {row['predicted']:.6g}"])
    return f"Counterfactual pre-training: {run_id}", ["quantity", "mean [95% interval]", "note"], rows


K_MODE_WORDS = {"steps": "aligned after, same pre-training steps", "epochs": "aligned after, same epochs",
                "joint": "trained jointly: the theorem's regime"}


def window_scan_table(run_id: str, doc: dict) -> tuple[str, list[str], list[list[str]]]:
    """Each single Q2 as the window: what each anchor strength adds to the contrast there, and
    whether it is detected with an effect of at least the margin (the rule that picks the window)."""
    scan, e = doc["metrics"]["window_scan"], doc["primary_endpoint"]
    betas = [c["anchor_beta"] for c in scan[0]["controls"]] if scan else []
    plain = {r["q2"]: r for r in one(doc["metrics"]["effects"], alignment=e["alignment"], second_lr=e["second_lr"],
                                     units=e["units"])["by_q2"]}
    rows = []
    for row in scan:
        cells = [_cell(c["effect"], 3) + (" *" if c["at_least_sesoi"] else "") for c in row["controls"]]
        sd = plain[row["q2"]]["sd"]
        rows.append([str(row["q2"]), "n/a" if sd is None else f"{sd:.3f}", *cells])
    return (f"What the in-window control adds, by window ({doc['effect']['n_seeds']} seeds; * detected and >= "
            f"{doc['sesoi']:g} {e['units']}): {run_id}",
            ["Q2", "per-seed sd of the contrast", *(f"anchor_beta = {b!r}" for b in betas)], rows)


def resist_table(run_id: str, doc: dict) -> tuple[str, list[str], list[list[str]]]:
    """Per pair, the two distances the verdict compares (the declared primary distance when exact,
    else cross-entropies), forward - inverse paired by seed, the verdict; then, where the run has
    the format-only control, the same from it and the part attributable to pre-training; the other
    distances as sensitivity rows; the lowest valid mass over every seed, arm and model."""
    m = doc["metrics"]
    table = m["table2"]
    exact = "inverse_relative" in table[0]
    primary = m.get("primary_distance", {}).get("name", "relative_kl" if exact else "cross_entropy")
    a, b, unit = {"relative_kl": ("inverse_relative", "forward_relative", "KL after / KL before"),
                  "log_ratio": ("inverse_relative", "forward_relative", "KL after / KL before; effect in logs"),
                  "kl": ("inverse_kl_nats", "forward_kl_nats", "KL after, nats"),
                  "cross_entropy": ("inverse_nats", "forward_nats", "nats/token")}[primary]
    n = table[0]["forward_minus_inverse"]["n"]

    def rows_of(label: str, rows: list[dict]) -> list[list[str]]:
        return [[f"{label}{r['label']}", _cell(r[a]), _cell(r[b]), _cell(r["forward_minus_inverse"]), r["verdict"]]
                for r in rows]

    rows = rows_of("", table)
    control = next((key for key in ("format_only", "without_pretraining") if key in m), None)  # v2, v1
    if control:
        rows += rows_of({"format_only": "format-only control: ", "without_pretraining": "no pre-training: "}[control],
                        m[control])
        for r in m["attributable"]:
            holm = "" if r["p_holm"] is None else f" (Holm p = {r['p_holm']:.3g})"
            rows.append([f"attributable to pre-training, pair {r['pair'][0]},{r['pair'][1]}", "", "",
                         _cell(r), r["verdict"] + holm])
    for r in m.get("sensitivity", []):
        if not r["primary"]:
            holm = "" if r["p_holm"] is None else f" (Holm p = {r['p_holm']:.3g})"
            rows.append([f"sensitivity, {r['distance']}: {r['quantity']}, pair {r['pair'][0]},{r['pair'][1]}", "", "",
                         "n/a" if r["mean"] is None else _cell(r), r["call"] + holm])
    if "valid_mass" in m:  # every seed, arm and model: a control off the well-formed regime shows here
        v = m["valid_mass"]
        rows.append(["lowest valid mass after a path, every seed, arm and path", f"{v['min']:.4f}", "", "",
                     f"{v['at']['arm']}, seed {v['at']['seed']}, {v['at']['model']}; "
                     + ("at or above" if v["min"] >= v["threshold"] else "BELOW") + f" {v['threshold']:g}"])
        rows.append(["lowest valid mass of theta_1..3", f"{v['theta_min']:.4f}", "", "",
                     f"{v['theta_at']['arm']}, seed {v['theta_at']['seed']}, {v['theta_at']['model']}"])
    elif exact:  # a result of protocol version 1
        valid = min(r["inverse_valid_mass"]["mean"] for r in table)
        rows.append(["lowest mean valid mass after an inverse path, pre-trained arm only", f"{valid:.4f}", "", "",
                     "set aside by renormalizing both laws alike"])
    return (f"Forward vs inverse (Table 2 analogue, {n} seeds): {run_id}",
            ["pair", f"inverse ({unit})", f"forward ({unit})", "forward - inverse, paired", "verdict"], rows)


def rebound_table(run_id: str, doc: dict) -> tuple[str, list[str], list[list[str]]]:
    runs = doc["metrics"]["runs"] if "runs" in doc["metrics"] else [{"run": run_id, **doc["metrics"]}]
    rows = []
    for run in runs:
        for curve in run["curves"]:
            if curve["arm"] == "no_sft":
                continue
            c = curve["crossing_q2"]
            rows.append([run["run"], curve["arm"], str(curve["q1"]), _cell(c, 0), f"{c['n']} returned, {c['never']} "
                         f"never; {sum(curve['withheld'])} points withheld (under min_valid_mass on well-formed "
                         f"responses)", ""])
        for v in run["versus_controls"]:
            rows.append([run["run"], "pre-trained - control", str(v["q1"]), _cell(v.get("difference_q2"), 0),
                         f"{v['seeds_paired']} seeds paired", v["verdict"]])
    return (f"Rebound: {run_id}", ["run", "arm", "Q1", "returns at Q2 [95% interval]", "seeds", "verdict"], rows)


def boundary(rows: list[dict], scanned: str) -> str:
    """``theory boundary``: one line per alpha; ``scanned`` is the k range searched."""
    return "\n".join(f"alpha={row['alpha']:g}  k_star="
                     + (f"none in {scanned}" if row["k_star"] is None else f"{row['k_star']:.10g}")
                     for row in rows)


def theory_map(doc: dict) -> str:
    """``theory map``: the grid's size and the share where dgamma_2/dl < 0."""
    m = doc["metrics"]
    return (f"{m['points']} points ({len(m['alpha'])} alpha x {len(m['k'])} k, l = {m['l']:g}); dgamma_2/dl < 0 "
            f"at {m['negative_fraction']:.1%} of them (computed in {m['seconds_with_compilation']:.1f} s when the "
            f"result was made, compilation included; benchmarks/bench_theory.py times it apart)")


def verify(rows: list[dict]) -> str:
    """``verify``: one line per problem, then a count."""
    bad = [r for r in rows if r["status"] != "ok"]
    lines = [f"{r['status']:<8} {r['path']}: {r['reason']}" for r in bad]
    lines.append(f"{len(rows)} files checked: " + ("all well" if not bad else f"{len(bad)} corrupt or stale"))
    return "\n".join(lines)


def params(rows: list[dict]) -> str:
    """``config params``: one block per field (name, type and unit, default, what it accepts, help)."""
    lines = []
    for row in rows:
        unit = f", {row['unit']}" if row["unit"] else ""
        lines += [f"{row['name']}  ({row['type']}{unit}; default {row['default']!r})",
                  f"    {row['help']}", f"    accepts {row['constraint']}"]
    return "\n".join(lines)


def run_list(rows: list[dict]) -> str:
    """``elasticity runs``: one line per run (or the reason it could not be read)."""
    if not rows:
        return "no finished runs"
    lines = []
    for r in rows:
        if "error" in r:
            lines.append(f"{r['experiment']}/{r['run_id']}  UNREADABLE: {r['error']}")
            continue
        seeds = "" if r["seeds"] is None else f"  {r['seeds']} seeds"
        verdict = f"  {r['verdict']}" if r["verdict"] else ""
        grade = f"  [{r['grade']}]" if r["grade"] else ""
        preset = "" if r["seeds"] is None else f"  preset {r['preset'] or 'custom'}"
        lines.append(f"{r['experiment']}/{r['run_id']}{preset}{seeds}{verdict}{grade}  "
                     f"{r['finished'] or 'time not recorded'}  commit {r['commit'] or '?'}"
                     f"{'' if r['clean'] else ' (dirty)'}  numerics {r['numerics']}"
                     + (f"  trainer {r['trainer']}" if r.get("trainer") else ""))
    return "\n".join(lines)


def rerun(report: dict) -> str:
    """``verify --rerun``: one line per seed and effect, then where each was computed."""
    def number(x) -> str:
        return "n/a" if x is None else repr(x)  # every digit: the question is the last bit

    lines = [f"{report['experiment']} {report['run_id']}, rerun in numerics {report['numerics']}:"]
    for r in report["rows"]:
        line = (f"seed {r['seed']} {r['effect']}: committed {number(r['committed'])}, rerun {number(r['rerun'])}, "
                f"bit-identical {'yes' if r['bit_identical'] else 'no'}")
        if r["bit_identical"] and not r["records_identical"]:
            line += " (other numbers of this seed's records differ)"
        if not r["bit_identical"]:
            inside = {True: "yes", False: "no", None: "n/a"}[r["inside_ci95"]]
            ci = "(none)" if r["ci95"] is None else f"[{r['ci95'][0]:.4f}, {r['ci95'][1]:.4f}]"
            line += (f"; inside the run's 95% interval {ci}: {inside}; verdict with the rerun value: "
                     f"{r['verdict_with_rerun']} (committed: {r['verdict']})")
        lines.append(line)
    for label, where in (("made on", report["made_on"]), ("rerun on", report["rerun_on"])):
        build = where.get("torch_build") or {}
        lines.append(f"{label}: {where.get('cpu') or 'CPU not recorded'} "
                     f"({', '.join(where.get('cpu_flags') or []) or 'flags not recorded'}); torch "
                     f"{build.get('version', '?')}, kernels {build.get('capability', '?')}")
    return "\n".join(lines)


def _interval(e: dict) -> str:
    if e.get("mean") is None:
        return "n/a"
    ci = e.get("ci95")
    return f"{e['mean']:+.3f}" + ("" if ci is None else f" [{ci[0]:+.3f}, {ci[1]:+.3f}]")


def theorem_endpoints(doc: dict) -> list[list[str]]:
    """(endpoint, verdict, numbers) for the three declared endpoints."""
    e = doc["endpoints"]
    s, t, g = e["slope_error"], e["sign"], e["capacity_trend"]
    return [["(i) s_2: pruned tree vs observed", s["verdict"],
             f"log-ratio {_interval(s)} over {s['n']} world seeds, margin +-{s.get('margin', 0):g}; "
             f"{s['opposite_sign_cells']} cells of opposite sign"],
            ["(ii) sign of dgamma_2/dl vs k*", t["verdict"],
             f"{t['agree']}/{t['cells']} converged cells agree ({t['below_k_star']} below k*, "
             f"{t['above_k_star']} above)"],
            ["(iii) d[(k+1) s_2]/d log params", g["verdict"],
             f"log-ratio observed/predicted {_interval(g)} over {g['n']} world seeds; "
             f"{g['opposite_sign_groups']} groups of opposite sign"]] + _bridge_endpoint(e.get("bridge"))


def _bridge_endpoint(b: dict | None) -> list[list[str]]:
    """The bridge arm's row, where the run has one (results made before it have none)."""
    if b is None:
        return []
    parts = [f"s_{n[-1]}: log-ratio {_interval(b[n])}, {b[n]['opposite_sign_cells']} of opposite sign"
             for n in ("N_1", "N_2")]
    return [["bridge: sequential vs joint slopes at matched N_2", b["verdict"],
             f"{'; '.join(parts)}; over {b['N_2']['n']} world seeds, {b['cells']} cells, margin "
             f"+-{b['N_2'].get('margin', 0):g}; sign of dgamma_2/dl as the joint model's in "
             f"{b['dgamma2_sign_agree']}/{b['cells']}"]]


def theorem_table(run_id: str, doc: dict) -> tuple[str, list[str], list[list[str]]]:
    m = doc["metrics"]
    rows = [[f"endpoint {name}", verdict, note] for name, verdict, note in theorem_endpoints(doc)]
    rows.append(["converged cells", f"{m['converged']}/{m['total']}", "unconverged cells are excluded from the "
                 "endpoints"])
    low, high = m["excess_range"]
    rows.append(["excess KL(q* || model) at l = 0", f"{low:.2e} .. {high:.2e} nats", "over all cells"])
    mo = m["match_optimal"]
    rows.append(["cells at the optimum vs prediction (a)",
                 f"{sum(r['within'] for r in mo['cells'])}/{len(mo['cells'])} within",
                 "excess below the declared threshold; s_1 and s_2 within the declared relative error"
                 if mo["cells"] else f"no converged cell reached the threshold (largest model: {mo['largest_params']} "
                 f"parameters)"])
    sp = m.get("sign_vs_pruned")
    if sp:
        rows.append(["sign of dgamma_2/dl, exploratory", f"{sp['agree_pruned']}/{sp['cells']} as (b)",
                     f"{sp['agree_optimal']}/{sp['cells']} as the optimum (a); converged cells, all k"])
    for b in m.get("bridge", {}).get("by_params", []):
        rows.append([f"bridge arm, {b['params']} params",
                     f"s_1 x {b['ratio_N_1'][0]:.2f} .. {b['ratio_N_1'][1]:.2f}, s_2 x {b['ratio_N_2'][0]:.2f} .. "
                     f"{b['ratio_N_2'][1]:.2f}", f"sequential / joint at matched N_2 over {b['cells']} cells; "
                     f"{b['steps'][0]} .. {b['steps'][1]} alignment steps"])
    for f in m["fd_check"]:
        worst = max(f["rel_diff"].values())
        rows.append([f"finite differences (alpha {f['alpha']:g}, k {f['k']:g}, {f['params']} params)",
                     f"{worst:.1e} relative", "implicit slopes vs continuation in l"
                     + ("" if f["fd_converged"] else " (a continuation point did not converge)")])
    for c in doc["cells"]:
        o, p, q = c["slopes_observed"]["N_2"], c["slopes_optimal"]["N_2"], c["slopes_pruned"]["N_2"]
        pruned_dg = "n/a" if c["dgamma2_dl_pruned"] is None else f"{c['dgamma2_dl_pruned']:+.2e}"
        rows.append([f"alpha {c['alpha']:g}, seed {c['world_seed']}, k {c['k']:g}, {c['params']} params",
                     f"s_2 {o:+.3e} (a {p:+.3e}, b {q:+.3e})",
                     f"excess {c['excess_l0']:.1e}, depth {c['depth_fitted']:.2f}, dgamma_2/dl "
                     f"{c['dgamma2_dl_observed']:+.2e} (a {c['dgamma2_dl_optimal']:+.2e}, b {pruned_dg}), "
                     f"|grad| {c['grad_norm']:.0e}{'' if c['converged'] else ' NOT CONVERGED'}, "
                     f"residual {c['residual']:.0e}"])
    return f"Theorem: observed vs predicted slopes, {run_id}", ["quantity", "value", "note"], rows


def theorem(result: dict) -> str:
    """The CLI's view: the three verdicts, then the report's table as aligned text."""
    _, _, rows = theorem_table(result["run_id"], result)
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{r[0]:<{width}}  {r[1]:<36} {r[2]}".rstrip() for r in rows)


SCALING_TERMS = {"params": "slope vs log10 parameters", "examples": "slope vs log10 examples",
                 "interaction": "interaction (params x examples)"}


def scaling_endpoints(doc: dict) -> list[list[str]]:
    """(endpoint, verdict with its interval, what the intervals support and exclude) per effect and term."""
    rows = []
    for effect, terms in doc["endpoints"].items():
        for term, e in terms.items():
            ci90 = "n/a" if e["ci90"] is None else f"[{e['ci90'][0]:+.3f}, {e['ci90'][1]:+.3f}]"
            mds = "n/a" if e["minimal_detectable_slope"] is None else f"{e['minimal_detectable_slope']:.3f}"
            rows.append([f"{effect}: {SCALING_TERMS[term]}",
                         f"{e['verdict']}: {_interval(e)}, 90% {ci90} vs +-{e['margin']:g}",
                         f"{e['units']}, {e['n']} seeds; {e['supports']}; minimal detectable slope {mds}"])
    return rows


def scaling_table(run_id: str, doc: dict) -> tuple[str, list[str], list[list[str]]]:
    d, pc = doc["declared"], doc["positive_control"]
    rows = scaling_endpoints(doc)
    rows.append(["positive control", "detected in every cell" if pc["detected"] else "NOT detected",
                 pc["rule"] + ("" if pc["detected"] else f"; failing: {'; '.join(pc['cells_failing'])}")])
    rows.append(["declared before the run", f"window Q2 = {', '.join(map(str, d['window']))} ({d['units']})",
                 f"{d['fit']}; margins {d['margin_counterfactual']:g} (counterfactual), {d['margin_rebound']:g} "
                 f"(rebound) per decade"])
    for c in doc["metrics"]["cells"]:
        pre = c["pretrained_score"]
        rows.append([f"width {c['hidden']} ({c['params']} params), {c['n_pre']} examples",
                     f"counterfactual {_interval(c['counterfactual'])}, rebound {_interval(c['rebound'])}",
                     f"excess code length {_interval(c['excess_pre'])} nats/token; pre-trained score "
                     f"{pre['f_low']['mean']:.3f} (low f) / {pre['f_high']['mean']:.3f} (high f); alignment gain "
                     f"{_interval(c['align_gain'])} logit; {c['wall_s']:.0f} s, {c['flops']:.2g} FLOPs"])
    return f"Scaling: does elasticity grow with size and data? {run_id}", ["quantity", "value", "note"], rows


def scaling(result: dict) -> str:
    """The CLI's view: the six verdicts, the control, then every cell."""
    _, _, rows = scaling_table(result["run_id"], result)
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{r[0]:<{width}}  {r[1]}\n{'':<{width}}  {r[2]}".rstrip() for r in rows)
