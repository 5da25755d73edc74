"""Turn a `ModelConfig.id` into something `from_pretrained` can load.

`builtin:<name>` ladder models are pretrained on first use and cached under
`<cache>/ladder/<name>-v<version>-<hash>`, the hash covering the ladder spec, the ladder version and
the exact training texts, so a changed corpus never reuses a stale model. `family:<name>` models are
tiny random-init models of real families with their real tokenizers (`clauselens.models.families`).
Training happens in a temporary folder that is renamed into place only when complete, under a file
lock, so two processes asking for the same model pretrain it once and a killed run leaves no
half-written model behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock

from clauselens.config import ConfigError, ModelConfig
from clauselens.layout import cache_root
from clauselens.models.families import FAMILY_PREFIX, family_dir
from clauselens.models.ladder import LADDER, LADDER_VERSION
from clauselens.models.pretrain import pretrain, pretraining_precision

BUILTIN_PREFIX = "builtin:"
LADDER_META = "ladder.json"


def texts_hash(texts: Sequence[str]) -> str:
    """Order-sensitive hash of the texts (length-prefixed so boundaries matter)."""
    h = hashlib.sha256()
    for text in texts:
        data = text.encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def ladder_dir(name: str, texts: Sequence[str], cache_dir: Path | None = None) -> Path:
    """Where the ladder model `name` pretrained on `texts` is (or will be) cached."""
    spec = LADDER[name]
    recipe = f"{spec.fingerprint()}:{pretraining_precision(spec)}:{texts_hash(texts)}"
    key = hashlib.sha256(recipe.encode()).hexdigest()[:16]
    return (cache_dir or cache_root()) / "ladder" / f"{name}-v{LADDER_VERSION}-{key}"


def resolve_model(
    model_cfg: ModelConfig,
    texts: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> str:
    """A loadable path or hub id for `model_cfg.id`; pretrains `builtin:*` ladder models once."""
    model_id = model_cfg.id
    if model_id.startswith(BUILTIN_PREFIX):
        return str(_resolve_builtin(model_id[len(BUILTIN_PREFIX) :], texts, cache_dir, progress))
    if model_id.startswith(FAMILY_PREFIX):
        return str(family_dir(model_id[len(FAMILY_PREFIX) :], cache_dir))
    local = Path(model_id).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise ConfigError(f"models[{model_cfg.name}].id: {local} has no config.json (not a model folder)")
        return str(local)
    if model_id.startswith(("/", ".", "~")) or model_id.count("/") > 1:
        raise ConfigError(f"models[{model_cfg.name}].id: model folder not found: {local}")
    return model_id  # a hub id; transformers reports a missing one when loading


def _resolve_builtin(name: str, texts: Sequence[str] | None, cache_dir: Path | None, progress: bool) -> Path:
    if name not in LADDER:
        raise ConfigError(f"unknown builtin model 'builtin:{name}'; choose one of {sorted(LADDER)}")
    if not texts:
        raise ValueError(f"builtin:{name} is pretrained on first use and needs texts (regulation + rules)")
    final = ladder_dir(name, texts, cache_dir)
    if (final / LADDER_META).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final.parent / f".{final.name}.lock")):
        if (final / LADDER_META).is_file():  # another process finished it while we waited
            return final
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
        try:
            meta = pretrain(LADDER[name], texts, tmp, progress=progress)
            meta.update(name=name, ladder_version=LADDER_VERSION, texts_sha256=texts_hash(texts),
                        n_texts=len(texts))
            (tmp / LADDER_META).write_text(json.dumps(meta, indent=2, sort_keys=True))
            if final.exists():  # an incomplete folder from an older layout: replace it
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _pretrain_one(args: tuple[str, Sequence[str], Path | None, int]) -> str:
    """Worker of `pretrain_builtins`: one rung, with its share of the cores."""
    import torch

    name, texts, cache_dir, threads = args
    torch.set_num_threads(threads)
    return str(_resolve_builtin(name, texts, cache_dir, progress=False))


def pretraining_cost(name: str) -> int:
    """Pretraining cost of rung `name` up to a constant: steps x tokens per step x decoder weights."""
    spec = LADDER[name]
    width = spec.hidden_size * (spec.hidden_size + spec.intermediate_size)
    return spec.steps * spec.batch_size * spec.seq_len * spec.num_layers * width


def pretrain_builtins(names: Sequence[str], texts: Sequence[str], cache_dir: Path | None = None,
                      progress: bool = True) -> None:
    """Pretrain the uncached builtin rungs `names` in parallel processes, at most one per core.

    One small model cannot keep two cores busy (measured: benchmarks/ladder_parallel.py), so the rungs
    run side by side with one process per core, the costliest first (longest-processing-time order:
    with three rungs on two cores, m runs alone while s and then xs share the other core). More
    processes than cores shared them worse: 815 s against 713 s for the v4 ladder (docs/training.md).
    Each process takes the same file lock as `resolve_model`, so a concurrent study still pretrains each
    rung once.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from clauselens.quiet import quiet_third_party

    missing = [n for n in dict.fromkeys(names)
               if n in LADDER and not (ladder_dir(n, texts, cache_dir) / LADDER_META).is_file()]
    workers = min(len(missing), os.cpu_count() or 1)
    if workers < 2:
        for name in missing:
            _resolve_builtin(name, texts, cache_dir, progress)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    ordered = sorted(missing, key=pretraining_cost, reverse=True)
    context = multiprocessing.get_context("spawn")
    # the initializer runs before the task unpickles `_pretrain_one`, whose import loads bitsandbytes
    with ProcessPoolExecutor(workers, mp_context=context, initializer=quiet_third_party) as pool:
        list(pool.map(_pretrain_one, [(n, list(texts), cache_dir, threads) for n in ordered]))
