"""Every experiment's configuration as plain data (no torch, no numpy): the synthetic world,
model sizes, the rebound, the forward-vs-inverse experiment and the counterfactual.

Each field is declared once (``harness.params``): type, default, constraint, unit and one line
of help. A config checks itself when it is built, the declared constraints first and then the
few rules between fields (``check``), so a config that exists can be run and nothing
downstream checks again. ``harness.overrides`` builds them from ``--set``, YAML or a result's
stored config; ``elasticity config params EXPERIMENT`` lists the declarations.
"""

import math
from dataclasses import dataclass, field

from harness.overrides import as_plain
from harness.params import Declared, Flag, Grid, Interval, OneOf, Text, param


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


MAX_SEED = 2**63 - 1  # numpy's generators take any; torch.manual_seed needs < 2^64
SEED = Interval(int, 0, MAX_SEED)
SEEDS = Grid(SEED, max_length=10_000)  # more is a typo that would run for months
COUNT = Interval(int, 1, 10**8)  # examples, steps, batches: beyond 1e8 a typo that exhausts the machine
LEARNING_RATE = Interval(float, 0.0, 1.0, closed="high")  # AdamW beyond 1 diverges at once
NON_NEGATIVE = Interval(float, 0.0, 1e6)
MIN_WINDOW_STEPS = 8  # a primary window below this is a few sign-like AdamW steps, not a fine-tuning curve


@dataclass(frozen=True, kw_only=True)
class ModelSize:
    hidden: int
    layers: int
    heads: int


MODEL_SIZES = {
    "tiny": ModelSize(hidden=32, layers=2, heads=2),  # about 21k parameters
    "small": ModelSize(hidden=64, layers=2, heads=4),  # about 75k
    "medium": ModelSize(hidden=128, layers=4, heads=4),  # about 0.6M
    "gpu-100m": ModelSize(hidden=768, layers=17, heads=12),  # about 100M: the GPU check's size
}
MODEL_SIZE_NAMES = tuple(MODEL_SIZES)


WORLD_LAWS = ("zipf", "pareto")
# Bounds on what a world allocates (checked when the config is built, before anything is written):
# the enumerated responses (content_vocab ** response_length <= 2^20, a few MB per law), the
# embedding rows (4 + prompt_vocab + content_vocab) and the distinct prompts enumerated for scoring.
MAX_PROMPT_VOCAB = 10_000
MAX_PROMPT_LENGTH = 8
MAX_CONTENT_VOCAB = 1_024
MAX_RESPONSE_LENGTH = 21


@dataclass(frozen=True, kw_only=True)
class WorldConfig(Declared):
    """The synthetic world (``empirical.world``). Defaults are chosen for structure a small
    model can learn and return to (docs/experiments.md): V = 6 content tokens, responses of
    L = 3 (M = 216 responses, 108 per style), Zipf masses with s = 1, so that D_pre's KL to
    the uniform law is about 0.28 nats per token (at f = 0.5)."""

    seed: int = param(0, SEED, "the world family; each run seed draws its own world from it")
    content_vocab: int = param(6, Interval(int, 2, MAX_CONTENT_VOCAB),
                               "V content tokens, even; the first V // 2 are the positive style's", unit="tokens")
    response_length: int = param(3, Interval(int, 1, MAX_RESPONSE_LENGTH), "L, the response length, odd",
                                 unit="tokens")
    prompt_vocab: int = param(8, Interval(int, 1, MAX_PROMPT_VOCAB), "distinct prompt tokens", unit="tokens")
    prompt_length: int = param(1, Interval(int, 0, MAX_PROMPT_LENGTH), "prompt length", unit="tokens")
    law: str = param("zipf", OneOf(WORLD_LAWS),
                     "leaf masses per style: zipf (rank^-s over a seeded order) or pareto (iid)")
    zipf_s: float = param(1.0, Interval(float, 0.0, 10.0, closed="high"), "Zipf exponent s of the leaf masses",
                          applies=lambda c: c.law == "zipf", when="with law=zipf")
    alpha: float = param(3.0, Interval(float, 1.0, 100.0, closed="high"),
                         "Pareto tail index of the leaf masses (> 1: E[X] diverges otherwise)",
                         applies=lambda c: c.law == "pareto", when="with law=pareto")
    n_pre: int = param(20_000, COUNT, "|D_pre|, pre-training examples", unit="examples")
    pre_positive_fraction: float = param(0.5, Interval(float, 0.0, 1.0), "f, the positive style's share of D_pre")
    n_align: int = param(10_000, COUNT, "|D_align|, alignment (positive-style) examples", unit="examples")
    n_perturb: int = param(2_000, COUNT, "|D_perturb|, perturbation (negative-style) examples", unit="examples")
    n_held_out: int = param(1_000, COUNT, "held-out examples per dataset (code lengths)", unit="examples")

    def check(self):
        v, length = self.content_vocab, self.response_length
        _require(v % 2 == 0, f"content_vocab must be even (two styles of V / 2 tokens), got {v}")
        _require(length % 2 == 1, f"response_length must be odd (a response's style is its majority), got {length}")
        _require(v**length <= 2**20, f"content_vocab ** response_length must be <= 2^20 (exact enumeration: "
                                     f"{v}^{length} responses would need about {v**length * 24 / 2**30:.1f} GiB "
                                     f"per law and prompt)")

    def as_dict(self) -> dict:
        return as_plain(self)

    @property
    def vocab_size(self) -> int:
        return 4 + self.prompt_vocab + self.content_vocab  # PAD, BOS, SEP, EOS first

    @property
    def sequence_length(self) -> int:
        return 1 + self.prompt_length + 1 + self.response_length + 1

    @property
    def distinct_prompts(self) -> int:
        """How many different prompts the world has (prompt_vocab ** prompt_length)."""
        return self.prompt_vocab ** self.prompt_length

    @property
    def response_start(self) -> int:
        """Index of the first response token in a sequence."""
        return 2 + self.prompt_length


