"""Every experiment's configuration as plain data (no torch, no numpy): the synthetic world,
model sizes, the rebound and the forward-vs-inverse experiment.

Each config validates itself when it is built (``__post_init__``), so a config that exists
can be run: values finite, positive where they must be, grids without duplicates, sizes
that fit the data. ``harness.overrides`` builds them from ``--set``, YAML or a result's
stored config.
"""

import math
from dataclasses import dataclass, field, fields

from harness.overrides import as_plain


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _finite_fields(config) -> None:
    """Every float field finite (Python construction bypasses the override parser)."""
    for f in fields(config):
        value = getattr(config, f.name)
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{f.name} must be a finite number, got {v}")


def _canonical_grids(config, *names: str) -> None:
    """Sort the grids whose order carries no meaning, so that equivalent configurations (q2=64,16
    and q2=16,64) have one fingerprint and so one run id. Non-numbers are left for validation."""
    for name in names:
        values = getattr(config, name)
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            object.__setattr__(config, name, tuple(sorted(values)))


def _grid(name: str, values: tuple, low: float) -> None:
    _require(len(values) > 0, f"{name} must not be empty")
    _require(all(v >= low for v in values), f"{name} values must be >= {low}, got {list(values)}")
    repeated = sorted({v for v in values if values.count(v) > 1})
    _require(not repeated, f"{name} has duplicate values {repeated}: each grid value once")


MAX_SEED = 2**63 - 1  # numpy's generators take any; torch.manual_seed needs < 2^64


def _seeds(values: tuple) -> None:
    _grid("seeds", values, 0)
    _require(max(values) <= MAX_SEED, f"seeds must be <= 2^63 - 1 (torch's generators), got {max(values)}")


