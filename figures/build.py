"""Build every figure there are results for; say which were skipped and why.

Plot functions return (name, figure, caption) and touch no backend; this module saves them
(``style.save``: PNG, PDF and a JSON caption with the command that made the result)."""

from pathlib import Path

from figures import counterfactual, experiments, simulation, style, theory
from figures.results import ResultError, command, load

FROM_FIXED_RESULTS = (  # (name, plots(root) -> (result document, [(name, figure, caption)]))
    ("theory", theory.plots),
    ("sim_mc_vs_exact", simulation.mc_vs_exact),
    ("sim_error_vs_m", simulation.error_vs_m),
    ("sim_huffman_band", simulation.huffman),
)
PER_RESULT = (("rebound", experiments.rebound), ("resist", experiments.resist),
              ("counterfactual", counterfactual.plots))


def figures(root) -> tuple[list[tuple], list[dict]]:
    """Every figure the results under ``root`` allow, unsaved: ([(name, figure, caption,
    command)], skipped [{figure, reason}]). One missing or malformed result skips only its
    figures."""
    root = Path(root)
    made, skipped = [], []
    for name, plots in FROM_FIXED_RESULTS:
        _try(lambda p=plots: p(root), name, made, skipped)
    for experiment, plots in PER_RESULT:
        paths = sorted((root / experiment).glob("*/result.json"))
        if not paths:
            skipped.append({"figure": experiment, "reason": f"no {experiment} results under {root / experiment}"})
        for path in paths:
            def build(p=path, plots=plots):
                doc = load(p)
                return doc, plots(p.parent.name, doc)
            _try(build, f"{experiment}/{path.parent.name}", made, skipped)
    return made, skipped


def build_all(root, out=None) -> tuple[list[dict], list[dict]]:
    """(saved entries, skipped) for the results under ``root``; figures go to ``out`` (default
    root/figures)."""
    out = Path(out) if out else Path(root) / "figures"
    made, skipped = figures(root)
    return [style.save(fig, out, name, caption, cmd) for name, fig, caption, cmd in made], skipped


def _try(make, name, made, skipped):
    try:
        doc, plots = make()
        made.extend((n, fig, caption, command(doc)) for n, fig, caption in plots)
    except ResultError as err:
        skipped.append({"figure": name, "reason": str(err)})
    except (KeyError, TypeError, ValueError, IndexError) as err:  # a result without the expected fields
        skipped.append({"figure": name, "reason": f"malformed result ({type(err).__name__}: {err})"})
