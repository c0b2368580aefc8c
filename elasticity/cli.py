"""The ``elasticity`` command: parse, call the library, render. Each subcommand imports what it
needs, so the theory, simulation and figure commands never load torch.

Errors on bad input print one line, ``elasticity: error: ...``, exit with status 2 and write
nothing.
"""

import json
import math
import sys
from pathlib import Path

import click

from elasticity import render
from harness import presets
from harness.configs import ReboundConfig, ResistConfig
from sim.limits import MAX_DEPTH, MAX_RANDOM_SYMBOLS, MAX_REPLICATES
from theory.exact import MAX_SIZE_RATIO
from theory.quadrature import ALPHA_MAX, ALPHA_MIN


def _number(x: float) -> str:
    """A bound as help texts show it: 1.1, 100, 1e6, 1e12."""
    return f"{x:.0e}".replace("e+0", "e").replace("e+", "e") if x >= 1e5 else f"{x:g}"


# The domains the library enforces, as the help texts state them (from the same constants).
ALPHA_RANGE = f"{_number(ALPHA_MIN)} <= alpha <= {_number(ALPHA_MAX)}"
K_RANGE = f"0 < k <= {_number(MAX_SIZE_RATIO)}"
L_RANGE = f"0 <= l <= {_number(MAX_SIZE_RATIO)}"


class FloatList(click.ParamType):
    """A number or a comma-separated list of distinct numbers: ``2`` or ``2,3,5``. Read as config
    fields are (``harness.overrides``): ASCII decimals only (no ``2_0``, no other scripts' digits),
    finite, and no two values equal to 12 significant digits (one row each)."""

    name = "NUMBER[,NUMBER...]"
    kind = float

    def convert(self, value, param, ctx):
        from harness import overrides, params

        if isinstance(value, tuple):
            return value
        read = overrides.read_integer if self.kind is int else overrides.read_real
        try:
            out = tuple(read(item.strip(), "value") for item in str(value).split(","))
        except ValueError as err:
            self.fail(str(err).removeprefix("value: "), param, ctx)
        if problem := params.Grid(params.Interval(self.kind)).check(out):
            self.fail(problem, param, ctx)
        return out


class Real(FloatList):
    """One number, read strictly (as FloatList)."""

    name = "NUMBER"

    def convert(self, value, param, ctx):
        out = super().convert(value, param, ctx)
        if len(out) != 1:
            self.fail(f"one number, got {value!r}", param, ctx)
        return out[0]


FLOATS = FloatList()
REAL = Real()


class IntList(FloatList):
    """An integer or a comma-separated list of distinct integers: ``8`` or ``8,10,12``."""

    name = "INT[,INT...]"
    kind = int


INTS = IntList()
RESULTS = click.option("--results", "results_root", type=click.Path(file_okay=False, path_type=Path),
                       default=Path("results"), show_default=True, help="Root folder of the result store.")
RUN_ID = click.option("--run-id", default=None,
                      help="Name in the store [default: a readable prefix and a hash of the configuration, "
                           "so another configuration never reads this one's numbers].")


def _emit_json(payload) -> None:
    click.echo(json.dumps(payload, indent=1, allow_nan=False))


def _show(as_json: bool, payload, render_text, *args) -> None:
    """``payload`` as JSON with --json, else ``render_text(payload, *args)``: every command's ending."""
    if as_json:
        _emit_json(payload)
    else:
        click.echo(render_text(payload, *args))


def _progress(stage: str, enabled: bool = True, unit: str = "cells"):
    from elasticity.progress import Progress

    return Progress(stage, unit=unit, enabled=enabled)


def _read_back_note(path) -> None:
    click.echo(f"(read back from the store, not recomputed: {path})", err=True)


GLOSSARY = ("Words and symbols (k, l, f, Q1, Q2, alpha, gamma_j, N_j, margin, valid mass, effective k, ...): "
            "docs/glossary.md.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, epilog=GLOSSARY)
@click.version_option(package_name="elasticity-toolkit", prog_name="elasticity")
@click.option("--numerics", type=click.Choice(["default", "portable"]), default=None,
              help="default: torch picks this CPU's fastest kernels (the bits of a training run are per "
                   "machine); portable: a fixed kernel choice, the same bits on any x86-64 CPU (ignores "
                   "ATEN_CPU_CAPABILITY, MKL_CBWR, ONEDNN_MAX_CPU_ISA set in the environment; cost: "
                   "docs/design.md) [default: $ELASTICITY_NUMERICS, else default]. Give it before the "
                   "subcommand.")
def cli(numerics):
    """Alignment elasticity toolkit: the exact theory of "Language Models Resist Alignment"
    (Ji et al.), an audit of the paper's closed forms, simulations of the compression theorem,
    the paper's experiments (synthetic world or local models and data), figures and a report.

    Every subcommand has --help; --json gives machine-readable output. Results are stored
    under --results (default ./results) with the configuration's fingerprint; a finished run
    is read back, never recomputed, and never returned for another configuration.
    """
    from harness import numerics as modes

    # before any subcommand imports torch; worker processes inherit it (ELASTICITY_NUMERICS alone works too)
    for note in modes.apply(numerics or modes.mode()):
        click.echo(f"elasticity: note: {note}", err=True)


class Int(click.ParamType):
    """One integer, read as config fields are (ASCII digits: no ``1_6``, no other scripts' digits,
    no float beyond 2^53), in [low, high] where given."""

    name = "INTEGER"

    def __init__(self, low: int | None = None, high: int | None = None):
        self.low, self.high = low, high

    def convert(self, value, param, ctx):
        from harness import overrides, params

        try:
            number = overrides.read_integer(value if isinstance(value, int) else str(value).strip(), "value")
        except ValueError as err:
            self.fail(str(err).removeprefix("value: "), param, ctx)
        if problem := params.Interval(int, self.low, self.high).check(number):
            self.fail(f"{problem}, got {number}", param, ctx)
        return number


class Range(click.ParamType):
    """A grid axis: ``START:STOP:N`` (linear), ``START:STOP:N:log`` (logarithmic) or a list
    ``A,B,C``."""

    name = "START:STOP:N[:log]|LIST"

    def convert(self, value, param, ctx):
        import numpy as np

        if isinstance(value, tuple):
            return value
        text = str(value)
        if ":" not in text:
            return FLOATS.convert(text, param, ctx)
        from harness import overrides, params

        parts = text.split(":")
        try:
            if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] not in ("lin", "log")):
                raise ValueError
            start, stop = (overrides.read_real(x.strip(), "value") for x in parts[:2])
            n = overrides.read_integer(parts[2].strip(), "value")
        except ValueError:
            self.fail(f"{text!r}: expected START:STOP:N or START:STOP:N:log (ASCII decimals)", param, ctx)
        if not (math.isfinite(start) and math.isfinite(stop)) or not 1 <= n <= 100_000:
            self.fail(f"{text!r}: finite START and STOP, 1 <= N <= 1e5", param, ctx)
        if len(parts) == 4 and parts[3] == "log" and (start <= 0 or stop <= 0):
            self.fail(f"{text!r}: a log range needs START, STOP > 0", param, ctx)
        space = np.geomspace if len(parts) == 4 and parts[3] == "log" else np.linspace
        out = tuple(float(x) for x in space(start, stop, n))
        if problem := params.Grid(params.Interval(float), max_length=100_000).check(out):  # 2.6:2.6:3: equal rows
            self.fail(f"{text!r} {problem}", param, ctx)
        return out


