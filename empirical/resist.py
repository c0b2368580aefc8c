"""Forward against inverse alignment (the paper's Appendix E, Tables 1 and 2).

Per seed: shuffle the dataset's prompt/completion pairs and cut four parts D_1..D_4 of
``part_size`` each. From the base model theta_0 (synthetic: pre-trained from scratch on D_pre;
real: the model at ``model_path``, optionally first fine-tuned on an instruction set, as the
paper does before its safe and truthful runs), fine-tune sequentially on D_1, D_2, D_3 into
theta_1, theta_2, theta_3. Each theta_i answers D_4's prompts (the training data of the paths)
at ``temperature`` (1 by default: the model's own law; the paper's 0.1 makes most small models
repeat one answer, so that the outcome turns on whether two models' modes coincide).

For each pair (i, j) in (1, 2), (2, 3), (1, 3):
- forward (path B): theta_i fine-tuned on theta_j's answers -> theta'_ij, distance
  H(theta_j, theta'_ij): the code length of theta'_ij on theta_j's test answers;
- inverse (path A): theta_j fine-tuned on theta_i's answers -> theta'_ji, distance
  H(theta_i, theta'_ji).
Table 2 reads "H(theta_i, theta'_ji) vs. H(theta_j, theta'_ij)" (inverse vs forward); the
paper's claim is that the inverse distance is the smaller. Both paths use the same steps,
hyper-parameters and prompts. Cross-entropies are in nats per token (completion tokens, EOS
included).

This module is the protocol for the run engine (``harness.engine``): the cells, the record
fields and the summary. The work is in ``empirical.resist_synthetic`` (the synthetic world,
exact KLs; one cell per seed and arm; the effect per seed is forward - inverse of the declared
primary distance, > 0: the inverse path ends closer, the paper's claim) and
``empirical.resist_real`` (a local model and dataset; cross-entropies on sampled answers; one
cell per (seed, pair)).

On the synthetic world the verdict reads one distance declared in the config
(``primary_distance``, by default the relative KL: see ``DISTANCES``); the others are reported as
sensitivity rows with their intervals and Holm-adjusted p, and where they disagree with the
primary in sign or significance the verdict says that it depends on the distance. The control
arm is pre-trained on the format only, and the lowest valid mass over every seed, arm and model
is reported; under ``MIN_VALID_MASS`` the verdict says the run left the well-formed regime.
"""

import math
from pathlib import Path

from empirical import resist_synthetic, statistics, together
from empirical.resist_synthetic import PAIRS
from empirical.train import NO_REPORT_TO
from harness.configs import ResistConfig

PROTOCOL_VERSION = 2  # 2: the format-only control, declared primary distance, sensitivity rows
# Under this valid mass more than a tenth of a model's probability is on malformed responses, which
# the exact distances set aside by renormalizing: the law compared is then not the one the model
# writes (the initialized control of version 1 had 0.19, the pre-trained arm 0.99).
MIN_VALID_MASS = 0.9
# name: (what the per-seed effect is, (forward value, inverse value) of a pair's record); > 0 always
# means the inverse path ends closer
DISTANCES = {
    "relative_kl": ("forward - inverse of KL after / KL before (exact)",
                    lambda c: (c["forward_relative"], c["inverse_relative"])),
    "kl": ("forward - inverse of the KL after the path (nats, exact)",
           lambda c: (c["forward_kl_nats"], c["inverse_kl_nats"])),
    "cross_entropy": ("forward - inverse of the cross-entropy after the path (nats/token, the paper's Table 2)",
                      lambda c: (c["forward_nats"], c["inverse_nats"])),
    "log_ratio": ("forward - inverse of log(KL after / KL before)",
                  lambda c: (_log(c["forward_relative"]), _log(c["inverse_relative"]))),
}


def _log(x: float) -> float | None:
    return math.log(x) if x > 0 else None  # a KL of 0 after the path: no log-ratio


