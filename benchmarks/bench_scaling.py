"""The scaling experiment's costs: exact scoring by enumeration (one member, every width of a
preset: its FLOPs and seconds, best of 5), a pre-training step of the preset's ensemble (every
seed x arm, ``--steps`` steps per width: seconds per member-step) and each preset's FLOP estimate
(``empirical.scaling.flops``).

    .venv/bin/python benchmarks/bench_scaling.py [--preset scale-cpu] [--repeats 5] [--steps 10]

One torch thread. The enumeration feeds the V^(L-1) distinct prefixes of L tokens once; its FLOPs
are 2 x parameters per token. On a shared machine the seconds vary with the load: the load
average is printed beside them.
"""

import argparse
import json
import os
import time

import torch

from empirical import scale_world, scaling
from empirical.llama_fn import stack_params
from harness import presets


def enumeration(preset: str, repeats: int) -> list[dict]:
    c = presets.SCALING[preset]
    rows = []
    for hidden in c.hidden:
        params = stack_params([scaling.init(c, hidden, 0)])
        shape = scaling.shape_of(c, hidden)
        times = []
        for _ in range(repeats + 1):  # the first call warms up
            began = time.perf_counter()
            scale_world.response_log_probs(params, shape, c.content_vocab, c.response_length)
            times.append(time.perf_counter() - began)
        tokens = c.content_vocab ** (c.response_length - 1) * c.response_length
        rows.append({"hidden": hidden, "params": scaling.parameters(c, hidden), "tokens": tokens,
                     "flops": 2 * scaling.parameters(c, hidden) * tokens, "seconds_best": min(times[1:])})
    return rows


def pretrain_step(preset: str, steps: int) -> list[dict]:
    """Seconds per member-step of pre-training, from one cell of ``steps`` steps per width."""
    from harness import overrides

    base = presets.SCALING[preset]
    n = steps * base.pretrain_batch
    c = overrides.with_overrides(base, [f"n_pre={n},{2 * n}"])
    rows = []
    for hidden in c.hidden:
        record = scaling.run_cell(c, hidden, n)
        members = len(scaling.members(c))
        rows.append({"hidden": hidden, "members": members, "steps": steps,
                     "seconds_per_member_step": record["pretrain_s"] / (steps * members)})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="scale-cpu", choices=list(presets.SCALING))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = {"preset": args.preset, "load_average": os.getloadavg(),
           "flops_per_preset": {name: scaling.total_flops(c) for name, c in presets.SCALING.items()},
           "enumeration_one_member": enumeration(args.preset, args.repeats),
           "pretrain_step": pretrain_step(args.preset, args.steps)}
    out["load_average_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