RANGE = Range()


@cli.group(invoke_without_command=True)
@click.option("--alpha", type=FLOATS, default=None,
              help=f"Pareto tail index, {ALPHA_RANGE} (outside, the quadrature cannot hold its "
                   "1e-10 accuracy). A comma list evaluates a grid.")
@click.option("--k", "k", type=FLOATS, default=None,
              help=f"k = |D_1|/|D_2|, {K_RANGE} (pre-training vs alignment size).")
@click.option("--l", "l", type=FLOATS, default=(0.0,), show_default="0",
              help=f"l = |D_3|/|D_2|, {L_RANGE}; 0 is the limit from the right.")
@click.option("--backend", type=click.Choice(["numpy", "jax"]), default="numpy", show_default=True,
              help="numpy: one point at a time (the reference; --errors); jax: the whole grid at once, "
                   "compiled (faster from about a hundred points of one alpha on).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one object, or a list for a grid.")
@click.option("--errors", is_flag=True, help="Add per-quantity absolute error estimates (key abs_error; numpy).")
@click.pass_context
def theory(ctx, alpha, k, l, backend, as_json, errors):
    """Exact N_j, H, gamma_j and their l-derivatives under the paper's Pareto model.

    N_j = E[-X_j log X_D] and H = E[-X_D log X_D] are the cross-entropies and the entropy of
    the mixture minus log M (nats); gamma_j = N_j/H is the ratio-normalized rate of
    Definition C.16 (the later paper's difference form is N_j itself). Accurate to about
    1e-12 relative (absolute for quantities near zero); a warning names any quantity whose
    error estimate exceeds 1e-8 of its value (dN_1/dl at very large k, for example).

    Subcommands: `theory map` (a dense grid, saved), `theory boundary` (where dgamma_2/dl
    changes sign).
    """
    if ctx.invoked_subcommand is not None:
        given = [name for name, value, default in (("--alpha", alpha, None), ("--k", k, None), ("--l", l, (0.0,)),
                                                   ("--backend", backend, "numpy"), ("--json", as_json, False),
                                                   ("--errors", errors, False)) if value != default]
        if given:  # they would be ignored: `theory map` and `theory boundary` take their own
            raise click.UsageError(f"{', '.join(given)} before `{ctx.invoked_subcommand}` would not apply; "
                                   f"give the subcommand's options after it (elasticity theory "
                                   f"{ctx.invoked_subcommand} --help)")
        return
    if alpha is None or k is None:
        raise click.UsageError("give --alpha and --k (or a subcommand: map, boundary)")
    if backend == "jax":
        if errors:
            raise click.UsageError("--errors needs --backend numpy")
        from elasticity import runs

        rows = runs.theory_rows_jax(alpha, k, l)
    else:
        from theory.exact import evaluate_points

        with _progress("theory", enabled=not as_json, unit="points") as bar:
            rows, flagged = evaluate_points(alpha, k, l, with_errors=errors, progress=bar)
        for row, names in flagged:
            click.echo(f"elasticity: warning: at alpha={row['alpha']:g} k={row['k']:g} l={row['l']:g} the "
                       f"error estimate of {', '.join(names)} exceeds 1e-8 relative (see --errors)", err=True)
    _show(as_json, rows[0] if len(rows) == 1 else rows, lambda _: render.theory(rows, errors))


@theory.command("map")
@click.option("--alpha", type=RANGE, required=True, help="alpha axis, e.g. 1.5:6:200 or 2,3,4.")
@click.option("--k", "k", type=RANGE, required=True, help="k axis, e.g. 1:1e6:200:log.")
@click.option("--l", "l", type=REAL, default=0.0, show_default=True, help="l, one value.")
@click.option("--derivatives", is_flag=True, help="Also d<q>/dalpha and d<q>/dk by autodiff (about 4x the time).")
@RESULTS
@RUN_ID
@click.option("--json", "as_json", is_flag=True, help="Print the result's metadata as JSON.")
def theory_map(alpha, k, l, derivatives, results_root, run_id, as_json):
    """Every quantity on a dense alpha x k grid (JAX), saved as a result: arrays in arrays.npz
    (one 2-D array per quantity, alpha along rows), the axes and the sign boundary of
    dgamma_2/dl in result.json; `elasticity figures` turns it into a heat map."""
    from elasticity import runs

    doc = runs.theory_map(alpha, k, l, derivatives=derivatives, results=results_root, run_id=run_id,
                          on_read_back=_read_back_note)
    _show(as_json, {key: doc[key] for key in ("run_id", "config", "metrics")}, render.theory_map)
    if not as_json:
        click.echo(f"saved {Path(results_root) / 'theory-map' / doc['run_id']}")