@dataclass(frozen=True, kw_only=True)
class PretrainConfig(Declared):
    """Pre-training from scratch on a world's D_pre (``empirical.trajectory.pretrain``): AdamW,
    ``steps`` batches of ``batch`` examples, the learning rate decayed linearly from ``lr`` to 0.
    Shared by every experiment that pre-trains (rebound, resist, counterfactual)."""

    steps: int = param(300, Interval(int, 1, 10**7), "AdamW steps", unit="steps")
    batch: int = param(128, Interval(int, 1, 65_536), "examples per step", unit="examples")
    lr: float = param(5e-3, LEARNING_RATE, "peak learning rate (decayed linearly to 0)")


REBOUND_VARIANTS = ("sft", "dpo", "reversed")
REBOUND_DATASETS = ("synthetic", "imdb", "safe-rlhf")
RESIST_DATASETS = ("synthetic", "alpaca", "qa", "safe-rlhf")
SCORERS = ("vader", "classifier", "cost")
Q2_MODES = ("trajectory", "fixed-steps")
ALIGNMENTS = ("target", "dose")
ENDPOINT_UNITS = ("logit", "probability")
UNREACHED_RULES = ("exclude", "keep")
K_MODES = ("steps", "epochs", "both")
SCHEDULERS = ("linear", "constant", "cosine", "constant_with_warmup", "cosine_with_restarts", "polynomial")
NO_PRETRAINING = ("auto", "on", "off")


def default_scorer(dataset: str) -> str:
    """vader for IMDb (offline); a cost model for safe-rlhf (no offline stand-in for safety)."""
    return {"imdb": "vader", "safe-rlhf": "cost"}.get(dataset, "vader")


def _real(config) -> bool:
    return config.dataset != "synthetic"


REAL = dict(applies=_real, when="to a real model and dataset (--model-path, --dataset), not to the synthetic world")
WARMUP = dict(applies=lambda c: bool(c.warmup_data_dir), when="with warmup_data_dir (a real model's warm-up)")
MAX_ENUMERATED_PROMPTS = 4096  # resist scores every prompt of the world exactly


def _model_path(default: str = ""):
    return param(default, Text(path=True), "a local causal LM folder (nothing is downloaded)", **REAL)


# the fields shared by the experiments that run on real models: (default, constraint, help)
REAL_FIELDS = {
    "data_dir": ("", Text(path=True), "a local dataset folder or file set"),
    "columns": ("", Text(), "'wanted=found,...' when the files name the format's columns otherwise"),
    "lora_rank": (0, Interval(int, 0, 4096), "0: full fine-tuning; r > 0: LoRA of rank r"),
    "trust_remote_code": (False, Flag(), "allow code shipped with the model to run"),
}


def _real_field(name: str):
    """A real-model field's declaration (``field`` objects are per class: each class calls this)."""
    return param(*REAL_FIELDS[name], **REAL)


TRAINERS = ("ensemble", "loop")


def _trainer(**applicability):
    return param("ensemble", OneOf(TRAINERS),
                 "how the models train: ensemble (a group of cells in one batched step, "
                 "empirical.together) or loop (one HF model after another, the reference)", **applicability)


def _q2_mode():
    return param("trajectory", OneOf(Q2_MODES), "trajectory: one path measured at each Q2; fixed-steps: a run per Q2")


def _fixed_steps():
    return param(32, Interval(int, 1, 10**6), "steps per Q2 point in fixed-steps mode", unit="steps",
                 applies=lambda c: c.q2_mode == "fixed-steps", when="with q2_mode=fixed-steps")


def _check_real(config) -> None:
    _require(not _real(config) or bool(config.model_path),
             f"--dataset {config.dataset} needs --model-path (a real dataset needs a real model)")
    _require(not _real(config) or bool(config.data_dir),
             f"--dataset {config.dataset} needs --data-dir (a folder of local files)")


