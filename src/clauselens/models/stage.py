"""The models stage: every base model resolved to a loadable path, with its parameter count (table `models`).

Builtin ladder rungs are pretrained here (deterministically, cached) on `pretraining_texts`, the
pretraining-text policy of a study: nothing a ladder model sees may be a test clause.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from clauselens.config import ExperimentConfig
from clauselens.models.loading import count_parameters, load_causal_lm
from clauselens.models.resolve import BUILTIN_PREFIX, pretrain_builtins, resolve_model
from clauselens.records import RulePair
from clauselens.store import Store
from clauselens.tables import MODELS


def pretraining_texts(cfg: ExperimentConfig, pairs: Sequence[RulePair], seed: int = 0) -> list[str]:
    """What a builtin ladder model is pretrained on (`clauselens.models.synthetic.pretraining_mix`).

    Regulation prose without any test clause, train-split pairs only (their rules, and copies with new
    limits), synthetic clause -> rule pairs and stdlib Python. With the builtin corpus and its stored
    split, the whole stored split decides what is held out and what is train whatever `data.max_train`
    says, so resizing a study does not re-pretrain the ladder. `seed` draws the mix (0 in a study;
    `benchmarks/ladder_probe.py --mix-seed` measures how much a draw matters).
    """
    from clauselens.corpus import builtin_clause_texts, builtin_pairs
    from clauselens.models.synthetic import pretraining_mix

    own = not (cfg.data.source == "builtin" and cfg.data.split == "stored")
    split = pairs if own else builtin_pairs()
    train = [p for p in split if p.split == "train"]
    prose = builtin_clause_texts() + ([p.clause.text for p in train] if own else [])
    return pretraining_mix(prose, train, [p.clause.text for p in split if p.split != "train"], seed=seed)


def models_run(store: Store, cfg: ExperimentConfig, pairs: Sequence[RulePair]) -> pd.DataFrame:
    """Resolve every base model to a loadable path and record its parameter count (table `models`)."""
    done = store.read(MODELS)
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
    store.upsert(MODELS, rows)
    return store.read(MODELS)
