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
    (Ji et al.), an audit of the paper's closed forms, and (as they land) simulations,
    experiments and figures.

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
        click.echo(f"  {'(difference form: gamma_j = N_j, dgamma_j/dl = dN_j/dl)'}")


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