@theory.command("boundary")
@click.option("--alpha", type=RANGE, required=True, help="alpha values, e.g. 2.6,3,4,6 or 2.6:6:20.")
@click.option("--l", "l", type=REAL, default=0.0, show_default=True, help="l, one value.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {alpha, k_star}.")
def theory_boundary(alpha, l, as_json):
    """For each alpha, k_star: the k at which dgamma_2/dl changes sign (the boundary of the
    paper's claim (35)), to 1e-8 relative or better; null where there is none in the k range
    scanned (printed with the rows)."""
    from theory.boundary import K_MIN, boundary

    _show(as_json, boundary(alpha, l), render.boundary, f"[{_number(K_MIN)}, {_number(MAX_SIZE_RATIO)}]")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as a JSON list.")
@click.option("--markdown", is_flag=True, help="Print the findings as a Markdown table.")
@RESULTS
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
    from elasticity import runs

    if as_json and markdown:  # one output format: never drop one silently
        raise click.UsageError("give --json or --markdown, not both")
    with _progress("audit grid", enabled=not (as_json or markdown), unit="points") as bar:
        findings, path = runs.audit(results_root, run_id, save=not no_save, progress=bar)
    if as_json:
        _emit_json([{k: f[k] for k in ("claim", "verdict", "evidence")} for f in findings])
    elif markdown:
        click.echo(render.audit_markdown(findings))
    else:
        click.echo(render.audit_text(findings))
        if path is not None:
            click.echo(f"saved {path}")


@cli.group()
def sim():
    """Token response trees, Huffman codes and the Monte Carlo check of Theorem 2.6."""


@sim.command("check")
@click.option("--alpha", type=REAL, required=True, help=f"Pareto tail index, {ALPHA_RANGE}.")
@click.option("--k", "k", type=REAL, required=True, help=f"k = |D_1|/|D_2|, {K_RANGE}.")
@click.option("--l", "l", type=REAL, default=0.0, show_default=True, help=f"l = |D_3|/|D_2|, {L_RANGE}.")
@click.option("--depth", type=Int(), default=16, show_default=True,
              help=f"Tree depth d: M = 2^(d-1) leaves per dataset (2..{MAX_DEPTH}; memory grows as 2^d).")
@click.option("--replicates", type=Int(), default=50, show_default=True,
              help=f"Independent draws (2..{_number(MAX_REPLICATES)}; 32 bytes kept per draw).")
@click.option("--seed", type=Int(0), default=0, show_default=True,
              help="Seed of numpy's default_rng.")
@click.option("--backend", type=click.Choice(["numpy", "jax"]), default="numpy", show_default=True,
              help="numpy: draws from numpy's default_rng (the reference; fastest on a CPU); jax: JAX draws, "
                   "many replicates at once (for a GPU; the same distribution, other draws).")
@click.option("--json", "as_json", is_flag=True, help="Print the result's metrics as one JSON object.")
@RESULTS
@RUN_ID
@click.option("--force", is_flag=True, help="Recompute even if this run is already finished.")
def sim_check(alpha, k, l, depth, replicates, seed, backend, as_json, results_root, run_id, force):
    """Monte Carlo check of Theorem 2.6 on finite trees against the exact theory.

    Draws the leaf masses of D_1, D_2, D_3 iid Pareto (E[X] = 1), mixes them with sizes
    (k, 1, l), and computes gamma_1, gamma_2 and their exact l-slopes on each finite tree;
    reports mean and 95% interval over replicates, the exact infinite-M values, and whether
    each exact value lies in its interval. Same seed, same numbers. A finished run of this
    exact configuration is read back instead of recomputed.
    """
    from elasticity import runs
    from sim import montecarlo

    with _progress(f"sim check M=2^{depth - 1}", unit="replicates") as bar:
        doc = runs.sim_check(alpha, k, l, depth, replicates, seed, results=results_root, run_id=run_id,
                             force=force, progress=bar, on_read_back=_read_back_note, backend=backend)
    _show(as_json, doc["metrics"], render.sim_check, montecarlo.REPORTED)


@sim.command("convergence")
@click.option("--alpha", type=REAL, required=True, help=f"Pareto tail index, {ALPHA_RANGE}.")
@click.option("--k", "k", type=REAL, required=True, help=f"k = |D_1|/|D_2|, {K_RANGE}.")
@click.option("--l", "l", type=REAL, default=0.0, show_default=True, help=f"l = |D_3|/|D_2|, {L_RANGE}.")
@click.option("--depths", type=INTS, default="8,10,12,14,16,18", show_default=True,
              help=f"Tree depths d (M = 2^(d-1) leaves; 2..{MAX_DEPTH}), comma-separated.")
@click.option("--replicates", type=Int(), default=40, show_default=True,
              help=f"Draws per depth (2..{_number(MAX_REPLICATES)}).")
@click.option("--seed", type=Int(0), default=0, show_default=True,
              help="Seed of numpy's default_rng.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@RESULTS
@RUN_ID
@click.option("--force", is_flag=True, help="Recompute even if this run is already finished.")
def sim_convergence(alpha, k, l, depths, replicates, seed, as_json, results_root, run_id, force):
    """Error of the finite-tree rates against the exact (M -> infinity) values, by M.

    Prints the root-mean-square error of gamma_1, gamma_2 and their l-slopes at each depth
    and the fitted exponent of RMS error ~ M^slope (Lemma C.13 suggests -1/2). Saved under
    <results>/sim-convergence/<run-id>/ (the figures read it); a finished run of this exact
    configuration is read back instead of recomputed.
    """
    from elasticity import runs

    doc = runs.sim_convergence(alpha, k, l, list(depths), replicates, seed, results=results_root, run_id=run_id,
                               force=force, on_read_back=_read_back_note)
    _show(as_json, doc["metrics"], render.convergence)
    if not as_json:
        click.echo(f"saved {Path(results_root) / 'sim-convergence' / doc['run_id'] / 'result.json'}")


@sim.command("huffman")
@click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path),
              help="A .npy file with a probability vector.")
