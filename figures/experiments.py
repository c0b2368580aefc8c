"""Experiment figures: rebound curves with seed bands (Figures 2-7 analogues), the size and
pre-training panels of a sweep, and the forward-vs-inverse effects (Table 2's claim, per pair,
paired by seed). Each plot function returns (name, figure, caption); the numbers of Table 2
itself go to the report as a table."""

import numpy as np

from figures import style
from figures.results import ResultError

SYNTHETIC_SCORE = r"$P(\mathrm{positive\ style})$, exact"
SPREAD = "spread over seeds: +-1 sd (under 5 seeds, no interval)"
CONTROLS = {"scratch": "pre-trained on the format only (control)", "no_sft": "no first stage (control)"}


def rebound(run_id: str, doc: dict) -> list[tuple]:
    if "runs" in doc["metrics"]:
        return _sweep_panels(run_id, doc)
    return [_curves(run_id, doc)]


def _band(ax, x, stats, color, label, style_="o-", seeds=()):
    """Mean line and the 95% band over seeds (from 5 seeds on); under that, each seed's own
    curve (``seeds``: one score list per seed) in thin lines. Points withheld (None) are gaps."""
    x = np.asarray(x, float)
    mean = np.array([np.nan if s is None else s["mean"] for s in stats])
    ax.plot(x, mean, style_, ms=3, color=color, label=label if np.isfinite(mean).any() else None)  # none drawn
    if not style.band_allowed(stats):
        for curve in seeds:
            ax.plot(x, curve, "-", lw=0.7, alpha=0.5, color=color)
        if not seeds:  # no per-seed curves stored (a sweep's runs): the spread over seeds, +-1 sd at each point
            sd = np.array([np.nan if s is None or s.get("sd") is None or s.get("n", 0) < 2 else s["sd"]
                           for s in stats])
            if np.isfinite(sd).any():
                first = all(line.get_label() != SPREAD for line in ax.get_lines())
                ax.errorbar(x, mean, yerr=sd, fmt="none", ecolor=color, elinewidth=0.9, capsize=2.5, alpha=0.8,
                            label=SPREAD if first else None)
    else:
        lo = np.array([np.nan if s is None else s["ci95"][0] for s in stats])
        hi = np.array([np.nan if s is None else s["ci95"][1] for s in stats])
        ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)


def _seed_curves(cells: list[dict]) -> dict[tuple, list[list[float]]]:
    """Each seed's score along Q2 per (arm, Q1), from a result's cells (withheld points: NaN)."""
    out: dict[tuple, dict] = {}
    for c in cells:
        out.setdefault((c["arm"], c["q1"]), {}).setdefault(c["seed"], []).append(
            (c["q"], np.nan if c["withheld"] else c["score"]))
    return {key: [[score for _, score in sorted(points)] for points in by_seed.values()]
            for key, by_seed in out.items()}


def _plot_curves(ax, m: dict, reference: float, title: str, ylabel: str = SYNTHETIC_SCORE, cells=()):
    seeds = _seed_curves(cells)
    references = {c["seed"]: c["reference_score"] for c in cells if "reference_score" in c}
    pre = [c for c in m["curves"] if c["arm"] == "pretrained"]
    for i, c in enumerate(pre):
        _band(ax, c["q2"], c["score"], style.shade(i, len(pre)), rf"pre-trained, $Q_1$ = {c['q1']}",
              seeds=seeds.get(("pretrained", c["q1"]), ()))
    grey = {"scratch": "0.45", "no_sft": "0.7"}
    for arm, label in CONTROLS.items():
        for j, c in enumerate(cc for cc in m["curves"] if cc["arm"] == arm):
            _band(ax, c["q2"], c["score"], grey[arm], label if j == 0 else None, ":" if arm == "scratch" else "--",
                  seeds=seeds.get((arm, c["q1"]), ()))
    ax.axhline(reference, color="k", ls="-.", lw=1, zorder=1.5,  # under the curves: one lying on it stays seen
               label="reference: the pre-trained model's score")
    colours = {("pretrained", c["q1"]): style.shade(i, len(pre)) for i, c in enumerate(pre)}
    for c in m["curves"]:  # drawn last: on top of the curves, and last in the legend
        _crossings(ax, c, colours.get((c["arm"], c["q1"]), grey.get(c["arm"], "0.5")), references, reference)
    q2s = m["curves"][0]["q2"]
    ax.set_xscale("symlog", linthresh=max(min(q for q in q2s if q > 0), 1), linscale=0.5)
    ax.set_xticks(q2s, [str(q) for q in q2s])
    ax.minorticks_off()
    ax.set(xlabel=r"$Q_2$ (second-stage examples seen)", ylabel=ylabel, title=title, ylim=(0, 1))


