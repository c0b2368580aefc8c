"""Build every figure there are results for; say which were skipped and why. Every builder
returns a list of entries (a result may make several figures)."""

from pathlib import Path

from figures import counterfactual, experiments, simulation, style, theory
from figures.results import ResultError, command, load

FROM_FIXED_RESULTS = (
    ("theory", theory.build),
    ("sim_mc_vs_exact", simulation.mc_vs_exact),
    ("sim_error_vs_m", simulation.error_vs_m),
    ("sim_huffman_band", simulation.huffman),
)


def _saved(plots):
    """A builder that saves what a plot function returns: (name, figure, caption) triples."""
    def build(run_id, doc, out):
        return [style.save(fig, out, name, caption, command(doc)) for name, fig, caption in plots(run_id, doc)]
    return build


PER_RESULT = (("rebound", _saved(experiments.rebound)), ("resist", _saved(experiments.resist)),
              ("counterfactual", _saved(counterfactual.plots)))


def build_all(root, out=None) -> tuple[list[dict], list[dict]]:
    """(built entries, skipped [{figure, reason}]) for the results under ``root``; figures go to
    ``out`` (default root/figures). One missing or malformed result skips only its figures."""
    root = Path(root)
    out = Path(out) if out else root / "figures"
    built, skipped = [], []
    for name, make in FROM_FIXED_RESULTS:
        _try(lambda m=make: m(root, out), name, built, skipped)
    for experiment, make in PER_RESULT:
        paths = sorted((root / experiment).glob("*/result.json"))
        if not paths:
            skipped.append(
                {"figure": experiment, "reason": f"no {experiment} results under {root / experiment}"}
            )
        for path in paths:
            _try(
                lambda p=path, m=make: m(p.parent.name, load(p), out),
                f"{experiment}/{path.parent.name}",
                built,
                skipped,
            )
    return built, skipped


def _try(make, name, built, skipped):
    try:
        built.extend(make())
    except ResultError as err:
        skipped.append({"figure": name, "reason": str(err)})
    except (KeyError, TypeError, ValueError, IndexError) as err:  # a result without the expected fields
        skipped.append({"figure": name, "reason": f"malformed result ({type(err).__name__}: {err})"})
