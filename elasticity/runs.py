"""Running an experiment into the store, as the CLI and ``reproduce`` do (and as a Python user
can): each function validates its inputs, names the run (a readable prefix and a hash of the
configuration, unless a run id is given), and returns the stored result: computed, or read
back when exactly this configuration is finished. A run id that holds another configuration
is refused, never read.

Heavy packages (torch, transformers) are imported only by the experiments that train.
"""

import collections
from pathlib import Path

from harness import engine, store
from harness.store import short_number


def _notify(on_read_back, path) -> None:
    if on_read_back is not None:
        on_read_back(path)


def sim_check_config(alpha, k, l, depth: int, replicates: int, seed: int, backend: str = "numpy") -> dict:
    """The validated configuration of a Monte Carlo check (see ``sim.montecarlo.check``); the
    JAX backend's draws differ from numpy's, so it is part of the configuration."""
    from sim import montecarlo

    alpha, k, l, depth, replicates = montecarlo.check_inputs(alpha, k, l, depth, replicates)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if backend not in ("numpy", "jax"):
        raise ValueError(f"backend must be 'numpy' or 'jax', got {backend!r}")
    config = {"alpha": alpha, "k": k, "l": l, "depth": depth, "replicates": replicates, "seed": seed}
    return config | ({"backend": backend} if backend != "numpy" else {})  # numpy runs keep their ids


def sim_check_run_id(config: dict) -> str:
    c = config
    prefix = (f"a{short_number(c['alpha'])}-k{short_number(c['k'])}-l{short_number(c['l'])}"
              f"-d{c['depth']}-r{c['replicates']}-s{c['seed']}" + ("-jax" if c.get("backend") == "jax" else ""))
    return store.default_run_id(prefix, c)


def sim_convergence(alpha, k, l, depths, replicates: int = 40, seed: int = 0, *, results="results",
                    run_id: str | None = None, force: bool = False, on_read_back=None) -> dict:
    """The stored result of ``elasticity sim convergence`` (``montecarlo.convergence``'s metrics);
    depths in any order are one configuration (sorted)."""
    import numpy as np

    from sim import montecarlo

    alpha, k, l, depths = montecarlo.check_convergence_inputs(alpha, k, l, sorted(depths), replicates)
    sim_check_config(alpha, k, l, depths[0], replicates, seed)  # the seed, as a check's
    config = {"alpha": alpha, "k": k, "l": l, "depths": depths, "replicates": replicates, "seed": seed}
    prefix = (f"a{short_number(alpha)}-k{short_number(k)}-l{short_number(l)}-d{depths[0]}to{depths[-1]}"
              f"-r{replicates}-s{seed}")
    run_id = store.check_name("run_id", run_id) if run_id is not None else store.default_run_id(prefix, config)
    return store.compute_once(results, "sim-convergence", run_id, lambda: montecarlo.convergence(
        alpha, k, l, depths, replicates, np.random.default_rng(seed)), config=config, seed=seed, force=force,
        on_read_back=on_read_back)


def sim_check(alpha, k, l, depth: int = 16, replicates: int = 50, seed: int = 0, *, results="results",
              run_id: str | None = None, force: bool = False, progress=None, on_read_back=None,
              backend: str = "numpy") -> dict:
    """The stored result of ``elasticity sim check`` (its ``metrics`` are ``montecarlo.check``'s,
    or ``montecarlo_jax.check``'s with ``backend="jax"``)."""
    import numpy as np

    from sim import montecarlo

    config = sim_check_config(alpha, k, l, depth, replicates, seed, backend)
    run_id = store.check_name("run_id", run_id) if run_id is not None else sim_check_run_id(config)
    args = (config["alpha"], config["k"], config["l"], config["depth"], config["replicates"])

    def compute():
        if backend == "jax":
            from sim import montecarlo_jax

            return montecarlo_jax.check(*args, seed=seed, progress=progress)
        return montecarlo.check(*args, np.random.default_rng(seed), progress=progress)

    return store.compute_once(results, "sim-check", run_id, compute, config=config, seed=seed, force=force,
                              on_read_back=on_read_back)


