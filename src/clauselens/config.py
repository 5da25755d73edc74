"""The experiment config: one TOML file describes the whole study.

Validated with pydantic; unknown keys and bad values are errors that name the key
(`ConfigError("examples/x.toml: strategies.lora.r: Input should be greater than 0")`).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from clauselens.registry import METHODS, METRICS, PERTURBATIONS, TARGETS, UNITS

# A name picked from a registry (`clauselens.registry`): validated against its keys, so the config accepts
# exactly what the stages can run.
MethodName = Annotated[str, AfterValidator(METHODS.check)]
TargetName = Annotated[str, AfterValidator(TARGETS.check)]
UnitName = Annotated[str, AfterValidator(UNITS.check)]
PerturbationName = Annotated[str, AfterValidator(PERTURBATIONS.check)]
MetricName = Annotated[str, AfterValidator(METRICS.check)]
DEFAULT_METRICS = METRICS.names()  # every built-in metric (a plugin's must be asked for)


class ConfigError(ValueError):
    """A config or input file problem a user can fix; the CLI prints it on one line and exits 2."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(Section):
    """Where the clause -> rule pairs come from and how they are split."""

    source: str = "builtin"  # "builtin" (the open UK corpus) or a CSV / JSONL / Parquet path
    columns: dict[str, str] = Field(default_factory=dict)  # our name -> the file's column name
    split: Literal["random", "document", "stored"] = "stored"
    test_documents: list[str] = Field(default_factory=list)  # for split = "document"
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.1, ge=0, lt=1)
    kinds: list[Literal["quantitative", "qualitative"]] = Field(
        default_factory=lambda: ["quantitative", "qualitative"])
    max_train: int | None = Field(None, gt=0)
    max_test: int | None = Field(None, gt=0)
    # the rules' notation: python, a bracketed functional notation, or a Lark grammar (rule_grammar)
    rule_language: Literal["python", "functional", "lark"] = "python"
    rule_grammar: str | None = None  # path to a Lark grammar (start rule `start`), for rule_language = lark
    synthetic_pairs: int = Field(0, ge=0)  # synthetic clause -> rule pairs added to fine-tuning (copying)

    @model_validator(mode="after")
    def _grammar_given(self) -> DataConfig:
        if (self.rule_language == "lark") != (self.rule_grammar is not None):
            raise ValueError("rule_grammar is required with rule_language = 'lark' and only then")
        return self


class ModelConfig(Section):
    """A base model: a Hugging Face hub id, a local directory, `builtin:<name>` (the CPU ladder) or
    `family:<name>` (a tiny random-init qwen3 / llama3 / gemma3 / mistral with the real tokenizer)."""

    name: str  # display name used in tables and plots
    id: str
    params: int | None = Field(None, gt=0)  # filled from the loaded model when omitted
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    trust_remote_code: bool = False


class StrategyConfig(Section):
    """Hyperparameters shared by every fine-tuning strategy."""

    enabled: bool = True
    learning_rate: float = Field(2e-4, gt=0)
    epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, gt=0)
    batch_size: int = Field(8, gt=0)
    grad_accum: int = Field(1, gt=0)
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant"] = "linear"
    weight_decay: float = Field(0.0, ge=0)
    max_length: int = Field(512, gt=8)
    eval_steps: int | None = Field(None, gt=0)
    save_steps: int | None = Field(None, gt=0)
    early_stopping_patience: int | None = Field(None, gt=0)
    gradient_checkpointing: bool = False


class FFTConfig(StrategyConfig):
    learning_rate: float = Field(5e-4, gt=0)
    bf16: bool = True  # used on CUDA only
    devices: int = Field(1, gt=0)  # > 1: FSDP over this many processes / GPUs (clauselens.train.sharded)


class LoRAConfig(StrategyConfig):
    r: int = Field(8, gt=0)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"  # all attention + MLP projections
    learning_rate: float = Field(2e-3, gt=0)


class QLoRAConfig(LoRAConfig):
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "float32"
    optimizer: Literal["auto", "paged_adamw_8bit", "adamw_torch"] = "auto"


class StrategiesConfig(Section):
    base: bool = False  # also study the un-fine-tuned base model as a cell
    fft: FFTConfig = Field(default_factory=FFTConfig)
    lora: LoRAConfig = Field(default_factory=LoRAConfig)
    qlora: QLoRAConfig = Field(default_factory=QLoRAConfig)

    def enabled(self) -> list[str]:
        names = ["base"] if self.base else []
        return names + [n for n in ("fft", "lora", "qlora") if getattr(self, n).enabled]


class GenerationConfig(Section):
    # None: the longest tokenised training rule plus 25 % (clauselens.generate.generation.rule_token_bound)
    max_new_tokens: int | None = Field(None, gt=0)
    batch_size: int = Field(8, gt=0)
    do_sample: bool = False
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)


class ScoringConfig(Section):
    embedder: str = "builtin:all-minilm-l6-v2"  # or any sentence-transformers model path / id
    metrics: list[MetricName] = Field(default_factory=lambda: list(DEFAULT_METRICS))
    bootstrap: int = Field(1000, ge=100)
    alpha: float = Field(0.05, gt=0, lt=1)
    sandbox_timeout_s: float = Field(5.0, gt=0)
    sandbox_memory_mb: int = Field(512, gt=16)


