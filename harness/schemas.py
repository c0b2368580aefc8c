"""What each experiment's result must hold, checked when it is read (``store.read_result``),
so that a renderer, a figure or the report never meets a missing or mistyped field.

A field is a dotted path; ``name[]`` walks every element of a list. Kinds: ``number``
(finite int or float), ``number?`` (or null), ``int``, ``str``, ``bool``, ``list``, ``dict``.
"""

import math


class SchemaError(ValueError):
    """A result or record without a field it must hold; the message names the file and field."""

_ESTIMATE = ("mean", "ci95")
_SIM_NAMES = ("gamma_1", "gamma_2", "dgamma_1_dl", "dgamma_2_dl")

SCHEMAS: dict[str, tuple[tuple[str, str], ...]] = {
    "audit": (("metrics", "list"), ("metrics[].claim", "str"), ("metrics[].verdict", "str"),
              ("metrics[].evidence", "str")),
    "sim-check": (
        *((f"metrics.{n}.{k}", "number" if k == "mean" else "list") for n in _SIM_NAMES for k in _ESTIMATE),
        *((f"metrics.exact.{n}", "number") for n in _SIM_NAMES),
        *((f"metrics.exact_inside_ci95.{n}", "bool") for n in _SIM_NAMES),
        ("metrics.alpha", "number"), ("metrics.k", "number"), ("metrics.l", "number"),
        ("metrics.depth", "int"), ("metrics.leaves", "int"), ("metrics.replicates", "int")),
    "sim-convergence": (("metrics.leaves", "list"), ("metrics.depths", "list"),
                        *((f"metrics.rms_error.{n}", "list") for n in _SIM_NAMES),
                        *((f"metrics.slope.{n}", "number") for n in _SIM_NAMES)),
    "huffman": (("metrics.laws[].entropy_bits", "number"), ("metrics.laws[].length_bits", "number"),
                ("metrics.laws[].size", "int")),
    "theory-curves": (("metrics.gamma_vs_l", "list"), ("metrics.ratio_vs_k", "list"),
                      ("metrics.sign_dgamma_2_dl", "dict"), ("metrics.closed_forms", "dict")),
    "resist": (("metrics.table2[].label", "str"), ("metrics.table2[].verdict", "str"),
               ("metrics.table2[].effect", "str"), ("metrics.table2[].minimal_detectable_effect", "number?"),
               *((f"metrics.table2[].{name}.mean", "number")
                 for name in ("inverse_nats", "forward_nats", "forward_minus_inverse")),
               ("cells", "list")),
    "theory-map": (("metrics.alpha", "list"), ("metrics.k", "list"), ("metrics.points", "int"),
                   ("metrics.negative_fraction", "number"), ("metrics.boundary[].alpha", "number"),
                   ("metrics.boundary[].k_star", "number?"), ("metrics.arrays", "list")),
    "counterfactual": (("verdict", "str"), ("verdict_note", "str"), ("effect.mean", "number"),
                       ("effect.n_seeds", "int"), ("minimal_detectable_effect", "number?"),
                       ("primary_endpoint.q2", "list"), ("primary_endpoint.units", "str"),
                       ("primary_endpoint.alignment", "str"), ("primary_endpoint.second_lr", "number"),
                       ("sesoi", "number"), ("equivalence.within_margin", "bool"), ("excluded_seeds", "list"),
                       ("equivalence.p_tost", "number?"), ("equivalence.p_one_sided", "number?"),
                       ("primary_endpoint.optimizer_steps", "list"), ("seeds", "list"),
                       ("dose_matched_probability.mean", "number"), ("per_seed[].value", "number"),
                       ("adjusted_effect.mean", "number?"),
                       ("positive_controls.in_window[].anchor_beta", "number"),
                       ("positive_controls.in_window[].effect.mean", "number"),
                       ("positive_controls.in_window[].detected", "bool"),
                       ("positive_controls.spring[].spring", "number"),
                       ("positive_controls.spring[].effect.mean", "number"),
                       ("effective_k[].nominal_k", "number"), ("effective_k[].k_mode", "str"),
                       ("effective_k[].observed.mean", "number?"),
                       ("effective_k[].predicted", "number"), ("effective_k[].operating_point_k", "number?"),
                       ("metrics.effects", "list"),
                       ("metrics.effects[].second_lr", "number"), ("metrics.secondary[].p_holm", "number?"),
                       ("metrics.low_arm", "str"), ("metrics.high_arm", "str"), ("metrics.aligned", "list")),
    "theorem": (("metrics.worlds[].alpha", "number"), ("metrics.worlds[].world_seed", "int"),
                ("metrics.worlds[].V", "int"), ("metrics.worlds[].L", "int"), ("metrics.worlds[].masses", "list"),
                ("metrics.worlds[].k_star_realised", "number?"), ("metrics.worlds[].k_star_theory", "number?"),
                ("metrics.converged", "int"), ("metrics.total", "int"), ("metrics.excess_range", "list"),
                ("metrics.match_optimal.all_within", "bool"), ("metrics.fd_check", "list"),
                ("cells", "list"), ("cells[].alpha", "number"), ("cells[].k", "number"),
                ("cells[].world_seed", "int"), ("cells[].params", "int"), ("cells[].converged", "bool"),
                ("cells[].grad_norm", "number"), ("cells[].excess_l0", "number"),
                ("cells[].depth_fitted", "number"), ("cells[].residual", "number"),
                *((f"cells[].{d}.{n}", "number") for d in ("N", "slopes_observed", "slopes_optimal", "slopes_pruned")
                  for n in ("N_1", "N_2", "N_3")),
                ("cells[].dgamma2_dl_observed", "number"), ("cells[].dgamma2_dl_optimal", "number"),
                ("cells[].dgamma2_dl_pruned", "number?"),
                *((f"endpoints.{e}.verdict", "str") for e in ("slope_error", "sign", "capacity_trend")),
                ("declared", "dict")),
    "scaling": (("metrics.cells", "list"), ("metrics.cells[].hidden", "int"), ("metrics.cells[].params", "int"),
                ("metrics.cells[].n_pre", "int"),
                *((f"metrics.cells[].{k}.mean", "number") for k in ("counterfactual", "rebound", "excess_pre",
                                                                     "align_gain", "drop_low")),
                ("metrics.cells[].alignment_detected", "bool"), ("metrics.cells[].perturbation_detected", "bool"),
                *((f"endpoints.{e}.{t}.{k}", kind) for e in ("counterfactual", "rebound")
                  for t in ("params", "examples", "interaction")
                  for k, kind in (("mean", "number"), ("verdict", "str"), ("margin", "number"), ("n", "int"),
                                  ("per_seed", "dict"), ("supports", "str"))),
                ("positive_control.detected", "bool"), ("declared.window", "list"), ("per_seed[].value", "number"),
                ("seeds", "list")),
}

