"""Figures of the counterfactual pre-training experiment, from its result file: the paired
effect over Q2 with seed bands, the positive controls against their strength, and the
effective k against |D_pre|/Q1 with the theorem's line y = x. Each plot function returns
(name, figure, caption); saving is the caller's."""

import numpy as np

from figures import style


def plots(run_id: str, doc: dict) -> list[tuple]:
    """The effect always; the controls figure where the run has a positive control; the k figure
    where the run has more than one effective-k row (sizes, modes or a joint arm): a figure with
    nothing on it, or one point whose numbers the run's table already gives, is not drawn."""
    out = [_effect(run_id, doc)]
    if has_controls(doc):
        out.append(_controls(run_id, doc))
    if has_k_axis(doc):
        out.append(_effective_k(run_id, doc))
    return out


def has_controls(doc: dict) -> bool:
    controls = doc.get("positive_controls") or {}
    return bool(controls.get("in_window") or controls.get("spring") or controls.get("replay"))


def has_k_axis(doc: dict) -> bool:
    """More than one effective-k row (sizes, modes or the joint arm): something to compare."""
    return len(doc.get("effective_k") or []) > 1


def _band(ax, x, stats_rows, color, label, marker="o"):
    mean = np.array([r["mean"] for r in stats_rows])
    ax.plot(x, mean, marker + "-", ms=3, color=color, label=label)
    if style.band_allowed(stats_rows):
        lo, hi = np.array([r["ci95"] for r in stats_rows]).T
        ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0)


def _effect(run_id, doc):
    m, e = doc["metrics"], doc["primary_endpoint"]
    n = doc["effect"]["n_seeds"]
    fig, ax = style.new(2, width=10.5, height=4.4)
    series_rows = m["effects"][0]["by_q2"]
    for j, key in enumerate(("probability", "logit")):
        series = [entry for entry in m["effects"] if entry["units"] == key]
        for i, entry in enumerate(series):
            rows = entry["by_q2"]
            color = style.shade(i, len(series))
            _band(ax[0, j], [r["q2"] for r in rows], rows, color,
                  f"{entry['alignment']}-matched alignment, lr {entry['second_lr']!r}", "os^v"[i % 4])
            _seed_points(ax[0, j], rows, e["q2"], color, i, len(series))
        ax[0, j].axhline(0, color="k", lw=0.8)
        grid = [r["q2"] for r in series_rows]
        style.log_ticks(ax[0, j], grid)
        ax[0, j].set_xlim(min(grid) / 1.3, max(grid) * 1.3)  # room for the window and the endpoint at the ends
        _window(ax[0, j], e["q2"], label=j == 1)
        if key == e["units"]:  # the margin and the verdict's own estimate live in the primary units
            _margin_and_primary(ax[0, j], doc)
        ax[0, j].set(xlabel=r"$Q_2$ (perturbation examples seen)",
                     ylabel=f"drop({m['low_arm']}) $-$ drop({m['high_arm']}) ({key})",
                     title=f"{key} units" + (" (the primary endpoint's)" if key == e["units"] else ""))
    style.question(fig, f"Does the low-f arm ({m['low_arm']}) lose more of its alignment than the high-f arm "
                 f"({m['high_arm']})? Above 0: elasticity")
    style.legend_outside(fig, list(ax[0]))
    window = ", ".join(str(q) for q in e["q2"])
    steps = ", ".join(f"{s:g}" for s in e.get("optimizer_steps", []))
    caption = (f"Counterfactual pre-training ({run_id}): per seed, how much more score the low-f arm "
               f"({m['low_arm']}) loses than the high-f arm ({m['high_arm']}) under the same perturbation, paired "
               f"by seed; "
               + (f"mean and 95% band over {n} seeds. " if n >= style.MIN_BAND_SEEDS else
                  f"mean of {n} seeds (no band under {style.MIN_BAND_SEEDS} seeds: a smoke test). ")
               + f"Dots: every seed's own difference at the declared primary window (shaded, Q2 = {window}"
               + (f", {steps} optimizer steps" if steps else "") + "). "
               f"In the {e['units']} panel, the orange band is the equivalence margin +-{doc['sesoi']:g} and the "
               f"black diamond the primary endpoint ({e['alignment']}-matched, lr {e['second_lr']!r}) with its 95% "
               f"interval. Above 0: elasticity (the pre-training data pulls back). Verdict: {doc['verdict']}.")
    return f"counterfactual_effect_{run_id}", fig, caption


def _seed_points(ax, rows, window, color, i, n) -> None:
    """Each seed's own paired difference at the primary window's Q2, nudged sideways per series
    (a multiplicative nudge: the axis is logarithmic) so series do not hide each other."""
    nudge = 1.06 ** (i - (n - 1) / 2)
    for r in rows:
        if r["q2"] in window and r.get("per_seed"):
            values = list(r["per_seed"].values())
            ax.plot([r["q2"] * nudge] * len(values), values, "o", ms=3, alpha=0.5, color=color, mec="none")