@click.option("--random", "n_random", type=Int(1, MAX_RANDOM_SYMBOLS),
              help=f"Instead of --file: N probabilities drawn from a flat Dirichlet (N <= "
                   f"{_number(MAX_RANDOM_SYMBOLS)}: about 4 GB of memory at the limit).")
@click.option("--seed", type=Int(0), default=0, show_default=True, help="Seed for --random.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def sim_huffman(path, n_random, seed, as_json):
    """Huffman expected length (bits), entropy, Kraft sum and the arithmetic-coding length.

    Symbols with probability 0 get no code word. H <= L < H + 1 always holds. The time
    reported is the coding alone; the first call's compilation is reported apart.
    """
    from sim import huffman

    if (path is None) == (n_random is None):
        raise click.UsageError("give exactly one of --file and --random")
    result = huffman.summary(huffman.load_probabilities(path) if path else None, n_random, seed)
    _show(as_json, result, render.key_values)


@sim.command("tree")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--vocab-size", type=Int(), default=2, show_default=True, help="Token ids lie in [0, V).")
@click.option("--depth", type=Int(), default=None,
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
    from sim import rates

    out = rates.describe_files(files, vocab_size, depth, sizes)
    _show(as_json, out, render.trees)


@sim.command("fit")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--vocab-size", type=Int(), default=2, show_default=True, help="For token files.")
@click.option("--depth", type=Int(), default=None, help="Prune the tree first (layers, root = 1).")
@click.option("--masses", is_flag=True, help="PATH is a .npy of masses, not token sequences.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def sim_fit(path, vocab_size, depth, masses, as_json):
    """Test the Pareto mass model (Assumption C.15) on a tree's EOS masses.

    Fits Pareto (maximum likelihood, 95% interval for alpha), log-normal and, for integer
    counts, a Zipf-type power law; reports the Vuong likelihood-ratio test of Pareto against
    log-normal and the Kolmogorov-Smirnov distance of each, and which law fits best.
    """
    from sim import fit

    result = fit.fit_file(path, vocab_size, depth, masses)
    _show(as_json, result, render.fit)


# ----------------------------------------------------------------------------- experiments

def _preset_option(experiment: str, default: str, what: dict[str, str]):
    """--preset with the experiment's preset names as choices and, in the help, each one's
    purpose and its seed count read from the preset itself (measured times live in the README)."""

    def seeds(name: str) -> str:
        n = len(presets.get(experiment, name).seeds)
        return f"{n} seed{'s' if n != 1 else ''}"

    if set(what) != set(presets.names()[experiment]):  # every preset offered and described, none invented
        raise AssertionError(f"{experiment} presets {presets.names()[experiment]} vs described {list(what)}")
    text = "; ".join(f"{name}: {purpose} ({seeds(name)})" for name, purpose in what.items())
    return click.option("--preset", type=click.Choice(list(what)), default=default, show_default=True, help=text)


def _declared_option(cls, name: str, help_extra: str = ""):
    """``--NAME`` for config field ``name`` of ``cls``: its choices and help from the declaration
    (harness/configs.py), so that the CLI and the config never disagree; None means the preset's."""
    from harness import params

    p = next(p for field, p, _ in params.declarations(cls) if field == name)
    choices = [v for v in getattr(p.constraint, "values", ()) if v != ""]
    return click.option(f"--{name.replace('_', '-')}", type=click.Choice(choices) if choices else None,
                        default=None, help=f"{p.help}{help_extra} [default: the preset's].")


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
                     help="Local dataset: train/test .jsonl/.json/.parquet/.csv, a datasets save dir, or the name "
                          "of a dataset in the local datasets cache (read with `datasets`; nothing downloaded)."),
        click.option("--columns", default="", metavar="WANTED=FOUND,...",
                     help="Column mapping when the files name the format's columns otherwise "
                          "(e.g. text=review,label=sentiment)."),
        click.option("--lora-rank", type=Int(0), default=None,
                     help="0: full fine-tuning; r > 0: LoRA of rank r on every linear layer (merged "
                          "after each stage) [default: the preset's, 0]."),
        click.option("--trust-remote-code", is_flag=True, help="Allow code shipped with the model to run."),
        click.option("--report-to", default="", metavar="NAMES",
                     help="Real models: transformers logging integrations for the trl stages, comma-separated "
                          "(tensorboard, wandb, mlflow, ...); each stage logs every step's loss under "
                          "RUN_DIR/logs/. The result keeps each stage's training loss either way."),
    ])(command)


def _experiment_options(shard: str):
    """--config, --set, --results, --run-id, --shard, --workers and --json, as every
    experiment takes them."""
    return _stack([
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="A YAML file of config fields (as `elasticity config show` prints); replaces "
                          "the preset; --set applies on top."),
        click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE",
                     help="Override a config field (world.FIELD for the world; lists comma-separated). "
                          "Every field is checked before anything is written."),
        RESULTS,
        RUN_ID,
        click.option("--shard", default=None,
                     help=f"i/N: run only {shard}, for several machines or processes on one results "
                          f"folder [default: a Slurm array task's index, else 0/1]."),
        click.option("--workers", type=Int(1, 64), default=1, show_default=True,
                     help="Worker processes on this machine (each one torch thread); they share the "
                          "cells of this shard."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ])


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def _config(experiment: str, preset: str, config_file, assignments, **real):
    """The preset (or --config file), the given real-model options and --set, validated as one."""
    from harness import overrides

    base = presets.get(experiment, preset)
    if config_file is not None:
        base = overrides.load_yaml(type(base), config_file)
    return overrides.with_overrides(base, overrides.combined(overrides.given(**real), assignments))


def _prefix(preset: str, config_file) -> str:
    """The readable part of a default run id: the preset's name, or "config" for a --config run
    (not the file's name: one configuration in several files is one run, found by its hash)."""
    return preset if config_file is None else "config"


