"""An experiment end to end with the ensemble trainer against the per-model loop: the same grid,
side by side in one run, each from an empty folder through the engine (summary and verdict
included), then their verdicts and per-seed effects compared.

    .venv/bin/python benchmarks/bench_trainer.py [--experiment counterfactual] [--preset cpu-standard]
                                                 [--seeds 8] [--workers 1] [--json] [--out DIR]

The effects compared: the counterfactual's primary effect; resist's three pairs' asymmetry
attributable to pre-training (the primary distance). ``--seeds 0`` keeps the preset's seeds
(counterfactual cpu-standard: 48 seeds, 144 cells, about 15 min for the two on 2 cores; resist
quick: 30 seeds x 2 arms). The ratio is the loop's wall time over the ensemble's. The two
trainers differ in summation order only (float32), which the later stages amplify seed by seed:
the comparison says how far the per-seed effects moved and whether each verdict's interval holds
the other's mean. ``--out DIR`` keeps the comparison (bench.json, with the commit and machine)
and each run's result.json and per-seed table (``<trainer>/``).
"""

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from elasticity import export, runs
from harness import overrides, presets, provenance, store

EXPERIMENTS = {"counterfactual": (presets.COUNTERFACTUAL, runs.counterfactual),
               "resist": (presets.RESIST, runs.resist)}


def _effects(experiment: str, doc: dict) -> dict[str, dict]:
    """The effects a verdict reads, by name: each with verdict, mean, ci95 and per_seed."""
    if experiment == "counterfactual":
        return {"primary": doc["effect"] | {"verdict": doc["verdict"]}}
    if "attributable" not in doc["metrics"]:
        raise ValueError("the resist comparison reads the part attributable to pre-training: the preset needs "
                         "its format-only control")
    return {f"attributable {i},{j}": row for row in doc["metrics"]["attributable"] for i, j in [row["pair"]]}


def _run(experiment: str, config, workers: int, keep: Path | None) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        out = EXPERIMENTS[experiment][1](config, results=root, run_id="bench", workers=workers)
        seconds = time.perf_counter() - start
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(out.path, keep / "result.json")
            table = "per-seed" if experiment == "counterfactual" else "cells"  # resist: a row per seed and pair
            export.write(out.path.parent, "csv", keep / f"{table}.csv", table)
        return seconds, store.read_result(out.path)


def compare(preset: str, seeds: int, workers: int, out_dir: Path | None = None,
            experiment: str = "counterfactual") -> dict:
    config = EXPERIMENTS[experiment][0][preset]
    if seeds:
        config = overrides.with_overrides(config, [f"seeds={','.join(str(s) for s in config.seeds[:seeds])}"])
    out = {"experiment": experiment, "preset": preset, "seeds": len(config.seeds), "workers": workers}
    effects = {}
    for trainer in ("loop", "ensemble"):
        seconds, doc = _run(experiment, overrides.with_overrides(config, [f"trainer={trainer}"]), workers,
                            out_dir / trainer if out_dir else None)
        effects[trainer] = _effects(experiment, doc)
        out[trainer] = {"seconds": seconds} | {
            name: {"verdict": e["verdict"], "mean": e["mean"], "ci95": e["ci95"], "n_seeds": len(e["per_seed"])}
            for name, e in effects[trainer].items()}
    out["ratio"] = out["loop"]["seconds"] / out["ensemble"]["seconds"]
    out["effects"] = {name: _agreement(effects["loop"][name], effects["ensemble"][name]) for name in effects["loop"]}
    facts = provenance.collect()
    out["provenance"] = {k: facts.get(k) for k in ("git_sha", "git_dirty", "cpu", "finished_utc", "numerics")}
    if out_dir is not None:
        (out_dir / "bench.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def _agreement(loop: dict, ensemble: dict) -> dict:
    """How far one effect's per-seed values moved between the trainers, and whether the ensemble's
    mean lies in the loop's 95% interval."""
    a, b = loop["per_seed"], ensemble["per_seed"]
    both = sorted(set(a) & set(b))
    inside = None if loop["ci95"] is None else loop["ci95"][0] <= ensemble["mean"] <= loop["ci95"][1]
    return {"per_seed_max_abs_diff": max((abs(a[s] - b[s]) for s in both), default=None),
            "seeds_in_one_only": sorted(set(a) ^ set(b)), "same_verdict": loop["verdict"] == ensemble["verdict"],
            "ensemble_mean_in_loop_ci95": inside}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="counterfactual", choices=sorted(EXPERIMENTS))
    parser.add_argument("--preset", default=None,
                        help="a preset of the experiment (default: cpu-standard; resist: quick)")
    parser.add_argument("--seeds", type=int, default=8, help="the preset's first N seeds (0: all of them)")
    parser.add_argument("--workers", type=int, default=1, help="engine worker processes for both trainers")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="keep bench.json and both runs' results here")
    args = parser.parse_args(argv)
    known = EXPERIMENTS[args.experiment][0]
    preset = args.preset or {"counterfactual": "cpu-standard", "resist": "quick"}[args.experiment]
    if preset not in known:
        parser.error(f"--preset must be one of {', '.join(sorted(known))} for {args.experiment}, got {preset!r}")
    if args.out is not None and args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        parser.error(f"--out {args.out} exists and is not an empty folder: remove it or name another one")
    out = compare(preset, args.seeds, args.workers, args.out, args.experiment)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for t in ("loop", "ensemble"):
        print(f"{t:9s} {out[t]['seconds']:7.1f} s")
        for name, r in out[t].items():
            if name != "seconds":
                interval = "no interval" if r["ci95"] is None else f"[{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}]"
                print(f"  {name}: {r['verdict']}, {r['mean']:+.3f} {interval} over {r['n_seeds']} seeds")
    print(f"{out['experiment']} {out['preset']}, {out['seeds']} seeds, {out['workers']} worker(s): loop / ensemble = "
          f"{out['ratio']:.2f}x")
    for name, a in out["effects"].items():
        diff = "n/a" if a["per_seed_max_abs_diff"] is None else f"{a['per_seed_max_abs_diff']:.3g}"
        print(f"  {name}: per-seed values differ by at most {diff}; same verdict: "
              f"{a['same_verdict']}; ensemble mean inside the loop's 95% interval: {a['ensemble_mean_in_loop_ci95']}")


if __name__ == "__main__":
    main()
