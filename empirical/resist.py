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
exact KLs; one cell per seed; the effect per seed is forward - inverse of the relative KLs,
> 0: the inverse path ends relatively closer, the paper's claim) and ``empirical.resist_real``
(a local model and dataset; cross-entropies on sampled answers; one cell per (seed, pair)).
"""

from pathlib import Path

from empirical import resist_synthetic, statistics
from empirical.resist_synthetic import PAIRS
from empirical.train import NO_REPORT_TO
from harness.configs import ResistConfig


class Resist:
    """Forward vs inverse for the run engine: one cell per seed (synthetic: every pair of that
    seed, exact) or per (seed, pair) (real models: the base, theta_1..3 and their generations
    are shared by a seed's pairs, as checkpoints and files under locks)."""

    experiment = "resist"

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
        if self.synthetic:
            arms = ("", "-nopre") if self.config.no_pretraining_control else ("",)
            return [f"s{seed}{arm}" for arm in arms for seed in self.config.seeds]
        return [f"s{seed}-pair_{i}{j}" for seed in self.config.seeds for i, j in PAIRS]

    def prepare(self, folder: Path) -> None:
        if not self.synthetic:  # the synthetic sizes were checked by the config
            self._real(folder).check()

    def run_cell(self, key: str, folder: Path) -> dict:
        if self.synthetic:
            seed, _, arm = key[1:].partition("-")
            return resist_synthetic.run_seed(self.config, int(seed), pretrained=arm != "nopre")
        seed_text, pair_text = key.split("-pair_")
        return self._real(folder).run_pair(int(seed_text[1:]), int(pair_text[0]), int(pair_text[1]), key)

    def record_fields(self, key: str) -> tuple:
        names = ("inverse_nats", "forward_nats", "inverse_before_nats", "forward_before_nats")
        prefix = "pairs[]." if self.synthetic else ""
        fields = (*((prefix + name, "number") for name in names), (prefix + "pair", "list"))
        if self.synthetic:
            fields += tuple((f"pairs[].{name}", "number") for name in EXACT)
        return fields

    def summarize(self, records: dict[str, dict], folder: Path):
        if not self.synthetic:
            cells = [records[k] for k in self.cells()]
            return summarize(cells), {"cells": cells}
        flat = [{"seed": r["seed"], "pretrained": r["pretrained"], **pair}
                for r in (records[k] for k in self.cells()) for pair in r["pairs"]]
        metrics = summarize([c for c in flat if c["pretrained"]], exact=True)
        without = [c for c in flat if not c["pretrained"]]
        if without:
            metrics["without_pretraining"] = summarize(without, exact=True)["table2"]
            metrics["attributable"] = attributable(metrics["table2"], metrics["without_pretraining"])
        return metrics, {"cells": flat}


def n_cells(config: ResistConfig) -> int:
    return len(config.seeds) * len(PAIRS)


EXACT = ("inverse_kl_nats", "forward_kl_nats", "inverse_kl_before_nats", "forward_kl_before_nats",
         "inverse_relative", "forward_relative", "inverse_valid_mass", "forward_valid_mass")


def _verdict(gap: dict) -> str:
    return {"elasticity": "inverse closer (the paper's claim holds)",
            "opposite": "forward closer (the paper's claim fails)",
            "not resolved": "not resolved" + (" (one seed: no interval)" if gap["ci95"] is None
                                              else " (the interval covers 0)")}[statistics.verdict(gap["ci95"])]


def summarize(cells: list[dict], exact: bool = False) -> dict:
    """Table 2's layout: per pair, the inverse and forward cross-entropies (mean and 95% t-interval
    over seeds) and, paired by seed, forward - inverse (> 0: the inverse path ends closer): of
    the relative KL when the distances are exact, of the cross-entropies otherwise; with the
    minimal detectable effect."""
    rows = []
    for i, j in PAIRS:
        mine = {c["seed"]: c for c in cells if tuple(c["pair"]) == (i, j)}
        key = "relative" if exact else "nats"
        gap = statistics.paired({s: c[f"forward_{key}"] for s, c in mine.items()},
                                {s: c[f"inverse_{key}"] for s, c in mine.items()})
        row = {"pair": [i, j], "label": f"H(theta_{i}, theta'_{j}{i}) vs. H(theta_{j}, theta'_{i}{j})",
               **{name: statistics.mean_ci([c[name] for c in mine.values()])
                  for name in ("inverse_nats", "forward_nats", "inverse_before_nats", "forward_before_nats")},
               "effect": "forward - inverse of " + ("KL after / KL before (exact)" if exact
                                                    else "the cross-entropies (nats/token)"),
               "forward_minus_inverse": {k: gap[k] for k in ("mean", "ci95", "n", "per_seed")},
               "minimal_detectable_effect": statistics.minimal_detectable_effect(gap["sd"], gap["n"]),
               "verdict": _verdict(gap)}
        if exact:
            row |= {name: statistics.mean_ci([c[name] for c in mine.values()]) for name in EXACT}
        rows.append(row)
    return {"table2": rows}


def attributable(with_pre: list[dict], without_pre: list[dict]) -> list[dict]:
    """Per pair, the part of forward - inverse attributable to pre-training: per seed, the gap with
    pre-training minus the gap from the never-pre-trained base (same seed, same data), paired by
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
