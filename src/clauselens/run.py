"""The study: walk the (model, strategy, seed) grid through every stage, resumably.

corpus -> models -> train -> generate -> score -> attribute -> analyse -> report. Each stage asks the
store what is already done and only does what is missing, so an interrupted run (crash, Ctrl-C, a lost
Ray worker) resumes where it stopped. Independent work (training cells, generation shards, attribution
shards) goes through an executor (`local` or `ray`); results are written by the driver as they arrive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from clauselens.config import ConfigError, ExperimentConfig, ModelConfig
from clauselens.manifest import finish_manifest, start_manifest
from clauselens.records import Attribution, Cell, Generation, RulePair
from clauselens.store import Store

log = logging.getLogger("clauselens")

STAGES = ("corpus", "models", "train", "generate", "score", "attribute", "analyse", "compare", "report")


def open_store(cfg: ExperimentConfig) -> Store:
    return Store(Path(cfg.output_dir))


def _safe(cell_id: str) -> str:
    return cell_id.replace("/", "__")


def cell_dir(store: Store, cell_id: str) -> Path:
    """Absolute, so Ray workers with another working directory find it."""
    return store.root.resolve() / "cells" / _safe(cell_id)


# -- corpus ----------------------------------------------------------------------------------------
def stage_corpus(store: Store, cfg: ExperimentConfig) -> list[RulePair]:
    """Load the clause -> rule pairs (split applied) into table `pairs`."""
    from clauselens.corpus import load_pairs

    base = Path(cfg.source_path).parent if cfg.source_path else Path.cwd()
    pairs = load_pairs(cfg.data, base, seed=cfg.seeds[0])
    if not any(p.split == "test" for p in pairs):
        raise ConfigError(f"{cfg.source_path}: data: the split leaves no test clauses")
    store.upsert("pairs", [p.row() for p in pairs], key=["clause_id"])
    keep = {p.clause.clause_id for p in pairs}
    stale = set(store.read("pairs")["clause_id"]) - keep
    for cid in stale:
        store.delete("pairs", "clause_id = ?", [cid])
    return pairs


def read_pairs(store: Store) -> list[RulePair]:
    df = store.read("pairs")
    if df.empty:
        raise ConfigError(f"{store.root}: no clause pairs in the store; run the corpus stage first")
    return [RulePair.from_row(r) for r in df.to_dict("records")]


# -- models ----------------------------------------------------------------------------------------
def pretraining_texts(cfg: ExperimentConfig, pairs: Sequence[RulePair]) -> list[str]:
    """What a builtin ladder model is pretrained on (`clauselens.models.synthetic.pretraining_mix`).

    Regulation prose without any test clause, train-split rules only, synthetic clause -> rule pairs and
    stdlib Python. With the builtin corpus and its stored split, the whole stored split decides what
    is held out whatever `data.max_train` says, so resizing a study does not re-pretrain the ladder.
    """
    from clauselens.corpus import builtin_clause_texts, builtin_pairs
    from clauselens.models.synthetic import pretraining_mix

    if not (cfg.data.source == "builtin" and cfg.data.split == "stored"):
        extra = [p.clause.text for p in pairs if p.split == "train"]
        return pretraining_mix(builtin_clause_texts() + extra, [p.rule for p in pairs if p.split == "train"],
                               [p.clause.text for p in pairs if p.split != "train"])
    stored = builtin_pairs()
    return pretraining_mix(builtin_clause_texts(), [p.rule for p in stored if p.split == "train"],
                           [p.clause.text for p in stored if p.split != "train"])


def stage_models(store: Store, cfg: ExperimentConfig, pairs: Sequence[RulePair]) -> pd.DataFrame:
    """Resolve every base model to a loadable path and record its parameter count (table `models`)."""
    from clauselens.models import count_parameters, load_causal_lm, resolve_model
    from clauselens.models.resolve import BUILTIN_PREFIX, pretrain_builtins

    done = store.read("models")
    texts: list[str] | None = None
    builtin = [m.id[len(BUILTIN_PREFIX):] for m in cfg.models if m.id.startswith(BUILTIN_PREFIX)]
    if builtin:  # the rungs pretrain side by side; the loop below then finds them cached
        texts = pretraining_texts(cfg, pairs)
        pretrain_builtins(builtin, texts)
    rows = []
    for m in cfg.models:
        prev = done[done["name"] == m.name] if not done.empty else done
        if (
            not prev.empty
            and prev.iloc[0]["id"] == m.id
            and (not m.id.startswith(("builtin:", "family:")) or Path(prev.iloc[0]["path"]).exists())
        ):
            continue  # resolved before (a builtin or family model must also still be in the cache)
        if m.id.startswith("builtin:") and texts is None:
            texts = pretraining_texts(cfg, pairs)
        path = resolve_model(m, texts=texts)
        params = m.params
        if params is None:
            model, _ = load_causal_lm(path)
            params = count_parameters(model)[1]
            del model
        rows.append({"name": m.name, "id": m.id, "path": str(path), "params": int(params)})
    store.upsert("models", rows, key=["name"])
    return store.read("models")


def plan_cells(cfg: ExperimentConfig, models: pd.DataFrame) -> list[Cell]:
    params = dict(zip(models["name"], models["params"], strict=True))
    return [
        Cell(model=m.name, params=int(params[m.name]), strategy=s, seed=seed)
        for m in cfg.models
        for s in cfg.strategies.enabled()
        for seed in cfg.seeds
    ]


# -- tasks (module level: they travel to Ray workers) ------------------------------------------------
@dataclass
class CellTask:
    cfg: ExperimentConfig
    model_cfg: ModelConfig
    model_path: str
    cell: Cell
    out_dir: Path
    pairs: list[RulePair]
    train_pairs: list[RulePair]  # what the cell is fine-tuned on; bounds generation length

    @property
    def progress(self) -> bool:
        """Progress bars only in-process; in worker processes they would interleave as streams of lines."""
        return self.cfg.executor.kind == "local" and self.cfg.executor.workers == 1


def train_task(t: CellTask) -> dict[str, Any]:
    from clauselens.train import train_cell

    if t.cell.strategy == "base":
        from clauselens.models import count_parameters, load_causal_lm

        model, _ = load_causal_lm(t.model_path)
        trainable, total = count_parameters(model)
        return {
            "trainable_params": 0,
            "total_params": total,
            "steps": 0,
            "quantized": False,
            "backend": "none",
            "notes": "base model, not fine-tuned",
        }
    pairs = t.pairs
    if t.cfg.data.synthetic_pairs:
        from clauselens.models.synthetic import synthetic_rule_pairs

        pairs = pairs + synthetic_rule_pairs(t.cfg.data.synthetic_pairs, seed=1000 + t.cell.seed)
    return train_cell(
        t.cfg,
        t.model_cfg,
        t.model_path,
        t.cell.strategy,
        t.cell.seed,
        pairs,
        t.out_dir,
        progress=t.progress,
    )


def _load(t: CellTask) -> tuple[Any, Any]:
    from clauselens.train import load_cell

    return load_cell(t.model_path, t.cell.strategy, t.out_dir, qlora_cfg=t.cfg.strategies.qlora)


def generation_config(t: CellTask, tokenizer: Any) -> Any:
    """The run's generation settings, `max_new_tokens` bounded by the training rules when unset."""
    from clauselens.generate.generation import rule_token_bound

    gen = t.cfg.generation
    if gen.max_new_tokens is not None:
        return gen
    bound = rule_token_bound(tokenizer, [p.rule for p in t.train_pairs])
    return gen.model_copy(update={"max_new_tokens": bound})


