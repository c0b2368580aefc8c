"""Generate tests/golden/rebound_loop_golden.json: the rebound's cells on its micro preset (seed 0,
Q1 = 32, no controls) for the SFT and DPO trajectories and for fixed-step copies, trained by the
per-model loop (`trainer: loop`) in the portable numerics mode, so that the bits are the same on
any x86-64 CPU.

Run from the repository root:  .venv/bin/python tests/golden/gen_rebound_golden.py [--out FILE]
(about 20 s). The committed file was made by the code before the rebound's stages went through
`empirical.together` (commit 5cf472c) and checked equal, bit for bit, to this code's loop;
`tests/test_rebound.py` recomputes it, so the loop (the reference the ensemble is tested
against) keeps the data, rates and references it had.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from harness import numerics

numerics.apply("portable")  # before torch loads

from elasticity import runs  # noqa: E402
from harness import overrides, presets, store  # noqa: E402

CASES = {"sft": ["variant=sft"], "dpo": ["variant=dpo"], "fixed-steps": ["variant=sft", "q2_mode=fixed-steps"]}
BASE = ["controls=false", "seeds=0", "q1=32", "trainer=loop"]


def cells(case: str) -> list[dict]:
    """The case's cell rows as the run's summary writes them, without timings."""
    config = overrides.with_overrides(presets.REBOUND["micro"], BASE + CASES[case])
    with tempfile.TemporaryDirectory() as root:
        doc = store.read_result(runs.rebound(config, results=root, run_id=case).path, experiment="rebound")
    return [{k: v for k, v in c.items() if k != "wall_s"} for c in doc["cells"]]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("rebound_loop_golden.json"))
    parser.add_argument("--print", action="store_true", help="print the cells as JSON instead of writing them")
    args = parser.parse_args(argv)
    out = {case: cells(case) for case in CASES}
    if args.print:
        json.dump(out, sys.stdout)
        return
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