def _window(ax, q2, label: bool) -> None:
    """The declared primary window, shaded over the full height (a collection, so the legend points
    at something drawn)."""
    lo, hi = min(q2) / 1.2, max(q2) * 1.2
    ax.fill_between([lo, hi], 0, 1, transform=ax.get_xaxis_transform(), color="0.5", alpha=0.12, lw=0,
                    label="the declared primary window" if label else None)


def _margin_and_primary(ax, doc) -> None:
    """The equivalence margin +-sesoi around 0, and the primary endpoint (mean over its window,
    95% interval) at the window's centre."""
    e, effect, sesoi = doc["primary_endpoint"], doc["effect"], doc["sesoi"]
    x = ax.get_xlim()
    ax.fill_between(x, -sesoi, sesoi, color="#f4a582", alpha=0.3, lw=0,  # not grey: the window is grey
                    label=f"equivalence margin $\\pm${sesoi:g} ({e['units']})")
    ax.set_xlim(x)
    centre = float(np.exp(np.mean(np.log(e["q2"]))))  # the window's middle on the log axis
    ci = effect["ci95"]
    err = None if ci is None else [[effect["mean"] - ci[0]], [ci[1] - effect["mean"]]]
    ax.errorbar([centre * 1.13], [effect["mean"]], yerr=err, fmt="D", ms=6, capsize=4, color="k", zorder=5,
                label=f"primary endpoint, 95% interval ({doc['verdict']})")


def _controls(run_id, doc):
    controls, e = doc["positive_controls"], doc["primary_endpoint"]
    late, replay = controls["spring"], controls.get("replay")
    panels = 2 if late or replay else 1
    fig, ax = style.new(panels, width=5.6 * panels, height=3.8)
    window = f"Q2 = {', '.join(str(q) for q in e['q2'])}"
    rows = controls["in_window"]
    if rows:
        beta = [r["anchor_beta"] for r in rows]
        ax[0, 0].errorbar(beta, [r["effect"]["mean"] for r in rows], yerr=_errors(rows), fmt="o-", ms=4,
                          capsize=3, color=style.shade(0, 2), label=r"anchor_beta $\cdot$ KL(model $\|\,\theta_{pre}$)")
        style.log_ticks(ax[0, 0], beta)
        _control_seeds(ax[0, 0], rows, "anchor_beta", style.shade(0, 2))
    ax[0, 0].axhline(0, color="k", lw=0.8)
    ax[0, 0].axhline(doc["sesoi"], color="grey", ls=":", lw=1, label=f"smallest effect of interest ({doc['sesoi']:g})")
    ax[0, 0].set(xlabel="anchor_beta (weight of the output-space anchor)",
                 ylabel=f"added to the contrast ({e['units']})",
                 title=f"in the primary window ({window}); above 0: the pull is seen")
    if panels == 2:
        if late:
            lam = [r["spring"] for r in late]
            ax[0, 1].errorbar(lam, [r["effect"]["mean"] for r in late], yerr=_errors(late), fmt="o", ms=4,
                              capsize=3, color=style.shade(1, 2), label=r"spring $\cdot\,\|\theta-\theta_{pre}\|^2$")
            style.log_ticks(ax[0, 1], lam)
            _control_seeds(ax[0, 1], late, "spring", style.shade(1, 2))
        if replay:
            ax[0, 1].axhline(replay["effect"]["mean"], color=style.shade(0, 2), ls="--", lw=1,
                             label=f"replay of D_pre (mean {replay['effect']['mean']:.3g})")
        ax[0, 1].axhline(0, color="k", lw=0.8)
        ax[0, 1].set(xlabel="spring (weight of the L2 pull to the pre-trained weights)",
                     ylabel=f"added to the contrast ({e['units']})",
                     title="late window (mean over the Q2 grid)")
    style.question(fig, "Can the instrument see a pull towards the pre-trained model when one is injected?")
    style.legend_outside(fig, list(ax[0]))
    n = doc["effect"]["n_seeds"]
    sized = controls["smallest_anchor_beta_at_sesoi"]
    drawn = [what for what, there in (("the weight spring", late), ("replay of D_pre", replay)) if there]
    caption = (f"Positive controls ({run_id}, {n} seeds paired, mean and 95% intervals, each seed a dot where "
               f"the result holds its values): what each control adds to drop(low f) - drop(high f) ({e['units']} "
               f"units); the dotted line is the smallest effect of interest; above 0, the instrument sees an "
               f"injected pull towards the pre-trained "
               f"model. The output-space anchor, in the primary window"
               + (f", and {' and '.join(drawn)} over the whole grid" if drawn else "") + ". "
               + (f"The smallest anchor detected with an effect of at least the margin: anchor_beta = {sized!r}."
                  if sized is not None else "No anchor strength was detected with an effect of at least the margin."))
    return f"counterfactual_controls_{run_id}", fig, caption