def generate_task(t: CellTask) -> list[Generation]:
    from clauselens.generate import generate_rules
    from clauselens.generate.dependence import clause_dependence

    model, tok = _load(t)
    clauses = [p.clause for p in t.pairs]
    gens = generate_rules(model, tok, clauses, generation_config(t, tok), t.cell.seed, t.cell.cell_id,
                          progress=t.progress)
    gains = clause_dependence(model, tok, clauses, [g.raw for g in gens])
    return [g.model_copy(update={"clause_dependence": d}) for g, d in zip(gens, gains, strict=True)]


@dataclass
class AttributeTask(CellTask):
    targets: dict[str, str]  # clause_id -> the cell's own generated output


def attribute_task(t: AttributeTask) -> tuple[list[Attribution], list[dict[str, Any]]]:
    from clauselens.attribute import attribute_clause, faithfulness_curves

    model, tok = _load(t)
    cache_dir = t.out_dir / "attribution-cache"  # resumed shards reuse every evaluated perturbation
    attrs, faith = [], []
    for p in t.pairs:
        target = t.targets[p.clause.clause_id]
        hooks = _target_hooks(t, p, model, tok)
        attr = attribute_clause(
            model,
            tok,
            p.clause,
            target,
            t.cfg.attribution,
            t.cell.cell_id,
            seed=t.cell.seed,
            cache_dir=cache_dir,
            **hooks,
        )
        attrs.append(attr)
        if t.cfg.attribution.faithfulness:
            faith += faithfulness_curves(
                model,
                tok,
                p.clause,
                target,
                attr,
                t.cfg.attribution,
                seed=t.cell.seed,
                cache_dir=cache_dir,
                **hooks,
            )
    return attrs, faith


