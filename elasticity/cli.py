"""The ``elasticity`` command. One entry point; each subcommand imports what it needs.

Errors on bad input print one line, ``elasticity: error: ...``, and exit with status 2.
"""

import json
import math
import sys
import time
from pathlib import Path

import click

THEORY_KEYS = ("alpha", "k", "l", "N_1", "N_2", "N_3", "H", "gamma_1", "gamma_2", "gamma_3",
               "dN_1_dl", "dN_2_dl", "dH_dl", "dgamma_1_dl", "dgamma_2_dl")


class FloatList(click.ParamType):
    """A number or a comma-separated list of numbers: ``2`` or ``2,3,5``."""

    name = "NUMBER[,NUMBER...]"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        items = [s.strip() for s in str(value).split(",")]
        out = []
        for item in items:
            try:
                number = float(item)
            except ValueError:
                self.fail(f"{item!r} is not a number", param, ctx)
            if not math.isfinite(number):
                self.fail(f"{item!r} is not a finite number", param, ctx)
            out.append(number)
        return tuple(out)


FLOATS = FloatList()


def _emit_json(payload) -> None:
    click.echo(json.dumps(payload, indent=1, allow_nan=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="elasticity-toolkit", prog_name="elasticity")
def cli():
    """Alignment elasticity toolkit: the exact theory of "Language Models Resist Alignment"
    (Ji et al.), an audit of the paper's closed forms, simulations of the compression theorem,
    the paper's experiments (synthetic world or local models and data), figures and a report.

    Every subcommand has --help; --json gives machine-readable output.
    """


@cli.command()
@click.option("--alpha", type=FLOATS, required=True,
              help="Pareto tail index (alpha >= 1.1; the mean needs alpha > 1). A comma list "
                   "evaluates a grid.")
@click.option("--k", "k", type=FLOATS, required=True,
              help="k = |D_1|/|D_2| > 0 (pre-training vs alignment size).")
@click.option("--l", "l", type=FLOATS, default=(0.0,), show_default="0",
              help="l = |D_3|/|D_2| >= 0 (perturbation vs alignment size); 0 is the limit from the right.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one object, or a list for a grid.")
@click.option("--errors", is_flag=True, help="Add per-quantity absolute error estimates (key abs_error).")
def theory(alpha, k, l, as_json, errors):
    """Exact N_j, H, gamma_j and their l-derivatives under the paper's Pareto model.

    N_j = E[-X_j log X_D] and H = E[-X_D log X_D] are the cross-entropies and the entropy of
    the mixture minus log M (nats); gamma_j = N_j/H is the ratio-normalized rate of
    Definition C.16 (the later paper's difference form is N_j itself). Accurate to about
    1e-12 relative (absolute for quantities near zero).
    """
    from tqdm import tqdm

    from theory.elasticity import check_point, exact, exact_with_error

    points = [(a, kk, ll) for a in alpha for kk in k for ll in l]
    for point in points:  # validate every point before any work starts
        check_point(*point)
    rows = []
    for point in tqdm(points, disable=len(points) < 200, desc="theory", unit="pt"):
        if errors:
            value, err = exact_with_error(*point)
            row = value.as_dict() | {"abs_error": err}
        else:
            row = exact(*point).as_dict()
        rows.append(row)
    if as_json:
        _emit_json(rows[0] if len(rows) == 1 else rows)
        return
    for row in rows:
        click.echo(f"alpha={row['alpha']:g}  k={row['k']:g}  l={row['l']:g}")
        for key in THEORY_KEYS[3:]:
            extra = f"   +- {row['abs_error'][key]:.1e}" if errors else ""
            click.echo(f"  {key:<12} {row[key]: .15e}{extra}")
        click.echo("  (difference form: gamma_j = N_j, dgamma_j/dl = dN_j/dl)")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as a JSON list.")
@click.option("--markdown", is_flag=True, help="Print the findings as a Markdown table.")
@click.option("--results", "results_root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True, help="Root folder of the result store.")
@click.option("--run-id", default="default", show_default=True, help="Name of this run in the store.")
@click.option("--no-save", is_flag=True, help="Do not write results/audit/<run-id>/result.json.")
def audit(as_json, markdown, results_root, run_id, no_save):
    """Check every closed form and claim of the paper against exact numbers.

    Grid: alpha in {2, 3, 5, 10}, k in {10, ..., 1e5}, l in {0, 0.01}. Each claim (eq77,
    eq81, eq85, eq88, eq91, eq95, eq98, eq33, eq34, eq35, thm2.5, thmC.8, defC.11) gets a
    verdict - holds, asymptotic (true only in the limit; rate given) or erratum
    (counterexample and corrected statement) - with the numbers that show it. The findings
    are explained in docs/errata.md.
    """
    from tqdm import tqdm

    from elasticity import store
    from theory import audit as audit_mod

    start = time.perf_counter()
    n = len(audit_mod.GRID_ALPHA) * len(audit_mod.GRID_K) * len(audit_mod.GRID_L)
    with tqdm(total=n, desc="audit grid", unit="pt", disable=as_json or markdown or None,
              leave=False) as bar:
        grid = audit_mod.evaluate_grid(progress=bar.update)
    findings = audit_mod.run_audit(grid)
    wall = time.perf_counter() - start
    path = None
    if not no_save:
        config = {"alpha": list(audit_mod.GRID_ALPHA), "k": list(audit_mod.GRID_K),
                  "l": list(audit_mod.GRID_L)}
        path = store.write_result(results_root, "audit", run_id, config=config,
                                  metrics=[f.as_dict() for f in findings], wall_time_s=wall)
    if as_json:
        _emit_json([{"claim": f.claim, "verdict": f.verdict, "evidence": f.evidence}
                    for f in findings])
        return
    if markdown:
        click.echo("| claim | verdict | evidence |\n|---|---|---|")
        for f in findings:
            click.echo(f"| {f.claim} | {f.verdict} | {f.evidence} |")
        return
    counts = {v: sum(f.verdict == v for f in findings) for v in ("holds", "asymptotic", "erratum")}
    for f in findings:
        click.echo(f"{f.claim:<8} {f.verdict:<10} {f.evidence}")
    click.echo(f"\n{len(findings)} claims: {counts['holds']} hold, {counts['asymptotic']} "
               f"asymptotic, {counts['erratum']} errata ({wall:.1f} s). See docs/errata.md.")
    if path is not None:
        click.echo(f"saved {path}")


@cli.group()
def sim():
    """Token response trees, Huffman codes and the Monte Carlo check of Theorem 2.6."""


def sim_check_run_id(alpha, k, l, depth: int, replicates: int, seed: int) -> str:
    return f"a{alpha:g}-k{k:g}-l{l:g}-d{depth}-r{replicates}-s{seed}"


@sim.command("check")
@click.option("--alpha", type=float, required=True, help="Pareto tail index (>= 1.1).")
@click.option("--k", "k", type=float, required=True, help="k = |D_1|/|D_2| > 0.")
@click.option("--l", "l", type=float, default=0.0, show_default=True, help="l = |D_3|/|D_2| >= 0.")
@click.option("--depth", type=int, default=16, show_default=True,
              help="Tree depth d: M = 2^(d-1) leaves per dataset (2..25).")
@click.option("--replicates", type=int, default=50, show_default=True, help="Independent draws (>= 2).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of numpy's default_rng.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@click.option("--results", "results_root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True, help="Root folder of the result store.")
@click.option("--run-id", default=None, help="Name in the store [default: from the parameters].")
@click.option("--force", is_flag=True, help="Recompute even if this run_id is already finished.")
def sim_check(alpha, k, l, depth, replicates, seed, as_json, results_root, run_id, force):
    """Monte Carlo check of Theorem 2.6 on finite trees against the exact theory.

    Draws the leaf masses of D_1, D_2, D_3 iid Pareto (E[X] = 1), mixes them with sizes
    (k, 1, l), and computes gamma_1, gamma_2 and their exact l-slopes on each finite tree;
    reports mean and 95% interval over replicates, the exact infinite-M values, and whether
    each exact value lies in its interval. Same seed, same numbers. A finished run_id is read
    back instead of recomputed.
    """
    import numpy as np
    from tqdm import tqdm

    from elasticity import store
    from sim import montecarlo
    from theory.elasticity import check_point

    check_point(alpha, k, l)
    if not 2 <= depth <= montecarlo.MAX_DEPTH:
        raise click.BadParameter(f"must be in [2, {montecarlo.MAX_DEPTH}], got {depth}",
                                 param_hint="--depth")
    if replicates < 2:
        raise click.BadParameter(f"must be >= 2, got {replicates}", param_hint="--replicates")
    run_id = run_id or sim_check_run_id(alpha, k, l, depth, replicates, seed)

    def compute():
        with tqdm(total=replicates, desc=f"sim check M=2^{depth - 1}", unit="rep", disable=None,
                  leave=False) as bar:
            return montecarlo.check(alpha, k, l, depth, replicates, np.random.default_rng(seed),
                                    progress=bar.update)

    config = {"alpha": alpha, "k": k, "l": l, "depth": depth, "replicates": replicates, "seed": seed}
    result = store.compute_once(results_root, "sim-check", run_id, compute, config=config, seed=seed,
                                force=force)["metrics"]
    if as_json:
        _emit_json(result)
        return
    click.echo(f"alpha={alpha:g} k={k:g} l={l:g}: M = 2^{depth - 1} leaves, {replicates} replicates")
    for name in montecarlo.REPORTED:
        est, lo_hi = result[name], result[name]["ci95"]
        inside = "inside" if result["exact_inside_ci95"][name] else "OUTSIDE"
        click.echo(f"  {name:<12} {est['mean']: .6e}  95% CI [{lo_hi[0]: .6e}, {lo_hi[1]: .6e}]"
                   f"  exact {result['exact'][name]: .6e} ({inside})")


@sim.command("convergence")
@click.option("--alpha", type=float, required=True, help="Pareto tail index (>= 1.1).")
@click.option("--k", "k", type=float, required=True, help="k = |D_1|/|D_2| > 0.")
@click.option("--l", "l", type=float, default=0.0, show_default=True, help="l = |D_3|/|D_2| >= 0.")
@click.option("--depths", type=FLOATS, default=(8.0, 10.0, 12.0, 14.0, 16.0, 18.0), show_default=True,
              help="Tree depths d (M = 2^(d-1) leaves), comma-separated.")
@click.option("--replicates", type=int, default=40, show_default=True, help="Draws per depth (>= 2).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of numpy's default_rng.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def sim_convergence(alpha, k, l, depths, replicates, seed, as_json):
    """Error of the finite-tree rates against the exact (M -> infinity) values, by M.

    Prints the root-mean-square error of gamma_1, gamma_2 and their l-slopes at each depth
    and the fitted exponent of RMS error ~ M^slope (Lemma C.13 suggests -1/2).
    """
    import numpy as np

    from sim import montecarlo

    ints = [int(d) for d in depths]
    if any(d != int(d) or not 2 <= d <= montecarlo.MAX_DEPTH for d in depths):
        raise click.BadParameter(f"depths must be integers in [2, {montecarlo.MAX_DEPTH}]",
                                 param_hint="--depths")
    if replicates < 2:
        raise click.BadParameter(f"must be >= 2, got {replicates}", param_hint="--replicates")
    result = montecarlo.convergence(alpha, k, l, ints, replicates, np.random.default_rng(seed))
    if as_json:
        _emit_json(result)
        return
    names = list(result["slope"])
    click.echo("M        " + "  ".join(f"{n:>12}" for n in names))
    for i, m in enumerate(result["leaves"]):
        row = "  ".join(f"{result['rms_error'][n][i]:12.3e}" for n in names)
        click.echo(f"2^{int(np.log2(m)):<6} {row}")
    click.echo("slope    " + "  ".join(f"{result['slope'][n]:12.3f}" for n in names))


def _load_probabilities(path: Path):
    import numpy as np

    try:
        p = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise click.BadParameter(f"{path} is not a readable .npy array ({err})",
                                 param_hint="--file") from err
    if not isinstance(p, np.ndarray):
        raise click.BadParameter(f"{path} must be a .npy array, not an archive", param_hint="--file")
    return p


@sim.command("huffman")
@click.option("--file", "path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A .npy file with a probability vector.")
@click.option("--random", "n_random", type=click.IntRange(min=1),
              help="Instead of --file: N probabilities drawn from a flat Dirichlet.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --random.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def sim_huffman(path, n_random, seed, as_json):
    """Huffman expected length (bits), entropy, Kraft sum and the arithmetic-coding length.

    Symbols with probability 0 get no code word. H <= L < H + 1 always holds.
    """
    import numpy as np

    from sim import huffman, probability

    if (path is None) == (n_random is None):
        raise click.UsageError("give exactly one of --file and --random")
    p = _load_probabilities(path) if path else np.random.default_rng(seed).dirichlet(np.ones(n_random))
    start = time.perf_counter()
    lengths = huffman.code_lengths(p)
    result = {
        "symbols": int(p.size),
        "expected_length_bits": huffman.expected_length_bits(p),
        "entropy_bits": probability.entropy_bits(p),
        "kraft_sum": huffman.kraft_sum(lengths),
        "max_code_length": int(lengths.max()),
        "seconds": time.perf_counter() - start,
    }
    result["arithmetic_length_bits"] = result["entropy_bits"]
    if as_json:
        _emit_json(result)
        return
    for key, value in result.items():
        click.echo(f"{key:<22} {value}")


def _load_tree(path: Path, vocab_size: int, depth):
    from sim import tree as tree_mod

    seq, lens = tree_mod.load_sequences(path)
    return tree_mod.build(seq, lens, vocab_size, depth)


@sim.command("tree")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vocab-size", type=int, default=2, show_default=True, help="Token ids lie in [0, V).")
@click.option("--depth", type=int, default=None,
              help="Prune to this many layers (root = layer 1) [default: no pruning].")
@click.option("--sizes", type=FLOATS, default=None,
              help="Mixture weights |D_j|, one per file [default: the files' response counts].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def sim_tree(files, vocab_size, depth, sizes, as_json):
    """Build (and prune) the token response tree of each file; print sizes and rates.

    Files are .npy (a 2-D array of token ids, every row a full response) or .npz (arrays
    'sequences', padded on the right, and 'lengths'). With several files, the per-dataset
    cross-entropies under their size-weighted mixture (Definition C.10) and the normalized
    rates in both forms are printed too.
    """
    from sim import huffman, probability, rates

    trees = [_load_tree(f, vocab_size, depth) for f in files]
    if sizes is not None and len(sizes) != len(trees):
        raise click.BadParameter(f"needs {len(trees)} values, got {len(sizes)}", param_hint="--sizes")
    out = {"trees": []}
    for f, t in zip(files, trees, strict=True):
        p = t.eos_probabilities()
        p = p / p.sum()  # exact up to rounding: EOS mass is conserved
        out["trees"].append({
            "file": str(f), "responses": t.total, "nodes": t.n_nodes, "depth": t.depth,
            "eos_nodes": int((t.eos > 0).sum()),
            "entropy_bits": probability.entropy_bits(p),
            "huffman_bits": huffman.expected_length_bits(p),
        })
    if len(trees) > 1:
        out["mixture"] = rates.rates(trees, sizes if sizes is not None else [t.total for t in trees])
    if as_json:
        _emit_json(out)
        return
    for row in out["trees"]:
        click.echo("  ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in row.items()))
    if "mixture" in out:
        for key, value in out["mixture"].items():
            click.echo(f"mixture {key}: {value}")


@sim.command("fit")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vocab-size", type=int, default=2, show_default=True, help="For token files.")
@click.option("--depth", type=int, default=None, help="Prune the tree first (layers, root = 1).")
@click.option("--masses", is_flag=True, help="PATH is a .npy of masses, not token sequences.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def sim_fit(path, vocab_size, depth, masses, as_json):
    """Test the Pareto mass model (Assumption C.15) on a tree's EOS masses.

    Fits Pareto (maximum likelihood, 95% interval for alpha), log-normal and, for integer
    counts, a Zipf-type power law; reports the Vuong likelihood-ratio test of Pareto against
    log-normal and the Kolmogorov-Smirnov distance of each, and which law fits best.
    """
    from sim import fit

    x = _load_probabilities(path) if masses else _load_tree(path, vocab_size, depth).eos
    result = fit.fit_masses(x)
    if as_json:
        _emit_json(result)
        return
    par = result["pareto"]
    click.echo(f"n={result['n']}  Pareto alpha={par['alpha']:.4f} "
               f"(95% CI {par['alpha_ci95'][0]:.4f}..{par['alpha_ci95'][1]:.4f})")
    click.echo(f"Vuong Pareto vs log-normal: z={result['vuong_pareto_vs_lognormal']['z']:.3f}, "
               f"p={result['vuong_pareto_vs_lognormal']['p_value']:.3g}")
    click.echo("KS: " + ", ".join(f"{k}={v:.4f}" for k, v in result["ks"].items())
               + f"  -> best: {result['best_by_ks']}")


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise click.BadParameter(f"expected i/N, got {text!r}", param_hint="--shard") from None
    if not (n >= 1 and 0 <= i < n):
        raise click.BadParameter(f"need 0 <= i < N, got {text!r}", param_hint="--shard")
    return i, n


def _stack(options: list):
    """One decorator applying several click options, in the order listed."""
    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command
    return apply


def _real_model_options(command):
    """Options shared by the experiments that run on real models and data."""
    return _stack([
        click.option("--model-path", default="", metavar="DIR",
                     help="A local causal LM (a directory, or a Hugging Face id already in the local "
                          "cache; nothing is downloaded). Needs --dataset and --data-dir."),
        click.option("--data-dir", default="", metavar="DIR",
                     help="Local dataset: train/test .jsonl/.json/.parquet/.csv, or a datasets save dir."),
        click.option("--lora-rank", type=click.IntRange(min=0), default=0, show_default=True,
                     help="0: full fine-tuning; r > 0: LoRA of rank r on every linear layer (merged "
                          "after each stage)."),
        click.option("--accelerate-config", default="", metavar="FILE",
                     help="An accelerate config (YAML); its DDP/FSDP/DeepSpeed setup is passed to the "
                          "trainers. Launch with `accelerate launch --config_file FILE -m elasticity.cli "
                          "...`."),
        click.option("--trust-remote-code", is_flag=True, help="Allow code shipped with the model to run."),
    ])(command)


def _experiment_options(run_id: str, shard: str):
    """--set, --results, --run-id, --shard and --json, as every experiment takes them."""
    return _stack([
        click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE",
                     help="Override a config field (world.FIELD for the world); lists comma-separated."),
        click.option("--results", "results_root", type=click.Path(file_okay=False, path_type=Path),
                     default=Path("results"), show_default=True, help="Root folder of the result store."),
        click.option("--run-id", default=None, help=f"Name in the store [default: {run_id}]."),
        click.option("--shard", default="0/1", show_default=True,
                     help=f"Run only {shard} (for several machines)."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ])


def _apply_real(config, **fields):
    """Put the real-model options (those given) into a config."""
    from dataclasses import replace

    given = {k: v for k, v in fields.items() if v not in ("", None, 0, False)}
    return replace(config, **given) if given else config


@cli.command()
@click.option("--preset", type=click.Choice(["micro", "quick", "cpu-full"]), default="quick",
              show_default=True,
              help="micro: tiny, for tests; quick: a small grid, one seed, a few minutes; cpu-full: "
                   "the paper's grid, 3 seeds, sizes, pre-training amounts, LR sweep (< 1 hour).")
@click.option("--variant", type=click.Choice(["sft", "dpo", "reversed"]), default=None,
              help="sft: positive SFT then negative SFT; dpo: negative chosen over positive; "
                   "reversed: negative first, positive after [default: the preset's, sft].")
@click.option("--dataset", type=click.Choice(["synthetic", "imdb", "safe-rlhf"]), default=None,
              help="synthetic: the offline world [default]; imdb / safe-rlhf: local files (--data-dir) "
                   "on a local model (--model-path).")
@_real_model_options
@click.option("--scorer", type=click.Choice(["vader", "classifier", "cost"]), default=None,
              help="Real data only. vader: offline lexicon sentiment [imdb default]; classifier: a "
                   "local sentiment classifier; cost: a local cost model [safe-rlhf default].")
@click.option("--scorer-path", default="", metavar="DIR", help="The classifier or cost model directory.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None,
              help="Where to train and measure [default: cpu for the synthetic world, else cuda when "
                   "available].")
@_experiment_options(run_id="PRESET-VARIANT(-DATASET)", shard="groups i, i+N, ... of the grid")
def rebound(preset, variant, dataset, model_path, data_dir, lora_rank, accelerate_config,
            trust_remote_code, scorer, scorer_path, device, assignments, results_root, run_id, shard,
            as_json):
    """The rebound experiment (paper Section 3, Figures 2-7).

    Synthetic world (default): pre-trains a model on D_pre, fine-tunes it on Q1 examples of
    one style, then on Q2 of the other, and measures the exact probability of the positive
    style, code lengths on held-out D_pre/D_align/D_perturb and the KL to the pre-trained
    model; with controls (a model never pre-trained; negatives without the first stage).

    Real models (--model-path, --dataset, --data-dir): the same grid from the local model,
    scored on sampled responses to held-out prompts by --scorer, with code lengths on the
    test split. The presets' grids apply; their synthetic-only axes (model size,
    pre-training amount) are dropped from sweeps. Kill it at any time: the same command
    resumes where it stopped.
    """

    from tqdm import tqdm

    from elasticity import presets
    from empirical import protocols
    from empirical.text import default_device

    named = presets.SWEEPS.get(preset) or [(preset, presets.REBOUND[preset])]
    real = dict(dataset=dataset, model_path=model_path, data_dir=data_dir, lora_rank=lora_rank,
                accelerate_config=accelerate_config, trust_remote_code=trust_remote_code,
                scorer=scorer, scorer_path=scorer_path)
    sets = [*assignments, *([f"variant={variant}"] if variant else [])]  # validated together
    named = [(name, protocols.with_overrides(_apply_real(c, **real), sets)) for name, c in named]
    config = named[0][1]
    if not config.synthetic and len(named) > 1:
        dropped = [name for name, c in named if c.model_size != config.model_size
                   or c.pretrain_epochs != config.pretrain_epochs]
        named = [(name, c) for name, c in named if name not in dropped]
        click.echo(f"real model: the runs {', '.join(dropped)} vary synthetic-only axes; skipped", err=True)
    suffix = "" if config.synthetic else f"-{config.dataset}"
    run_id = run_id or f"{preset}-{config.variant}{suffix}" + ("-custom" if assignments else "")
    shard_ix = _parse_shard(shard)
    device = device or ("cpu" if config.synthetic else default_device())
    total = sum(protocols.n_cells(c) for _, c in named)
    with tqdm(total=total, desc="rebound cells", unit="cell", disable=None) as bar:
        if preset in presets.SWEEPS:
            path = protocols.run_sweep(named, results_root, run_id, shard_ix, progress=bar.update,
                                       device=device)
        else:
            path = protocols.run(config, results_root, run_id, shard_ix, progress=bar.update, device=device)
    if path is None:
        click.echo(f"shard {shard} done; other shards still owe cells (rerun any shard to summarize)")
        return
    from elasticity import store

    result = store.read_result(path)
    if as_json:
        _emit_json(result)
        return
    if preset in presets.SWEEPS:
        for run in result["metrics"]["runs"]:
            verdicts = "; ".join(f"Q1={v['q1']}: {_fmt(v['crossing_q2_pretrained'])} vs "
                                 f"{_fmt(v['crossing_q2_scratch'])}" for v in run["elasticity_vs_controls"])
            crossings = ", ".join(f"Q1={c['q1']}: {_fmt(c['metrics']['crossing_q2'])}"
                                  for c in run["curves"] if c["arm"] == "pretrained")
            versus = f"  [pre-trained vs never pre-trained: {verdicts}]" if verdicts else ""
            click.echo(f"{run['run']:<16} reference {run['reference_score']:.4f}  reference reached "
                       f"at Q2 {crossings}{versus}")
        click.echo(f"saved {path}")
        return
    if "scorer" in result:
        info = result["scorer"]
        click.echo(f"scorer: {info['name']} - {info['measures']} ({info['direction']})")
    click.echo(f"reference score (pre-trained): {result['reference_score']:.4f}")
    click.echo(f"{'arm':<11}{'q1':>6}  " + "  ".join(f"q2={q:<6}" for q in (0, *config.q2)))
    for curve in result["metrics"]["curves"]:
        cells = dict(zip(curve["q2"], curve["score"], strict=True))
        row = "  ".join(f"{cells[q]['mean']:<9.4f}" if q in cells else " " * 9 for q in (0, *config.q2))
        click.echo(f"{curve['arm']:<11}{curve['q1']:>6}  {row}")
    for row in result["metrics"]["elasticity_vs_controls"]:
        click.echo(f"Q1={row['q1']}: reference reached at Q2 = {_fmt(row['crossing_q2_pretrained'])} "
                   f"(pre-trained) vs {_fmt(row['crossing_q2_scratch'])} (never pre-trained): "
                   f"{row['verdict']}")
    click.echo(f"saved {path}")


@cli.command()
@click.option("--preset", type=click.Choice(["micro", "quick", "paper"]), default="quick", show_default=True,
              help="micro: tiny, for tests; quick: the synthetic world, 3 seeds, a few minutes; paper: "
                   "Table 1's hyper-parameters (for real models).")
@click.option("--dataset", type=click.Choice(["synthetic", "alpaca", "qa", "safe-rlhf"]), default=None,
              help="synthetic: the world's alignment set [default]; alpaca (instruction-following), "
                   "qa (truthful), safe-rlhf (safe answers): local files.")
@_real_model_options
@click.option("--warmup-data-dir", default="", metavar="DIR",
              help="An Alpaca-format folder to fine-tune the base on first (the paper does for safe "
                   "and truthful).")
@_experiment_options(run_id="PRESET-DATASET", shard="seeds i, i+N, ...")
def resist(preset, dataset, model_path, data_dir, lora_rank, accelerate_config, trust_remote_code,
           warmup_data_dir, assignments, results_root, run_id, shard, as_json):
    """Forward against inverse alignment (paper Appendix E, Table 2).

    Splits a dataset into D_1..D_4, fine-tunes the base sequentially on D_1..D_3 into
    theta_1..theta_3, lets each answer D_4's prompts (top-k 30, top-p 0.9, temperature 0.1),
    trains each pair both ways on the other's answers, and reports the cross-entropies
    H(theta_i, theta'_ji) (inverse) vs H(theta_j, theta'_ij) (forward) in nats per token,
    with 95% intervals over seeds. Resumable; kill it at any time.
    """
    from tqdm import tqdm

    from elasticity import presets
    from empirical import resist as protocol
    from empirical.text import default_device

    config = _apply_real(presets.RESIST[preset], dataset=dataset, model_path=model_path, data_dir=data_dir,
                         lora_rank=lora_rank, accelerate_config=accelerate_config,
                         trust_remote_code=trust_remote_code, warmup_data_dir=warmup_data_dir)
    config = protocol.with_overrides(config, list(assignments))
    run_id = run_id or f"{preset}-{config.dataset}" + ("-custom" if assignments else "")
    device = "cpu" if config.dataset == "synthetic" else default_device()
    with tqdm(total=protocol.n_cells(config), desc="resist pairs", unit="pair", disable=None) as bar:
        path = protocol.run(config, results_root, run_id, _parse_shard(shard), bar.update, device)
    if path is None:
        click.echo(f"shard {shard} done; other shards still owe seeds (rerun any shard to summarize)")
        return
    from elasticity import store

    result = store.read_result(path)
    if as_json:
        _emit_json(result)
        return
    click.echo(f"{'pair':<50}{'inverse (nats/token)':>24}{'forward (nats/token)':>24}  verdict")
    for row in result["metrics"]["table2"]:
        inv, fwd = row["inverse_nats"], row["forward_nats"]
        click.echo(f"{row['label']:<50}{_interval(inv):>24}{_interval(fwd):>24}  {row['verdict']}")
    click.echo(f"saved {path}")


def _interval(stat: dict) -> str:
    low, high = stat["ci95"]
    return f"{stat['mean']:.4f} [{low:.4f}, {high:.4f}]"


@cli.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the figures go [default: RESULTS_DIR/figures].")
@click.option("--report", "with_report", is_flag=True, help="Also write RESULTS_DIR/report (html + md).")
def figures(results_dir, out, with_report):
    """Build every figure there are results for under RESULTS_DIR (PNG + PDF + caption),
    from the saved result files only; prints which were skipped and why."""
    from figures.build import build_all

    if not results_dir.is_dir():
        raise click.BadParameter(f"{results_dir} is not a directory", param_hint="RESULTS_DIR")
    built, skipped = build_all(results_dir, out)
    for entry in built:
        click.echo(f"built   {entry['name']}")
    for item in skipped:
        click.echo(f"skipped {item['figure']}: {item['reason']}")
    click.echo(f"{len(built)} figures in {out or results_dir / 'figures'}, {len(skipped)} skipped")
    if with_report:
        from elasticity import report

        page, _ = report.write(results_dir, built, skipped, out)
        click.echo(f"report: {page}")


@cli.command()
@click.option("--preset", type=click.Choice(["quick", "full"]), default="quick", show_default=True,
              help="quick: every figure on small runs (about 5 min here); full: the cpu-full sweep and "
                   "the quick presets of every variant (about an hour).")
@click.option("--results", "results_root", type=click.Path(file_okay=False, path_type=Path),
              default=Path("results"), show_default=True, help="Root folder of the result store.")
def reproduce(preset, results_root):
    """Run the audit, the theory curves, the simulation checks and the synthetic-world
    experiments (CPU), then build the figures and the report (results/report/index.html and
    report.md). Finished steps are read back, so a killed run resumes."""
    from elasticity import report
    from elasticity import reproduce as plan
    from figures.build import build_all

    start = time.perf_counter()
    for name, step in plan.steps(preset, results_root):
        t0 = time.perf_counter()
        click.echo(f"[{time.perf_counter() - start:6.0f} s] {name} ...")
        step()
        click.echo(f"[{time.perf_counter() - start:6.0f} s] {name} done ({time.perf_counter() - t0:.0f} s)")
    built, skipped = build_all(results_root)
    for item in skipped:
        click.echo(f"skipped figure {item['figure']}: {item['reason']}")
    title = f"Alignment elasticity: reproduce --preset {preset}"
    page, md = report.write(results_root, built, skipped, title=title)
    wall = time.perf_counter() - start
    click.echo(f"{len(built)} figures, {len(skipped)} skipped; {wall:.0f} s in all")
    click.echo(f"report: {page.resolve()} (and {md.name})")


def _fmt(value) -> str:
    return "never" if value is None else f"{value:.0f}"


def main(argv=None) -> int:
    """Console entry point: one-line errors, no tracebacks, on bad input."""
    from elasticity.store import StoreError

    try:
        cli.main(args=argv, prog_name="elasticity", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.exceptions.NoArgsIsHelpError as err:  # bare `elasticity`: help, not an error
        click.echo(err.ctx.get_help())
        return 0
    except click.ClickException as err:
        click.echo(f"elasticity: error: {err.format_message()}", err=True)
        return err.exit_code
    except click.Abort:
        click.echo("elasticity: aborted", err=True)
        return 130
    except (ValueError, StoreError, OSError) as err:
        click.echo(f"elasticity: error: {err}", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