def _finish(outcome, shard, as_json, render_result, experiment: str) -> None:
    from harness import engine, store

    if not engine.is_main_process():
        return  # under a distributed launch, rank 0 reports (and writes)
    if outcome.path is None:
        index, count = engine.parse_shard(shard)
        click.echo(f"shard {index}/{count} done: {outcome.done}/{outcome.total} cells on disk; the other "
                   f"shards still owe cells (rerun any shard to write the result)")
        return
    if outcome.read_back:
        _read_back_note(outcome.path)
    result = store.read_result(outcome.path, experiment=experiment)
    _show(as_json, result, render_result)
    if not as_json:
        from elasticity import findings

        grade = findings.grade_of(result)
        if grade.startswith("smoke"):
            least = findings.MIN_SEEDS.get(experiment, findings.MIN_SEEDS["default"])
            click.echo(f"[{grade}] {findings.seed_count(result)} seeds (evidence needs {least} or more, and not "
                       f"the micro preset)")
        elif grade != "evidence":
            click.echo(f"[{grade}]")
        click.echo(f"saved {outcome.path}")


@cli.command(epilog=GLOSSARY)
@_preset_option("rebound", "quick", {
    "micro": "tiny, for tests", "quick": "a small grid",
    "cpu-full": "the paper's grid: sizes, pre-training amounts, a learning-rate sweep"})
@_declared_option(ReboundConfig, "variant")
@_declared_option(ReboundConfig, "dataset", " (--data-dir) on a local model (--model-path)")
@_real_model_options
@_declared_option(ReboundConfig, "scorer", "; vader: offline lexicon sentiment, classifier: a local sentiment "
                                          "classifier, cost: a local cost model")
@click.option("--scorer-path", default="", metavar="DIR", help="The classifier or cost model directory.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None,
              help="Where to train and measure [default: cpu for the synthetic world, else cuda when "
                   "available].")
@_experiment_options(shard="groups i, i+N, ... of the grid")
def rebound(preset, variant, dataset, model_path, data_dir, columns, lora_rank, trust_remote_code,
            report_to, scorer, scorer_path, device, config_file, assignments, results_root, run_id,
            shard, workers, as_json):
    """The rebound experiment (paper Section 3, Figures 2-7).

    Synthetic world (default): pre-trains a model on D_pre, fine-tunes it on Q1 examples of
    one style, then on Q2 of the other, and measures the exact probability of the positive
    style, code lengths on held-out D_pre/D_align/D_perturb and the KL to the pre-trained
    model; with controls (a model never pre-trained on the world's laws: pre-trained on its
    format only, responses uniform; negatives without the first stage).

    Real models (--model-path, --dataset, --data-dir): the same grid from the local model,
    scored on sampled responses to held-out prompts by --scorer, with code lengths on the
    test split. The presets' grids apply; their synthetic-only axes (model size,
    pre-training amount) are dropped from sweeps. Kill it at any time: the same command
    resumes where it stopped.
    """
    from elasticity import runs

    real = dict(variant=variant, dataset=dataset, model_path=model_path, data_dir=data_dir, columns=columns,
                lora_rank=lora_rank, trust_remote_code=trust_remote_code,
                scorer=scorer, scorer_path=scorer_path)
    with _progress("rebound") as bar:
        if preset in presets.SWEEPS and config_file is None:
            named, dropped = presets.sweep("rebound", preset, assignments, **real)
            if dropped:
                click.echo(f"real model: the runs {', '.join(dropped)} vary synthetic-only axes; skipped",
                           err=True)
            outcome = runs.rebound_sweep(named, results=results_root, run_id=run_id, preset=preset,
                                         shard=shard, workers=workers, device=device, progress=bar,
                                         report_to=_names(report_to))
        else:
            config = _config("rebound", preset if preset not in presets.SWEEPS else "quick", config_file,
                             assignments, **real)
            outcome = runs.rebound(config, results=results_root, run_id=run_id, preset=_prefix(preset, config_file),
                                   shard=shard,
                                   workers=workers, device=device, progress=bar, report_to=_names(report_to))
    _finish(outcome, shard, as_json, render.rebound, "rebound")


@cli.command(epilog=GLOSSARY)
@_preset_option("resist", "quick", {
    "micro": "tiny, for tests", "quick": "the synthetic world, exact distances, with the format-only control",
    "paper": "Table 1's hyper-parameters (for real models)"})
@_declared_option(ResistConfig, "dataset", "; alpaca (instruction-following), qa (truthful), safe-rlhf (safe "
                                         "answers)")
@_real_model_options
@click.option("--warmup-data-dir", default="", metavar="DIR",
              help="Real models only: an Alpaca-format folder to fine-tune the base on first (the paper "
                   "does for safe and truthful).")
@_experiment_options(shard="cells i, i+N, ... of the (seed, pair) grid")
def resist(preset, dataset, model_path, data_dir, columns, lora_rank, trust_remote_code, report_to,
           warmup_data_dir, config_file, assignments, results_root, run_id, shard, workers, as_json):
    """Forward against inverse alignment (paper Appendix E, Table 2).

    Splits a dataset into D_1..D_4, fine-tunes the base sequentially on D_1..D_3 into
    theta_1..theta_3, lets each answer D_4's prompts (top-k 30, top-p 0.9, temperature 0.1),
    trains each pair both ways on the other's answers, and reports the cross-entropies
    H(theta_i, theta'_ji) (inverse) vs H(theta_j, theta'_ij) (forward) in nats per token,
    with 95% intervals over seeds. Synthetic world: exact distances, the verdict on the declared
    primary_distance (relative KL) with the others as sensitivity rows, a control pre-trained on
    the format only, and the lowest valid mass over every path of every arm (under 0.9 the
    verdict says so). Resumable; kill it at any time.
    """
    from elasticity import runs

    config = _config("resist", preset, config_file, assignments, dataset=dataset, model_path=model_path,
                     data_dir=data_dir, columns=columns, lora_rank=lora_rank,
                     trust_remote_code=trust_remote_code, warmup_data_dir=warmup_data_dir)
    with _progress("resist") as bar:
        outcome = runs.resist(config, results=results_root, run_id=run_id, preset=_prefix(preset, config_file),
                              shard=shard,
                              workers=workers, progress=bar, report_to=_names(report_to))
    _finish(outcome, shard, as_json, render.resist, "resist")