def _target_hooks(t: AttributeTask, pair: RulePair, model: Any, tok: Any) -> dict[str, Callable[..., Any]]:
    """Generation, similarity and verdict checks for the non-logprob targets (stages meet only here)."""
    target = t.cfg.attribution.target
    if target == "logprob":
        return {}
    from clauselens.generate import clean_rule, generate_texts

    gen_cfg = generation_config(t, tok)

    def generate(prompts: list[str]) -> list[str]:
        return [raw for raw, _ in generate_texts(model, tok, prompts, gen_cfg, t.cell.seed)]

    if target == "similarity":
        from clauselens.score.embedding import load_embedder

        def similarity(a: list[str], b: list[str]) -> list[float]:
            embedder = load_embedder(t.cfg.scoring.embedder)
            return [
                float(x.sentence @ y.sentence)
                for x, y in zip(embedder.embed(a), embedder.embed(b), strict=True)
            ]

        return {"generate_fn": generate, "similarity_fn": similarity}
    from clauselens.rules import run_rules

    buildings = [f["building"] for f in pair.fixtures]
    if not buildings:
        raise ConfigError(
            f"attribution.target = 'verdict' needs fixture buildings; clause {pair.clause.clause_id} "
            "has none (use data.kinds = ['quantitative'] or another target)"
        )

    def verdicts(rules: list[str]) -> list[tuple]:
        outcomes = run_rules(
            [clean_rule(r) for r in rules],
            buildings,
            t.cfg.scoring.sandbox_timeout_s,
            t.cfg.scoring.sandbox_memory_mb,
        )
        return [tuple(o.verdicts) for o in outcomes]

    return {"generate_fn": generate, "verdict_fn": verdicts}


