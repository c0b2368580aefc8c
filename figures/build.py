"""Build every figure there are results for; say which were skipped and why.

Plot functions return (name, figure, caption) and touch no backend; this module saves them
(``style.save``: PNG, PDF and a JSON caption with the command that made the result) and writes
the index page (``figures.index``: index.html, every figure with its caption)."""

from pathlib import Path

from figures import counterfactual, experiments, index, scaling, simulation, style, theorem, theory
from figures.results import ResultError, command, load
from harness import store

# the command that makes the result each skipped figure needs
MAKES = {"theory": "elasticity reproduce --preset quick (theory curves)",
         "sim_mc_vs_exact": "elasticity sim check --alpha 3 --k 100 --l L (at several L)",
         "sim_error_vs_m": "elasticity sim convergence --alpha 3 --k 100 --l 0.01 --depths 8,10,12,14",
         "sim_huffman_band": "elasticity reproduce --preset quick (simulation)",
         "rebound": "elasticity rebound --preset quick", "resist": "elasticity resist --preset quick",
         "counterfactual": "elasticity counterfactual --preset cpu-standard --workers 2",
         "theorem": "elasticity theorem --preset cpu",
         "scaling": "elasticity scaling --preset scale-cpu --workers 2",
         "audit": "elasticity audit"}

FROM_FIXED_RESULTS = (  # (name, plots(root) -> (result document, [(name, figure, caption)]))
    ("theory", theory.plots),
    ("sim_mc_vs_exact", simulation.mc_vs_exact),
    ("sim_error_vs_m", simulation.error_vs_m),
    ("sim_huffman_band", simulation.huffman),
)


def _map(run_id, doc, folder):
    try:
        arrays = store.read_arrays(folder)
    except store.StoreError as err:
        raise ResultError(str(err)) from None
    return theory.map_plots(run_id, doc, arrays)


PER_RESULT = (  # (experiment, plots(run_id, document, folder))
    ("rebound", lambda run_id, doc, _: experiments.rebound(run_id, doc)),
    ("resist", lambda run_id, doc, _: experiments.resist(run_id, doc)),
    ("counterfactual", lambda run_id, doc, _: counterfactual.plots(run_id, doc)),
    ("theorem", lambda run_id, doc, _: theorem.plots(run_id, doc)),
    ("scaling", lambda run_id, doc, _: scaling.plots(run_id, doc)),
    ("theory-map", _map),
)


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
        if not paths and experiment != "theory-map":  # a map is optional: nothing to say when there is none
            skipped.append({"figure": experiment, "reason": f"no {experiment} results under {root / experiment}"})
        for path in paths:
            def build(p=path, plots=plots):
                doc = load(p)  # checked: its stored id is its folder's
                return doc, plots(doc["run_id"], doc, p.parent)
            _try(build, f"{experiment}/{path.parent.name}", made, skipped)
    for item in skipped:
        item["make"] = MAKES.get(item["figure"].split("/")[0].split(" ")[0], "")
    return made, skipped


def check_out(out) -> None:
    """Refuse an output folder inside a run folder (one holding a result or a run record): figures
    written there would mix with, or replace, what the store wrote."""
    out = Path(out).resolve()
    for folder in (out, *out.parents):
        run_record = (folder / store.CONFIG_FILE).is_file() and (folder / "cells").is_dir()
        if (folder / store.RESULT_FILE).exists() or run_record:
            raise ValueError(f"--out {out}: inside the run folder {folder}; choose a folder outside any run")


def build_all(root, out=None) -> tuple[list[dict], list[dict]]:
    """(saved entries, skipped) for the results under ``root``; figures go to ``out`` (default
    root/figures), with their index page (index.html), never into a run folder."""
    out = Path(out) if out else Path(root) / "figures"
    check_out(out)
    made, skipped = figures(root)
    saved = [style.save(fig, out, name, caption, cmd) for name, fig, caption, cmd in made]
    index.write(out, saved, skipped)
    return saved, skipped


def _try(make, name, made, skipped):
    try:
        doc, plots = make()
        made.extend((n, fig, caption, command(doc)) for n, fig, caption in plots)
    except ResultError as err:
        skipped.append({"figure": name, "reason": str(err)})
    except (KeyError, TypeError, ValueError, IndexError) as err:  # a result without the expected fields
        skipped.append({"figure": name, "reason": f"malformed result ({type(err).__name__}: {err})"})
