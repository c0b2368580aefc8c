"""Run by `tests/test_torchrun.py` under ``torchrun --nproc_per_node 2``: the grouped toy protocol
on the engine, ranks splitting the cells; rank 0 prints the result's path."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from harness import engine  # noqa: E402
from toy_protocol import GroupedToy, ToyConfig  # noqa: E402


class AcrossRanks(GroupedToy):
    cells_across_ranks = True


if __name__ == "__main__":
    root, shard = Path(sys.argv[1]), engine.parse_shard(sys.argv[2] if len(sys.argv) > 2 else None)
    out = engine.run(AcrossRanks(ToyConfig(values=tuple(range(1, 9)), seconds=0.3), root / "log", size=2),
                     root / "res", "r", shard)
    if engine.is_main_process():
        print(f"RESULT {out.path}")