@dataclass(frozen=True, kw_only=True)
class ReboundConfig(Declared):
    """The rebound experiment (``empirical.rebound``): per seed, a model pre-trained on its
    world's D_pre, fine-tuned on Q1 examples of one style, then on the other style along one
    trajectory measured at every Q2; controls: never pre-trained on the world's laws (pre-trained
    on its format only), and no first stage."""

    world: WorldConfig = field(default_factory=lambda: WorldConfig(n_pre=20_000, n_align=1_024, n_perturb=1_024,
                                                                   n_held_out=200))
    variant: str = param("sft", OneOf(REBOUND_VARIANTS),
                         "sft: positive then negative SFT; dpo: negative chosen over positive; reversed: "
                         "negative first")
    model_size: str = param("tiny", OneOf(MODEL_SIZE_NAMES), "the model's named size (synthetic world)")
    trainer: str = _trainer(applies=lambda c: c.dataset == "synthetic", when="with the synthetic dataset")
    q1: tuple[int, ...] = param((64, 128, 256), Grid(COUNT), "Q1, first-stage examples", unit="examples")
    q2: tuple[int, ...] = param((16, 32, 64, 128, 256, 512), Grid(COUNT), "Q2, second-stage examples",
                                unit="examples")
    q2_mode: str = _q2_mode()
    fixed_steps: int = _fixed_steps()
    seeds: tuple[int, ...] = param((0, 1, 2), SEEDS, "run seeds (each draws its world and initialization)")
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    first_lr: float = param(2e-3, LEARNING_RATE, "first stage's constant learning rate, one pass")
    second_lr: float = param(1e-3, LEARNING_RATE, "second stage's constant learning rate, one pass")
    batch_size: int = param(16, Interval(int, 1, 65_536), "examples per fine-tuning step", unit="examples")
    dpo_beta: float = param(0.1, Interval(float, 0.0, 100.0, closed="high"), "DPO's beta",
                            applies=lambda c: c.variant == "dpo", when="with variant=dpo")
    eval_prompts: int = param(0, Interval(int, 0, 10_000),
                              "prompts scored (0: the dataset's default, 1 synthetic, 16 real)", unit="prompts")
    controls: bool = param(True, Flag(), "also run the controls (format-only pre-training; no first stage)")
    min_valid_mass: float = param(0.5, Interval(float, 0.0, 1.0, closed="low"),
                                  "a point where the model puts less mass on valid responses is withheld")
    k_fit_points: int = param(3, Interval(int, 2, 1000),
                              "Q2 points (after 0) that fit the code-length slopes of the effective k", unit="points")
    dataset: str = param("synthetic", OneOf(REBOUND_DATASETS), "synthetic: the offline world; else local files")
    model_path: str = _model_path()
    data_dir: str = _real_field("data_dir")
    columns: str = _real_field("columns")
    scorer: str = param("", OneOf(("", *SCORERS)), "'' = the dataset's default (vader for imdb, cost for safe-rlhf)",
                        **REAL)
    scorer_path: str = param("", Text(path=True), "the classifier or cost model folder", **REAL)
    lora_rank: int = _real_field("lora_rank")
    max_length: int = param(256, Interval(int, 8, 1 << 20), "tokens of prompt + completion", unit="tokens", **REAL)
    max_new_tokens: int = param(48, Interval(int, 1, 1 << 16), "tokens sampled per response", unit="tokens", **REAL)
    trust_remote_code: bool = _real_field("trust_remote_code")

    def __post_init__(self):
        if _real(self) and not self.scorer:  # resolved, so that the default and its name are one run
            object.__setattr__(self, "scorer", default_scorer(self.dataset))
        super().__post_init__()

    def check(self):
        _check_real(self)
        _require(self.q2_mode == "trajectory" or self.variant != "dpo", "DPO runs as a trajectory only")
        if not self.synthetic:
            return  # sizes are checked against the files when they are read
        _require(self.k_fit_points <= len(self.q2),
                 f"k_fit_points must lie in [2, {len(self.q2)}] (the Q2 grid), got {self.k_fit_points}")
        first, second = self.stage_sizes()
        _require(max(self.q1) <= first, f"Q1 = {max(self.q1)} is larger than the first-stage set ({first} examples)")
        _require(max(self.q2) <= second,
                 f"Q2 = {max(self.q2)} is larger than the second-stage set ({second} examples)")
        _require(self.batch_size <= min(first, second),
                 f"batch_size {self.batch_size} is larger than a stage's set ({min(first, second)} examples)")
        _require(self.pretrain.batch <= self.world.n_pre,
                 f"pretrain.batch {self.pretrain.batch} is larger than D_pre (world.n_pre = {self.world.n_pre})")
        _require(self.variant != "dpo" or max(self.q1) + max(self.q2) <= first,
                 f"DPO rejects first-style examples the first stage did not see: needs max Q1 + max Q2 <= "
                 f"{first}, got {max(self.q1) + max(self.q2)}")
        _require(self.prompts_to_score <= self.world.distinct_prompts,
                 f"eval_prompts must be <= {self.world.distinct_prompts} (the distinct prompts)")

    @property
    def prompts_to_score(self) -> int:
        """eval_prompts, or the dataset's default: 1 in the synthetic world (responses do not
        depend on prompts), 16 on real data."""
        return self.eval_prompts or (1 if self.synthetic else 16)

    def stage_sizes(self) -> tuple[int, int]:
        w = self.world
        return (w.n_perturb, w.n_align) if self.variant == "reversed" else (w.n_align, w.n_perturb)

    @property
    def synthetic(self) -> bool:
        return self.dataset == "synthetic"

    def as_dict(self) -> dict:
        return as_plain(self)


