"""The store schema: every table the study writes, declared once.

A `Table` names its key (what an upsert replaces on and what `Store.keys` asks by default), its columns
with their DuckDB types, the one stage that writes it (`owner`) and, where one function makes its rows,
that function (`rows`, as "module:function"). `clauselens.store.Store` takes a `Table` (or a declared
table's name) and refuses rows with a column the table does not declare, so a row builder that drifts
from the schema fails at the write, not in a report three stages later. A declared column may be
missing from a write (older stores, optional measures); columns are added as rows bring them.

Cell ids are `"<model name>/<strategy>/s<seed>"`; join `CELLS` for model, params and strategy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

STAGES = ("corpus", "models", "train", "generate", "score", "attribute", "analyse", "compare")


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    types: tuple[tuple[str, str], ...]  # (column, DuckDB type), in table order
    owner: str  # the one stage that writes the table
    rows: str | None = None  # "module:function" that makes a row, where one function does

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.types)

    def type_of(self, column: str) -> str | None:
        return dict(self.types).get(column)

    def undeclared(self, columns: Iterable[str]) -> list[str]:
        """The given column names this table does not declare."""
        have = set(self.columns)
        return [str(c) for c in columns if c not in have]

    def __str__(self) -> str:
        return self.name


def _table(name: str, key: str, columns: str, owner: str, rows: str | None = None) -> Table:
    """`columns`: space-separated `name[:TYPE]` (VARCHAR when no type is given)."""
    types = tuple((c.partition(":")[0], c.partition(":")[2] or "VARCHAR") for c in columns.split())
    keys = tuple(key.split())
    assert owner in STAGES and set(keys) <= {c for c, _ in types}, name
    return Table(name, keys, types, owner, rows)


# -- corpus, models, train, generate ----------------------------------------------------------------
PAIRS = _table("pairs", "clause_id", "clause_id document paragraph title text rule kind split fixtures",
               "corpus", "clauselens.records:RulePair.row")
MODELS = _table("models", "name", "name id path params:BIGINT", "models")
CELLS = _table("cells", "cell_id", "model params:BIGINT strategy seed:BIGINT cell_id status error", "train")
TRAINING = _table(
    "training", "cell_id",
    "cell_id trainable_params:BIGINT total_params:BIGINT peak_memory_mb:DOUBLE base_weight_mb:DOUBLE "
    "wall_s:DOUBLE tokens_per_s:DOUBLE train_loss:DOUBLE val_loss:DOUBLE steps:BIGINT quantized:BOOLEAN "
    "backend notes", "train", "clauselens.train:train_cell")
GENERATIONS = _table(
    "generations", "cell_id clause_id",
    "cell_id clause_id raw rule n_new_tokens:BIGINT truncated:BOOLEAN clause_dependence:DOUBLE",
    "generate", "clauselens.records:Generation.model_dump")

# -- score --------------------------------------------------------------------------------------------
SCORES = _table("scores", "cell_id clause_id metric", "cell_id clause_id metric value:DOUBLE detail", "score",
                "clauselens.score.metrics:score_generations")
SCORE_SUMMARY = _table(
    "score_summary", "cell_id metric subset",
    "cell_id metric subset mean:DOUBLE ci_low:DOUBLE ci_high:DOUBLE n:BIGINT", "score",
    "clauselens.score.summary:summarise")

# -- attribute ----------------------------------------------------------------------------------------
ATTRIBUTIONS = _table(
    "attributions", "cell_id clause_id method target perturbation unit",
    "cell_id clause_id method target perturbation unit n_units:BIGINT payload", "attribute",
    "clauselens.attribute.rows:attribution_row")
FAITHFULNESS = _table(
    "faithfulness", "cell_id clause_id curve",
    "cell_id clause_id curve aopc:DOUBLE random_aopc:DOUBLE comprehensiveness:DOUBLE sufficiency:DOUBLE "
    "random_comprehensiveness:DOUBLE random_sufficiency:DOUBLE n_units:BIGINT points", "attribute",
    "clauselens.attribute.faithfulness:faithfulness_curves")

# -- analyse ------------------------------------------------------------------------------------------
HYPOTHESES = _table(
    "hypotheses", "id",
    "id question metric families test margin:DOUBLE alpha:DOUBLE correction config_hash", "analyse",
    "clauselens.analyse.hypotheses:declared")
CATEGORY_SHARES = _table(
    "category_shares", "cell_id clause_id category",
    "cell_id clause_id category share:DOUBLE share_per_unit:DOUBLE n_units:BIGINT", "analyse",
    "clauselens.analyse.measures:category_shares")
FOCUS = _table("focus", "cell_id clause_id metric", "cell_id clause_id metric value:DOUBLE", "analyse")
TESTS = _table(
    "tests", "family test metric groups",
    "family test metric groups statistic:DOUBLE p:DOUBLE p_adj:DOUBLE correction effect_name effect:DOUBLE "
    "n:BIGINT sentence ci_low:DOUBLE ci_high:DOUBLE role verdict min_p:DOUBLE seed_spread:DOUBLE",
    "analyse", "clauselens.records:TestResult.model_dump")

# -- compare ------------------------------------------------------------------------------------------
ADAPTER_DELTA = _table(
    "adapter_delta", "cell_id clause_id",
    "cell_id base_cell_id base_precision clause_id method perturbation n_units:BIGINT l1:DOUBLE "
    "l1_relative:DOUBLE kendall_tau:DOUBLE top_unit top_unit_start:BIGINT top_delta:DOUBLE payload",
    "compare", "clauselens.compare.delta:adapter_delta")
ABLATION_PER_CLAUSE = _table(
    "ablation_per_clause", "cell_id clause_id category",
    "cell_id clause_id category n_units:BIGINT n_clause_units:BIGINT drop:DOUBLE control_drop:DOUBLE",
    "compare", "clauselens.compare.ablation:ablate_clause")
ABLATION = _table(
    "ablation", "cell_id category",
    "cell_id category n_clauses:BIGINT mean_units:DOUBLE mean_drop:DOUBLE ci_low:DOUBLE ci_high:DOUBLE "
    "control_mean_drop:DOUBLE control_ci_low:DOUBLE control_ci_high:DOUBLE ratio:DOUBLE excess_drop:DOUBLE "
    "excess_ci_low:DOUBLE excess_ci_high:DOUBLE p:DOUBLE sentence", "compare",
    "clauselens.compare.ablation:summarise_ablation")
ROBUSTNESS_PER_CLAUSE = _table(
    "robustness_per_clause", "cell_id clause_id measure statistic",
    "cell_id clause_id measure statistic value:DOUBLE", "compare",
    "clauselens.compare.robustness:robustness_clause")
ROBUSTNESS = _table(
    "robustness", "cell_id measure statistic",
    "cell_id measure statistic value:DOUBLE ci_low:DOUBLE ci_high:DOUBLE n:BIGINT n_clauses:BIGINT sentence",
    "compare", "clauselens.compare.robustness:summarise_robustness")
QUANTISATION_PER_CLAUSE = _table(
    "quantisation_per_clause", "model seed clause_id distance",
    "model seed:BIGINT clause_id distance observed:DOUBLE trained_differently:DOUBLE "
    "quantisation_noise:DOUBLE difference:DOUBLE", "compare", "clauselens.compare.quantisation:split_clause")
QUANTISATION_SPLIT = _table(
    "quantisation_split", "model distance",
    "model params:DOUBLE distance " + " ".join(
        f"{m}:DOUBLE {m}_ci_low:DOUBLE {m}_ci_high:DOUBLE"
        for m in ("observed", "trained_differently", "quantisation_noise", "difference"))
    + " n_clauses:BIGINT sentence", "compare", "clauselens.compare.quantisation:summarise_split")
CORRECTNESS_MODEL = _table(
    "correctness_model", "term",
    "term estimate:DOUBLE ci_low:DOUBLE ci_high:DOUBLE p:DOUBLE n:BIGINT n_clauses:BIGINT n_correct:BIGINT "
    "method adjusted_for sentence", "compare", "clauselens.compare.correctness:correctness_model")
CROSS_MODEL_AGREEMENT = _table(
    "cross_model_agreement", "cell_a cell_b unit",
    "cell_a cell_b strategy seed:BIGINT model_a model_b unit statistic value:DOUBLE ci_low:DOUBLE "
    "ci_high:DOUBLE n:BIGINT sentence", "compare", "clauselens.compare.alignment:cross_model_agreement")

SCHEMA: dict[str, Table] = {t.name: t for t in (
    PAIRS, MODELS, CELLS, TRAINING, GENERATIONS, SCORES, SCORE_SUMMARY, ATTRIBUTIONS, FAITHFULNESS,
    HYPOTHESES, CATEGORY_SHARES, FOCUS, TESTS, ADAPTER_DELTA, ABLATION_PER_CLAUSE, ABLATION,
    ROBUSTNESS_PER_CLAUSE, ROBUSTNESS, QUANTISATION_PER_CLAUSE, QUANTISATION_SPLIT, CORRECTNESS_MODEL,
    CROSS_MODEL_AGREEMENT,
)}


def declared(table: Table | str) -> Table | None:
    """The declared table (a `Table`, or the name of one); None for a name the schema does not declare."""
    return table if isinstance(table, Table) else SCHEMA.get(table)


def owned_by(stage: str) -> list[Table]:
    return [t for t in SCHEMA.values() if t.owner == stage]