CROSSING = "a seed's crossing: the Q2 where it returns to its reference"


def _crossings(ax, curve: dict, color, references: dict, reference: float) -> None:
    """Each seed's crossing (the Q2 at which its score returns to its own reference score), a
    triangle on that reference; seeds that never return are counted in the caption."""
    at = [(q, references.get(int(s), reference)) for s, q in curve["crossing_q2"]["per_seed"].items() if q is not None]
    if at:  # one legend entry for every arm's crossings: on the first drawn
        first = all(line.get_label() != CROSSING for line in ax.get_lines())
        ax.plot(*zip(*at, strict=True), "v", ms=6, color=color, mec="k", mew=0.5, ls="None",
                label=CROSSING if first else None)


def _never(curves: list[dict]) -> str:
    never = sum(c["crossing_q2"]["never"] for c in curves)
    total = sum(len(c["crossing_q2"]["per_seed"]) for c in curves)
    return f"{never} of {total} seed-curves never return within the Q2 grid"


def _curves(run_id, doc):
    cfg, m = doc["config"], doc["metrics"]
    fig, ax = style.new(width=7.5, height=4.6)
    data = "synthetic world" if cfg.get("dataset", "synthetic") == "synthetic" else cfg["dataset"]
    scorer = doc.get("scorer")
    ylabel = f"{scorer['name']} score ({scorer['units']})" if scorer else SYNTHETIC_SCORE
    n = len(cfg["seeds"])
    smoke = f" (a smoke test: {n} seed{'s' * (n != 1)})" if n < style.MIN_BAND_SEEDS else ""
    _plot_curves(ax[0, 0], m, doc["reference_score"],
                 f"After negative fine-tuning, does the score return to the pre-trained model's?\n{m['variant']}, "
                 f"{data}{smoke}", ylabel, doc["cells"])
    style.legend_outside(fig, ax[0, 0])
    withheld = sum(sum(c["withheld"]) for c in m["curves"])
    caption = (f"Rebound {run_id} ({m['variant']}, {data}, model {cfg.get('model_path') or cfg['model_size']}): "
               f"score after Q1 first-stage examples and Q2 second-stage examples along one trajectory; mean "
               + (f"and 95% band over {len(cfg['seeds'])} seeds" if len(cfg["seeds"]) >= style.MIN_BAND_SEEDS else
                  f"of {len(cfg['seeds'])} seed{'s' * (len(cfg['seeds']) != 1)} with each seed's curve in thin lines "
                  f"(no band under "
                  f"{style.MIN_BAND_SEEDS} seeds: a smoke test, not evidence)")
               + (" (each seed its own world)" if data == "synthetic world" else "")  # a dataset is shared by seeds
               + f"; controls in grey. Triangles: each seed's crossing, the Q2 at which "
               f"it returns to its own reference score; {_never(m['curves'])}. "
               f"{withheld} seed-points withheld (the model put under {cfg.get('min_valid_mass', 0.5):g} of its "
               f"mass on well-formed responses).")
    return f"rebound_{run_id}", fig, caption


WHAT_VARIES = {"size": "model size", "pretraining": "pre-training length"}


def _sweep_panels(run_id, doc):
    runs = {r["run"]: r for r in doc["metrics"]["runs"]}
    out = []
    for name, axis, label in (("size", ("centre", "size-small", "size-medium"), "model {size}"),
                              ("pretraining", ("pretrain-100steps", "centre", "pretrain-900steps"),
                               "{steps} pre-training steps")):
        present, seen = [], set()
        for r in sorted((r for r in axis if r in runs), key=lambda r: r != "centre"):  # the centre first
            varied = runs[r]["model_size"] if name == "size" else runs[r]["pretrain_steps"]
            if varied not in seen:  # a run that repeats the centre's value is the same panel twice
                seen.add(varied)
                present.append(r)
        present.sort(key=axis.index)
        if len(present) < 2:
            continue
        fig, ax = style.new(len(present), width=3.8 * len(present), height=4.2)
        for i, r in enumerate(present):
            run = runs[r]
            title = label.format(size=run["model_size"], steps=run["pretrain_steps"])
            _plot_curves(ax[0, i], run, run["reference_score"], title)
            if i:
                ax[0, i].set_ylabel("")
        for a in ax[0, 1:]:
            a.sharey(ax[0, 0])
        style.legend_outside(fig, ax[0, 0])
        smoke = f" (a smoke test: {len(runs[present[0]]['seeds'])} seeds)" if len(
            runs[present[0]]["seeds"]) < style.MIN_BAND_SEEDS else ""
        style.question(fig, f"Does the return to the pre-trained score depend on {WHAT_VARIES[name]}?{smoke}")
        seeds = len(runs[present[0]]["seeds"])
        caption = (f"Rebound against {name} (the paper's Figure {3 if name == 'size' else 4} analogue), sweep "
                   f"{run_id}: one panel per {WHAT_VARIES[name]}, shared y axis, mean "
                   + (f"and 95% band over {seeds} seeds" if seeds >= style.MIN_BAND_SEEDS else
                      f"of {seeds} seeds with bars of +-1 sd over seeds (no interval under {style.MIN_BAND_SEEDS} "
                      f"seeds: a smoke test, not evidence)")
                   + f"; triangles: each seed's crossing of its reference; "
                   f"{_never([c for r in present for c in runs[r]['curves']])}"
                   + ("" if any(c["arm"] != "pretrained" for r in present for c in runs[r]["curves"]) else
                      "; this sweep ran without the control arms (its configuration's controls: false), so it "
                      "shows the curves' shape, not what pre-training causes")
                   + ".")
        out.append((f"rebound_{run_id}_{name}", fig, caption))
    if not out:
        raise ResultError(f"rebound/{run_id}: a sweep without size or pre-training runs")
    return out


