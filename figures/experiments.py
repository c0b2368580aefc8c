"""Experiment figures: rebound curves (Figures 2-7 analogues), the model-size and
pre-training panels of a sweep, the Table 2 analogue, and predicted against observed code
length changes."""


from figures import style
from figures.results import ResultError, command


def rebound(run_id: str, doc: dict, out) -> list[dict]:
    """The figures of one rebound result (a single run, or a sweep's index)."""
    if "runs" in doc["metrics"]:
        return _sweep_panels(run_id, doc, out)
    entries = [_curves(run_id, doc, out)]
    if any(c["predicted_vs_observed"] for c in doc["metrics"]["curves"]):
        entries.append(_predicted(run_id, doc, out))
    return entries


def resist(run_id: str, doc: dict, out) -> list[dict]:
    return [_table2(run_id, doc, out)]


SYNTHETIC_SCORE = "P(positive style), exact"


def _plot_curves(ax, curves, reference: float, title: str, ylabel: str = SYNTHETIC_SCORE):
    pre = [c for c in curves if c["arm"] == "pretrained"]
    for i, c in enumerate(pre):
        ax.plot(
            c["q2"],
            [s["mean"] for s in c["score"]],
            "o-",
            ms=3,
            color=style.shade(i, len(pre)),
            label=f"Q1 = {c['q1']}",
        )
    for c in curves:
        if c["arm"] == "scratch":
            ax.plot(c["q2"], [s["mean"] for s in c["score"]], ":", color="grey", lw=1)
    if any(c["arm"] == "scratch" for c in curves):
        ax.plot([], [], ":", color="grey", label="never pre-trained (control)")
    ax.axhline(reference, color="k", ls="--", lw=1, label="reference (pre-trained)")
    ax.set(xlabel="Q2 (examples of the second stage)", ylabel=ylabel, title=title)
    ticks = sorted({q for c in curves for q in c["q2"]})
    ax.set_xscale("symlog", linthresh=max(ticks[1] if len(ticks) > 1 else 1, 1), linscale=0.5)
    ax.set_xlim(left=0, right=ticks[-1] * 1.1)
    ax.set_xticks(ticks, [str(q) for q in ticks], rotation=45)
    ax.minorticks_off()
    ax.legend()


def _curves(run_id, doc, out):
    cfg, m = doc["config"], doc["metrics"]
    fig, ax = style.new()
    data = "synthetic world" if cfg.get("dataset", "synthetic") == "synthetic" else cfg["dataset"]
    scorer = doc.get("scorer")
    ylabel = f"{scorer['name']} score ({scorer['units']})" if scorer else SYNTHETIC_SCORE
    _plot_curves(ax[0, 0], m["curves"], doc["reference_score"], f"{run_id}: {m['variant']} ({data})", ylabel)
    score = (
        "exact probability of the positive style"
        if data == "synthetic world"
        else doc.get("scorer", {}).get("measures", "scorer")
    )
    caption = (
        f"Rebound ({m['variant']}), {data}, model {cfg.get('model_path') or cfg['model_size']}: score "
        f"({score}) after Q1 first-stage and Q2 second-stage examples, mean of {len(cfg['seeds'])} "
        f"seed(s); dashed: the pre-trained model's own score."
    )
    return style.save(fig, out, f"rebound_{run_id}", caption, command(doc))


def _sweep_panels(run_id, doc, out):
    runs = {r["run"]: r for r in doc["metrics"]["runs"]}
    entries = []
    for name, axis in (
        ("size", ("size-tiny", "centre", "size-medium")),
        ("pretraining", ("pretrain-1ep", "centre", "pretrain-4ep")),
    ):
        present = [r for r in axis if r in runs]
        if len(present) < 2:
            continue
        fig, ax = style.new(len(present), width=3.6 * len(present), height=3.6)
        for i, r in enumerate(present):
            run = runs[r]
            label = (
                f"model {run['model_size']}"
                if name == "size"
                else f"{run['pretrain_epochs']} pre-training epochs"
            )
            _plot_curves(ax[0, i], run["curves"], run["reference_score"], label)
        caption = (
            f"Rebound against {name} (the paper's Figure {3 if name == 'size' else 4} analogue), sweep "
            f"{run_id}: one panel per {name}, lines per Q1."
        )
        entries.append(style.save(fig, out, f"rebound_{run_id}_{name}", caption, command(doc)))
    if not entries:
        raise ResultError(f"rebound/{run_id}: a sweep without size or pre-training runs")
    return entries


def _predicted(run_id, doc, out):
    fig, ax = style.new()
    curves = [c for c in doc["metrics"]["curves"] if c["predicted_vs_observed"]]
    for i, c in enumerate(curves):
        all_rows = c["predicted_vs_observed"]
        for key, marker in zip(all_rows[-1]["optimal_code_length_nats"], "os^", strict=False):
            # the optimal compressor has no code for the second dataset at Q2 = 0: changes are
            # taken from the first Q2 where both have one
            rows = [r for r in all_rows if key in r["optimal_code_length_nats"]]
            observed = [r["observed_code_length_nats"][key] - rows[0]["observed_code_length_nats"][key]
                        for r in rows]
            optimal = [r["optimal_code_length_nats"][key] - rows[0]["optimal_code_length_nats"][key]
                       for r in rows]
            ax[0, 0].plot(optimal, observed, marker, ms=4, color=style.shade(i, len(curves)),
                          label=f"{c['arm']} Q1={c['q1']}: {key}")
    lim = ax[0, 0].get_xlim()
    ax[0, 0].plot(lim, lim, "k--", lw=1, label="observed = predicted")
    ax[0, 0].set(
        xlabel="predicted change (optimal compressor), nats/token",
        ylabel="observed change (model), nats/token",
        title=f"{run_id}: code length changes",
    )
    ax[0, 0].legend(fontsize=6, ncol=2)
    caption = (
        "Per-dataset code length change from Q2 = 0 as Q2 grows: the model against the optimal "
        "compressor of the size-weighted mixture (Definition C.9)."
    )
    return style.save(fig, out, f"predicted_vs_observed_{run_id}", caption, command(doc))


def _table2(run_id, doc, out):
    rows = doc["metrics"]["table2"]
    fig, ax = style.new(width=11, height=1.5)
    ax[0, 0].axis("off")

    def cell(stat):
        return f"{stat['mean']:.4f} [{stat['ci95'][0]:.4f}, {stat['ci95'][1]:.4f}]"

    table = ax[0, 0].table(
        cellText=[[r["label"], cell(r["inverse_nats"]), cell(r["forward_nats"]), r["verdict"]] for r in rows],
        colLabels=["inverse vs. forward", "inverse (nats/token)", "forward (nats/token)", "verdict"],
        colWidths=[0.3, 0.2, 0.2, 0.3],
        loc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    cfg = doc["config"]
    caption = (
        f"Table 2 analogue ({cfg['dataset']}, {len(cfg['seeds'])} seeds, mean and 95% interval): cross-"
        f"entropy to the target model after the inverse and the forward path."
    )
    entry = style.save(fig, out, f"table2_{run_id}", caption, command(doc))
    entry["table"] = [
        {
            "pair": r["label"],
            "inverse": cell(r["inverse_nats"]),
            "forward": cell(r["forward_nats"]),
            "verdict": r["verdict"],
        }
        for r in rows
    ]
    return entry