# -- stages over the grid ----------------------------------------------------------------------------
class Study:
    """One study run over one store: each `stage_*` method does only what is missing."""

    def __init__(self, cfg: ExperimentConfig, store: Store, executor: Any | None = None):
        from clauselens.executor import make_executor

        self.cfg, self.store = cfg, store
        self.executor = executor or make_executor(cfg.executor)
        self._models: pd.DataFrame | None = None

    # plumbing
    def models(self) -> pd.DataFrame:
        if self._models is None:
            self._models = stage_models(self.store, self.cfg, read_pairs(self.store))
        return self._models

    def cells(self) -> list[Cell]:
        return plan_cells(self.cfg, self.models())

    def _task(self, cell: Cell, pairs: list[RulePair]) -> CellTask:
        models = self.models().set_index("name")
        mcfg = next(m for m in self.cfg.models if m.name == cell.model)
        train = [p for p in read_pairs(self.store) if p.split == "train"]
        path = models.loc[cell.model, "path"]
        return CellTask(self.cfg, mcfg, path, cell, cell_dir(self.store, cell.cell_id), pairs, train)

    def done_cells(self) -> list[Cell]:
        ok = self.store.keys("cells", ["cell_id", "status"])
        return [c for c in self.cells() if (c.cell_id, "done") in ok]

    def test_pairs(self) -> list[RulePair]:
        return [p for p in read_pairs(self.store) if p.split == "test"]

    # stages
    def train(self) -> None:
        pairs = read_pairs(self.store)
        todo = [c for c in self.cells() if c not in self.done_cells()]
        self.store.upsert(
            "cells",
            [
                {**c.model_dump(), "cell_id": c.cell_id, "status": "pending", "error": None}
                for c in todo
                if not self.store.done("cells", cell_id=c.cell_id)
            ],
            key=["cell_id"],
        )

        def record(outcome: Any) -> None:
            cell = next(c for c in todo if c.cell_id == outcome.key)
            row = {
                **cell.model_dump(),
                "cell_id": cell.cell_id,
                "status": "done" if outcome.ok else "failed",
                "error": outcome.error,
            }
            if outcome.ok:
                self.store.upsert("training", [{"cell_id": cell.cell_id, **outcome.value}], key=["cell_id"])
            self.store.upsert("cells", [row], key=["cell_id"])

        self.executor.map(
            train_task,
            [self._task(c, pairs) for c in todo],
            [c.cell_id for c in todo],
            on_result=record,
            progress="train cells",
        )

    def generate(self) -> None:
        tests = self.test_pairs()
        have = self.store.keys("generations", ["cell_id", "clause_id"])
        tasks, keys = [], []
        for c in self.done_cells():
            missing = [p for p in tests if (c.cell_id, p.clause.clause_id) not in have]
            if missing:
                tasks.append(self._task(c, missing))
                keys.append(c.cell_id)

        def record(outcome: Any) -> None:
            if outcome.ok:
                self.store.upsert(
                    "generations", [g.model_dump() for g in outcome.value], key=["cell_id", "clause_id"]
                )
            else:
                log.error("generation failed for %s: %s", outcome.key, outcome.error)

        self.executor.map(generate_task, tasks, keys, on_result=record, progress="generate")

    def score(self) -> None:
        from clauselens.score import score_run

        score_run(self.store, self.cfg)

    def attribution_clauses(self) -> list[RulePair]:
        """The first `max_clauses` test clauses by id (with fixtures only, for the verdict target)."""
        tests = sorted(self.test_pairs(), key=lambda p: p.clause.clause_id)
        if self.cfg.attribution.target == "verdict":
            tests = [p for p in tests if p.fixtures]
        n = self.cfg.attribution.max_clauses
        return tests[:n] if n else tests

    def attribute(self, shard_size: int = 8) -> None:
        a = self.cfg.attribution
        have = self.store.keys(
            "attributions", ["cell_id", "clause_id", "method", "target", "perturbation", "unit"]
        )
        gens = self.store.read("generations")
        chosen = self.attribution_clauses()
        tasks, keys = [], []
        for c in self.done_cells():
            g = (
                gens[gens["cell_id"] == c.cell_id].set_index("clause_id")["raw"].to_dict()
                if not gens.empty
                else {}
            )
            empty = [
                p.clause.clause_id
                for p in chosen
                if p.clause.clause_id in g and not g[p.clause.clause_id].strip()
            ]
            if empty:  # an empty output has nothing to attribute; its quality scores already count it
                log.warning(
                    "%s: %d clause(s) with an empty generated rule are not attributed", c.cell_id, len(empty)
                )
            missing = [
                p
                for p in chosen
                if g.get(p.clause.clause_id, "").strip()
                and (c.cell_id, p.clause.clause_id, a.method, a.target, a.perturbation, a.unit) not in have
            ]
            for i in range(0, len(missing), shard_size):
                shard = missing[i : i + shard_size]
                base = self._task(c, shard)
                tasks.append(
                    AttributeTask(
                        **vars(base), targets={p.clause.clause_id: g[p.clause.clause_id] for p in shard}
                    )
                )
                keys.append(f"{c.cell_id}#{i // shard_size}")

        def record(outcome: Any) -> None:
            if not outcome.ok:
                log.error("attribution failed for %s: %s", outcome.key, outcome.error)
                return
            attrs, faith = outcome.value
            self.store.upsert(
                "attributions",
                [
                    {
                        "cell_id": x.cell_id,
                        "clause_id": x.clause_id,
                        "method": x.method,
                        "target": x.target,
                        "perturbation": x.perturbation,
                        "unit": a.unit,
                        "payload": x.to_json(),
                    }
                    for x in attrs
                ],
                key=["cell_id", "clause_id", "method", "target", "perturbation", "unit"],
            )
            if faith:
                self.store.upsert("faithfulness", faith, key=["cell_id", "clause_id", "curve"])

        self.executor.map(attribute_task, tasks, keys, on_result=record, progress="attribute")

    def analyse(self) -> None:
        from clauselens.analyse import analyse_run

        analyse_run(self.store, self.cfg)

    def compare(self) -> None:
        from clauselens.compare import compare_run

        compare_run(self.store, self.cfg)

    def report(self) -> Path:
        from clauselens.report import write_report

        return write_report(self.store, self.cfg)


def run_study(
    cfg: ExperimentConfig,
    stages: Sequence[str] = STAGES,
    *,
    allow_config_change: bool = False,
    executor: Any | None = None,
) -> Path | None:
    """Run (or resume) the study; returns the report path when the report stage ran."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {unknown}; stages are {', '.join(STAGES)}")
    store = open_store(cfg)
    try:
        start_manifest(store, cfg, allow_config_change=allow_config_change)
        if "corpus" in stages:
            stage_corpus(store, cfg)
        study = Study(cfg, store, executor)
        report = None
        try:
            for stage in stages:
                if stage == "corpus":
                    continue
                log.info("stage %s", stage)
                if stage == "models":
                    study.models()
                elif stage == "report":
                    report = study.report()
                else:
                    getattr(study, stage)()
        finally:
            if executor is None:
                study.executor.close()
        failed = store.read("cells", "status = 'failed'")
        finish_manifest(store, failed_cells=[] if failed.empty else failed["cell_id"].tolist())
        return report
    finally:
        store.close()


def describe_progress(store: Store) -> list[tuple[str, int]]:
    """Rows per table: what a run has done so far (for `clauselens status`)."""
    return [(t, len(store.read(t))) for t in sorted(store.tables())]