class Resist:
    """Forward vs inverse for the run engine: one cell per seed (synthetic: every pair of that
    seed, exact) or per (seed, pair) (real models: the base, theta_1..3 and their generations
    are shared by a seed's pairs, as checkpoints and files under locks)."""

    experiment = "resist"
    protocol_version = PROTOCOL_VERSION

    def __init__(self, config: ResistConfig, device: str = "cpu", report_to: tuple[str, ...] = ()):
        if report_to and config.dataset == "synthetic":
            raise ValueError(NO_REPORT_TO)
        self.config, self.device, self.report_to = config, device, tuple(report_to)
        self._paths = None  # the real-model work of the run folder, built on first use

    def __getstate__(self):  # worker processes load the model and data themselves
        return {**self.__dict__, "_paths": None}

    @property
    def synthetic(self) -> bool:
        return self.config.dataset == "synthetic"

    def _real(self, folder: Path):
        from empirical import resist_real

        if self._paths is None or self._paths.folder != folder:
            self._paths = resist_real.Paths(self.config, self.device, self.report_to, folder)
        return self._paths

    def cells(self) -> list[str]:
        return list(self._cells())

    def _cells(self) -> dict[str, tuple]:
        """Each cell key with what it stands for, (seed, arm) or (seed, pair): keys are looked up,
        never parsed."""
        if self.synthetic:
            arms = (("", "pretrained"), ("-format", "format_only"))[:2 if self.config.no_pretraining_control else 1]
            return {f"s{seed}{suffix}": (seed, arm) for suffix, arm in arms for seed in self.config.seeds}
        return {f"s{seed}-pair_{i}{j}": (seed, (i, j)) for seed in self.config.seeds for i, j in PAIRS}

    def prepare(self, folder: Path) -> None:
        if not self.synthetic:  # the synthetic sizes were checked by the config
            self._real(folder).check()

    def run_cell(self, key: str, folder: Path) -> dict:
        seed, what = self._cells()[key]
        if self.synthetic:
            return resist_synthetic.run_seed(self.config, seed, what)
        return self._real(folder).run_pair(seed, *what, key)

    @property
    def cells_across_ranks(self) -> bool:
        """Under torchrun, ranks split the synthetic world's cells; a real model's cells train
        data-parallel on every rank (harness.engine)."""
        return self.synthetic

    def groups(self, keys: list[str]) -> list[list[str]]:
        """Synthetic cells with the ensemble trainer train together; otherwise one by one."""
        return together.groups(keys, self.synthetic and self.config.trainer == "ensemble")

    def run_group(self, keys: list[str], folder: Path) -> dict[str, dict]:
        if len(keys) == 1:
            return {keys[0]: self.run_cell(keys[0], folder)}
        cells = self._cells()
        return dict(zip(keys, resist_synthetic.run_seeds(self.config, [cells[k] for k in keys]), strict=True))

    def record_fields(self, key: str) -> tuple:
        names = ("inverse_nats", "forward_nats", "inverse_before_nats", "forward_before_nats")
        prefix = "pairs[]." if self.synthetic else ""
        fields = (*((prefix + name, "number") for name in names), (prefix + "pair", "list"))
        if self.synthetic:
            fields += (*((f"pairs[].{name}", "number") for name in EXACT), ("arm", "str"),
                       ("theta_valid_mass", "list"))
        return fields

    def summarize(self, records: dict[str, dict], folder: Path):
        if not self.synthetic:
            cells = [records[k] for k in self.cells()]
            return summarize(cells), {"cells": cells, "protocol_version": PROTOCOL_VERSION}
        ordered = [records[k] for k in self.cells()]
        flat = [{"seed": r["seed"], "arm": r["arm"], "pretrained": r["pretrained"], **pair}
                for r in ordered for pair in r["pairs"]]
        primary = self.config.primary_distance
        metrics = summarize([c for c in flat if c["pretrained"]], exact=True, distance=primary)
        control = [c for c in flat if not c["pretrained"]]
        if control:
            metrics["format_only"] = summarize(control, exact=True, distance=primary)["table2"]
            metrics["attributable"] = attributable(metrics["table2"], metrics["format_only"])
        metrics["primary_distance"] = {"name": primary, "effect": DISTANCES[primary][0], "why": PRIMARY_WHY}
        metrics["sensitivity"] = sensitivity(flat, primary)
        metrics["valid_mass"] = valid_mass(ordered)
        metrics["verdict_lines"] = verdict_lines(metrics)
        return metrics, {"cells": flat, "protocol_version": PROTOCOL_VERSION}


