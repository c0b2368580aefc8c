"""The boundary of claim (35): k*(alpha) where dgamma_2/dl changes sign, its CLI, and the map."""

import json

import numpy as np
import pytest

from console import run_cli
from theory.boundary import boundary, k_star
from theory.exact import exact
from theory.limits import alpha_star


@pytest.mark.parametrize("alpha", [2.6, 3.0, 6.0, 20.0])
def test_dgamma_2_dl_changes_sign_across_k_star(alpha):
    k = k_star(alpha)
    below, above = exact(alpha, k * (1 - 1e-8), 0.0).dgamma_2_dl, exact(alpha, k * (1 + 1e-8), 0.0).dgamma_2_dl
    assert below > 0 > above  # accurate to 1e-8 relative: the root lies between the two


def test_no_sign_change_below_alpha_star_and_growth_towards_it():
    assert k_star(2.0) is None and k_star(alpha_star() - 0.01) is None
    ks = [row["k_star"] for row in boundary([2.6, 2.8, 3.0])]
    assert ks[0] > ks[1] > ks[2] > 50  # k* grows without bound as alpha falls to alpha* = 2.5733


def test_k_star_moves_with_l():
    assert k_star(3.0, 1.0) < k_star(3.0, 0.1) < k_star(3.0, 0.0)


def test_cli_boundary_and_map(tmp_path):
    out = run_cli("theory", "boundary", "--alpha", "2,3", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert rows[0] == {"alpha": 2.0, "k_star": None} and rows[1]["k_star"] == pytest.approx(k_star(3.0), rel=1e-12)
    made = run_cli("theory", "map", "--alpha", "2.5:4:4", "--k", "1:1e4:5:log", "--results", str(tmp_path), "--json")
    assert made.returncode == 0, made.stderr
    doc = json.loads(made.stdout)
    assert doc["config"]["alpha"] == [2.5, 3.0, 3.5, 4.0] and len(doc["config"]["k"]) == 5
    arrays = np.load(tmp_path / "theory-map" / doc["run_id"] / "arrays.npz", allow_pickle=False)
    assert arrays["gamma_2"].shape == (4, 5)
    assert arrays["gamma_2"][1, 2] == pytest.approx(exact(3.0, 100.0, 0.0).gamma_2, rel=1e-10)
    assert doc["metrics"]["negative_fraction"] == pytest.approx(np.mean(arrays["dgamma_2_dl"] < 0))
    again = run_cli("theory", "map", "--alpha", "2.5:4:4", "--k", "1:1e4:5:log", "--results", str(tmp_path))
    assert "read back" in again.stderr


BAD = [(("theory", "map", "--alpha", "1:2", "--k", "1"), "START:STOP:N"),
       (("theory", "map", "--alpha", "2:3:4:cube", "--k", "1"), "START:STOP:N"),
       (("theory", "map", "--alpha", "2:3:4", "--k", "0:10:3:log"), "START, STOP > 0"),
       (("theory", "boundary", "--alpha", "1.0"), "alpha must be >= 1.1"),
       (("theory", "--alpha", "2", "--k", "10", "--backend", "jax", "--errors"), "--errors needs --backend numpy")]


@pytest.mark.parametrize("args, message", BAD)
def test_cli_refuses(args, message):
    out = run_cli(*args)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr


def _scan_grid():
    from theory import boundary as b

    return np.linspace(np.log(b.K_MIN), np.log(b.MAX_SIZE_RATIO), b.SCAN)


@pytest.mark.parametrize("root_at, want", [
    (lambda grid: np.log(0.012), lambda grid: 0.012),             # inside the first interval
    (lambda grid: grid[5], lambda grid: float(np.exp(grid[5]))),  # exactly on a scan point
    (lambda grid: grid[-1] + 1.0, lambda grid: None),             # beyond the range: no sign change
])
def test_scan_finds_the_first_sign_change(monkeypatch, root_at, want):
    """The scan-and-refine logic on a slope with a known root, log k - log k*: a root inside
    the grid's first interval, one exactly on a scan point, none in range."""
    from theory import boundary as b

    grid = _scan_grid()
    root = root_at(grid)
    monkeypatch.setattr(b, "_slope", lambda log_k, alpha, l: log_k - root)
    got = b.k_star(3.0)  # brentq stops within 1e-13 in log k: 1e-12 relative in k
    if want(grid) is None:
        assert got is None
    else:
        assert got == pytest.approx(want(grid), rel=1e-12)