def audit(results="results", run_id: str = "default", save: bool = True,
          progress=None) -> tuple[list, Path | None]:
    """The audit's findings (as dicts) and, when saved, the result path."""
    import time

    from theory import audit as audit_mod

    run_id = store.check_name("run_id", run_id)
    start = time.perf_counter()
    findings = [f.as_dict() for f in audit_mod.run_audit(audit_mod.evaluate_grid(progress=progress))]
    path = None
    if save:
        config = {"alpha": list(audit_mod.GRID_ALPHA), "k": list(audit_mod.GRID_K),
                  "l": list(audit_mod.GRID_L)}
        path = store.write_result(results, "audit", run_id, config=config, metrics=findings,
                                  wall_time_s=time.perf_counter() - start)
    return findings, path


def experiment_run_id(preset: str, config, suffix: str = "") -> str:
    """A rebound run's id, ``<preset>-<variant>[-<dataset>]-<hash>``: readable, and unique per
    configuration and protocol version."""
    parts = [preset, config.variant, "" if config.dataset == "synthetic" else config.dataset, suffix]
    return store.default_run_id("-".join(p for p in parts if p), _versioned(config.as_dict()))


def _versioned(config: dict) -> dict:
    """What a rebound run id hashes: the configuration and the protocol's version."""
    from empirical import rebound as protocol

    return {"config": config, "protocol_version": protocol.PROTOCOL_VERSION}


def _report_to(names) -> tuple[str, ...]:
    """Logging integrations checked before anything is written (known to transformers, installed)."""
    if not names:
        return ()
    from empirical.train import check_report_to

    return check_report_to(names)


def _device(requested: str | None, synthetic: bool) -> str:
    """The device a run uses, checked before anything is written: the requested one if it exists
    here, else cpu for the synthetic world and cuda when available for real models."""
    from empirical.text import default_device

    if requested is None:
        return "cpu" if synthetic else default_device()
    if requested not in ("cpu", "cuda"):
        raise ValueError(f"--device must be cpu or cuda, got {requested!r}")
    if requested == "cuda" and default_device() != "cuda":
        raise ValueError("--device cuda: no CUDA device is available here (torch.cuda.is_available() is False)")
    return requested


def rebound(config, *, results="results", run_id: str | None = None, preset: str = "custom",
            shard=None, workers: int = 1, device: str | None = None, progress=None,
            report_to=()) -> engine.Outcome:
    """Run (or resume, or read back) one rebound configuration; ``report_to`` (real models):
    transformers logging integrations for the trl stages, logging under ``<run>/logs/``."""
    from empirical import rebound as protocol

    device = _device(device, config.synthetic)
    run_id = store.check_name("run_id", run_id) if run_id is not None else experiment_run_id(preset, config)
    return engine.run(protocol.Rebound(config, device, _report_to(report_to)), results, run_id,
                      engine.parse_shard(shard), progress, workers)


def rebound_sweep(named, *, results="results", run_id: str | None = None, preset: str = "sweep",
                  shard=None, workers: int = 1, device: str | None = None, progress=None,
                  report_to=()) -> engine.Outcome:
    """Run a sweep (several named rebound configurations) and its index result."""
    from empirical import rebound as protocol

    first = named[0][1]
    device = _device(device, first.synthetic)
    if run_id is None:
        prefix = "-".join(p for p in (preset, first.variant, "" if first.synthetic else first.dataset) if p)
        run_id = store.default_run_id(prefix, _versioned({n: c.as_dict() for n, c in named}))
    return protocol.run_sweep(named, results, store.check_name("run_id", run_id), engine.parse_shard(shard),
                              progress, device, workers, _report_to(report_to))