_REBOUND_RUN = (("curves[].arm", "str"), ("curves[].q1", "int"), ("curves[].q2", "list"),
                ("curves[].score", "list"), ("curves[].crossing_q2.never", "int"), ("curves[].crossing_q2.n", "int"),
                ("curves[].crossing_q2.mean", "number?"), ("versus_controls[].q1", "int"),
                ("versus_controls[].verdict", "str"), ("versus_controls[].seeds_paired", "int"))


def _rebound(document: dict) -> tuple:
    """A sweep's index holds metrics.runs[]; a single run metrics.curves[]."""
    top = (("metrics", "dict"), ("cells", "list"), ("reference_score", "number"))
    if isinstance(document.get("metrics"), dict) and "runs" in document["metrics"]:
        return top + (("metrics.runs[].run", "str"), ("metrics.runs[].run_id", "str"),
                      *((f"metrics.runs[].{f}", k) for f, k in _REBOUND_RUN))
    return top + tuple((f"metrics.{f}", k) for f, k in _REBOUND_RUN)


DYNAMIC = {"rebound": _rebound}


def check_fields(document, fields, path) -> None:
    """Raise SchemaError naming ``path`` and the first of ``fields`` missing or mistyped."""
    for field, kind in fields:
        _walk(document, field.split("."), kind, path, "")


def check(document: dict, experiment: str, path) -> None:
    """Raise SchemaError naming ``path`` and the first missing or mistyped field."""
    if document.get("experiment") != experiment:
        raise SchemaError(f"{path}: a result of {document.get('experiment')!r}, expected {experiment!r}")
    fields = DYNAMIC[experiment](document) if experiment in DYNAMIC else SCHEMAS.get(experiment, ())
    check_fields(document, fields, path)


def _walk(value, parts: list[str], kind: str, path, trail: str) -> None:
    if not parts:
        if not _is(value, kind):
            raise SchemaError(f"{path}: field {trail.rstrip('.')!r} must be {kind}, got {_show(value)}")
        return
    name = parts[0].removesuffix("[]")
    if not isinstance(value, dict) or name not in value:
        raise SchemaError(f"{path}: missing field {trail + name!r}")
    child = value[name]
    if not parts[0].endswith("[]"):
        _walk(child, parts[1:], kind, path, f"{trail}{name}.")
        return
    if not isinstance(child, list):
        raise SchemaError(f"{path}: field {trail + name!r} must be a list, got {_show(child)}")
    for i, item in enumerate(child):
        _walk(item, parts[1:], kind, path, f"{trail}{name}[{i}].")


def _is(value, kind: str) -> bool:
    if kind == "number?" and value is None:
        return True
    if kind in ("number", "number?"):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, {"str": str, "bool": bool, "list": list, "dict": dict}[kind])


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
