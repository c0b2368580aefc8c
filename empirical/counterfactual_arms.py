"""The arms of the counterfactual design (``empirical.counterfactual`` runs them,
``empirical.counterfactual_stats`` reads their records): which pre-training each arm gets, and
the key of each (seed, arm) cell."""

from dataclasses import dataclass

from harness.configs import CounterfactualConfig

PRE_STREAM, PLACEBO_STREAM, ALIGN_STREAM, PERTURB_STREAM = 10, 11, 12, 13


@dataclass(frozen=True)
class Arm:
    name: str
    f: float
    n_pre: int
    stream: int
    variants: tuple[str, ...]
    controls: bool  # the positive controls (the extreme arms)
    dose_arm: bool = False  # also aligned to the target at dose_align_lr (the middle arm)
    mode: str = "steps"  # pre-training: "steps" (the config's steps), "epochs" (steps in proportion to
    #                      n_pre), "joint" (the config's steps on D_pre and the alignment dose together)


def fraction_arm(f: float) -> str:
    """The name of the arm pre-trained at positive share f on the full D_pre."""
    return f"f{f:g}"


def size_arm(config: CounterfactualConfig, n_pre: int, mode: str = "steps") -> str:
    """The name of the arm at the middle f with |D_pre| = n_pre (the k axis) pre-trained in
    ``mode`` ("steps", "epochs" or "joint"); at the full D_pre steps and epochs are one arm."""
    if mode == "joint":
        return f"joint-n{n_pre}"
    if n_pre == config.world.n_pre:
        return fraction_arm(config.middle)
    return f"n{n_pre}" + ("-epochs" if mode == "epochs" else "")


def k_modes(config: CounterfactualConfig) -> list[str]:
    """The pre-training modes of the k axis, in the order the effective-k table lists them."""
    modes = ["steps", "epochs"] if config.k_mode == "both" else [config.k_mode]
    return modes + (["joint"] if config.joint else [])


def k_sizes(config: CounterfactualConfig) -> list[int]:
    """The |D_pre| values of the k axis, the full D_pre included, ascending."""
    return sorted({config.world.n_pre, *config.k_sizes})


def arms(config: CounterfactualConfig) -> list[Arm]:
    fractions = sorted(config.fractions)
    low, high, mid = fractions[0], fractions[-1], config.middle
    out = [Arm(fraction_arm(f), f, config.world.n_pre, PRE_STREAM, ("dose", "target"), f in (low, high),
               f == mid and config.dose_align_lr > 0) for f in fractions]
    if config.placebo:
        out.append(Arm("placebo", mid, config.world.n_pre, PLACEBO_STREAM, ("dose", "target"), False))
    for mode in k_modes(config):
        out += [Arm(size_arm(config, n, mode), mid, n, PRE_STREAM, ("dose",), False, mode=mode)
                for n in k_sizes(config) if mode == "joint" or n != config.world.n_pre]
    return out


def cell_key(seed: int, arm: str) -> str:
    """The engine's key of one (seed, arm) cell."""
    return f"s{seed}-{arm}"