RESIST_DISTANCES = ("relative_kl", "kl", "cross_entropy", "log_ratio")  # empirical.resist.DISTANCES


@dataclass(frozen=True, kw_only=True)
class ResistConfig(Declared):
    """Forward against inverse alignment (``empirical.resist``; the paper's Appendix E). On the
    synthetic world every distance is exact (enumeration); on real models, cross-entropies on
    sampled answers."""

    dataset: str = param("synthetic", OneOf(RESIST_DATASETS), "synthetic: the world's alignment set; else local files")
    model_path: str = _model_path()
    data_dir: str = _real_field("data_dir")
    columns: str = _real_field("columns")
    warmup_data_dir: str = param("", Text(path=True), "an Alpaca-format folder for the instruction warm-up", **REAL)
    world: WorldConfig = field(default_factory=lambda: WorldConfig(n_pre=20_000, n_align=2_048, n_perturb=16,
                                                                   n_held_out=50))
    model_size: str = param("tiny", OneOf(MODEL_SIZE_NAMES), "the synthetic base's named size")
    trainer: str = _trainer(applies=lambda c: not _real(c), when="with the synthetic dataset")
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    seeds: tuple[int, ...] = param((0, 1, 2), SEEDS, "run seeds")
    part_size: int = param(0, Interval(int, 0, 10**8), "examples per part (0: a quarter of the training pairs)",
                           unit="examples")
    no_pretraining: str = param("auto", OneOf(NO_PRETRAINING),
                                "the control without pre-training on the world's laws (pre-trained as long on its "
                                "format only): auto = on for the synthetic world, off for real models")
    primary_distance: str = param("relative_kl", OneOf(RESIST_DISTANCES),
                                  "the distance the verdict reads (synthetic world); the others are sensitivity rows")
    eval_prompts: int = param(200, Interval(int, 2, 100_000), "test prompts the answers are measured on (Table 1)",
                              unit="prompts", **REAL)
    warmup_lr: float = param(1e-5, LEARNING_RATE, "instruction warm-up's learning rate (Table 1)", **WARMUP)
    warmup_epochs: int = param(3, Interval(int, 1, 1000), "instruction warm-up's epochs", unit="epochs", **WARMUP)
    warmup_scheduler: str = param("cosine", OneOf(SCHEDULERS), "instruction warm-up's schedule", **WARMUP)
    sequential_lr: float = param(1e-5, LEARNING_RATE, "learning rate of the sequential fine-tuning into theta_1..3")
    sequential_epochs: int = param(1, Interval(int, 1, 1000), "epochs of each sequential stage", unit="epochs")
    sequential_scheduler: str = param("constant", OneOf(SCHEDULERS), "the sequential stages' schedule", **REAL)
    path_lr: float = param(3e-6, LEARNING_RATE, "learning rate of each forward and inverse path")
    path_epochs: int = param(2, Interval(int, 1, 1000), "epochs of each path", unit="epochs")
    path_scheduler: str = param("constant", OneOf(SCHEDULERS), "the paths' schedule", **REAL)
    batch_size: int = param(8, Interval(int, 1, 65_536), "examples per step", unit="examples")
    top_k: int = param(30, Interval(int, 1, 1 << 20), "sampling's top-k", **REAL)
    top_p: float = param(0.9, Interval(float, 0.0, 1.0, closed="high"), "sampling's top-p", **REAL)
    temperature: float = param(1.0, Interval(float, 0.0, 100.0, closed="high"),
                               "the paths learn from samples at this temperature")
    max_new_tokens: int = param(256, Interval(int, 1, 1 << 16), "tokens per answer (Table 1)", unit="tokens", **REAL)
    max_length: int = param(1024, Interval(int, 8, 1 << 20), "tokens of prompt + answer", unit="tokens", **REAL)
    lora_rank: int = _real_field("lora_rank")
    trust_remote_code: bool = _real_field("trust_remote_code")

    def check(self):
        _check_real(self)
        _require(self.no_pretraining != "on" or self.dataset == "synthetic",
                 "no_pretraining=on needs the synthetic world (a real model's never-pre-trained twin is not built)")
        if self.dataset == "synthetic":
            part = self.part_size or self.world.n_align // 4
            _require(part >= 1 and 4 * part <= self.world.n_align,
                     f"four parts of {part} examples need world.n_align >= {4 * part}")
            _require(self.batch_size <= part, f"batch_size {self.batch_size} is larger than a part ({part} examples)")
            _require(self.world.distinct_prompts <= MAX_ENUMERATED_PROMPTS,
                     f"world.prompt_vocab ** world.prompt_length must be <= {MAX_ENUMERATED_PROMPTS} (every prompt is "
                     f"scored exactly), got {self.world.distinct_prompts}")
            _require(self.pretrain.batch <= self.world.n_pre,
                     f"pretrain.batch {self.pretrain.batch} is larger than D_pre (world.n_pre = {self.world.n_pre})")

    @property
    def no_pretraining_control(self) -> bool:
        """Whether the run includes the never-pre-trained control ("auto": the synthetic world only)."""
        return self.no_pretraining == "on" or (self.no_pretraining == "auto" and self.dataset == "synthetic")

    def as_dict(self) -> dict:
        return as_plain(self)