def resist(config, *, results="results", run_id: str | None = None, preset: str = "custom",
           shard=None, workers: int = 1, device: str | None = None, progress=None,
           report_to=()) -> engine.Outcome:
    """Run (or resume, or read back) the forward-vs-inverse experiment (``report_to`` as for
    ``rebound``)."""
    from empirical import resist as protocol

    device = _device(device, config.dataset == "synthetic")
    if run_id is None:  # the protocol's version in the hash: a run of an older protocol is never read back
        run_id = store.default_run_id(f"{preset}-{config.dataset}", {"config": config.as_dict(),
                                                                      "protocol_version": protocol.PROTOCOL_VERSION})
    return engine.run(protocol.Resist(config, device, _report_to(report_to)), results,
                      store.check_name("run_id", run_id), engine.parse_shard(shard), progress, workers)


def counterfactual(config, *, results="results", run_id: str | None = None, preset: str = "custom",
                   shard=None, workers: int = 1, progress=None) -> engine.Outcome:
    """Run (or resume, or read back) the counterfactual pre-training experiment."""
    from empirical import counterfactual as protocol

    if run_id is None:
        run_id = store.default_run_id(preset, config.as_dict())
    return engine.run(protocol.Counterfactual(config), results, store.check_name("run_id", run_id),
                      engine.parse_shard(shard), progress, workers)


def theorem(config, *, results="results", run_id: str | None = None, preset: str = "custom",
            shard=None, workers: int = 1, progress=None) -> engine.Outcome:
    """Run (or resume, or read back) the theorem experiment (``empirical.theorem``)."""
    from empirical import theorem as protocol

    if run_id is None:
        run_id = store.default_run_id(preset, config.as_dict())
    return engine.run(protocol.Theorem(config), results, store.check_name("run_id", run_id),
                      engine.parse_shard(shard), progress, workers)


def scaling(config, *, results="results", run_id: str | None = None, preset: str = "custom",
            shard=None, workers: int = 1, progress=None) -> engine.Outcome:
    """Run (or resume, or read back) the scaling experiment (``empirical.scaling``) on the
    config's device (cuda is refused before anything is written where there is none)."""
    from empirical import scaling as protocol

    _device(config.device, synthetic=True)
    if run_id is None:
        run_id = store.default_run_id(preset, config.as_dict())
    return engine.run(protocol.Scaling(config), results, store.check_name("run_id", run_id),
                      engine.parse_shard(shard), progress, workers)


def world_information(config, seed: int = 0, fractions=(), pretrain: dict | None = None) -> dict:
    """The information numbers of the world of one seed (``empirical.world.information``);
    with ``pretrain`` ({steps, batch_size, lr, model_size, f}), a model is pre-trained on its
    D_pre and what it reaches is added: code length on each law, excess over the entropy, the
    share of D_pre's structure it captures, its style score."""
    from empirical.world import World, information

    world = World(config, seed)
    out = {"seed": seed, **information(world, None, fractions)}
    if pretrain is not None:
        out["pretrained"] = _pretrained_model_numbers(world, out, **pretrain)
    return out


def _pretrained_model_numbers(world, info: dict, *, steps: int, batch_size: int, lr: float, model_size: str,
                              seed: int = 0) -> dict:
    import time

    import numpy as np

    from empirical import measure, trajectory
    from empirical.models import build_model

    w = world.config
    start = time.perf_counter()
    model = build_model(w.vocab_size, w.sequence_length, model_size, seed)
    trajectory.pretrain(model, world.sample(w.n_pre, w.pre_positive_fraction, 10).tokens, steps=steps,
                        batch_size=batch_size, lr=lr, seed=seed)
    prompts = np.full((1, w.prompt_length), 4)
    got = measure.law_measures(measure.response_log_probs(model, world, prompts), world, world.laws())
    excess = {k: got["code_length_nats"][k] - info["entropy_nats_per_token"][k] for k in got["code_length_nats"]}
    kl = info["kl_pre_to_uniform_nats_per_token"]
    return {"model_size": model_size, "steps": steps, "batch_size": batch_size, "lr": lr,
            "code_length_nats_per_token": got["code_length_nats"], "excess_nats_per_token": excess,
            "captured_share_of_kl": 1.0 - excess["pre"] / kl, "score": got["score"],
            "valid_mass": got["valid_mass"], "seconds": time.perf_counter() - start}


