"""``elasticity reproduce``: every result the figures need, then the figures and the report.

Steps (each writes result files to the store and is skipped when its result is finished, so
a killed reproduce resumes):

- audit: the paper's closed forms against the exact theory;
- theory: curves of the exact theory (gamma_j against l; the derivative ratio against k; the
  sign of d gamma_2/dl over (alpha, k); printed closed forms against exact values);
- sim: Monte Carlo checks at several l, convergence in M, Huffman length against entropy;
- rebound: the synthetic-world experiments (sft, dpo, reversed), and for ``full`` the
  cpu-full sweep;
- resist: forward against inverse alignment on the synthetic world;
- counterfactual: the counterfactual pre-training experiment (``micro``; ``full``: the decisive
  ``cpu-standard``);
- theorem: observed against predicted slopes where capacity binds (``micro``; ``full``: ``cpu``).
"""

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness import store
from theory import curves


@dataclass(frozen=True, kw_only=True)
class Plan:
    sim_depth: int
    sim_replicates: int
    convergence_depths: tuple[int, ...]
    rebound: tuple[tuple[str, str], ...]  # (preset, variant)
    sweep: bool
    resist: str
    counterfactual: str
    theorem: str


PLANS = {  # resist quick: one experiment that resolves
    "quick": Plan(sim_depth=14, sim_replicates=30, convergence_depths=(8, 10, 12, 14),
                  rebound=(("quick", "sft"), ("micro", "dpo"), ("micro", "reversed")), sweep=False,
                  resist="quick", counterfactual="micro", theorem="micro"),
    "full": Plan(sim_depth=18, sim_replicates=60, convergence_depths=(8, 10, 12, 14, 16, 18),
                 rebound=(("quick", "sft"), ("quick", "dpo"), ("quick", "reversed")), sweep=True,
                 resist="quick", counterfactual="cpu-standard", theorem="cpu"),
}
SIM_POINT = {"alpha": 3.0, "k": 100.0}
SIM_LS = (0.0, 0.05, 0.1, 0.2)


def huffman_band(seed: int = 0) -> dict:
    """Entropy and Huffman expected length of random laws (Dirichlet, sizes 2..4096)."""
    from sim.huffman import expected_length_bits
    from sim.probability import entropy_bits

    rng = np.random.default_rng(seed)
    rows = []
    for size in (2, 3, 5, 8, 16, 64, 256, 4096):
        for concentration in (0.1, 1.0, 10.0):
            p = rng.dirichlet(np.full(size, concentration))
            rows.append(
                {
                    "size": size,
                    "concentration": concentration,
                    "entropy_bits": float(entropy_bits(p)),
                    "length_bits": float(expected_length_bits(p)),
                }
            )
    return {"laws": rows}


def rebound_config(preset: str, variant: str):
    from harness import overrides, presets

    return overrides.with_overrides(presets.REBOUND[preset], [f"variant={variant}"])


def steps(preset: str, root: Path, workers: int = 2):
    """(name, callable) in order; each callable writes its results under ``root``."""
    from elasticity import runs

    plan = PLANS[preset]
    once = store.compute_once  # a finished step is read back, not recomputed

    def audit():
        from theory.audit import run_audit

        once(root, "audit", "default", lambda: [f.as_dict() for f in run_audit()], config={"grid": "default"})

    def theory():
        once(root, "theory-curves", "default", curves.theory_curves, config={"grid": "default"})

    def simulation():

        for l in SIM_LS:
            runs.sim_check(SIM_POINT["alpha"], SIM_POINT["k"], l, plan.sim_depth, plan.sim_replicates, 0,
                           results=root)
        runs.sim_convergence(SIM_POINT["alpha"], SIM_POINT["k"], 0.01, plan.convergence_depths, 30, 1, results=root,
                             run_id=f"a3-k100-{preset}")
        once(root, "huffman", "band", huffman_band, config={"seed": 0}, seed=0)

    def rebound():
        from harness import presets

        for name, variant in plan.rebound:
            runs.rebound(rebound_config(name, variant), results=root, preset=name, workers=workers)
        if plan.sweep:
            runs.rebound_sweep(presets.SWEEPS["cpu-full"], results=root, preset="cpu-full", workers=workers)

    def resist():
        from harness import presets

        runs.resist(presets.RESIST[plan.resist], results=root, preset=plan.resist, workers=workers)

    def counterfactual():
        from harness import presets

        runs.counterfactual(presets.COUNTERFACTUAL[plan.counterfactual], results=root, preset=plan.counterfactual,
                            workers=workers)

    def theorem():
        from harness import presets

        runs.theorem(presets.THEOREM[plan.theorem], results=root, preset=plan.theorem, workers=workers)

    return [
        ("audit", audit),
        ("theory curves", theory),
        ("simulation", simulation),
        ("rebound (synthetic world)", rebound),
        ("forward vs inverse (synthetic world)", resist),
        ("counterfactual pre-training (synthetic world)", counterfactual),
        ("the theorem's slopes where capacity binds (Pareto-mass world)", theorem),
    ]


HEARTBEAT_S = 10.0  # a user (or a log) hears from a long step at least this often


@contextmanager
def heartbeat(say, every: float = HEARTBEAT_S):
    """Call ``say()`` every ``every`` seconds until the block ends (a step that is silent for
    minutes looks hung)."""
    stop = threading.Event()

    def beat():
        while not stop.wait(every):
            say()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run(preset: str, root, echo=print, workers: int = 2) -> None:
    """Every step (finished ones read back), then the figures and the report."""
    from elasticity import findings, report
    from figures.build import build_all

    if preset not in PLANS:
        raise ValueError(f"unknown reproduce preset {preset!r}; known: {', '.join(PLANS)}")
    root = Path(root)
    start = time.perf_counter()
    for name, step in steps(preset, root, workers):
        began = time.perf_counter()
        echo(f"[{began - start:6.0f} s] {name} ...")
        with heartbeat(lambda name=name, began=began: echo(
                f"[{time.perf_counter() - start:6.0f} s] {name}: still running ({time.perf_counter() - began:.0f} s)")):
            step()
        echo(f"[{time.perf_counter() - start:6.0f} s] {name} done ({time.perf_counter() - began:.0f} s)")
    built, skipped = build_all(root)
    for item in skipped:
        echo(f"skipped figure {item['figure']}: {item['reason']}")
    page, md = report.write(root, built, skipped, title=f"Alignment elasticity: reproduce --preset {preset}")
    echo(f"{len(built)} figures, {len(skipped)} skipped; {time.perf_counter() - start:.0f} s in all")
    echo(f"report: {page.resolve()} (and {md.name})")
    rows = findings.findings(root)
    echo(findings.text(rows))
    if any(row["grade"].startswith("smoke") for row in rows):
        echo("Lines marked [smoke test, not evidence] come from runs too small to decide anything (the quick "
             "preset keeps the demo short). The decisive runs are committed: `elasticity figures "
             "tests/fixtures/results --report` builds their figures and report in about 20 s.")