@dataclass(frozen=True, kw_only=True)
class EndpointConfig(Declared):
    """The counterfactual's primary endpoint, declared before the confirmatory run (its verdict
    reads this and nothing else): per seed, the mean over these Q2 checkpoints of drop(low f) -
    drop(high f), in these units, for this alignment variant at this perturbation learning rate.
    The default window, Q2 = 128 in logit units (8 AdamW steps at batch 16), is what the
    pre-declared rule (``empirical.counterfactual_stats.choose_window``) chooses on the calibration
    seeds 0-15: the earliest Q2 of at least 8 optimizer steps at which the in-window control (the
    output-space anchor) is detected with an effect of at least the margin (docs/experiments.md;
    a test checks the committed calibration result against this declaration)."""

    q2: tuple[int, ...] = param((128,), Grid(COUNT), "the Q2 checkpoints averaged (at least 8 optimizer steps)",
                                unit="examples")
    units: str = param("logit", OneOf(ENDPOINT_UNITS), "the score's scale")
    alignment: str = param("target", OneOf(ALIGNMENTS), "target: aligned to a common score; dose: a common Q1")
    second_lr: float = param(1e-3, LEARNING_RATE, "the perturbation's learning rate the endpoint reads")


@dataclass(frozen=True, kw_only=True)
class CounterfactualConfig(Declared):
    """The counterfactual pre-training experiment (``empirical.counterfactual``): arms that
    differ only in the positive share f of their pre-training data, aligned alike, perturbed
    alike; positive controls; the k axis. See docs/experiments.md."""

    world: WorldConfig = field(default_factory=lambda: WorldConfig(n_pre=20_000, n_align=512, n_perturb=512,
                                                                   n_held_out=200))
    model_size: str = param("tiny", OneOf(MODEL_SIZE_NAMES), "the model's named size")
    trainer: str = _trainer()
    seeds: tuple[int, ...] = param(tuple(range(10)), SEEDS, "run seeds (each draws its world)")
    fractions: tuple[float, ...] = param((0.2, 0.5, 0.8), Grid(Interval(float, 0.0, 1.0), min_length=2),
                                         "f of each arm's D_pre (the positive style's share)")
    placebo: bool = param(True, Flag(), "an arm at the middle f with another pre-training sample of the same law")
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    align_lr: float = param(2e-3, LEARNING_RATE, "alignment's constant learning rate")
    align_batch: int = param(16, Interval(int, 1, 65_536), "alignment's examples per step", unit="examples")
    q1_dose: int = param(64, COUNT, "the dose-matched variant: every arm sees these Q1 alignment examples",
                         unit="examples")
    q1_max: int = param(512, COUNT, "the target-matched variant: alignment stops at target_score or here",
                        unit="examples")
    target_score: float = param(0.85, Interval(float, 0.0, 1.0, closed="neither"),
                                "the score every arm is aligned to (probability of the positive style)")
    second_lrs: tuple[float, ...] = param((1e-3,), Grid(LEARNING_RATE), "the perturbation's constant learning rates")
    second_batch: int = param(16, Interval(int, 1, 65_536), "the perturbation's examples per step", unit="examples")
    q2: tuple[int, ...] = param((16, 32, 64, 128, 256, 512), Grid(COUNT), "Q2 checkpoints of the perturbation",
                                unit="examples")
    q2_mode: str = _q2_mode()
    fixed_steps: int = _fixed_steps()
    primary_endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    sesoi: float = param(0.2, Interval(float, 0.0, 1e3, closed="high"),
                         "smallest effect of interest (the equivalence margin), in the endpoint's units")
    unreached: str = param("exclude", OneOf(UNREACHED_RULES),
                           "seeds whose extreme arm never reaches the target: exclude (counted) or keep at q1_max")
    anchor_beta: tuple[float, ...] = param((3.0, 10.0, 30.0),
                                           Grid(Interval(float, 0.0, 1e6, closed="high"), min_length=0),
                                           "in-window control: beta of KL(model || theta_pre) per response token")
    dose_align_lr: float = param(1e-3, Interval(float, 0.0, 1.0),
                                 "the dose arm: the middle f aligned to the target at this rate too (0: none)")
    spring: tuple[float, ...] = param((0.0, 1.0, 3.0, 10.0, 30.0), Grid(NON_NEGATIVE),
                                      "late-window control: weight of the L2 spring to theta_pre (0: none)")
    replay: bool = param(True, Flag(), "late-window control: replay of the arm's own D_pre and the alignment set")
    replay_fraction: float = param(0.5, Interval(float, 0.0, 1.0, closed="neither"),
                                   "share of replayed examples in each batch",
                                   applies=lambda c: c.replay, when="with replay=true")
    k_sizes: tuple[int, ...] = param((640, 64_000), Grid(COUNT, min_length=0),
                                     "more |D_pre| values at the middle f: the k axis", unit="examples")
    k_mode: str = param("steps", OneOf(K_MODES), "the k axis: same steps, same epochs, or both")
    joint: bool = param(False, Flag(),
                        "per size, an arm pre-trained on D_pre and the first q1_dose alignment examples together")
    k_fit_points: int = param(3, Interval(int, 2, 1000),
                              "Q2 points (after 0) that fit the code-length slopes of effective k", unit="points")
    eval_prompts: int = param(1, Interval(int, 1, 10_000), "prompts scored", unit="prompts")

    def check(self):
        w = self.world
        _require(self.q1_dose <= self.q1_max <= w.n_align,
                 f"need q1_dose <= q1_max <= world.n_align, got {self.q1_dose}, {self.q1_max}, {w.n_align}")
        _require(max(self.q2) <= w.n_perturb,
                 f"Q2 = {max(self.q2)} is larger than the perturbation set (world.n_perturb = {w.n_perturb})")
        _require(self.pretrain.batch <= w.n_pre,
                 f"pretrain.batch {self.pretrain.batch} is larger than D_pre (world.n_pre = {w.n_pre})")
        _require(max(self.align_batch, self.second_batch) <= min(w.n_align, w.n_perturb),
                 f"align_batch and second_batch must be <= {min(w.n_align, w.n_perturb)} (the alignment and "
                 f"perturbation sets)")
        e = self.primary_endpoint
        _require(set(e.q2) <= set(self.q2),
                 f"primary_endpoint.q2 {list(e.q2)} must be checkpoints of the Q2 grid {list(self.q2)}")
        steps = [self.steps_at(q) for q in e.q2]
        _require(min(steps) >= MIN_WINDOW_STEPS,
                 f"primary_endpoint.q2 {list(e.q2)} is {min(steps)} optimizer steps into the perturbation; a primary "
                 f"window needs at least {MIN_WINDOW_STEPS} (fewer is a few sign-like AdamW steps, not a curve)")
        _require(e.second_lr in self.second_lrs,
                 f"primary_endpoint.second_lr {e.second_lr!r} must be one of second_lrs {list(self.second_lrs)}")
        controls = bool(self.anchor_beta) or max(self.spring) > 0 or self.replay
        _require(self.q2_mode == "trajectory" or not controls,
                 "the positive controls (anchor_beta, spring, replay) run along a trajectory; with "
                 "q2_mode=fixed-steps set anchor_beta= spring=0 replay=false (the verdict then has no control)")
        _require(self.k_fit_points <= len(self.q2),
                 f"k_fit_points must lie in [2, {len(self.q2)}] (the Q2 grid), got {self.k_fit_points}")
        _require(self.eval_prompts <= w.distinct_prompts,
                 f"eval_prompts must be <= {w.distinct_prompts} (the distinct prompts)")
        _require(w.n_pre not in self.k_sizes, "k_sizes must not repeat world.n_pre (that arm exists)")

    def steps_at(self, q2: int) -> int:
        """The perturbation's optimizer steps when it reaches checkpoint ``q2`` of the grid:
        ``fixed_steps`` in fixed-steps mode; along a trajectory, the batches of each segment between
        checkpoints, cut at the checkpoint (as ``empirical.trajectory`` draws them)."""
        if self.q2_mode == "fixed-steps":
            return self.fixed_steps
        bounds = [0, *sorted(q for q in self.q2 if q <= q2)]
        return sum(math.ceil((b - a) / self.second_batch) for a, b in zip(bounds, bounds[1:], strict=False))

    @property
    def middle(self) -> float:
        """The f of the placebo and the k axis: the middle of the sorted fractions."""
        return sorted(self.fractions)[len(self.fractions) // 2]

    def as_dict(self) -> dict:
        return as_plain(self)


THEOREM_WORLDS = ("iid", "cascade")
THEOREM_MODELS = ("loglinear", "llama")
MAX_THEOREM_LEAVES = 2**15  # M = V^L: the gpu preset's largest world (32768 leaves)


PROBABILITY_SCALE = Interval(float, 0.0, 1.0, closed="neither")  # a relative tolerance or margin


@dataclass(frozen=True, kw_only=True)
class TheoremConfig(Declared):
    """The theorem experiment (``empirical.theorem``): models of declared capacity trained to
    stationarity on the exact objective k N_1 + N_2 + l N_3 over a Pareto-mass world; observed
    slopes dN_j/dl at l = 0 against the optimum's and the pruned tree's. docs/experiments.md."""

    family: str = param("iid", OneOf(THEOREM_WORLDS),
                        "world: iid Pareto leaf masses (Assumption C.15) or a multiplicative cascade")
    alphas: tuple[float, ...] = param((3.0, 4.0), Grid(Interval(float, 1.1, 20.0)),
                                      "Pareto tail indices of the leaf masses (theory.exact's range)")
    ks: tuple[float, ...] = param((10.0, 1000.0), Grid(Interval(float, 0.0, 1e12, closed="high")),
                                  "k = |D_1|/|D_2|, on both sides of k*(alpha)")
    V: int = param(6, Interval(int, 2, 1024), "content tokens per position", unit="tokens")
    L: int = param(4, Interval(int, 2, 16), "response length: M = V^L leaves", unit="tokens")
    world_seeds: tuple[int, ...] = param((0, 1), SEEDS, "world seeds (each draws p_1, p_2, p_3)")
    model: str = param("loglinear", OneOf(THEOREM_MODELS),
                       "model family: loglinear (rank-r factorised logits) or llama (the project's Llama)")
    capacities: tuple[int, ...] = param((1, 2, 6), Grid(Interval(int, 1, 4096)),
                                        "model capacities: loglinear rank r, or llama hidden width")
    llama_layers: int = param(1, Interval(int, 1, 64), "llama: decoder layers",
                              applies=lambda c: c.model == "llama", when="with model=llama")
    llama_heads: int = param(1, Interval(int, 1, 64), "llama: attention heads",
                             applies=lambda c: c.model == "llama", when="with model=llama")
    init_seed: int = param(0, SEED, "the initial parameters' seed (the same for every cell of a capacity)")
    init_scale: float = param(0.1, Interval(float, 0.0, 10.0, closed="high"),
                              "loglinear: standard deviation of the initial parameters",
                              applies=lambda c: c.model == "loglinear", when="with model=loglinear")
    adam_steps: int = param(4000, Interval(int, 0, 10**7), "most Adam steps before Newton", unit="steps")
    adam_lr: float = param(0.03, LEARNING_RATE, "Adam's learning rate")
    plateau_rel: float = param(1e-7, PROBABILITY_SCALE,
                               "Adam stops when the loss improves less than this (relative) over 100 steps")
    newton_steps: int = param(40, Interval(int, 1, 10**5), "most Newton steps after Adam", unit="steps")
    grad_tol: float = param(1e-10, PROBABILITY_SCALE,
                            "converged: Euclidean norm of the gradient of J/(k+1) below this", unit="nats")
    null_rel: float = param(1e-9, Interval(float, 0.0, 1e-3, closed="neither"),
                            "Hessian eigenvalues below this fraction of the largest are symmetry directions")
    linear: str = param("eigh", OneOf(("eigh", "cg")),
                        "Newton steps and implicit slopes: eigh (dense Hessian, eigenvalue pseudo-inverse) or cg "
                        "(Hessian-vector products: trust-region Steihaug-CG, conjugate gradients for the slopes)")
    cg_rel_tol: float = param(1e-11, PROBABILITY_SCALE,
                              "linear=cg: the slopes' conjugate gradients stop at this relative residual",
                              applies=lambda c: c.linear == "cg", when="with linear=cg")
    fd_step_l: float = param(1e-3, Interval(float, 0.0, 0.1, closed="high"),
                             "finite-difference step in l (continuation at l = h and 2h)")
    fd_cells: int = param(1, Interval(int, 0, 10**6),
                          "cells checked by finite differences (the smallest capacity first)", unit="cells")
    match_excess_nats: float = param(1e-5, PROBABILITY_SCALE,
                                     "cells with excess below this must match prediction (a)", unit="nats")
    match_rel: float = param(0.01, PROBABILITY_SCALE, "... within this relative error on s_1 and s_2")
    margin_log_ratio: float = param(0.1, Interval(float, 0.0, 10.0, closed="high"),
                                    "endpoints (i) and (iii): margin on the signed log-ratio error")
    k_star_factor: float = param(3.0, Interval(float, 1.0, 1e6),
                                 "endpoint (ii): cells with k within this factor of the realised k* are left out")
    bridge_lr: float = param(0.05, Interval(float, 0.0, 100.0, closed="high"),
                             "bridge arm: gradient descent's learning rate in the alignment stage (no weight decay)")
    bridge_max_steps: int = param(100_000, Interval(int, 0, 10**8),
                                  "bridge arm: most alignment steps before N_2 reaches the joint model's (0: no "
                                  "bridge arm)", unit="steps")

    def check(self):
        _require(self.V ** self.L <= MAX_THEOREM_LEAVES,
                 f"V^L must be <= {MAX_THEOREM_LEAVES} leaves (the objective is enumerated), got "
                 f"{self.V}^{self.L} = {self.V ** self.L}")
        if self.model == "loglinear":
            _require(max(self.capacities) <= self.V,
                     f"loglinear capacities are ranks <= V = {self.V} (rank V is full), got {list(self.capacities)}")
        else:
            _require(all(c % self.llama_heads == 0 and (c // self.llama_heads) % 2 == 0 for c in self.capacities),
                     f"llama capacities (hidden widths) must split into llama_heads = {self.llama_heads} heads of "
                     f"even size, got {list(self.capacities)}")

    @property
    def seeds(self) -> tuple[int, ...]:
        """The world seeds (what provenance and the CLI's help count as seeds)."""
        return self.world_seeds

    def as_dict(self) -> dict:
        return as_plain(self)


SCALING_DEVICES = ("cpu", "cuda")
MAX_SCALING_RESPONSES = 2**18  # V^L enumerated per measurement: 8^6 would be 262144 (a few MB per member)


@dataclass(frozen=True, kw_only=True)
class ScalingConfig(Declared):
    """The scaling experiment (``empirical.scaling``): do the counterfactual effect and the
    rebound grow with model size and with the amount of fresh pre-training data? A grid of model
    widths x pre-training examples; per cell every seed x arm trains as one ensemble. The world
    (``empirical.scale_world``) is an order-``context_order`` Zipf cascade over V^L responses.
    docs/experiments.md, "Scaling"."""

    world_seed: int = param(0, SEED, "the world family; each run seed draws its own cascade from it")
    content_vocab: int = param(8, Interval(int, 2, 64), "V content tokens, even; the first V // 2 are 'bright'",
                               unit="tokens")
    response_length: int = param(5, Interval(int, 1, 15), "L, the response length, odd (style = majority)",
                                 unit="tokens")
    context_order: int = param(2, Interval(int, 0, 14),
                               "the cascade's context: the last this many tokens choose the next token's law")
    zipf_s: float = param(1.0, Interval(float, 0.0, 10.0), "Zipf exponent of each context's next-token law")
    hidden: tuple[int, ...] = param((8, 16, 32), Grid(Interval(int, 2, 8192), min_length=2),
                                    "model widths (the size axis); intermediate 2 x hidden", unit="units")
    layers: int = param(2, Interval(int, 1, 64), "decoder layers of every size")
    heads: int = param(2, Interval(int, 1, 64), "attention heads of every size")
    n_pre: tuple[int, ...] = param((2_048, 8_192, 32_768), Grid(COUNT, min_length=2),
                                   "pre-training examples (the data axis): drawn fresh, each seen once",
                                   unit="examples")
    seeds: tuple[int, ...] = param(tuple(range(8)), Grid(SEED, min_length=2, max_length=10_000),
                                   "run seeds (each draws its world, initialization and data)")
    fractions: tuple[float, ...] = param((0.2, 0.8), Grid(Interval(float, 0.0, 1.0), min_length=2, max_length=2),
                                         "f of the low and the high arm (the positive style's share of D_pre)")
    pretrain_batch: int = param(64, Interval(int, 1, 65_536), "pre-training examples per step", unit="examples")
    pretrain_lr: float = param(5e-3, LEARNING_RATE, "pre-training's peak learning rate (decayed linearly to 0)")
    q1: int = param(128, COUNT, "alignment examples (positive style), the same dose for every arm",
                    unit="examples")
    align_batch: int = param(16, Interval(int, 1, 65_536), "alignment's examples per step", unit="examples")
    align_lr: float = param(2e-3, LEARNING_RATE, "alignment's constant learning rate")
    q2: tuple[int, ...] = param((16, 32, 64, 128), Grid(COUNT), "Q2 checkpoints of the perturbation",
                                unit="examples")
    second_batch: int = param(16, Interval(int, 1, 65_536), "the perturbation's examples per step", unit="examples")
    second_lr: float = param(1e-3, LEARNING_RATE, "the perturbation's constant learning rate")
    window: tuple[int, ...] = param((128,), Grid(COUNT), "the primary Q2 window: checkpoints averaged",
                                    unit="examples")
    margin_counterfactual: float = param(0.15, Interval(float, 0.0, 1e3, closed="high"),
                                         "margin on a slope of the counterfactual effect", unit="logit per decade")
    margin_rebound: float = param(0.05, Interval(float, 0.0, 1e3, closed="high"),
                                  "margin on a slope of the rebound (share of the alignment undone)",
                                  unit="share per decade")
    device: str = param("cpu", OneOf(SCALING_DEVICES), "where the ensembles train (cuda: one GPU)")
    bf16: bool = param(False, Flag(), "bf16 autocast of the matmuls", applies=lambda c: c.device == "cuda",
                       when="with device=cuda")

    def check(self):
        v, length = self.content_vocab, self.response_length
        _require(v % 2 == 0, f"content_vocab must be even (two halves of V / 2 tokens), got {v}")
        _require(length % 2 == 1, f"response_length must be odd (a response's style is its majority), got {length}")
        _require(v ** length <= MAX_SCALING_RESPONSES,
                 f"content_vocab ** response_length must be <= {MAX_SCALING_RESPONSES} (scored by enumeration), "
                 f"got {v}^{length} = {v ** length}")
        _require(self.context_order <= length - 1,
                 f"context_order must be <= response_length - 1 = {length - 1} (L - 1: every node its own law)")
        _require(all(h % self.heads == 0 and (h // self.heads) % 2 == 0 for h in self.hidden),
                 f"every hidden width must split into heads = {self.heads} heads of even size, got {list(self.hidden)}")
        _require(all(n % self.pretrain_batch == 0 for n in self.n_pre),
                 f"every n_pre must be a multiple of pretrain_batch = {self.pretrain_batch} (one pass, whole steps), "
                 f"got {list(self.n_pre)}")
        _require(self.q1 % self.align_batch == 0,
                 f"q1 must be a multiple of align_batch = {self.align_batch}, got {self.q1}")
        _require(all(q % self.second_batch == 0 for q in self.q2),
                 f"every Q2 must be a multiple of second_batch = {self.second_batch}, got {list(self.q2)}")
        _require(set(self.window) <= set(self.q2),
                 f"window {list(self.window)} must be checkpoints of the Q2 grid {list(self.q2)}")
        steps = min(self.window) // self.second_batch
        _require(steps >= MIN_WINDOW_STEPS,
                 f"window {list(self.window)} is {steps} optimizer steps into the perturbation; a primary window "
                 f"needs at least {MIN_WINDOW_STEPS} (fewer is a few sign-like AdamW steps, not a curve)")

    def as_dict(self) -> dict:
        return as_plain(self)