@cli.command(epilog=GLOSSARY)
@_preset_option("counterfactual", "micro", {
    "micro": "2 arms, a smoke test, not evidence",
    "calibration": "chooses the primary window: where the in-window control is first seen",
    "cpu-standard": "the decisive, confirmatory run on seeds disjoint from calibration: the extreme arms, the "
                    "in-window control, the middle arm and its dose arm",
    "cpu-explore": "exploratory: placebo, springs, replay, the k axis, two learning rates",
    "k-axis": "effective k: three sizes of D_pre, pre-trained by steps and by epochs, and jointly trained arms "
              "(the theorem's regime)",
    "gpu-calibration": "calibration in a larger world and model (CPU workers; run before gpu-scale)",
    "gpu-scale": "the confirmatory design in a larger world and model; declare gpu-calibration's window first"})
@_experiment_options(shard="cells i, i+N, ... of the (seed, arm) grid")
def counterfactual(preset, config_file, assignments, results_root, run_id, shard, workers, as_json):
    """Counterfactual pre-training: does the pre-training data decide how far the same
    perturbation pulls an aligned model back?

    Per seed, models identical but for the positive share f of their pre-training data are
    aligned on the same data (to a common target score, and by a common dose), then perturbed
    by the same negative data along one trajectory; the effect is the paired difference of
    score drops between the lowest-f and highest-f arms (> 0: elasticity).

    The verdict reads one primary endpoint declared in the config (primary_endpoint: the Q2
    window, units, alignment variant, learning rate): elasticity or opposite (95% interval
    above or below 0), equivalent (90% interval inside +-sesoi, and only where the in-window
    control, an output-space anchor to the pre-trained model, was detected), else not
    resolved. Also: the dose arm, the covariate-adjusted effect, late controls (spring,
    replay of each arm's own data, and replay of one shared pool as a check of the
    mechanics), secondary endpoints as one Holm family, the effective k beside the nominal
    and operating-point values (k_mode: both varies steps and epochs along the k axis;
    joint: true adds arms trained on D_pre and the alignment dose together, the theorem's
    regime). Synthetic world only (the arms need pre-training).
    """
    from elasticity import runs

    config = _config("counterfactual", preset, config_file, assignments)
    with _progress("counterfactual") as bar:
        outcome = runs.counterfactual(config, results=results_root, run_id=run_id,
                                      preset=_prefix(preset, config_file), shard=shard,
                                      workers=workers, progress=bar)
    _finish(outcome, shard, as_json, render.counterfactual, "counterfactual")


@cli.command(epilog=GLOSSARY)
@_preset_option("theorem", "micro", {
    "micro": "one alpha, k on both sides of k*, three capacities, M = 256 leaves: a smoke test for the tests",
    "cpu": "alpha 3 and 4, k = 10, 1000 and 10000, four capacities, M = 1296 leaves",
    "cpu-cascade": "the cpu grid on cascade worlds, where the pruned tree's depth means something",
    "llama-micro": "the project's Llama (hidden 2, 4, 8) on M = 216 leaves: do capacity-bound Llamas converge?",
    "gpu": "designed for one GPU: M = 32768 leaves, four k, four capacities"})
@_experiment_options(shard="cells i, i+N, ... of the (alpha, world seed, k, capacity) grid")
def theorem(preset, config_file, assignments, results_root, run_id, shard, workers, as_json):
    """The theorem meets a trained model: observed and predicted slopes dN_j/dl where capacity binds.

    Over a world of M = V^L leaves with Pareto(alpha) masses p_1, p_2, p_3, models of declared
    capacity are trained to stationarity (float64, Adam then Newton with the exact Hessian) on
    the exact objective k N_1 + N_2 + l N_3 at l = 0; their slopes at l = 0 (implicit
    derivative; finite differences on declared cells) are compared with (a) the infinite-capacity
    optimum from the realised masses, (b) the optimal compressor of the tree pruned at a depth
    fitted from each model's excess code length, and (c) the sign boundary k* of dgamma_2/dl.
    Three declared endpoints, each supports / contradicts / not resolved with its numbers.
    """
    from elasticity import runs

    config = _config("theorem", preset, config_file, assignments)
    with _progress("theorem") as bar:
        outcome = runs.theorem(config, results=results_root, run_id=run_id, preset=_prefix(preset, config_file),
                               shard=shard, workers=workers, progress=bar)
    _finish(outcome, shard, as_json, render.theorem, "theorem")


@cli.command(epilog=GLOSSARY)
@_preset_option("scaling", "micro", {
    "micro": "a 2 x 2 grid in a 64-response world: a smoke test for the tests",
    "scale-cpu": "3 widths x 3 amounts of fresh pre-training data, V = 8, L = 5 (32768 responses), for two CPU "
                 "cores with --workers 2",
    "scale-gpu": "designed for one GPU (device cuda, bf16): widths 64-256 (4 layers, to 2.6e6 parameters), "
                 "examples to 2.6e6",
    "scale-gpu-full": "the GPU grid to 1e7 parameters and 1e7 examples, 48 seeds (hours on one GPU)"})
