"""One look for every figure, and the one way figures are saved (PNG + PDF + caption).

Figures are made with ``matplotlib.figure.Figure`` directly (not pyplot): no backend is chosen
or needed, nothing opens a window, and a notebook's inline plotting is left alone (a returned
figure displays there as usual)."""

import json
import textwrap
from pathlib import Path

import matplotlib as mpl
from matplotlib import ticker
from matplotlib.figure import Figure

RC = {
    "figure.figsize": (6.4, 4.0),
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 8,
}
COLORS = mpl.colormaps["viridis"]


def new(ncols: int = 1, nrows: int = 1, width: float = 6.4, height: float = 4.0):
    """(figure, axes as a 2-D array) in the house style."""
    with mpl.rc_context(RC):
        fig = Figure(figsize=(width, height), layout="constrained")
        return fig, fig.subplots(nrows, ncols, squeeze=False)


# Fewer seeds than this: a figure draws the mean alone, no interval band (a t-interval from 2-4
# seeds spans most of the axis and says little; the report's tables give the interval).
MIN_BAND_SEEDS = 5


def band_allowed(stats) -> bool:
    """Whether an interval band may be drawn over these per-point statistics (None: a gap)."""
    present = [s for s in stats if s is not None]
    return bool(present) and all(s.get("ci95") is not None and s.get("n", 0) >= MIN_BAND_SEEDS for s in present)


def shade(i: int, n: int):
    return COLORS(0.1 + 0.8 * i / max(n - 1, 1))


def save(fig, out_dir: Path, name: str, caption: str, command: str) -> dict:
    """Write name.png, name.pdf and name.json (caption and command); returns the entry."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with mpl.rc_context(RC):
        for ext in ("png", "pdf"):
            fig.savefig(out_dir / f"{name}.{ext}")
    entry = {"name": name, "png": f"{name}.png", "pdf": f"{name}.pdf", "caption": caption, "command": command}
    (out_dir / f"{name}.json").write_text(json.dumps(entry, indent=1) + "\n")
    return entry


def colour_keys(*pairs: tuple[str, str]) -> list[tuple]:
    """Legend entries for the colours of a mesh (pcolormesh draws no line to point at): (Patch,
    label) pairs for ``legend_outside(..., keys=...)``."""
    from matplotlib.patches import Patch

    return [(Patch(color=color), label) for color, label in pairs]


def legend_outside(fig, ax, keys=()) -> None:
    """The legend of ``ax`` (or of every axes in a list) below the plotting area, never on the
    data; ``keys``: extra (handle, label) entries, such as ``colour_keys``."""
    handles, labels = [h for h, _ in keys], [label for _, label in keys]
    for one in ax if isinstance(ax, (list, tuple)) else [ax]:
        for h, lab in zip(*one.get_legend_handles_labels(), strict=True):
            if lab not in labels:  # the same series drawn in two panels: one entry
                handles.append(h)
                labels.append(lab)
    if handles:  # as many columns as fit the figure's width, from the longest label (about 0.08 in a character)
        column = 0.7 + 0.08 * max(len(label) for label in labels)
        columns = max(1, min(len(labels), int(fig.get_figwidth() // column)))
        fig.legend(handles, labels, loc="outside lower center", ncols=columns)


def log_ticks(ax, values) -> None:
    """A log axis labelled at the plotted values themselves (plain numbers, no minor labels)."""
    ax.set_xlim(min(values) / 1.4, max(values) * 1.4)  # a margin even for one value (its per-seed dots sit beside it)
    if len(set(values)) > 1:  # one value: a linear axis (a log axis with a single label reads as broken)
        ax.set_xscale("log")
    ax.set_xticks(list(values), [f"{v:g}" for v in values])
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def question(fig, text: str) -> None:
    """The figure's title: the question it answers, wrapped to the figure's width (about 11
    characters an inch at the title's size) so a one-panel figure does not clip it."""
    fig.suptitle(textwrap.fill(text, max(30, int(fig.get_figwidth() * 11))))