def _positive(config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        _require(value > 0, f"{name} must be > 0, got {value}")


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


WORLD_LAWS = ("zipf", "pareto")
# Bounds on what a world allocates (checked when the config is built, before anything is written):
# the enumerated responses (content_vocab ** response_length <= 2^20, a few MB per law), the
# embedding rows (4 + prompt_vocab + content_vocab) and the distinct prompts enumerated for scoring.
MAX_PROMPT_VOCAB = 10_000
MAX_PROMPT_LENGTH = 8
MAX_CONTENT_VOCAB = 1_024
MAX_RESPONSE_LENGTH = 21


@dataclass(frozen=True, kw_only=True)
class WorldConfig:
    """The synthetic world (``empirical.world``). Defaults are chosen for structure a small
    model can learn and return to (docs/experiments.md): V = 6 content tokens, responses of
    L = 3 (M = 216 responses, 108 per style), Zipf masses with s = 1, so that D_pre's KL to
    the uniform law is about 0.28 nats per token (at f = 0.5)."""

    seed: int = 0  # the world family; each run seed draws its own world from it
    content_vocab: int = 6  # V content tokens; the first V // 2 are "bright"
    response_length: int = 3  # L, odd
    prompt_vocab: int = 8
    prompt_length: int = 1
    law: str = "zipf"  # leaf masses per style: "zipf" (rank^-s over a seeded order) or "pareto" (iid)
    zipf_s: float = 1.0
    alpha: float = 3.0  # Pareto tail index (law = "pareto")
    n_pre: int = 20_000
    pre_positive_fraction: float = 0.5
    n_align: int = 10_000
    n_perturb: int = 2_000
    n_held_out: int = 1_000  # per dataset

    def __post_init__(self):
        _finite_fields(self)
        v, length = self.content_vocab, self.response_length
        sizes = (self.n_pre, self.n_align, self.n_perturb, self.n_held_out)
        checks = [
            (0 <= self.seed <= MAX_SEED, "seed must lie in [0, 2^63 - 1]"),
            (v >= 2 and v % 2 == 0, "content_vocab must be an even integer >= 2"),
            (length >= 1 and length % 2 == 1, "response_length must be an odd integer >= 1"),
            (v <= MAX_CONTENT_VOCAB and length <= MAX_RESPONSE_LENGTH,
             f"content_vocab must be <= {MAX_CONTENT_VOCAB} and response_length <= {MAX_RESPONSE_LENGTH}"),
            (v**length <= 2**20, f"content_vocab ** response_length must be <= 2^20 (exact enumeration: "
                                 f"{v}^{length} responses would need about {v**length * 8 * 3 / 2**30:.1f} GiB per "
                                 f"law and prompt)"),
            (1 <= self.prompt_vocab <= MAX_PROMPT_VOCAB and 0 <= self.prompt_length <= MAX_PROMPT_LENGTH,
             f"prompt_vocab must lie in [1, {MAX_PROMPT_VOCAB}] and prompt_length in [0, {MAX_PROMPT_LENGTH}] "
             f"(the model's embedding and the enumerated prompts are allocated from them)"),
            (self.law in WORLD_LAWS, f"law must be one of {WORLD_LAWS}"),
            (0 < self.zipf_s <= 10, "zipf_s must lie in (0, 10]"),
            (self.alpha > 1, "alpha must be > 1 (E[X] diverges otherwise)"),
            (0.0 <= self.pre_positive_fraction <= 1.0, "pre_positive_fraction must lie in [0, 1]"),
            (min(sizes) >= 1, "dataset sizes must be >= 1"),
            (max(sizes) <= 10**8, "dataset sizes must be <= 1e8 (memory)"),
        ]
        for ok, message in checks:
            _require(ok, f"WorldConfig: {message}")

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
class PretrainConfig:
    """Pre-training from scratch on a world's D_pre (``empirical.trajectory.pretrain``): AdamW,
    ``steps`` batches of ``batch`` examples, the learning rate decayed linearly from ``lr`` to 0.
    Shared by every experiment that pre-trains (rebound, resist, counterfactual)."""

    steps: int = 300
    batch: int = 128
    lr: float = 5e-3

    def __post_init__(self):
        _finite_fields(self)
        _positive(self, "steps", "batch", "lr")


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


def default_scorer(dataset: str) -> str:
    """vader for IMDb (offline); a cost model for safe-rlhf (no offline stand-in for safety)."""
    return {"imdb": "vader", "safe-rlhf": "cost"}.get(dataset, "vader")


def _check_real(config, synthetic: bool, datasets: tuple) -> None:
    _require(config.dataset in datasets, f"dataset must be one of {datasets}, got {config.dataset!r}")
    if synthetic:  # options that would not apply are refused, never recorded as if they had
        given = [name for name, default in (("data_dir", ""), ("columns", ""), ("lora_rank", 0),
                                            ("trust_remote_code", False), ("scorer", ""), ("scorer_path", ""))
                 if getattr(config, name, default) != default]
        _require(not given, f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to a real model and "
                            f"dataset (--model-path, --dataset), not to the synthetic world")
    _require(synthetic == (not config.model_path),
             f"a real dataset ({', '.join(datasets[1:])}) needs --model-path, and --model-path needs "
             f"a real dataset (--dataset with --data-dir)")
    _require(not config.model_path or bool(config.data_dir),
             f"--dataset {config.dataset} needs --data-dir (a folder of local files)")
    _require(config.lora_rank >= 0, f"lora_rank must be >= 0, got {config.lora_rank}")
    _require(config.max_length >= 8, f"max_length must be >= 8, got {config.max_length}")
    _require(config.max_new_tokens >= 1, f"max_new_tokens must be >= 1, got {config.max_new_tokens}")
    _require(config.batch_size >= 1, f"batch_size must be >= 1, got {config.batch_size}")
    _require(config.model_size in MODEL_SIZES,
             f"model_size must be one of {sorted(MODEL_SIZES)}, got {config.model_size!r}")


@dataclass(frozen=True, kw_only=True)
class ReboundConfig:
    """The rebound experiment (``empirical.rebound``): per seed, a model pre-trained on its
    world's D_pre, fine-tuned on Q1 examples of one style, then on the other style along one
    trajectory measured at every Q2; controls: never pre-trained on the world's laws (pre-trained
    on its format only), and no first stage."""

    world: WorldConfig = field(default_factory=lambda: WorldConfig(n_pre=20_000, n_align=1_024, n_perturb=1_024,
                                                                   n_held_out=200))
    variant: str = "sft"
    model_size: str = "tiny"
    q1: tuple[int, ...] = (64, 128, 256)
    q2: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    q2_mode: str = "trajectory"  # one path measured at each Q2; or "fixed-steps" (a run per Q2)
    fixed_steps: int = 32
    seeds: tuple[int, ...] = (0, 1, 2)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)  # synthetic world: from scratch
    first_lr: float = 2e-3  # constant, one pass
    second_lr: float = 1e-3  # constant, one pass
    batch_size: int = 16
    dpo_beta: float = 0.1
    eval_prompts: int = 0  # 0: the dataset's default (1 for the synthetic world, 16 for real data)
    controls: bool = True
    min_valid_mass: float = 0.5  # a point where the model puts less mass on valid responses is withheld
    k_fit_points: int = 3  # Q2 points (after 0) that fit the code-length slopes of the effective k
    # real models and data (dataset != "synthetic"); see empirical.tasks.TextTask
    dataset: str = "synthetic"
    model_path: str = ""
    data_dir: str = ""
    columns: str = ""  # "wanted=found,..." when the files name the format's columns otherwise
    scorer: str = ""  # "" = the dataset's default (vader for imdb, cost for safe-rlhf)
    scorer_path: str = ""
    lora_rank: int = 0
    max_length: int = 256  # tokens of prompt + completion in training and code lengths
    max_new_tokens: int = 48
    trust_remote_code: bool = False

    def __post_init__(self):
        _finite_fields(self)
        _canonical_grids(self, "q1", "q2", "seeds")
        _require(self.variant in REBOUND_VARIANTS,
                 f"variant must be one of {REBOUND_VARIANTS}, got {self.variant!r}")
        _grid("q1", self.q1, 1)
        _grid("q2", self.q2, 1)
        _seeds(self.seeds)
        _positive(self, "first_lr", "second_lr", "dpo_beta",
                  "fixed_steps")
        _require(self.eval_prompts >= 0, f"eval_prompts must be >= 0, got {self.eval_prompts}")
        _require(self.q2_mode in Q2_MODES, f"q2_mode must be one of {Q2_MODES}, got {self.q2_mode!r}")
        _require(self.q2_mode == "trajectory" or self.variant != "dpo", "DPO runs as a trajectory only")
        _require(0 <= self.min_valid_mass < 1, f"min_valid_mass must lie in [0, 1), got {self.min_valid_mass}")
        _require(not self.synthetic or 2 <= self.k_fit_points <= len(self.q2),
                 f"k_fit_points must lie in [2, {len(self.q2)}] (the Q2 grid), got {self.k_fit_points}")
        _check_real(self, self.synthetic, REBOUND_DATASETS)
        _require(not self.scorer or self.scorer in SCORERS,
                 f"scorer must be one of {SCORERS}, got {self.scorer!r}")
        if not self.synthetic:
            if not self.scorer:  # resolved here, so that the default and its name are the same run
                object.__setattr__(self, "scorer", default_scorer(self.dataset))
            return  # sizes are checked against the files when they are read
        first, second = self.stage_sizes()
        _require(max(self.q1) <= first,
                 f"Q1 = {max(self.q1)} is larger than the first-stage set ({first} examples)")
        _require(max(self.q2) <= second,
                 f"Q2 = {max(self.q2)} is larger than the second-stage set ({second} examples)")
        _require(self.variant != "dpo" or max(self.q1) + max(self.q2) <= first,
                 f"DPO rejects first-style examples the first stage did not see: needs max Q1 + max Q2 <= "
                 f"{first}, got {max(self.q1) + max(self.q2)}")
        w = self.world
        _require(self.prompts_to_score <= w.distinct_prompts,
                 f"eval_prompts must be <= {w.distinct_prompts} (the distinct prompts)")

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