@_experiment_options(shard="cells i, i+N, ... of the (width, examples) grid")
def scaling(preset, config_file, assignments, results_root, run_id, shard, workers, as_json):
    """Does elasticity grow with model size and with the amount of pre-training data?

    Over a grid of model widths x fresh pre-training examples (each example seen once), per
    seed two arms that differ only in the share f of the aligned style in their pre-training
    data are aligned alike and perturbed alike (every seed x arm of a cell trained as one
    ensemble). Per seed and cell: the counterfactual effect drop(f low) - drop(f high) and the
    rebound (the share of the low arm's alignment gain undone), in logit units on the declared Q2
    window. Endpoints: per seed, the least-squares slope of each effect against log10
    parameters, log10 examples and their product; 95% intervals over seeds; verdicts grows,
    shrinks, flat within margin (the 90% interval inside the declared margin, with the positive
    control detected in every cell) or not resolved.
    """
    from elasticity import runs

    config = _config("scaling", preset, config_file, assignments)
    with _progress("scaling") as bar:
        outcome = runs.scaling(config, results=results_root, run_id=run_id, preset=_prefix(preset, config_file),
                               shard=shard, workers=workers, progress=bar)
    _finish(outcome, shard, as_json, render.scaling, "scaling")


@cli.command()
@click.option("--preset", default="counterfactual/cpu-standard", show_default=True, metavar="EXPERIMENT/PRESET",
              help="Whose world: any experiment's preset (elasticity config list).")
@click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE",
              help="Override a world field (content_vocab=4, law=pareto, zipf_s=1.5, ...).")
