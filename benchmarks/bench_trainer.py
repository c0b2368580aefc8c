"""The counterfactual end to end with the ensemble trainer against the per-model loop: the same
grid, side by side in one run, each from an empty folder through the engine (summary and
verdict included), then their verdicts and per-seed primary effects compared.

    .venv/bin/python benchmarks/bench_trainer.py [--preset cpu-standard] [--seeds 8] [--workers 1] [--json]
                                                 [--out DIR]

``--seeds 0`` keeps the preset's seeds (cpu-standard: 48 seeds, 144 cells; about 15 min for the
two on 2 cores). The ratio is the loop's wall time over the ensemble's. The two trainers differ in
summation order only (float32), which the later stages amplify seed by seed: the comparison says
how far the per-seed effects moved and whether each verdict's interval holds the other's mean.
``--out DIR`` keeps the comparison (bench.json, with the commit and machine) and each run's
result.json and per-seed table (``<trainer>/``).
"""

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from elasticity import export, runs
from harness import overrides, presets, provenance, store


def _run(config, workers: int, keep: Path | None) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        out = runs.counterfactual(config, results=root, run_id="bench", workers=workers)
        seconds = time.perf_counter() - start
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(out.path, keep / "result.json")
            export.write(out.path.parent, "csv", keep / "per-seed.csv", "per-seed")
        return seconds, store.read_result(out.path)


def compare(preset: str, seeds: int, workers: int, out_dir: Path | None = None) -> dict:
    config = presets.COUNTERFACTUAL[preset]
    if seeds:
        config = overrides.with_overrides(config, [f"seeds={','.join(str(s) for s in config.seeds[:seeds])}"])
    out = {"preset": preset, "seeds": len(config.seeds), "workers": workers}
    results = {}
    for trainer in ("loop", "ensemble"):
        seconds, doc = _run(overrides.with_overrides(config, [f"trainer={trainer}"]), workers,
                            out_dir / trainer if out_dir else None)
        results[trainer] = doc
        effect = doc["effect"]
        out[trainer] = {"seconds": seconds, "verdict": doc["verdict"], "mean": effect["mean"],
                        "ci95": effect["ci95"], "n_seeds": effect["n_seeds"]}
    out["ratio"] = out["loop"]["seconds"] / out["ensemble"]["seconds"]
    a, b = (results[t]["effect"]["per_seed"] for t in ("loop", "ensemble"))
    both = sorted(set(a) & set(b))
    out["per_seed_max_abs_diff"] = max((abs(a[s] - b[s]) for s in both), default=None)
    out["seeds_in_one_only"] = sorted(set(a) ^ set(b))
    lo, hi = out["loop"]["ci95"]
    out["ensemble_mean_in_loop_ci95"] = lo <= out["ensemble"]["mean"] <= hi
    facts = provenance.collect()
    out["provenance"] = {k: facts.get(k) for k in ("git_sha", "git_dirty", "cpu", "finished_utc", "numerics")}
    if out_dir is not None:
        (out_dir / "bench.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cpu-standard", choices=sorted(presets.COUNTERFACTUAL))
    parser.add_argument("--seeds", type=int, default=8, help="the preset's first N seeds (0: all of them)")
    parser.add_argument("--workers", type=int, default=1, help="engine worker processes for both trainers")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="keep bench.json and both runs' results here")
    args = parser.parse_args(argv)
    out = compare(args.preset, args.seeds, args.workers, args.out)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for t in ("loop", "ensemble"):
        r = out[t]
        print(f"{t:9s} {r['seconds']:7.1f} s  verdict {r['verdict']}, effect {r['mean']:+.3f} "
              f"[{r['ci95'][0]:+.3f}, {r['ci95'][1]:+.3f}] over {r['n_seeds']} seeds")
    print(f"counterfactual {out['preset']}, {out['seeds']} seeds, {out['workers']} worker(s): loop / ensemble = "
          f"{out['ratio']:.2f}x; per-seed effects differ by at most {out['per_seed_max_abs_diff']:.3g}; "
          f"ensemble mean inside the loop's 95% interval: {out['ensemble_mean_in_loop_ci95']}")


if __name__ == "__main__":
    main()