def n_cells(config: ResistConfig) -> int:
    return len(config.seeds) * len(PAIRS)


EXACT = ("inverse_kl_nats", "forward_kl_nats", "inverse_kl_before_nats", "forward_kl_before_nats",
         "inverse_relative", "forward_relative", "inverse_valid_mass", "forward_valid_mass")


def _verdict(gap: dict) -> str:
    return {"elasticity": "inverse closer (the paper's claim holds)",
            "opposite": "forward closer (the paper's claim fails)",
            "not resolved": "not resolved" + (" (one seed: no interval)" if gap["ci95"] is None
                                              else " (the interval covers 0)")}[statistics.verdict(gap["ci95"])]


def _gap(mine: dict, distance: str) -> dict | None:
    """forward - inverse of ``distance``, paired by seed; None where a seed's value is undefined."""
    values = {s: DISTANCES[distance][1](c) for s, c in mine.items()}
    if any(v is None for pair in values.values() for v in pair):
        return None
    return statistics.paired({s: v[0] for s, v in values.items()}, {s: v[1] for s, v in values.items()})


def summarize(cells: list[dict], exact: bool = False, distance: str = "relative_kl") -> dict:
    """Table 2's layout: per pair, the inverse and forward cross-entropies (mean and 95% t-interval
    over seeds) and, paired by seed, forward - inverse (> 0: the inverse path ends closer): of
    ``distance`` when the distances are exact, of the cross-entropies otherwise; with the
    minimal detectable effect."""
    rows = []
    distance = distance if exact else "cross_entropy"  # sampled answers: cross-entropies only
    for i, j in PAIRS:
        mine = {c["seed"]: c for c in cells if tuple(c["pair"]) == (i, j)}
        gap = _gap(mine, distance)
        if gap is None:
            raise ValueError(f"pair ({i},{j}): {distance} is undefined for a seed (a KL of 0 after a path); "
                             f"declare another primary_distance")
        row = {"pair": [i, j], "label": f"H(theta_{i}, theta'_{j}{i}) vs. H(theta_{j}, theta'_{i}{j})",
               **{name: statistics.mean_ci([c[name] for c in mine.values()])
                  for name in ("inverse_nats", "forward_nats", "inverse_before_nats", "forward_before_nats")},
               "effect": DISTANCES[distance][0],
               "forward_minus_inverse": {k: gap[k] for k in ("mean", "ci95", "n", "per_seed")},
               "minimal_detectable_effect": statistics.minimal_detectable_effect(gap["sd"], gap["n"]),
               "verdict": _verdict(gap)}
        if exact:
            row |= {name: statistics.mean_ci([c[name] for c in mine.values()]) for name in EXACT}
        rows.append(row)
    return {"table2": rows}


def attributable(with_pre: list[dict], without_pre: list[dict]) -> list[dict]:
    """Per pair, the part of forward - inverse attributable to pre-training: per seed, the gap with
    pre-training minus the gap from the format-only control (same seed, same data), paired by
    seed; Holm-adjusted over the pairs (one family)."""
    stats_, rows = [], []
    for a, b in zip(with_pre, without_pre, strict=True):
        gap_a, gap_b = a["forward_minus_inverse"]["per_seed"], b["forward_minus_inverse"]["per_seed"]
        stat = statistics.paired({s: gap_a[s] for s in gap_a}, {s: gap_b[s] for s in gap_b})
        stats_.append(stat)
        rows.append({"pair": a["pair"], "mean": stat["mean"], "ci95": stat["ci95"], "n": stat["n"],
                     "per_seed": stat["per_seed"], "verdict": {
                         "elasticity": "pre-training adds to the asymmetry", "opposite": "pre-training reduces it",
                         "not resolved": "not resolved"}[statistics.verdict(stat["ci95"])]})
    return [row | adjusted for row, adjusted in zip(rows, statistics.family(stats_), strict=True)]