ARMS = (("table2", "pre-trained (treatment)", 0), ("format_only", "format-only pre-training (control)", 1))


def resist(run_id: str, doc: dict) -> list[tuple]:
    """Per pair, the paired forward - inverse difference in the pre-trained arm beside the same
    measure from the format-only pre-trained control, and the part attributable to pre-training: each
    seed a dot, mean and 95% interval over seeds."""
    m = doc["metrics"]
    rows = m["table2"]
    attributable = m.get("attributable") or []
    fig, ax = style.new(2 if attributable else 1, width=10.5 if attributable else 6.4, height=3.8)
    y = np.arange(len(rows))[::-1]
    for key, label, i in ARMS:
        for yi, row in zip(y, m.get(key) or [], strict=False):
            _estimate(ax[0, 0], row["forward_minus_inverse"], yi + 0.15 - 0.3 * i, style.shade(i, 2),
                      label if yi == y[0] else None, "os"[i])
    for yi, row in zip(y, attributable, strict=True):
        _estimate(ax[0, 1], row, yi, "k", "pre-trained minus control, paired by seed" if yi == y[0] else None, "D")
    pairs = [rf"$\theta_{r['pair'][0]}, \theta_{r['pair'][1]}$" for r in rows]
    for a in ax[0]:
        a.axvline(0, color="k", lw=0.8)
        a.set_yticks(y, pairs)
    ax[0, 0].set(xlabel=f"{rows[0]['effect']} (dimensionless)", title="each arm: > 0, the inverse path ends closer")
    if attributable:
        ax[0, 1].set(xlabel="difference of the two arms (dimensionless)",
                     title="the part attributable to pre-training")
    style.question(fig, "Does the inverse path end closer than the forward one, and is it pre-training's doing?")
    style.legend_outside(fig, list(ax[0]))
    n = rows[0]["forward_minus_inverse"]["n"]
    verdicts = "; ".join(f"({a['pair'][0]},{a['pair'][1]}) {a['verdict']}" for a in attributable)
    caption = (f"Forward against inverse alignment ({run_id}, {doc['config']['dataset']}): per pair, the paired "
               f"difference of the distances after the two paths ({rows[0]['effect']}; > 0: the paper's claim), "
               f"each seed a dot, mean and 95% interval over {n} seeds"
               + (", in the pre-trained arm and in the control that skipped pre-training; right, the part "
                  f"attributable to pre-training (pre-trained minus control, paired by seed): {verdicts}. "
                  if attributable else "; this run has no no-pre-training control. ")
               + "Table 2's numbers are in the report.")
    return [(f"resist_{run_id}", fig, caption)]


def _estimate(ax, stat: dict, y: float, color, label, marker) -> None:
    """Each seed a dot (spread over a thin strip so they do not stack), then the mean with its 95%
    interval (none where there is no interval)."""
    values = list((stat.get("per_seed") or {}).values())
    if values:
        strip = np.linspace(-0.07, 0.07, len(values))
        faint = 0.35 if len(values) >= 10 else 0.7  # many seeds overlap: fainter dots; few must stay visible
        ax.plot(values, y + strip, marker, ms=3, alpha=faint, color=color, mec="none")
    err = None if stat["ci95"] is None else [[stat["mean"] - stat["ci95"][0]], [stat["ci95"][1] - stat["mean"]]]
    ax.errorbar([stat["mean"]], [y], xerr=err, fmt=marker, ms=6, capsize=4, color=color, label=label)