class AttributionConfig(Section):
    unit: UnitName = "word"  # clauselens.registry.UNITS
    perturbation: PerturbationName = "delete"  # clauselens.registry.PERTURBATIONS
    mask_string: str | None = None  # baseline string for "mask"; default: the tokenizer's unk/pad
    method: MethodName = "loo"  # clauselens.registry.METHODS
    window: int = Field(3, gt=0)
    shapley_samples: int = Field(64, gt=0)
    surrogate_budget: float = Field(2.0, gt=0)  # evaluations, as a multiple of leave-one-out's n + 1
    surrogate_fit: Literal["kernel_shap", "lasso"] = "kernel_shap"
    surrogate_interactions: int = Field(0, ge=0)  # top units whose pairs get interaction terms
    hierarchical_mass: float = Field(0.1, ge=0, le=1)  # share of |score| a unit needs to be refined
    target: TargetName = "logprob"  # clauselens.registry.TARGETS
    max_clauses: int | None = Field(None, gt=0)
    batch_size: int = Field(16, gt=0)
    faithfulness: bool = True


class AnalysisConfig(Section):
    focus_metrics: list[Literal["entropy", "gini", "top_k_mass", "effective_units"]] = Field(
        default_factory=lambda: ["entropy", "gini", "top_k_mass", "effective_units"])
    top_k: int = Field(3, gt=0)
    alpha: float = Field(0.05, gt=0, lt=1)
    permutations: int = Field(999, ge=99)
    lexicons: dict[str, list[str]] = Field(default_factory=dict)  # extra category -> words
    # The declared (confirmatory) hypotheses, fixed before any data is seen; see docs/analysis.md.
    focus_metric: Literal["entropy", "gini", "top_k_mass", "effective_units"] = "gini"  # RQ1
    size_categories: list[str] = Field(  # RQ2: their summed share against model size
        default_factory=lambda: ["numerical_constraint", "rule_identifier"], min_length=1)
    quality_metric: str = "semantic_similarity"  # RQ3
    plateau_margin: float = Field(0.02, gt=0)  # equivalence margin of a size step's gain
    plateau_margins: dict[str, float] = Field(default_factory=dict)  # per-metric margins
    quality_floor: float | None = None  # a plateau must lie above it; None: 0 for higher-is-better metrics

    def margin(self, metric: str) -> float:
        """The equivalence margin of `metric`'s size steps."""
        return self.plateau_margins.get(metric, self.plateau_margin)


class CompareConfig(Section):
    """The compare stage (`clauselens.compare`): cross-model comparisons on a few clauses, small budget."""

    enabled: bool = True
    max_clauses: int = Field(6, gt=0)  # test clauses for adapter deltas, the quantisation split, ablation
    clause_order: Literal["shortest", "id"] = "shortest"  # which attributed test clauses come first
    robustness_clauses: int = Field(3, gt=0)  # clauses per cell for the robustness checks
    robustness_models: list[str] | None = None  # model names; None: the smallest model only
    shapley_samples: int = Field(8, gt=1)  # permutations per Shapley run in the robustness checks
    ablation_draws: int = Field(5, gt=0)  # random same-size ablations averaged per (clause, category)
    quantisation: bool = True  # score LoRA / QLoRA adapters on both base precisions


class ReportConfig(Section):
    clauses: list[str] = Field(default_factory=list)  # clause ids to show; default: a diverse sample
    n_clauses: int = Field(4, gt=0)


class ExecutorConfig(Section):
    kind: Literal["local", "ray"] = "local"
    address: str | None = None  # Ray cluster address; None starts a local one
    num_cpus: float = Field(1.0, gt=0)  # per task
    num_gpus: float = Field(0.0, ge=0)
    memory_mb: int | None = Field(None, gt=0)
    max_retries: int = Field(2, ge=0)
    workers: int = Field(1, ge=1)  # local: tasks run at once, each in its own process


class ExperimentConfig(Section):
    """The whole study."""

    name: str = "clauselens"
    output_dir: str = "runs/clauselens"
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    data: DataConfig = Field(default_factory=DataConfig)
    models: list[ModelConfig] = Field(min_length=1)
    strategies: StrategiesConfig = Field(default_factory=StrategiesConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    attribution: AttributionConfig = Field(default_factory=AttributionConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    source_path: str | None = Field(None, exclude=True)

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models: list[ModelConfig]) -> list[ModelConfig]:
        names = [m.name for m in models]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"model names must be unique; repeated: {sorted(dup)}")
        return models

    @model_validator(mode="after")
    def _some_strategy(self) -> ExperimentConfig:
        if not self.strategies.enabled():
            raise ValueError("strategies: enable at least one of base, fft, lora, qlora")
        return self

    def config_hash(self) -> str:
        """Hash of everything that can change a result (the executor and report layout cannot)."""
        blob = json.dumps(self.model_dump(mode="json", exclude={"executor", "report"}), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path).expanduser()
        if p.is_absolute() or self.source_path is None:
            return p
        return Path(self.source_path).parent / p


def _format_error(path: Path, err: ValidationError) -> str:
    e = err.errors()[0]
    loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
    more = f" (+{len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{path}: {loc}: {msg}{more}"


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read and validate a TOML config; `output_dir` and data paths resolve against its folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    try:
        cfg = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None
    cfg.source_path = str(path)
    if cfg.data.source != "builtin" and not cfg.resolve(cfg.data.source).is_file():
        raise ConfigError(f"{path}: data.source: dataset file not found: {cfg.resolve(cfg.data.source)}")
    if cfg.data.rule_grammar is not None and not cfg.resolve(cfg.data.rule_grammar).is_file():
        grammar = cfg.resolve(cfg.data.rule_grammar)
        raise ConfigError(f"{path}: data.rule_grammar: grammar file not found: {grammar}")
    return cfg
