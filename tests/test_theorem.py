"""The theorem experiment: worlds and realised-mass predictions (properties, and an independent
complex-step computation from the stored masses), the Newton solver and implicit slopes
(against finite differences and the closed-form optimum), the Llama's exact leaf law, and the
micro preset end to end through the CLI."""

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from console import run_cli
from empirical import theorem as th
from empirical import theorem_bridge as tb
from empirical import theorem_solver as ts
from empirical import theorem_world as tw
from harness import presets

MICRO = presets.THEOREM["micro"]
SETTINGS = th.settings(MICRO)

worlds = st.builds(tw.make_world, st.sampled_from(tw.FAMILIES), st.sampled_from([1.5, 3.0, 4.0]),
                   st.integers(2, 4), st.integers(2, 3), st.integers(0, 10**6))
ks = st.sampled_from([0.1, 1.0, 10.0, 1000.0])


# --- worlds and predictions: properties --------------------------------------------------------

@given(worlds)
def test_masses_are_three_distributions_in_leaf_order(world):
    """p_j >= 0 and sum p_j = 1 (to 1e-12: sums of at most 64 positive terms)."""
    assert world.masses.shape == (3, world.V ** world.L)
    assert (world.masses > 0).all()
    np.testing.assert_allclose(world.masses.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@given(worlds, ks)
def test_optimum_slopes_satisfy_the_stationarity_identity(world, k):
    """k s_1 + s_2 = 0 at l = 0 (first-order stationarity of the mixture), for the optimum and
    every pruned tree. (k + 1)(k s_1 + s_2) = -sum_i (p_3,i - q*_i), a sum of terms whose absolute
    values add to at most 2: absolute tolerance 1e-12 (float64 rounding of M <= 64 terms)."""
    for depth in range(world.L + 1):
        s = tw.pruned_prediction(world.masses, k, world.V, world.L, depth)["slopes"]
        assert abs((k + 1) * (k * s[0] + s[1])) <= 1e-12
    s = tw.optimal_prediction(world.masses, k)["slopes"]
    assert abs((k + 1) * (k * s[0] + s[1])) <= 1e-12


@given(worlds, ks)
def test_pruning_loses_less_as_depth_grows(world, k):
    """KL(q* || q_d) is non-increasing in d (a refinement cannot code worse), 0 at d = L, and the
    fitted depth of an integer depth's own excess is that depth (where the excess changes)."""
    e = np.array([tw.pruned_prediction(world.masses, k, world.V, world.L, d)["excess"] for d in range(world.L + 1)])
    assert (np.diff(e) <= 1e-14).all() and e[-1] <= 1e-14  # rounding of sums of M logs
    for d in range(1, world.L + 1):
        if e[d - 1] - e[d] > 1e-9:
            assert tw.fitted_depth(e[d], e) == pytest.approx(d, abs=1e-9)
    full = tw.pruned_prediction(world.masses, k, world.V, world.L, world.L)
    np.testing.assert_allclose(full["slopes"], tw.optimal_prediction(world.masses, k)["slopes"], rtol=1e-12)


@given(st.integers(0, 10**6), ks)
def test_a_cascade_loses_at_every_depth_and_iid_leaves_mostly_at_the_last(seed, k):
    """What the cascade world is for: pruning one level more always costs code length (each level
    carries its own continuous Pareto split, so each loss is positive almost surely; asserted above
    1e-12 nats, the rounding of sums of 64 logs: a single level can lose as little as 7e-5 nats,
    hypothesis found one), whereas with iid leaves (M = 1296) most of the excess is lost at the last level only:
    depth L - 1 keeps more than a quarter of depth 0's excess (measured: at least 0.58 of it over
    150 worlds x 4 k; a large-M effect, so not asserted at M = 64, where it fails)."""
    def excess(family, V, L):
        w = tw.make_world(family, 3.0, V, L, seed)
        return np.array([tw.pruned_prediction(w.masses, k, V, L, d)["excess"] for d in range(L + 1)])

    assert (-np.diff(excess("cascade", 4, 3)) > 1e-12).all()
    e = excess("iid", 6, 4)
    assert e[3] > 0.25 * e[0]


def test_fitted_depth_clips_and_interpolates():
    e = np.array([0.4, 0.2, 0.1, 0.0])
    assert tw.fitted_depth(0.5, e) == 0.0 and tw.fitted_depth(0.0, e) == 3.0
    assert tw.fitted_depth(0.3, e) == pytest.approx(0.5) and tw.fitted_depth(0.05, e) == pytest.approx(2.5)


# --- an independent computation: complex-step derivatives over every leaf -----------------------

def _leaf_prefix(i: int, V: int, L: int, depth: int) -> int:
    """The depth-d prefix of leaf i, from its tokens (digits base V), not from a reshape."""
    tokens = [(i // V ** (L - 1 - t)) % V for t in range(L)]
    return sum(tok * V ** (depth - 1 - t) for t, tok in enumerate(tokens[:depth]))


def _independent(masses: np.ndarray, k: float, V: int, L: int, depth: int) -> dict:
    """N_j, dN_j/dl and dgamma_2/dl at l = 0 of the depth-d pruned optimum, by the complex step
    (derivative to machine precision, no cancellation) on q_d(l) built leaf by leaf."""
    M, h = masses.shape[1], 1e-30
    prefix = np.array([_leaf_prefix(i, V, L, depth) for i in range(M)])

    def law(l: complex) -> np.ndarray:
        q = (k * masses[0] + masses[1] + l * masses[2]) / (k + 1 + l)
        block = np.zeros(V ** depth, dtype=complex)
        np.add.at(block, prefix, q)
        return block[prefix] / V ** (L - depth)

    def n(l: complex) -> np.ndarray:
        return -(masses @ np.log(law(l))) - math.log(M)

    def gamma_2(l: complex) -> complex:
        N = n(l)
        return N[1] / ((k * N[0] + N[1] + l * N[2]) / (k + 1 + l))

    return {"N": n(0.0).real, "slopes": n(1j * h).imag / h, "dgamma2_dl": gamma_2(1j * h).imag / h}


@pytest.fixture(scope="module")
def micro_result(tmp_path_factory):
    root = tmp_path_factory.mktemp("theorem")
    out = run_cli("theorem", "--preset", "micro", "--results", str(root), "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout), out.stderr, root


def test_predictions_agree_with_an_independent_computation_from_the_stored_masses(micro_result):
    """Every cell's predictions (a) and (b) from result.json's masses, recomputed leaf by leaf with
    complex-step derivatives: 1e-8 relative (the issue's bar; float64 sums of 256 terms agree to
    ~1e-13, so a formula error of any size shows)."""
    doc, *_ = micro_result
    worlds = {(w["alpha"], w["world_seed"]): w for w in doc["metrics"]["worlds"]}
    for cell in doc["cells"]:
        w = worlds[(cell["alpha"], cell["world_seed"])]
        masses, V, L, k = np.array(w["masses"]), w["V"], w["L"], cell["k"]
        opt = _independent(masses, k, V, L, L)
        np.testing.assert_allclose([cell["slopes_optimal"][n] for n in th.SLOPES], opt["slopes"], rtol=1e-8)
        assert cell["dgamma2_dl_optimal"] == pytest.approx(opt["dgamma2_dl"], rel=1e-8)
        d = cell["depth_fitted"]
        low = min(int(d), L - 1)
        ends = [_independent(masses, k, V, L, x) for x in (low, low + 1)]
        want = (1 - (d - low)) * ends[0]["slopes"] + (d - low) * ends[1]["slopes"]
        np.testing.assert_allclose([cell["slopes_pruned"][n] for n in th.SLOPES], want, rtol=1e-8, atol=1e-300)


def test_realised_k_star_is_a_sign_change_of_the_optimum(micro_result):
    """Where a world has a realised k*, the optimum's dgamma_2/dl changes sign across it (checked
    at k*/1.01 and 1.01 k*: the root is found to 1e-12 in log k)."""
    doc, *_ = micro_result
    for w in doc["metrics"]["worlds"]:
        if w["k_star_realised"] is not None:
            masses = np.array(w["masses"])
            below, above = (tw.optimal_prediction(masses, w["k_star_realised"] * f)["dgamma2_dl"]
                            for f in (1 / 1.01, 1.01))
            assert below * above < 0


# --- the micro preset end to end ---------------------------------------------------------------

CELL_KEYS = ("alpha", "k", "world_seed", "params", "converged", "grad_norm", "excess_l0", "depth_fitted", "N",
             "slopes_observed", "slopes_fd", "slopes_optimal", "slopes_pruned", "dgamma2_dl_observed",
             "dgamma2_dl_optimal", "dgamma2_dl_pruned", "residual")


def test_micro_through_the_cli_holds_every_key_and_converges(micro_result):
    doc, *_ = micro_result
    assert len(doc["cells"]) == len(th.grid(MICRO))
    for cell in doc["cells"]:
        assert set(CELL_KEYS) <= set(cell)
        for name in ("N", "slopes_observed", "slopes_optimal", "slopes_pruned"):
            assert set(cell[name]) == {"N_1", "N_2", "N_3"}
    for w in doc["metrics"]["worlds"]:
        assert {"alpha", "world_seed", "V", "L", "masses"} <= set(w) and len(w["masses"]) == 3
        assert all(len(m) == w["V"] ** w["L"] for m in w["masses"])
    converged = [c for c in doc["cells"] if c["converged"]]
    assert len(converged) >= 0.9 * len(doc["cells"])  # the bar
    sp = doc["metrics"]["sign_vs_pruned"]
    assert sp["cells"] == len(converged) and sp["agree_optimal"] == sum(
        (c["dgamma2_dl_observed"] > 0) == (c["dgamma2_dl_optimal"] > 0) for c in converged)
    excess = {c["params"]: c["excess_l0"] for c in converged}
    assert min(excess.values()) < 1e-5 and max(excess.values()) > 1e-2  # both regimes present
    ends = doc["endpoints"]
    assert ends["slope_error"]["verdict"] == _reads(ends["slope_error"], ends["slope_error"]["opposite_sign_cells"])
    assert ends["capacity_trend"]["verdict"] == _reads(ends["capacity_trend"],
                                                        ends["capacity_trend"]["opposite_sign_groups"])
    sign = ends["sign"]
    assert sign["verdict"] == ("contradicts" if sign["agree"] < sign["cells"] else
                               "supports" if sign["above_k_star"] and sign["below_k_star"] else "not resolved")


def test_converged_cells_at_the_optimum_match_prediction_a(micro_result):
    """Excess < 1e-5 nats: s_1 and s_2 within 1% of the optimum's (the issue's bar; at excess e
    the model's law differs from q* by O(sqrt(e)) ~ 3e-3 in relative mass)."""
    doc, *_ = micro_result
    rows = [c for c in doc["cells"] if c["converged"] and c["excess_l0"] < 1e-5]
    assert rows
    for c in rows:
        for n in ("N_1", "N_2"):
            assert c["slopes_observed"][n] == pytest.approx(c["slopes_optimal"][n], rel=0.01)
    assert doc["metrics"]["match_optimal"]["all_within"]


def test_implicit_slopes_agree_with_finite_differences_in_the_run(micro_result):
    """The declared finite-difference cell (capacity-bound): 1e-2 relative (the issue's bar; the
    second-order difference at h = 1e-3 errs by ~h^2 |N'''| / |N'| ~ 1e-6 here)."""
    doc, *_ = micro_result
    checks = doc["metrics"]["fd_check"]
    assert checks and all(c["fd_converged"] for c in checks)
    for c in checks:
        assert max(c["rel_diff"].values()) < 1e-2


# --- the solver ----------------------------------------------------------------------------------

def _solved(rank: int, k: float = 10.0):
    world = tw.make_world("iid", 4.0, 4, 3, 7)
    masses = torch.tensor(world.masses)
    model = th.loglinear_model(4, 3, rank, 0, 0.1)
    return world, masses, model, ts.solve(model.log_q, model.theta0, masses, k, 0.0, SETTINGS)


def test_full_rank_reaches_the_optimum_and_drops_exactly_the_symmetry_directions():
    """Rank V holds every law: the solution is q* (excess below 1e-12 nats, float64 rounding of
    log-softmax), its slopes are prediction (a) to 1e-6, and the pseudo-inverse drops the
    P - (M - 1) directions that do not change the law (GL(r) and the softmax shift)."""
    world, masses, model, sol = _solved(rank=4)
    assert sol.converged
    log_q = model.log_q(sol.theta).detach().numpy()
    assert th.excess_nats(world.masses, 10.0, log_q) < 1e-12
    slopes = ts.implicit_slopes(model.log_q, sol.theta, masses, 10.0, SETTINGS.null_rel)
    np.testing.assert_allclose(slopes, tw.optimal_prediction(world.masses, 10.0)["slopes"], rtol=1e-6)
    lam = torch.linalg.eigvalsh(ts.hessian(ts.objective(model.log_q, masses, 10.0, 0.0))(sol.theta))
    assert int((lam.abs() <= SETTINGS.null_rel * lam.abs().max()).sum()) == model.params - (world.leaves - 1)


def test_implicit_slopes_match_finite_differences_where_capacity_binds():
    """Rank 1 (excess > 1e-2 nats): implicit and continuation slopes within 1e-2 relative (the
    issue's bar), and both far from the optimum's (so the check is not the trivial one)."""
    world, masses, model, sol = _solved(rank=1)
    assert sol.converged and th.excess_nats(world.masses, 10.0, model.log_q(sol.theta).detach().numpy()) > 1e-2
    implicit = ts.implicit_slopes(model.log_q, sol.theta, masses, 10.0, SETTINGS.null_rel)
    fd, ok = ts.finite_difference_slopes(model.log_q, sol, masses, 10.0, 1e-3, SETTINGS)
    assert ok
    np.testing.assert_allclose(implicit, fd, rtol=1e-2)
    assert abs(implicit[1] / tw.optimal_prediction(world.masses, 10.0)["slopes"][1] - 1) > 0.1


def test_damping_the_soft_directions_would_move_the_slopes():
    """Why the pseudo-inverse does not damp: a ridge of 1e-3 x the largest eigenvalue on the
    capacity-bound model's Hessian moves s_2 by more than 1e-3 relative (the slopes live in
    the soft directions); the undamped solve is what finite differences confirm above."""
    world, masses, model, sol = _solved(rank=2)
    h = ts.hessian(ts.objective(model.log_q, masses, 10.0, 0.0))(sol.theta) * 11.0
    g = [torch.func.grad(lambda t, j=j: -(masses[j] @ model.log_q(t)))(sol.theta) for j in (1, 2)]
    lam, U = torch.linalg.eigh(h)
    keep = lam.abs() > SETTINGS.null_rel * lam.abs().max()
    damped = torch.where(keep, 1 / (lam.abs() + 1e-3 * lam.abs().max()), torch.zeros_like(lam))
    s2_damped = float(g[0] @ -(U @ (damped * (U.T @ g[1]))))
    s2 = ts.implicit_slopes(model.log_q, sol.theta, masses, 10.0, SETTINGS.null_rel)[1]
    assert abs(s2_damped / s2 - 1) > 1e-3


def test_hessian_vector_solver_reaches_the_same_point_and_slopes_as_the_dense_one():
    """linear=cg (trust-region Steihaug-CG, conjugate gradients for the slopes: no Hessian formed)
    against linear=eigh on a capacity-bound cell (rank 2: excess > 1e-3 nats, 4 symmetry directions
    that CG must leave out unseen): both converge to grad_tol from the same Adam point, to the same
    law (excess within 1e-12 nats), and their slopes agree to 1e-6 relative (measured 2.8e-9: the
    dense pseudo-inverse rounds at about 1e-16 x the Hessian's condition number). 300 Adam steps
    leave Newton 1-2 steps from the minimum (the preset's 4000 take 13 s more and change nothing)."""
    import dataclasses

    world = tw.make_world("iid", 4.0, 4, 3, 7)
    masses = torch.tensor(world.masses)
    model = th.loglinear_model(4, 3, 2, 0, 0.1)
    loss = ts.objective(model.log_q, masses, 10.0, 0.0)
    start, _ = ts.adam(loss, model.theta0, dataclasses.replace(SETTINGS, adam_steps=300))
    out = {}
    for linear in ("eigh", "cg"):
        s = dataclasses.replace(SETTINGS, linear=linear)
        theta, g_norm, *_ = ts.newton(loss, start, s)
        assert g_norm <= s.grad_tol
        spectrum = {}
        out[linear] = (th.excess_nats(world.masses, 10.0, model.log_q(theta).detach().numpy()),
                       ts.implicit_slopes(model.log_q, theta, masses, 10.0, s.null_rel, spectrum, linear, 1e-11))
        if linear == "cg":
            assert spectrum["cg_converged"]
    assert out["eigh"][0] > 1e-3 and out["cg"][0] == pytest.approx(out["eigh"][0], abs=1e-12)
    np.testing.assert_allclose(out["cg"][1], out["eigh"][1], rtol=1e-6)


# --- the Llama's leaf law ----------------------------------------------------------------------

def test_llama_prefix_enumeration_equals_the_full_enumeration():
    """log q from the V^(L-1) prefixes equals the sum of per-token log-softmaxes (content tokens
    only) over every full sequence through HF's LlamaForCausalLM with the same weights: 1e-10
    (float64; HF computes RMSNorm and the rotary table in float32 inside, ~1e-7 per logit, so
    the comparison runs in float32 tolerance 1e-5) and the law sums to 1 (1e-12)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    V, L = 3, 3
    model = th.llama_model(V, L, hidden=4, layers=1, heads=1, seed=0)
    log_q = model.log_q(model.theta0).detach()
    assert float(log_q.exp().sum()) == pytest.approx(1.0, abs=1e-12)
    cfg = LlamaConfig(vocab_size=V + 1, hidden_size=4, intermediate_size=8, num_hidden_layers=1,
                      num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=L,
                      tie_word_embeddings=True, bos_token_id=V, eos_token_id=V, pad_token_id=None)
    torch.manual_seed(0)
    hf = LlamaForCausalLM(cfg).double()
    seqs = torch.cartesian_prod(*[torch.arange(V)] * L)
    ids = torch.cat([torch.full((seqs.shape[0], 1), V), seqs], dim=1)
    with torch.no_grad():
        logp = torch.log_softmax(hf(ids).logits[:, :-1, :V], dim=-1)
    full = logp.gather(2, seqs[..., None])[..., 0].sum(dim=1)
    np.testing.assert_allclose(log_q.numpy(), full.numpy(), rtol=0, atol=1e-5)


# --- what reads the result: figures, export, report, findings ----------------------------------

def test_the_result_feeds_figures_export_report_and_findings(micro_result):
    """Three figures (the slopes figure with the bridge panel), a summary with the endpoints' verdicts
    first (the bridge arm's two log-ratios after the three), the report's table and two findings
    sentences (the theorem's endpoints, the bridge arm), all from the stored micro result."""
    from elasticity import export, findings, render
    from figures import build

    doc, _, root = micro_result
    folder = root / "theorem" / doc["run_id"]
    made, skipped = build.figures(root)
    assert sorted(n for n, *_ in made if n.startswith("theorem")) == [
        f"theorem_{kind}_{doc['run_id']}" for kind in ("capacity", "sign", "slopes")]
    rows = export.summary(folder)
    assert [r["verdict"] for r in rows[:3]] == [doc["endpoints"][e]["verdict"]
                                               for e in ("slope_error", "sign", "capacity_trend")]
    assert [r["quantity"].split(":")[0] for r in rows[3:5]] == ["bridge"] * 2
    assert rows[4]["mean"] == doc["endpoints"]["bridge"]["N_2"]["mean"]
    assert len(rows) == 5 + len(doc["cells"])
    title, _, table = render.theorem_table(doc["run_id"], doc)
    assert table[0][1] == doc["endpoints"]["slope_error"]["verdict"]
    assert table[3][:2] == ["endpoint bridge: sequential vs joint slopes at matched N_2",
                             doc["endpoints"]["bridge"]["verdict"]]
    row, bridge = findings.findings(root)
    assert row["grade"].startswith("smoke") and "(ii) sign of dgamma_2/dl" in row["effect"]
    assert bridge["verdict"] == doc["endpoints"]["bridge"]["verdict"] and "sequential / joint" in bridge["effect"]
    slopes_caption = next(caption for name, _, caption, *_ in made if name.startswith("theorem_slopes"))
    assert "bridge arm" in slopes_caption



def _reads(e: dict, opposite: int = 0) -> str:
    """The verdict an interval endpoint's own numbers call for: contradicts with any opposite-sign
    cell or an interval wholly outside +-margin, supports inside it, else not resolved."""
    lo, hi = e["ci95"] or (None, None)
    if opposite or (lo is not None and (lo > e["margin"] or hi < -e["margin"])):
        return "contradicts"
    return "supports" if lo is not None and -e["margin"] < lo and hi < e["margin"] else "not resolved"


# --- the bridge arm ------------------------------------------------------------------------------


def _tabular():
    """A model that holds every law: log q = log_softmax(theta), theta the M leaf logits. The gradient
    of N_j in theta is softmax(theta) - p_j, which the closed forms below use."""
    return lambda theta: torch.log_softmax(theta, dim=0)


def test_bridge_one_step_matches_the_hand_derivation():
    """One alignment step of size f eta from the pre-trained optimum theta_0 = log p_1 (tabular):
    the gradient of N_2 + l N_3 in the logits is (1 + l) q - p_2 - l p_3, at q = p_1 it is
    p_1 - p_2 + l (p_1 - p_3), so theta_1(l) = theta_0 - f eta (p_1 - p_2 + l (p_1 - p_3)),
    dtheta_1/dl = -f eta (p_1 - p_3) and s_j = (q_1 - p_j) . dtheta_1/dl, q_1 = softmax(theta_1(0)).
    1e-12 relative: both sides are a handful of float64 sums over 16 leaves."""
    world = tw.make_world("iid", 3.0, 2, 4, 5)
    p = torch.tensor(world.masses)
    theta0 = torch.log(p[0])
    lr, f = 0.7, 0.4
    got = tb.trajectory_slopes(_tabular(), theta0, p, lr, steps=1, fraction=f)
    q1 = torch.softmax(theta0 - f * lr * (p[0] - p[1]), dim=0)
    u = -f * lr * (p[0] - p[2])
    want = np.array([float((q1 - p[j]) @ u) for j in range(3)])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_bridge_aligned_to_convergence_has_the_mixture_slopes_at_k_zero():
    """Infinite capacity, alignment run to convergence: the model is p_2 and the slope through the
    alignment is the implicit slope of N_2 + l N_3 at its optimum, the mixture's formula at k = 0:
    s_j = -sum_i p_j,i (p_3,i - p_2,i) / p_2,i (and s_2 = 0 there, the stationarity identity at k = 0).
    Gradient descent on the logits contracts the error by at least 1 - lr min_i q_i per step (the
    Hessian diag(q) - q q^T, orthogonal to the shift, has eigenvalues between about min q and max q);
    with M = 8 leaves whose masses under the three laws lie in [0.09, 0.18], lr = 2 is stable (below
    2 / max q) and 300 steps contract by about 0.82^300 = 1e-26. Asserted to 1e-9 relative
    and, for s_2 = 0, 1e-12 of the largest slope (rounding through 300 steps of sums of 8 terms)."""
    world = tw.make_world("iid", 3.0, 2, 3, 1)
    p = torch.tensor(world.masses)
    lr = 2.0
    assert float(p.min()) > 0.09 and float(p.max()) < 0.18  # the range the docstring counts on
    got = tb.trajectory_slopes(_tabular(), torch.log(p[0]), p, lr, steps=300, fraction=1.0)
    want = tw.mixture_slopes(world.masses, 0.0)
    assert abs(want[1]) < 1e-15
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * float(np.abs(want).max()))


def _slow_pipeline_slopes(log_q, theta0, p, lr, steps, fraction, h):
    """Independent of ``trajectory_slopes``: the alignment replayed at l = +h and -h with plain
    reverse-mode gradients (torch.autograd), N_j at the end, a central difference."""
    def end(l):
        theta = theta0.clone()
        for t in range(1, steps + 1):
            x = theta.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(-((p[1] + l * p[2]) @ log_q(x)), x)
            theta = theta - lr * (fraction if t == steps else 1.0) * g
        with torch.no_grad():
            return -(p @ log_q(theta)).numpy()

    return (end(h) - end(-h)) / (2 * h)


def test_bridge_slopes_equal_finite_differences_through_the_whole_pipeline():
    """A capacity-bound model (rank 1, micro world): pre-trained on p_1, aligned until N_2 equals the
    joint model's at k = 10; the forward-mode slopes against central differences of the replayed
    pipeline at l = +-1e-4. The difference errs by h^2 |N'''| / 6 (N''' = O(1) nats here: 2e-9) plus
    rounding 1e-16 |N| / h (1e-13): measured 3.5e-9 relative; asserted 1e-6, far below the 9e-4 that
    a wrong last-step fraction (1 instead of f) gives and the 2x-20x by which bridge and joint slopes
    differ in the micro run."""
    world = tw.make_world("iid", 4.0, 4, 4, 0)
    p = torch.tensor(world.masses)
    model = th.loglinear_model(4, 4, 1, 0, 0.1)
    joint = ts.solve(model.log_q, model.theta0, p, 10.0, 0.0, SETTINGS)
    n2 = float(ts.cross_entropies(model.log_q, joint.theta, p)[1])
    b = tb.run(model.log_q, model.theta0, p, n2, MICRO.bridge_lr, MICRO.bridge_max_steps, SETTINGS)
    assert b["pretrain_converged"] and b["matched"] and b["monotone"] and b["steps"] > 10
    assert b["N"][1] == pytest.approx(n2, abs=1e-12)  # matched: the root-finder's tolerance x |dN_2/df|
    pre = tb.pretrain(model.log_q, model.theta0, p, SETTINGS)
    slow = _slow_pipeline_slopes(model.log_q, pre.theta, p, MICRO.bridge_lr, b["steps"], b["fraction"], 1e-4)
    np.testing.assert_allclose(b["slopes"], slow, rtol=1e-6)


def test_bridge_alignment_stops_at_the_first_crossing():
    """The schedule: N_2 after T - 1 whole steps is above the target and after the partial T-th step
    equal to it; a target at or above the starting N_2 trains nothing."""
    world = tw.make_world("iid", 4.0, 4, 3, 1)
    p = torch.tensor(world.masses)
    log_q, theta0 = _tabular(), torch.log(p[0])
    start = float(ts.cross_entropies(log_q, theta0, p)[1])
    target = 0.5 * start  # N_2 of p_2 itself is below 0 (minus log M): reachable
    sched = tb.align(log_q, theta0, p, 0.5, 10_000, target)
    assert sched["matched"] and sched["monotone"] and 0 < sched["fraction"] <= 1
    theta = theta0
    for _ in range(sched["steps"] - 1):
        theta = theta - 0.5 * torch.func.grad(lambda t: -(p[1] @ log_q(t)))(theta)
    assert float(ts.cross_entropies(log_q, theta, p)[1]) > target
    assert float(ts.cross_entropies(log_q, sched["theta"], p)[1]) == pytest.approx(target, abs=1e-12)
    assert not tb.align(log_q, theta0, p, 0.5, 10_000, start)["matched"]


def test_micro_bridge_arm_is_recorded_matched_and_compared(micro_result):
    """Every converged micro cell carries a bridge arm that matched the joint N_2 (to 1e-10 nats:
    the root-finder's tolerance, far below the 1e-3..1e-2 nats that alignment moves N_2), and the
    bridge endpoint's per-seed means are the cells' log-ratios recomputed here."""
    doc, *_ = micro_result
    cells = doc["cells"]
    for c in cells:
        assert {k for k in c if k.startswith("bridge_")} >= {"bridge_slopes", "bridge_N", "bridge_steps",
                                                             "bridge_included", "bridge_dgamma2_dl"}
        if c["converged"]:
            assert c["bridge_included"]
            assert c["bridge_N"]["N_2"] == pytest.approx(c["N"]["N_2"], abs=1e-10)
    e = doc["endpoints"]["bridge"]
    for name in ("N_1", "N_2"):
        assert e[name]["verdict"] == _reads(e[name], e[name]["opposite_sign_cells"])
    parts = [e[name]["verdict"] for name in ("N_1", "N_2")]
    assert e["verdict"] == ("contradicts" if "contradicts" in parts else
                            "supports" if parts == ["supports", "supports"] else "not resolved")
    assert e["cells"] == sum(c["bridge_included"] for c in cells) > 0
    for name in ("N_1", "N_2"):
        per_seed = {}
        for c in cells:
            if c["bridge_included"]:
                per_seed.setdefault(c["world_seed"], []).append(
                    math.log(c["bridge_slopes"][name] / c["slopes_observed"][name]))
        assert e[name]["mean"] == pytest.approx(np.mean([np.mean(v) for v in per_seed.values()]), rel=1e-12)


def test_a_log_ratio_endpoint_counts_opposite_signs_apart_and_they_contradict():
    """(world seed, ratio) pairs: per-seed means of log ratio, an opposite-sign ratio counted under
    the given key (not averaged in) and making the verdict "contradicts" whatever the interval."""
    from empirical import theorem

    same = theorem._log_ratio_endpoint([(0, 1.01), (0, 0.99), (1, 1.02), (2, 0.98)], 0.1, "opposite_cells")
    assert same["opposite_cells"] == 0 and same["n"] == 3 and same["verdict"] == _reads(same) == "supports"
    assert same["mean"] == pytest.approx((math.log(1.01) / 2 + math.log(0.99) / 2 + math.log(1.02) + math.log(0.98))
                                         / 3, rel=1e-12)  # seed 0's two cells averaged first
    flipped = theorem._log_ratio_endpoint([(0, 1.01), (0, -0.99), (1, 1.02), (2, 0.98)], 0.1, "opposite_cells")
    assert flipped["opposite_cells"] == 1 and flipped["verdict"] == "contradicts"
    assert flipped["mean"] == pytest.approx((math.log(1.01) + math.log(1.02) + math.log(0.98)) / 3, rel=1e-12)
