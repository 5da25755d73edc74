"""The corpus stage: the clause -> rule pairs of the study (split applied) in table `pairs`."""

from __future__ import annotations

from pathlib import Path

from clauselens.config import ConfigError, ExperimentConfig
from clauselens.corpus.load import load_pairs
from clauselens.records import RulePair
from clauselens.store import Store
from clauselens.tables import PAIRS


def corpus_run(store: Store, cfg: ExperimentConfig) -> list[RulePair]:
    """Load the clause -> rule pairs (split applied) into table `pairs`; pairs no longer chosen go."""
    base = Path(cfg.source_path).parent if cfg.source_path else Path.cwd()
    pairs = load_pairs(cfg.data, base, seed=cfg.seeds[0])
    if not any(p.split == "test" for p in pairs):
        raise ConfigError(f"{cfg.source_path}: data: the split leaves no test clauses")
    store.upsert(PAIRS, [p.row() for p in pairs])
    keep = {p.clause.clause_id for p in pairs}
    stale = set(store.read(PAIRS)["clause_id"]) - keep
    for cid in stale:
        store.delete(PAIRS, "clause_id = ?", [cid])
    return pairs


def read_pairs(store: Store) -> list[RulePair]:
    """The pairs the corpus stage stored."""
    df = store.read(PAIRS)
    if df.empty:
        raise ConfigError(f"{store.root}: no clause pairs in the store; run the corpus stage first")
    return [RulePair.from_row(r) for r in df.to_dict("records")]
