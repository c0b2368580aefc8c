"""Speed and memory of the simulation core, side by side with the baselines, in one run.

    .venv/bin/python benchmarks/bench_sim.py            (about 2 minutes)
    .venv/bin/python benchmarks/bench_sim.py --big      (+ a 6e7-node tree, +1 minute)

Each stage runs in a fresh process and reports its own peak resident memory. Targets (issue
"Token response trees, Huffman coding and the Monte Carlo check"):

- Huffman expected length of 1e7 probabilities <= 2x np.sort on the same array, and
  >= 100x faster than a textbook heapq Huffman at 1e6;
- tree build of 1e7 random binary sequences (length 1..64) to 24 tokens <= 3 s, and >= 50x
  faster than a dict-of-prefixes baseline at 1e6;
- Monte Carlo check at depth 21 (M = 2^20) with 100 replicates <= 60 s.

Timings are medians of repeated runs after a warm-up at full size: the warm-up compiles the
numba kernels and makes the process touch its memory once (first-touch page faults on this
VM cost about 1.2 s per fresh 600 MB and would otherwise dominate).
"""

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from timing import median_seconds, once_seconds

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def _sequences(n, seed=0, width=64):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2, (n, width), dtype=np.int8), rng.integers(1, width + 1, n)


def stage_huffman():
    from naive_sim import heapq_expected_length
    from sim.huffman import expected_length_bits

    rng = np.random.default_rng(0)
    p7 = rng.random(10**7)
    p7 /= p7.sum()
    p6 = p7[: 10**6] / p7[: 10**6].sum()
    return {
        "np_sort_1e7_s": median_seconds(lambda: np.sort(p7)),
        "ours_1e7_s": median_seconds(lambda: expected_length_bits(p7)),
        "heapq_1e6_s": once_seconds(lambda: heapq_expected_length(p6.tolist())),
        "ours_1e6_s": median_seconds(lambda: expected_length_bits(p6), repeat=5),
    }


def stage_tree():
    from naive_sim import dict_tree
    from sim.tree import build

    seq7, len7 = _sequences(10**7)
    seq6, len6 = seq7[: 10**6], len7[: 10**6]
    nodes = build(seq7, len7, 2, depth=25).n_nodes
    return {
        "ours_1e7_s": median_seconds(lambda: build(seq7, len7, 2, depth=25), repeat=2),
        "nodes_1e7": nodes,
        "ours_1e6_s": median_seconds(lambda: build(seq6, len6, 2, depth=25), repeat=3),
        "dict_1e6_s": once_seconds(lambda: dict_tree(seq6, len6, 25)),
    }


def stage_montecarlo():
    from sim.montecarlo import check

    check(3.0, 100.0, 0.01, 10, 2, np.random.default_rng(0))  # warm-up
    return {"check_depth21_r100_s": once_seconds(
        lambda: check(3.0, 100.0, 0.01, 21, 100, np.random.default_rng(0)))}


def stage_big_tree():
    from sim.tree import build

    # 1.5e7 random responses of 27 tokens: about 2^24 distinct prefixes per deep layer
    seq = np.random.default_rng(1).integers(0, 2, (15 * 10**6, 27), dtype=np.int8)
    lens = np.full(seq.shape[0], 27)
    start = time.perf_counter()
    tree = build(seq, lens, 2, depth=28)
    return {"nodes": tree.n_nodes, "build_s": time.perf_counter() - start}


STAGES = {"huffman": stage_huffman, "tree": stage_tree, "montecarlo": stage_montecarlo,
          "big_tree": stage_big_tree}


def run_stage(name: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--stage", name], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if "--stage" in sys.argv:
        result = STAGES[sys.argv[sys.argv.index("--stage") + 1]]()
        result["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(json.dumps(result))
        return
    h = run_stage("huffman")
    print(f"Huffman, 1e7 probabilities: np.sort {h['np_sort_1e7_s']:.3f} s, ours {h['ours_1e7_s']:.3f} s"
          f" -> {h['ours_1e7_s'] / h['np_sort_1e7_s']:.2f}x np.sort (target <= 2x)")
    print(f"Huffman, 1e6: heapq {h['heapq_1e6_s']:.2f} s, ours {h['ours_1e6_s'] * 1e3:.1f} ms"
          f" -> {h['heapq_1e6_s'] / h['ours_1e6_s']:.0f}x faster (target >= 100x);"
          f" peak RSS {h['peak_rss_gib']:.2f} GiB")
    t = run_stage("tree")
    print(f"Tree build, 1e7 sequences, 24 tokens: {t['ours_1e7_s']:.2f} s (target <= 3 s),"
          f" {t['nodes_1e7']:,} nodes")
    print(f"Tree build, 1e6: dict {t['dict_1e6_s']:.2f} s, ours {t['ours_1e6_s']:.3f} s"
          f" -> {t['dict_1e6_s'] / t['ours_1e6_s']:.0f}x faster (target >= 50x);"
          f" peak RSS {t['peak_rss_gib']:.2f} GiB")
    m = run_stage("montecarlo")
    print(f"Monte Carlo, depth 21 (M = 2^20), 100 replicates: {m['check_depth21_r100_s']:.1f} s"
          f" (target <= 60 s); peak RSS {m['peak_rss_gib']:.2f} GiB")
    if "--big" in sys.argv:
        b = run_stage("big_tree")
        print(f"Big tree: 1.5e7 sequences of 27 tokens -> {b['nodes']:,} nodes in {b['build_s']:.1f} s;"
              f" peak RSS {b['peak_rss_gib']:.2f} GiB (machine: 24 GiB)")


if __name__ == "__main__":
    main()
