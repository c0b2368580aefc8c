"""How far rounding alone moves an experiment's small two-trainer setting, against how far the
ensemble trainer moves it (the measurement behind the two-trainer tolerances of
tests/test_rebound.py and tests/test_resist_synthetic.py).

    .venv/bin/python tools/rounding_spread.py [--experiment rebound|resist] [--nudges 8]

The loop is run once as is, then once per nudge with every initial weight multiplied by
1 +- 1.2e-7 (about float32's ulp, signs drawn from the nudge's seed), and the ensemble once; each
arm's largest difference from the plain loop is printed, the ensemble's next to the nudges'.
rebound: the test's settings (SFT and DPO trajectories, SFT fixed steps; micro, seeds 0 and 1),
over every number of an arm's cells, relative above 1. resist: the test's small setting (60
pre-training steps, parts of 16, seeds 0 and 1), each arm's KLs (nats and relative) and KL ratios
(relative).
"""

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import torch  # noqa: E402
from test_rebound import MICRO, _run, _worst_by_arm  # noqa: E402

from empirical import models, resist_synthetic  # noqa: E402
from harness import configs, overrides, store  # noqa: E402

SETTINGS = (("sft", "trajectory"), ("dpo", "trajectory"), ("sft", "fixed-steps"))


def nudged_build(build, seed: int):
    """``build`` with every initial weight multiplied by 1 +- 1.2e-7, the signs drawn from ``seed``."""
    def build_nudged(*args, **kwargs):
        model = build(*args, **kwargs)
        signs = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + 1.2e-7 * torch.randn(p.shape, generator=signs).sign())
        return model
    return build_nudged


def _cells(config, root, run_id: str, build) -> list:
    models.build_model = build
    doc = store.read_result(_run(config, root, run_id).path, experiment="rebound")
    return sorted(doc["cells"], key=lambda c: (c["arm"], c["seed"], c["q1"], c["q"]))


def _resist_worst(runs_a: list, runs_b: list) -> dict[str, tuple[float, float, float]]:
    """Each arm's largest |KL difference| (nats), the same relative, and the largest relative KL-ratio difference."""
    worst = {}
    for a, b in zip(runs_a, runs_b, strict=True):
        for pa, pb in zip(a["pairs"], b["pairs"], strict=True):
            for side in ("inverse", "forward"):
                kl, ratio = f"{side}_kl_nats", f"{side}_relative"
                new = (abs(pa[kl] - pb[kl]), abs(pa[kl] - pb[kl]) / abs(pa[kl]),
                       abs(pa[ratio] - pb[ratio]) / abs(pa[ratio]))
                worst[a["arm"]] = tuple(map(max, worst.get(a["arm"], (0.0, 0.0, 0.0)), new))
    return worst


def _resist(nudges: int, plain) -> None:
    config = configs.ResistConfig(seeds=(0, 1), part_size=16, pretrain=configs.PretrainConfig(steps=60),
                                  trainer="loop")
    cells = [(0, "pretrained"), (1, "format_only")]
    show = lambda worst: "; ".join(f"{arm} KL {a:.1e} nats ({r:.1e}), ratio {q:.1e}"  # noqa: E731
                                   for arm, (a, r, q) in sorted(worst.items()))
    models.build_model = plain
    loop = resist_synthetic.run_seeds(config, cells)
    ensemble = resist_synthetic.run_seeds(dataclasses.replace(config, trainer="ensemble"), cells)
    print(f"resist: ensemble {show(_resist_worst(loop, ensemble))}", flush=True)
    for seed in range(nudges):
        models.build_model = nudged_build(plain, seed)
        print(f"  nudge {seed}: {show(_resist_worst(loop, resist_synthetic.run_seeds(config, cells)))}", flush=True)


def _rebound(nudges: int, plain) -> None:
    show = lambda worst: ", ".join(f"{arm} {v:.1e}" for arm, v in sorted(worst.items()))  # noqa: E731
    for variant, mode in SETTINGS:
        base = overrides.with_overrides(MICRO, ["seeds=0,1", f"variant={variant}", f"q2_mode={mode}"])
        with tempfile.TemporaryDirectory() as root:
            loop = _cells(overrides.with_overrides(base, ["trainer=loop"]), root, "loop", plain)
            ensemble = _cells(overrides.with_overrides(base, ["trainer=ensemble"]), root, "ensemble", plain)
            print(f"{variant} {mode}: ensemble {show(_worst_by_arm(loop, ensemble))}", flush=True)
            for seed in range(nudges):
                nudged = _cells(overrides.with_overrides(base, ["trainer=loop"]), root, f"nudge{seed}",
                                nudged_build(plain, seed))
                print(f"  nudge {seed}: {show(_worst_by_arm(loop, nudged))}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", choices=("rebound", "resist"), default="rebound")
    parser.add_argument("--nudges", type=int, default=8, help="loop runs with nudged initial weights per setting")
    args = parser.parse_args(argv)
    if args.nudges < 0:
        parser.error(f"--nudges must be >= 0, got {args.nudges}")
    plain = models.build_model
    try:
        (_rebound if args.experiment == "rebound" else _resist)(args.nudges, plain)
    finally:
        models.build_model = plain
    return 0


if __name__ == "__main__":
    sys.exit(main())
