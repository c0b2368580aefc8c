"""Validation of probability vectors at the public edge, and their entropy."""

import numpy as np

# A probability vector must sum to 1 within this tolerance: float64 sums of up to ~1e8
# terms drift by ~1e-8 at worst, and anything further off is a caller's mistake.
SUM_TOLERANCE = 1e-6


def check_probabilities(p, name: str = "p") -> np.ndarray:
    """``p`` as a 1-D float64 array of finite, non-negative numbers summing to 1."""
    arr = as_vector(p, name)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    if (arr < 0).any():
        raise ValueError(f"{name} must be non-negative (min {arr.min():g})")
    total = float(arr.sum())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"{name} must sum to 1 within {SUM_TOLERANCE:g}, sums to {total!r}")
    return arr


def as_vector(p, name: str = "p") -> np.ndarray:
    """``p`` as a non-empty 1-D float64 array (no pass over the values: dtype and shape only)."""
    if np.iscomplexobj(p):
        raise ValueError(f"{name} must be real numbers, got a complex array")
    if np.asarray(p).dtype.kind == "b":
        raise ValueError(f"{name} must be numbers, got a boolean array")
    try:
        arr = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an array of numbers ({err})") from err
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    return arr


def check_sorted(leaves: np.ndarray, name: str = "p") -> int:
    """The checks of ``check_probabilities`` on an ascending array (np.sort puts NaN last, so the
    ends decide finiteness and sign); returns the index of the first positive entry."""
    if not (np.isfinite(leaves[0]) and np.isfinite(leaves[-1])):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    if leaves[0] < 0:
        raise ValueError(f"{name} must be non-negative (min {leaves[0]:g})")
    total = float(leaves.sum())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"{name} must sum to 1 within {SUM_TOLERANCE:g}, sums to {total!r}")
    return int(np.searchsorted(leaves, 0.0, side="right"))


def entropy_bits(p) -> float:
    """Shannon entropy -sum p log2 p in bits (0 log 0 = 0)."""
    p = check_probabilities(p)
    q = p[p > 0]
    return float(-(q * np.log2(q)).sum())


def ideal_lengths_bits(p) -> np.ndarray:
    """Arithmetic-coding code lengths -log2 p (inf where p = 0)."""
    p = check_probabilities(p)
    with np.errstate(divide="ignore"):
        return -np.log2(p)