def _control_seeds(ax, rows, key: str, color) -> None:
    """Each seed's added effect at each control strength (the spread behind the interval)."""
    for r in rows:
        values = list((r.get("per_seed") or {}).values())
        if values:
            beside = [r[key] * 1.08] * len(values)  # beside its bar, not hidden under it
            ax.plot(beside, values, "o", ms=3, alpha=0.5, color=color, mec="none")


def _errors(rows) -> np.ndarray | None:
    if any(r["effect"]["ci95"] is None for r in rows):
        return None
    mean = np.array([r["effect"]["mean"] for r in rows])
    lo, hi = np.array([r["effect"]["ci95"] for r in rows]).T
    return np.vstack([mean - lo, hi - mean])


K_MODE_LABELS = {"steps": "aligned after pre-training (same steps)",
                 "epochs": "aligned after pre-training (same epochs)", "joint": "trained jointly on D_pre + alignment"}


def _effective_k(run_id, doc):
    rows = doc["effective_k"]
    fig, ax = style.new(width=6.4, height=4.2)
    k = np.array([r["nominal_k"] for r in rows])
    ax[0, 0].plot([k.min() / 2, k.max() * 2], [k.min() / 2, k.max() * 2], "k--", lw=1,
                  label=r"theorem: $-dCE_{align}/dCE_{pre} = k$")
    ax[0, 0].plot(k, [r["predicted"] for r in rows], "D", ms=5, mfc="none", color="k",
                  label="optimal compressor of the mixture (exact)")
    modes = list(dict.fromkeys(r["k_mode"] for r in rows))
    labelled = False
    for i, mode in enumerate(modes):  # each mode's observed ratios and operating points, in its colour
        color = style.shade(i, len(modes))
        nudge = 1.1 ** (i - (len(modes) - 1) / 2)  # modes side by side at one nominal k (log axis: a factor)
        measured = [r for r in rows if r["k_mode"] == mode and r["observed"]["mean"] is not None]
        if measured:
            mean = np.array([r["observed"]["mean"] for r in measured])
            err = None
            if all(r["observed"]["ci95"] is not None for r in measured):
                lo, hi = np.array([r["observed"]["ci95"] for r in measured]).T
                err = np.vstack([mean - lo, hi - mean])
            ax[0, 0].errorbar([r["nominal_k"] * nudge for r in measured], mean, yerr=err, fmt="os^"[i % 3], ms=5,
                              capsize=3, color=color, label=f"{K_MODE_LABELS[mode]} (Fieller 95%)")
        operating = [(r["nominal_k"] * nudge, r["operating_point_k"]) for r in rows
                     if r["k_mode"] == mode and r["operating_point_k"] is not None]
        if operating:
            ax[0, 0].plot(*zip(*operating, strict=True), "x", ms=7, color=color,
                          label=None if labelled else "operating point (1 - s)/(s - f) at the arm's score (x)")
            labelled = True
    ax[0, 0].set_xscale("log")
    ax[0, 0].set_yscale("symlog", linthresh=1.0)  # the observed ratio can be negative: its sign is shown
    ax[0, 0].axhline(0, color="grey", lw=0.6)
    ax[0, 0].set(xlabel=r"nominal $k = |D_{pre}|/Q_1$ (dimensionless)",
                 ylabel=r"$-dCE_{align}/dCE_{pre}$ over the first $Q_2$ points",
                 title="Convergence diagnostic: where do the fitted slope ratios sit?\n"
                       "(not the theorem's test: see the theorem experiment)")
    style.legend_outside(fig, ax[0, 0])
    caption = (f"Convergence diagnostic ({run_id}, {len(doc['config']['seeds'])} seeds), not a test of the theorem: "
               f"the ratio of the code-length slopes on D_align and D_pre fitted over the first "
               f"{doc['config'].get('k_fit_points', 'few')} Q2 points of the perturbation, against |D_pre|/Q1, on a "
               f"symmetric-log axis (negative values: both code lengths rise). {_k_coverage(rows)} The optimal "
               f"compressor lies on y = x by the theorem's identity; a model that moves only along the style share "
               f"shows the operating-point value (crosses) whatever k is. A finite-step slope of a trained model is "
               f"not the derivative at l = 0 the theorem is about: the theorem experiment's observed-against-"
               f"predicted figure is the headline test.")
    return f"counterfactual_k_{run_id}", fig, caption


def _k_coverage(rows) -> str:
    """Per pre-training mode, how many 95% intervals cover the nominal k and the operating point
    (counted, so the caption cannot say more than the intervals do)."""
    def covers(row, value):
        ci = row["observed"]["ci95"]
        return value is not None and ci is not None and ci[0] <= value <= ci[1]

    parts = []
    for mode in dict.fromkeys(r["k_mode"] for r in rows):
        mine = [r for r in rows if r["k_mode"] == mode]
        parts.append(f"{K_MODE_LABELS[mode]}: the interval covers the nominal k at "
                     f"{sum(covers(r, r['nominal_k']) for r in mine)} of {len(mine)} sizes, the operating point at "
                     f"{sum(covers(r, r['operating_point_k']) for r in mine)}")
    return "Per mode, " + "; ".join(parts) + "."