PRIMARY_WHY = ("the two paths of a pair start at different distances (KL(theta_i || theta_j) is not "
               "KL(theta_j || theta_i)); KL after / KL before measures the share of its own starting gap each "
               "path has left, so both paths are read on one scale; the absolute KL carries the starting gap "
               "with it, and the cross-entropy adds the target's entropy, which differs between theta_i and "
               "theta_j (declared before the runs of protocol version 2)")
QUANTITIES = {"with pre-training": ("inverse closer", "forward closer"),
              "attributable to pre-training": ("pre-training adds to the asymmetry", "pre-training reduces it")}


def _call(row: dict, quantity: str) -> str:
    """The reading of one sensitivity row, by one rule for every distance (the primary included, so
    that the rows compare): its direction where the 95% interval excludes 0 (the rule of Table 2's
    verdicts), marked "not after Holm" where Holm's adjusted p is 0.05 or more; else not resolved."""
    if row["ci95"] is None or row["ci95"][0] <= 0 <= row["ci95"][1]:
        return "not resolved"
    direction = QUANTITIES[quantity][0 if row["mean"] > 0 else 1]
    if row["p_holm"] is None:  # no spread over seeds: no t-test
        return f"{direction} (no p-value)"
    return direction if row["p_holm"] < 0.05 else f"{direction} (not after Holm)"


def sensitivity(flat: list[dict], primary: str) -> list[dict]:
    """Every distance (the primary too) for each quantity and pair: mean, 95% interval, p and the
    p adjusted by Holm over the pairs of that distance and quantity (one family each, as the
    attributable rows), and its reading (``_call``)."""
    rows = []
    arms = {arm: {(c["seed"], tuple(c["pair"])): c for c in flat if c["arm"] == arm} for arm in ("pretrained",
                                                                                                   "format_only")}
    for distance in DISTANCES:
        for quantity in QUANTITIES:
            if quantity.startswith("attributable") and not arms["format_only"]:
                continue
            stats_ = [_quantity_stat(arms, distance, quantity, pair) for pair in PAIRS]
            defined = [s for s in stats_ if s is not None]
            adjusted = iter(statistics.family(defined)) if defined else iter(())
            for pair, stat in zip(PAIRS, stats_, strict=True):
                row = {"distance": distance, "primary": distance == primary, "quantity": quantity, "pair": list(pair)}
                if stat is None:
                    rows.append(row | {"mean": None, "ci95": None, "n": 0, "p": None, "p_holm": None,
                                       "call": "undefined (a KL of 0 after a path)"})
                    continue
                row |= {k: stat[k] for k in ("mean", "ci95", "n")} | next(adjusted)
                rows.append(row | {"call": _call(row, quantity)})
    return rows


def _quantity_stat(arms: dict, distance: str, quantity: str, pair: tuple) -> dict | None:
    gaps = {}
    for arm, cells in arms.items():
        mine = {seed: c for (seed, p), c in cells.items() if p == pair}
        gaps[arm] = _gap(mine, distance) if mine else None
    if gaps["pretrained"] is None:
        return None
    if quantity == "with pre-training":
        return gaps["pretrained"]
    if gaps["format_only"] is None:
        return None
    with_pre, control = gaps["pretrained"]["per_seed"], gaps["format_only"]["per_seed"]
    return statistics.paired({s: with_pre[s] for s in with_pre}, {s: control[s] for s in control})


def _lowest(points: list[tuple]) -> tuple[float, dict]:
    value, seed, arm, model = min(points)
    return value, {"seed": seed, "arm": arm, "model": model}