def theory_rows_jax(alphas, ks, ls) -> list[dict]:
    """``elasticity theory --backend jax``: every (alpha, k, l) of the three lists, as the numpy
    path's rows, plus d<q>_dalpha and d<q>_dk by autodiff."""
    import numpy as np

    from theory import batch

    a, k, l = (np.asarray(v, float).ravel() for v in np.meshgrid(alphas, ks, ls, indexing="ij"))
    got = batch.evaluate(a, k, l)
    keys = [key for key in got if not key.endswith("_autodiff")]
    return [{key: float(got[key][i]) for key in keys} for i in range(a.size)]


MAX_MAP_POINTS = 4_000_000  # about 2 GB of arrays (about 60 float64 arrays per point with derivatives)
MAP_BYTES_PER_POINT = 8 * 60


def theory_map_config(alphas, ks, l: float, derivatives: bool) -> dict:
    """The validated configuration of a theory map, before anything is written: every axis value
    in the theory's domain, no value twice, and a grid that fits in memory."""
    from theory.exact import check_point

    alphas, ks = [float(a) for a in alphas], [float(k) for k in ks]
    if not alphas or not ks:
        raise ValueError("theory map: each axis needs at least one value")
    points = len(alphas) * len(ks)
    if points > MAX_MAP_POINTS:
        raise ValueError(f"theory map: {len(alphas)} x {len(ks)} = {points:.3g} points would need about "
                         f"{points * MAP_BYTES_PER_POINT / 2**30:.1f} GiB; at most {MAX_MAP_POINTS:.0e} points")
    for name, axis in (("alpha", alphas), ("k", ks)):
        repeated = sorted(v for v, n in collections.Counter(axis).items() if n > 1)
        if repeated:
            raise ValueError(f"theory map: the {name} axis repeats {repeated[:3]}: each value once")
    for a in alphas:
        check_point(a, ks[0], l)
    for k in ks:
        check_point(alphas[0], k, l)
    return {"alpha": alphas, "k": ks, "l": float(l), "derivatives": bool(derivatives)}


def theory_map(alphas, ks, l: float = 0.0, *, derivatives: bool = False, results="results",
               run_id: str | None = None, on_read_back=None) -> dict:
    """A dense alpha x k map of every quantity (theory.batch), stored with its arrays: one 2-D
    array per quantity in arrays.npz (alpha along rows); the axes, the share of the map where
    dgamma_2/dl < 0 and the sign boundary k*(alpha) at up to 25 of the alphas in result.json."""
    import time

    import numpy as np

    from theory import batch
    from theory.boundary import boundary

    config = theory_map_config(alphas, ks, l, derivatives)
    alphas, ks = config["alpha"], config["k"]
    if run_id is None:
        prefix = (f"a{short_number(min(alphas))}-{short_number(max(alphas))}x{len(alphas)}"
                  f"-k{short_number(min(ks))}-{short_number(max(ks))}x{len(ks)}-l{short_number(l)}")
        run_id = store.default_run_id(prefix, config)
    store.check_name("run_id", run_id)

    def compute():
        A, K = np.meshgrid(np.asarray(config["alpha"]), np.asarray(config["k"]), indexing="ij")
        start = time.perf_counter()
        got = batch.evaluate(A, K, l, derivatives=derivatives)
        done = time.perf_counter()
        chosen = sorted(set(np.asarray(config["alpha"])[np.linspace(0, len(alphas) - 1, min(25, len(alphas)),
                                                                      dtype=int)]))
        metrics = {"alpha": config["alpha"], "k": config["k"], "l": config["l"], "points": int(A.size),
                   "negative_fraction": float(np.mean(got["dgamma_2_dl"] < 0)),
                   "boundary": boundary(chosen, l), "seconds_with_compilation": done - start,
                   "arrays": sorted(key for key in got if key not in ("alpha", "k", "l"))}
        return metrics, {key: got[key] for key in metrics["arrays"]}

    return store.compute_once(results, "theory-map", run_id, compute, config=config, on_read_back=on_read_back,
                              with_arrays=True)
