"""A cache of model evaluations keyed by (model fingerprint, perturbed input).

Attribution methods, faithfulness curves and resumed runs ask for many of the same perturbed inputs
(the unperturbed clause, the empty clause, the same coalition from two Shapley permutations). Each
answer is kept in an in-memory LRU and, when a folder is given, in one JSON file per (model, clause,
target) group under that folder, so a run that is interrupted and resumed recomputes nothing it has
already written.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from clauselens.store import atomic_write

_SAMPLES_PER_TENSOR = 16


def model_fingerprint(model: torch.nn.Module) -> str:
    """A cheap identity for a model's current weights.

    Hashes the config, every parameter's name, shape and dtype, and 16 strided values of each
    parameter (the raw storage for quantized weights), plus the active adapter names. Fine-tuned
    weights (FFT) and trained adapters (LoRA / QLoRA) differ in the sampled values, so two cells never
    share a fingerprint; hashing every weight of a 7B model per clause would cost seconds.
    """
    h = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_json_string"):
        h.update(config.to_json_string(use_diff=False).encode())
    h.update(repr(getattr(model, "active_adapters", None)).encode())
    with torch.no_grad():
        for name, param in model.named_parameters():
            flat = param.detach().reshape(-1)
            step = max(1, flat.numel() // _SAMPLES_PER_TENSOR)
            sample = flat[::step][:_SAMPLES_PER_TENSOR].to("cpu")
            h.update(f"{name}:{tuple(param.shape)}:{param.dtype}".encode())
            sample = sample.float() if sample.is_floating_point() else sample
            h.update(sample.numpy().tobytes())
    return h.hexdigest()[:20]


def input_key(*parts: str) -> str:
    """A short stable key for one evaluation input (e.g. fingerprint, target, prompt)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode())
        h.update(b"\x00")
    return h.hexdigest()[:32]


class EvalCache:
    """In-memory LRU of evaluation results (a per-token log-probability row is a float64 array)."""

    def __init__(self, max_items: int = 50_000):
        self.max_items = max_items
        self._items: OrderedDict[str, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Any | None:
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]
        self.misses += 1
        return None

    def put(self, key: str, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()


class DiskShelf:
    """The on-disk part of the cache for one (model, clause, target) group: one JSON object."""

    def __init__(self, folder: Path | None, group: str):
        self.path = folder / f"{group}.json" if folder is not None else None
        self.items: dict[str, Any] = {}
        self._dirty = False
        if self.path is not None and self.path.is_file():
            try:
                self.items = json.loads(self.path.read_text())
            except json.JSONDecodeError as exc:
                raise ValueError(f"{self.path}: attribution cache file is not valid JSON ({exc}); "
                                 "delete it to recompute") from None

    def put(self, key: str, value: Any) -> None:
        if self.path is not None:
            self.items[key] = value
            self._dirty = True

    def flush(self) -> None:
        if self.path is not None and self._dirty:
            with atomic_write(self.path) as fh:
                json.dump(self.items, fh, default=lambda value: value.tolist())  # numpy arrays
            self._dirty = False


DEFAULT_CACHE = EvalCache()
