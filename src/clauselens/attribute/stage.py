"""The attribute stage: attribution (and faithfulness curves) of the chosen test clauses for every done cell.

Work goes out in shards of a cell's missing clauses (`AttributeTask`, module level: it travels to Ray
workers); each explains the cell's own generated output. The similarity and verdict targets regenerate
under each perturbation: `_target_hooks` is where generation, scoring and the rule sandbox meet this
stage, through their public surfaces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clauselens.attribute.rows import attribution_row
from clauselens.config import ConfigError
from clauselens.layout import CellLayout
from clauselens.records import Attribution, RulePair
from clauselens.tables import ATTRIBUTIONS, FAITHFULNESS, GENERATIONS

if TYPE_CHECKING:
    from clauselens.study import Study
    from clauselens.train import CellTask

log = logging.getLogger("clauselens")


@dataclass
class AttributeTask:
    task: CellTask  # the cell, with the shard's clauses as its pairs
    targets: dict[str, str]  # clause_id -> the cell's own generated output


def attribute_task(a: AttributeTask) -> tuple[list[Attribution], list[dict[str, Any]]]:
    """Attribute one shard (in a worker): its attributions and faithfulness rows."""
    from clauselens.attribute.clause import attribute_clause
    from clauselens.attribute.faithfulness import faithfulness_curves

    t = a.task
    model, tok = t.load()
    cache_dir = CellLayout(t.out_dir).attribution_cache  # resumed shards reuse every evaluated perturbation
    attrs, faith = [], []
    for p in t.pairs:
        target = a.targets[p.clause.clause_id]
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


def _target_hooks(t: CellTask, pair: RulePair, model: Any, tok: Any) -> dict[str, Callable[..., Any]]:
    """Generation, similarity and verdict checks for the non-logprob targets (stages meet only here)."""
    target = t.cfg.attribution.target
    if target == "logprob":
        return {}
    from clauselens.generate import clean_rule, generate_texts, generation_config

    gen_cfg = generation_config(t, tok)

    def generate(prompts: list[str]) -> list[str]:
        return [raw for raw, _ in generate_texts(model, tok, prompts, gen_cfg, t.cell.seed)]

    if target == "similarity":
        from clauselens.score import load_embedder

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


def attribution_clauses(study: Study) -> list[RulePair]:
    """The first `max_clauses` test clauses by id (with fixtures only, for the verdict target)."""
    tests = sorted(study.test_pairs(), key=lambda p: p.clause.clause_id)
    if study.cfg.attribution.target == "verdict":
        tests = [p for p in tests if p.fixtures]
    n = study.cfg.attribution.max_clauses
    return tests[:n] if n else tests


def attribute_run(study: Study, shard_size: int = 8) -> None:
    """Attribute what is missing, shard by shard; each shard's rows are written as it arrives."""
    from clauselens.train import cell_task

    a = study.cfg.attribution
    have = study.store.keys(ATTRIBUTIONS)
    gens = study.store.read(GENERATIONS)
    chosen = attribution_clauses(study)
    tasks, keys = [], []
    for c in study.done_cells():
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
            tasks.append(AttributeTask(cell_task(study, c, shard),
                                       targets={p.clause.clause_id: g[p.clause.clause_id] for p in shard}))
            keys.append(f"{c.cell_id}#{i // shard_size}")

    def record(outcome: Any) -> None:
        if not outcome.ok:
            log.error("attribution failed for %s: %s", outcome.key, outcome.error)
            return
        attrs, faith = outcome.value
        study.store.upsert(ATTRIBUTIONS, [attribution_row(x, unit=a.unit) for x in attrs])
        if faith:
            study.store.upsert(FAITHFULNESS, faith)

    study.executor.map(attribute_task, tasks, keys, on_result=record, progress="attribute")

