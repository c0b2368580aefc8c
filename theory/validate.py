"""Checks at the public edge: every error names the argument and the allowed range."""

import math
from numbers import Real


def real(name: str, value) -> float:
    """``value`` as a finite float, or ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def greater(name: str, value, bound: float, why: str = "") -> float:
    value = real(name, value)
    if not value > bound:
        raise ValueError(f"{name} must be > {bound}, got {value}" + (f" ({why})" if why else ""))
    return value


def at_least(name: str, value, bound: float, why: str = "") -> float:
    value = real(name, value)
    if not value >= bound:
        raise ValueError(f"{name} must be >= {bound}, got {value}" + (f" ({why})" if why else ""))
    return value