@click.option("--seed", type=Int(0), default=0, show_default=True, help="The run seed's world.")
@click.option("--pretrain", is_flag=True,
              help="Also pre-train a model on D_pre (the preset's size, steps and learning rate) and report "
                   "what it reaches: excess code length per dataset and the share of the structure captured.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def world(preset, assignments, seed, pretrain, as_json):
    """The synthetic world's information numbers: entropy of each dataset, D_pre's KL to the
    uniform law (kl_pre_to_uniform_nats_per_token), the KL between the arms' pre-training laws;
    with --pretrain, what a pre-trained model captures of it."""
    from elasticity import runs
    from harness import overrides

    experiment, _, name = preset.partition("/")
    config = presets.get(experiment, name)
    world_config = overrides.with_overrides(config.world, assignments)
    fractions = getattr(config, "fractions", ())
    trained = None
    if pretrain:
        p = config.pretrain
        trained = {"steps": p.steps, "batch_size": p.batch, "lr": p.lr, "model_size": config.model_size,
                   "seed": seed}
    info = runs.world_information(world_config, seed, fractions, trained)
    _show(as_json, info, render.world)


@cli.group("config")
def config_group():
    """Experiment configurations: list the presets, print one as YAML (edit it, then run it
    with --config FILE)."""


@config_group.command("list")
def config_list():
    """Every experiment and its presets."""

    for experiment, names in presets.names().items():
        click.echo(f"{experiment:<16} {', '.join(names)}")


@config_group.command("params")
@click.argument("experiment", type=click.Choice(list(presets.names())))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects (name, type, default, "
                                                      "constraint, choices, unit, help).")
def config_params(experiment, as_json):
    """Every field of EXPERIMENT's configuration, as --set takes it: its type, default, what it
    accepts, its unit and what it means (read from the declarations in harness/configs.py)."""
    from harness import params

    rows = params.describe(type(presets.get(experiment, presets.names()[experiment][0])))
    _show(as_json, rows, render.params)


@config_group.command("show")
@click.argument("experiment")
@click.argument("preset")
def config_show(experiment, preset):
    """Print PRESET of EXPERIMENT as YAML (every field, with its value)."""
    from harness import overrides

    click.echo(overrides.to_yaml(presets.get(experiment, preset)), nl=False)


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("--table", "what", type=click.Choice(["cells", "summary"]), default="cells", show_default=True,
              help="cells: one row per measured point, one column per axis (stage, variant, second_lr, "
                   "beta/lambda, q1, q2); summary: the finished run's quantities as numbers (mean, ci95_low, "
                   "ci95_high, n_seeds, verdict; audit, rebound, resist, counterfactual).")
@click.option("--with-config", is_flag=True,
              help="cells: also every configuration field as a config.<field> column on every row.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The file to write [default: RUN_DIR/<table>.<format>]; inside a run folder only the "
                   "export's own names (cells.csv, summary.parquet, ...).")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@click.option("--partial", is_flag=True,
              help="Export the cells of an unfinished run (every row then has partial = true).")
def export(run_dir, fmt, what, out, force, partial, with_config):
    """A run as a tidy, typed table: one row per measured point with a column per axis and
    measurement, or the run's summary as numbers (RUN_DIR is results/<experiment>/<run_id>).
    A theory map exports one row per (alpha, k) point with a column per quantity."""
    from elasticity import export as tidy

    if not run_dir.is_dir():
        raise click.BadParameter(f"{run_dir} is not a directory", param_hint="RUN_DIR")
    path = tidy.write(run_dir, fmt, out, what, force=force, partial=partial, with_config=with_config)
    click.echo(f"wrote {path}")


@cli.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the figures go [default: RESULTS_DIR/figures].")
@click.option("--report", "with_report", is_flag=True,
              help="Also write the report (index.html + report.md) into OUT/report [default: RESULTS_DIR/report].")
def figures(results_dir, out, with_report):
    """Build every figure there are results for under RESULTS_DIR (PNG + PDF + caption, and an
    index page, OUT/index.html, with every figure and its caption), from the saved result files
    only; prints which were skipped and why (and the command that
    makes what is missing)."""
    from figures.build import build_all

    if not results_dir.is_dir():
        raise click.BadParameter(f"{results_dir} is not a directory", param_hint="RESULTS_DIR")
    built, skipped = build_all(results_dir, out)
    for entry in built:
        click.echo(f"built   {entry['name']}")
    for item in skipped:
        click.echo(f"skipped {item['figure']}: {item['reason']}" + (f" (make it: {item['make']})" if item["make"]
                                                                     else ""))
    click.echo(f"{len(built)} figures in {out or results_dir / 'figures'}, {len(skipped)} skipped")
    click.echo(f"index: {(out or results_dir / 'figures') / 'index.html'}")
    if with_report:
        from elasticity import report

        page, _ = report.write(results_dir, built, skipped, out, out=out / "report" if out else None)
        click.echo(f"report: {page}")


@cli.command("runs")
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of runs.")
def runs_command(results_dir, as_json):
    """List the finished runs under RESULTS_DIR: experiment, run id, the preset its stored
    configuration equals (custom if none), seeds, verdict, grade (smoke test, calibration or
    evidence, from the stored configuration), when it finished, its commit, numerics mode and
    trainer (ensemble or loop, where the experiment has the choice). A result that cannot be
    read is listed with the reason."""
    from elasticity import catalog

    if not results_dir.is_dir():
        raise click.BadParameter(f"{results_dir} is not a directory", param_hint="RESULTS_DIR")
    _show(as_json, catalog.runs(results_dir), render.run_list)


@cli.command()
@click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"))
@click.option("--json", "as_json", is_flag=True, help="Print every file checked as a JSON list.")
@click.option("--rerun", "rerun_seeds", type=Int(1), default=None, metavar="N",
              help="RESULTS_DIR is one finished run (resist or counterfactual): recompute its first N seeds here, "
                   "in the run's numerics mode, and print per seed the committed and rerun effect, whether they "
                   "are bit-identical and, if not, whether the rerun lies in the run's 95% interval; exit "
                   "status 1 when any seed's bits differ. Writes nothing.")
def verify(results_dir, as_json, rerun_seeds):
    """Check every file the store wrote under RESULTS_DIR: results and run records against their
    content checksums, arrays against the checksum their result records, cells against their
    run's configuration, checkpoints against their manifests. Lists what is corrupt or stale
    (and what to delete); exit status 0 when all is well, 1 otherwise. Reads only."""
    from harness.verify import verify as check_tree

    if not results_dir.is_dir():
        raise click.BadParameter(f"{results_dir} is not a directory", param_hint="RESULTS_DIR")
    if rerun_seeds is not None:  # one run, recomputed: elasticity.rerun
        from elasticity import rerun

        report = rerun.rerun(results_dir, rerun_seeds, echo=lambda line: click.echo(line, err=True))
        _show(as_json, report, render.rerun)
        if not all(row["bit_identical"] and row["records_identical"] for row in report["rows"]):
            raise click.exceptions.Exit(1)
        return
    rows = check_tree(results_dir)
    _show(as_json, rows, render.verify)
    if any(row["status"] != "ok" for row in rows):
        raise click.exceptions.Exit(1)


@cli.command()
@click.option("--preset", type=click.Choice(["quick", "full"]), default="quick", show_default=True,
              help="quick: every figure on small runs; full: the cpu-full sweep, the quick presets of every "
                   "variant, resist with 30 seeds and the counterfactual cpu-standard (README: measured times).")
@RESULTS
@click.option("--workers", type=Int(1, 64), default=2, show_default=True,
              help="Worker processes for the experiments (one torch thread each).")
def reproduce(preset, results_root, workers):
    """Run the audit, the theory curves, the simulation checks and the synthetic-world
    experiments (CPU), then build the figures and the report (results/report/index.html and
    report.md). Finished steps are read back, so a killed run resumes."""
    from elasticity import reproduce as plan

    plan.run(preset, results_root, echo=click.echo, workers=workers)


@cli.group()
def bench():
    """Timing benchmarks, measured side by side in one run."""


@bench.command("ensemble")
@click.option("--members", type=Int(1, 4096), default=48, show_default=True, help="Models trained (E).")
@click.option("--steps", type=Int(1, 100_000), default=20, show_default=True,
              help="Optimizer steps of each model.")
@click.option("--seed", type=Int(0), default=0, show_default=True,
              help="Member e: model seed and data-order seed S + e.")
@click.option("--batch-size", type=Int(1, 65_536), default=None,
              help="Rows per step [default: the pre-training preset's, 128].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def bench_ensemble(members, steps, seed, batch_size, as_json):
    """Train E tiny models N steps as a loop of HF models (trajectory.pretrain, one at a time)
    and as one ensemble (empirical.ensemble), one torch thread, best of 3 each; print both
    times, their ratio per model-step and the largest relative parameter difference; the
    ensemble's time without prefix sharing (every row's every position computed, what batching
    members alone gives; the experiments share prefixes); then each
    side's matmul rate against this CPU's single-thread peak, and the ratio a trainer running at
    that peak would reach (the bound on any speed-up)."""
    from empirical.bench_ensemble import bench_ensemble as run

    result = run(members, steps, seed, batch_size=batch_size)
    _show(as_json, result, lambda r: (
        f"{r['members']} members x {r['steps']} steps (batch {r['batch_size']}, {r['threads']} thread, best of "
        f"{r['repeats']}): loop {r['loop_seconds']:.2f} s, ensemble {r['ensemble_seconds']:.2f} s, ratio "
        f"{r['ratio']:.2f}x per model-step (without prefix sharing {r['ensemble_every_row_seconds']:.2f} s, "
        f"{r['ratio_every_row']:.2f}x; distinct prefixes {r['distinct_prefix_fraction']:.0%} of the positions); "
        f"max relative parameter difference {r['max_rel_param_diff']:.1e} "
        f"(per tensor, norm), {r['max_rel_entry_diff']:.1e} (largest entry); model matmuls {r['model_gflop']:.1f} "
        f"GFLOP: loop {r['loop_gflops']:.1f} GFLOP/s, ensemble {r['ensemble_gflops']:.1f} GFLOP/s, this CPU's "
        f"float32 matmul peak {r['matmul_peak_gflops']:.1f} GFLOP/s (a trainer at that peak: {r['floor_ratio']:.1f}x)"))


def main(argv=None) -> int:
    """Console entry point: one-line errors, no tracebacks, on bad input."""
    from harness.store import StoreError

    try:
        status = cli.main(args=argv, prog_name="elasticity", standalone_mode=False)
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
        message = " ".join(str(err).split()) or type(err).__name__
        click.echo(f"elasticity: error: {message}", err=True)
        return 2
    return status if isinstance(status, int) else 0  # a command's Exit(n) comes back as its return value


if __name__ == "__main__":
    sys.exit(main())