@dataclass(frozen=True, kw_only=True)
class ResistConfig:
    """Forward against inverse alignment (``empirical.resist``; the paper's Appendix E). On the
    synthetic world every distance is exact (enumeration); on real models, cross-entropies on
    sampled answers."""

    dataset: str = "synthetic"
    model_path: str = ""
    data_dir: str = ""
    columns: str = ""  # "wanted=found,..." when the files name the format's columns otherwise
    warmup_data_dir: str = ""  # an Alpaca-format folder for the instruction warm-up ("" = none)
    world: WorldConfig = field(default_factory=lambda: WorldConfig(n_pre=20_000, n_align=2_048, n_perturb=16,
                                                                   n_held_out=50))
    model_size: str = "tiny"  # synthetic base, pre-trained from scratch
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    seeds: tuple[int, ...] = (0, 1, 2)
    part_size: int = 0  # examples per part (0: a quarter of the training pairs)
    # the no-pre-training control (the same protocol from an initialized, never pre-trained base):
    # "auto" resolves to "on" for the synthetic world and "off" for real models, where it is not built
    no_pretraining: str = "auto"
    eval_prompts: int = 64  # real models: test prompts the answers are measured on
    # Table 1 (Alpaca row for the paths; safe/truthful use 1 path epoch)
    warmup_lr: float = 1e-5
    warmup_epochs: int = 3
    warmup_scheduler: str = "cosine"
    sequential_lr: float = 1e-5
    sequential_epochs: int = 1
    sequential_scheduler: str = "constant"
    path_lr: float = 3e-6
    path_epochs: int = 2
    path_scheduler: str = "constant"
    batch_size: int = 8
    top_k: int = 30  # real models (the synthetic world samples its exact law at the temperature)
    top_p: float = 0.9
    temperature: float = 1.0  # the paths learn from samples at this temperature
    max_new_tokens: int = 64
    max_length: int = 256
    lora_rank: int = 0
    trust_remote_code: bool = False

    def __post_init__(self):
        _finite_fields(self)
        _canonical_grids(self, "seeds")
        _check_real(self, self.dataset == "synthetic", RESIST_DATASETS)
        _require(self.no_pretraining in ("auto", "on", "off"),
                 f"no_pretraining must be auto, on or off, got {self.no_pretraining!r}")
        _require(self.no_pretraining != "on" or self.dataset == "synthetic",
                 "no_pretraining=on needs the synthetic world (a real model's never-pre-trained twin is not built)")
        _require(not self.warmup_data_dir or bool(self.model_path),
                 "warmup_data_dir applies to a real model (--model-path) only")
        _seeds(self.seeds)
        _require(self.part_size >= 0, f"part_size must be >= 0, got {self.part_size}")
        _require(self.eval_prompts >= 2, f"eval_prompts must be >= 2, got {self.eval_prompts}")
        _require(self.dataset != "synthetic" or 4 * (self.part_size or self.world.n_align // 4) <= self.world.n_align,
                 f"four parts of {self.part_size} examples need world.n_align >= {4 * self.part_size}")
        _positive(self, "warmup_lr", "warmup_epochs",
                  "sequential_lr", "sequential_epochs", "path_lr", "path_epochs")
        for name in ("warmup_scheduler", "sequential_scheduler", "path_scheduler"):
            _require(getattr(self, name) in SCHEDULERS,
                     f"{name} must be one of {SCHEDULERS}, got {getattr(self, name)!r}")
        _require(0 < self.top_p <= 1 and self.temperature > 0 and self.top_k >= 1,
                 "decoding needs 0 < top_p <= 1, temperature > 0 and top_k >= 1")

    @property
    def no_pretraining_control(self) -> bool:
        """Whether the run includes the never-pre-trained control ("auto": the synthetic world only)."""
        return self.no_pretraining == "on" or (self.no_pretraining == "auto" and self.dataset == "synthetic")

    def as_dict(self) -> dict:
        return as_plain(self)


@dataclass(frozen=True, kw_only=True)
class EndpointConfig:
    """The counterfactual's primary endpoint, declared before the confirmatory run (its verdict
    reads this and nothing else): per seed, the mean over these Q2 checkpoints of drop(low f) -
    drop(high f), in these units, for this alignment variant at this perturbation learning rate.
    The default window, Q2 = 32 in logit units, is what the pre-declared rule
    (``empirical.counterfactual.choose_window``) chose on the calibration seeds 0-15: the
    earliest Q2 at which the in-window control (the output-space anchor) is detected with an
    effect of at least the margin (docs/experiments.md, with the committed calibration result)."""

    q2: tuple[int, ...] = (32,)
    units: str = "logit"
    alignment: str = "target"
    second_lr: float = 1e-3

    def __post_init__(self):
        _finite_fields(self)
        _canonical_grids(self, "q2")
        _grid("q2", self.q2, 1)
        _require(self.units in ENDPOINT_UNITS, f"units must be one of {ENDPOINT_UNITS}, got {self.units!r}")
        _require(self.alignment in ALIGNMENTS, f"alignment must be one of {ALIGNMENTS}, got {self.alignment!r}")
        _positive(self, "second_lr")


@dataclass(frozen=True, kw_only=True)
class CounterfactualConfig:
    """The counterfactual pre-training experiment (``empirical.counterfactual``): arms that
    differ only in the positive share f of their pre-training data, aligned alike, perturbed
    alike; positive controls; the k axis. See docs/experiments.md."""

    world: WorldConfig = field(default_factory=lambda: WorldConfig(n_pre=20_000, n_align=512, n_perturb=512,
                                                                   n_held_out=200))
    model_size: str = "tiny"
    seeds: tuple[int, ...] = tuple(range(10))
    fractions: tuple[float, ...] = (0.2, 0.5, 0.8)  # f of each arm's D_pre
    placebo: bool = True  # an arm at the middle f with another pre-training sample of the same law
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    align_lr: float = 2e-3
    align_batch: int = 16
    q1_dose: int = 64  # the dose-matched variant: every arm sees these Q1 alignment examples
    q1_max: int = 512  # the target-matched variant: alignment stops at target_score or here
    target_score: float = 0.85  # reached by every arm within q1_max at these settings
    second_lrs: tuple[float, ...] = (1e-3,)  # the perturbation's constant learning rates
    second_batch: int = 16
    q2: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    q2_mode: str = "trajectory"  # one path measured at each Q2; or "fixed-steps" (a run per Q2)
    fixed_steps: int = 32
    primary_endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    sesoi: float = 0.2  # smallest effect of interest, in the endpoint's units (0.2 logit ~ 0.025 at a score of 0.86)
    unreached: str = "exclude"  # target alignment: seeds whose extreme arm never reaches the target are
    #                             excluded from the primary contrast and counted ("keep": kept at q1_max)
    anchor_beta: tuple[float, ...] = (3.0, 10.0, 30.0)  # in-window control: beta of KL(model || theta_pre)
    dose_align_lr: float = 1e-3  # the dose arm: the middle f aligned to the target at this rate too (0: none)
    spring: tuple[float, ...] = (0.0, 1.0, 3.0, 10.0, 30.0)  # late-window control: L2 spring to theta_pre
    replay: bool = True  # late-window control: replay of the arm's own D_pre and the alignment set (and, as
    #                      a check of the mechanics, replay of one shared pool in both arms)
    replay_fraction: float = 0.5  # share of replayed (D_pre + alignment) examples in each batch
    k_sizes: tuple[int, ...] = (640, 64_000)  # more |D_pre| values (at the middle f): the k axis
    k_mode: str = "steps"  # the k axis: "steps" (every size the same pre-training steps), "epochs" (the same
    #                        passes over D_pre: steps in proportion to |D_pre|) or "both" (an arm per size in each)
    joint: bool = False  # the theorem's regime: per size, an arm pre-trained on D_pre and the first q1_dose
    #                      alignment examples together (in proportion to their sizes), not aligned after
    k_fit_points: int = 3  # Q2 points (after 0) that fit the code-length slopes of effective k
    eval_prompts: int = 1

    def __post_init__(self):
        _finite_fields(self)
        _canonical_grids(self, "seeds", "fractions", "second_lrs", "q2", "anchor_beta", "spring", "k_sizes")
        _require(self.model_size in MODEL_SIZES,
                 f"model_size must be one of {sorted(MODEL_SIZES)}, got {self.model_size!r}")
        _seeds(self.seeds)
        _grid("fractions", self.fractions, 0.0)
        _require(len(self.fractions) >= 2 and max(self.fractions) <= 1.0,
                 f"fractions needs at least two values in [0, 1], got {list(self.fractions)}")
        _positive(self, "align_lr", "align_batch",
                  "q1_dose", "q1_max", "second_batch", "fixed_steps", "eval_prompts")
        _grid("second_lrs", self.second_lrs, 0.0)
        _require(min(self.second_lrs) > 0, "second_lrs values must be > 0")
        _grid("q2", self.q2, 1)
        _grid("spring", self.spring, 0.0)
        if self.k_sizes:
            _grid("k_sizes", self.k_sizes, 1)
        w = self.world
        _require(self.q1_dose <= self.q1_max <= w.n_align,
                 f"need q1_dose <= q1_max <= world.n_align, got {self.q1_dose}, {self.q1_max}, {w.n_align}")
        _require(max(self.q2) <= w.n_perturb,
                 f"Q2 = {max(self.q2)} is larger than the perturbation set (world.n_perturb = {w.n_perturb})")
        _require(0 < self.target_score < 1, f"target_score must lie in (0, 1), got {self.target_score}")
        _require(self.q2_mode in Q2_MODES, f"q2_mode must be one of {Q2_MODES}, got {self.q2_mode!r}")
        e = self.primary_endpoint
        _require(set(e.q2) <= set(self.q2),
                 f"primary_endpoint.q2 {list(e.q2)} must be checkpoints of the Q2 grid {list(self.q2)}")
        _require(e.second_lr in self.second_lrs,
                 f"primary_endpoint.second_lr {e.second_lr:g} must be one of second_lrs {list(self.second_lrs)}")
        _require(math.isfinite(self.sesoi) and self.sesoi > 0, f"sesoi must be > 0, got {self.sesoi}")
        _require(self.unreached in UNREACHED_RULES,
                 f"unreached must be one of {UNREACHED_RULES}, got {self.unreached!r}")
        if self.anchor_beta:
            _grid("anchor_beta", self.anchor_beta, 0.0)
            _require(min(self.anchor_beta) > 0, "anchor_beta values must be > 0")
        _require(self.dose_align_lr >= 0, f"dose_align_lr must be >= 0 (0: no dose arm), got {self.dose_align_lr}")
        controls = bool(self.anchor_beta) or max(self.spring) > 0 or self.replay
        _require(self.q2_mode == "trajectory" or not controls,
                 "the positive controls (anchor_beta, spring, replay) run along a trajectory; with "
                 "q2_mode=fixed-steps set anchor_beta= spring=0 replay=false (the verdict then has no control)")
        _require(self.k_mode in K_MODES, f"k_mode must be one of {K_MODES}, got {self.k_mode!r}")
        _require(0 <= self.replay_fraction < 1, f"replay_fraction must lie in [0, 1), got {self.replay_fraction}")
        _require(2 <= self.k_fit_points <= len(self.q2),
                 f"k_fit_points must lie in [2, {len(self.q2)}] (the Q2 grid), got {self.k_fit_points}")
        _require(self.eval_prompts <= w.distinct_prompts,
                 f"eval_prompts must be <= {w.distinct_prompts} (the distinct prompts)")
        _require(w.n_pre not in self.k_sizes, "k_sizes must not repeat world.n_pre (that arm exists)")

    @property
    def middle(self) -> float:
        """The f of the placebo and the k axis: the middle of the sorted fractions."""
        return sorted(self.fractions)[len(self.fractions) // 2]

    def as_dict(self) -> dict:
        return as_plain(self)


THEOREM_WORLDS = ("iid", "cascade")
THEOREM_MODELS = ("loglinear", "llama")
MAX_THEOREM_LEAVES = 2**15  # M = V^L: the gpu preset's largest world (32768 leaves)


@dataclass(frozen=True, kw_only=True)
class TheoremConfig:
    """The theorem experiment (``empirical.theorem``): models of declared capacity trained to
    stationarity on the exact objective k N_1 + N_2 + l N_3 over a Pareto-mass world; observed
    slopes dN_j/dl at l = 0 against the optimum's and the pruned tree's. docs/experiments.md."""

    family: str = "iid"  # world: "iid" Pareto leaf masses (Assumption C.15) or "cascade" (multiplicative)
    alphas: tuple[float, ...] = (3.0, 4.0)  # Pareto tail index of the leaf masses
    ks: tuple[float, ...] = (10.0, 1000.0)  # k = |D_1|/|D_2|, put on both sides of k*(alpha)
    V: int = 6  # content tokens per position
    L: int = 4  # response length: M = V^L leaves
    world_seeds: tuple[int, ...] = (0, 1)  # each world's masses drawn from its seed
    model: str = "loglinear"  # model family: "loglinear" (rank-r factorised logits) or "llama"
    capacities: tuple[int, ...] = (1, 2, 6)  # loglinear: rank r; llama: hidden width
    llama_layers: int = 1  # llama: decoder layers
    llama_heads: int = 1  # llama: attention heads
    init_seed: int = 0  # the initial parameters' seed (one per cell, the same across k)
    init_scale: float = 0.1  # standard deviation of the initial parameters (loglinear)
    adam_steps: int = 4000  # most Adam steps before Newton
    adam_lr: float = 0.03  # Adam learning rate
    plateau_rel: float = 1e-7  # Adam stops when the loss improves less than this (relative) per 100 steps
    newton_steps: int = 40  # most Newton steps after Adam
    grad_tol: float = 1e-10  # converged: |grad of J/(k+1)| below this (nats per unit parameter)
    null_rel: float = 1e-9  # eigenvalues below this fraction of the largest are symmetry directions
    fd_step_l: float = 1e-3  # the finite-difference step in l (continuation at l = h and 2h)
    fd_cells: int = 1  # cells per run that get a finite-difference check (the first converged, smallest capacity)
    match_excess_nats: float = 1e-5  # cells with excess below this must match prediction (a) ...
    match_rel: float = 0.01  # ... within this relative error on s_1 and s_2
    margin_log_ratio: float = 0.1  # endpoint (i): margin on the signed log-ratio error of predicted (b) vs observed s_2
    k_star_factor: float = 3.0  # endpoint (ii): cells with k within this factor of the world's realised k* are excluded

    def __post_init__(self):
        _finite_fields(self)
        _canonical_grids(self, "alphas", "ks", "world_seeds", "capacities")
        _require(self.family in THEOREM_WORLDS, f"family must be one of {THEOREM_WORLDS}, got {self.family!r}")
        _require(self.model in THEOREM_MODELS, f"model must be one of {THEOREM_MODELS}, got {self.model!r}")
        _grid("alphas", self.alphas, 1.1)
        _require(max(self.alphas) <= 20.0, f"alphas must be <= 20 (theory.exact's range), got {list(self.alphas)}")
        _grid("ks", self.ks, 0.0)
        _require(min(self.ks) > 0, f"ks values must be > 0, got {list(self.ks)}")
        _require(isinstance(self.V, int) and self.V >= 2, f"V must be an integer >= 2, got {self.V!r}")
        _require(isinstance(self.L, int) and self.L >= 2, f"L must be an integer >= 2 (a prefix and a last token), got {self.L!r}")
        _require(self.V ** self.L <= MAX_THEOREM_LEAVES,
                 f"V^L must be <= {MAX_THEOREM_LEAVES} leaves (the objective is enumerated), got {self.V ** self.L}")
        _require(len(self.world_seeds) > 0 and min(self.world_seeds) >= 0 and max(self.world_seeds) <= MAX_SEED,
                 f"world_seeds must be integers in [0, 2^63 - 1], got {list(self.world_seeds)}")
        _grid("capacities", self.capacities, 1)
        _positive(self, "llama_layers", "llama_heads", "init_scale", "adam_lr", "plateau_rel", "grad_tol",
                  "null_rel", "fd_step_l", "match_excess_nats", "match_rel", "margin_log_ratio")
        _require(self.adam_steps >= 0 and self.newton_steps >= 1,
                 f"need adam_steps >= 0 and newton_steps >= 1, got {self.adam_steps}, {self.newton_steps}")
        _require(self.fd_cells >= 0, f"fd_cells must be >= 0, got {self.fd_cells}")
        _require(self.null_rel < 1e-3, f"null_rel must be < 1e-3 (it only drops symmetry directions), got {self.null_rel}")
        _require(self.k_star_factor >= 1.0, f"k_star_factor must be >= 1, got {self.k_star_factor}")
        _require(self.init_seed >= 0, f"init_seed must be >= 0, got {self.init_seed}")
        if self.model == "loglinear":
            _require(max(self.capacities) <= self.V,
                     f"loglinear capacities are ranks <= V = {self.V} (rank V is full), got {list(self.capacities)}")
        else:
            _require(all(c % self.llama_heads == 0 for c in self.capacities),
                     f"llama capacities (hidden widths) must be multiples of llama_heads = {self.llama_heads}")

    @property
    def seeds(self) -> tuple[int, ...]:
        """The world seeds (what provenance and the CLI's help count as seeds)."""
        return self.world_seeds

    def as_dict(self) -> dict:
        return as_plain(self)