def valid_mass(records: list[dict]) -> dict:
    """The probability each model puts on well-formed responses, per seed and arm: of both paths'
    models of every pair (``min``, ``per_seed_min``, ``seeds_below``: the regime check the verdict
    reads), and of theta_1..3, which the paths start from and learn from (``theta_min``: their laws
    enter the distances and the samples renormalized, so a low one is reported, not a regime break;
    theta_0 is recorded in the cells); per arm and model the lowest and the mean over seeds."""
    paths, thetas = [], []  # (value, seed, arm, model)
    for r in records:
        thetas += [(v, r["seed"], r["arm"], f"theta_{n}") for n, v in enumerate(r["theta_valid_mass"]) if n > 0]
        for pair in r["pairs"]:
            i, j = pair["pair"]
            paths += [(pair["forward_valid_mass"], r["seed"], r["arm"], f"forward path theta'_{i}{j}"),
                      (pair["inverse_valid_mass"], r["seed"], r["arm"], f"inverse path theta'_{j}{i}")]
    by_model, per_seed = {}, {}
    for value, _, arm, model in paths + thetas:
        by_model.setdefault(arm, {}).setdefault(model, []).append(value)
    for value, seed, _, _ in paths:
        per_seed[str(seed)] = min(value, per_seed.get(str(seed), 1.0))
    low, at = _lowest(paths)
    theta_low, theta_at = _lowest(thetas)
    return {"threshold": MIN_VALID_MASS, "min": low, "at": at, "per_seed_min": per_seed,
            "seeds_below": sorted(int(s) for s, v in per_seed.items() if v < MIN_VALID_MASS),
            "theta_min": theta_low, "theta_at": theta_at,
            "theta_below": sorted({(arm, seed) for v, seed, arm, _ in thetas if v < MIN_VALID_MASS}),
            "by_arm": {arm: {model: {"min": min(v), "mean": sum(v) / len(v)} for model, v in models.items()}
                       for arm, models in by_model.items()}}


def _theta_warning(v: dict) -> str:
    """Where a theta is under the threshold: the paths learn from its samples and are measured on
    its law, both renormalized over well-formed responses, so they stay in the regime; the theta
    itself writes malformed responses, which the control was meant to exclude. Said, per arm."""
    if not v["theta_below"]:
        return ""
    counts = {}
    for arm, _ in v["theta_below"]:
        counts[arm] = counts.get(arm, 0) + 1
    each = ", ".join(f"{arm} in {n} seeds" for arm, n in sorted(counts.items()))
    return (f"; BELOW {v['threshold']:g} ({each}): those thetas write malformed responses, and what the paths "
            f"learn from and are measured on is their law renormalized over well-formed ones")


def verdict_lines(metrics: dict) -> list[str]:
    """What the run says, in lines: whether every model stayed on well-formed responses, then per
    quantity and pair the primary distance's reading and whether the other distances agree."""
    v = metrics["valid_mass"]

    def where(at: dict) -> str:
        return f"seed {at['seed']}, {at['arm']}, {at['model']}"

    if v["min"] >= v["threshold"]:
        regime = f"every path of every arm stays on well-formed responses (>= {v['threshold']:g})"
    else:
        regime = (f"BELOW {v['threshold']:g} in {len(v['seeds_below'])} seeds: a path left the well-formed regime, "
                  f"and the distances, renormalized over well-formed responses, do not describe what it writes; "
                  f"read the verdict with that")
    lines = [f"valid mass after a path: lowest {v['min']:.4f} over every seed, arm and path ({where(v['at'])}); "
             f"{regime}",
             f"valid mass of theta_1..3 (the paths' starts and teachers, renormalized): lowest {v['theta_min']:.4f} "
             f"({where(v['theta_at'])})" + _theta_warning(v)]
    primary = metrics["primary_distance"]["name"]
    for quantity in QUANTITIES:
        for pair in PAIRS:
            rows = [r for r in metrics["sensitivity"] if r["quantity"] == quantity and tuple(r["pair"]) == pair]
            if not rows:
                continue
            calls = {r["distance"]: r["call"] for r in rows}
            head = f"pair {pair[0]},{pair[1]}, {quantity}: "
            if len(set(calls.values())) == 1:
                lines.append(head + f"{calls[primary]} on every distance")
            else:
                each = "; ".join(f"{r['distance']}{' (primary)' if r['primary'] else ''} {r['call']}"
                                 + ("" if r["p_holm"] is None else f" (Holm p {r['p_holm']:.2g})") for r in rows)
                lines.append(head + f"depends on the distance: {each}")
    return lines
