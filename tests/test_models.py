"""The builtin ladder (sizes, caching, determinism), model resolution and the causal-LM loader."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import bitsandbytes as bnb
import pytest
import torch
from safetensors.torch import load_file
from transformers import LlamaForCausalLM

from clauselens.config import ConfigError, ModelConfig
from clauselens.models import (
    LADDER,
    LadderSpec,
    base_weight_bytes,
    count_parameters,
    load_causal_lm,
    resolve_model,
)
from clauselens.models.pretrain import EOS, PAD, UNK, train_tokenizer

TEXTS = [
    "Approved Document K, section 1.2: the rise of a step shall be between 150 mm and 220 mm and the "
    "going between 220 mm and 300 mm. Every stair shall have a handrail on at least one side. " * 6,
    "def check_rule(model):\n    findings = []\n    for stair in model.elements('stair'):\n"
    "        if stair.get('rise_mm') > 220:\n            findings.append(stair)\n    return findings\n" * 6,
]
TINY = LadderSpec(hidden_size=64, intermediate_size=128, num_layers=1, num_heads=2, steps=6,
                  learning_rate=1e-2, batch_size=2, seq_len=16, vocab_size=320)


@pytest.fixture
def tiny_ladder(monkeypatch):
    monkeypatch.setitem(LADDER, "clauselens-test", TINY)
    return ModelConfig(name="t", id="builtin:clauselens-test")


def test_ladder_sizes_grow_and_fit_4bit_blocks():
    sizes = []
    for name in ("clauselens-xs", "clauselens-s", "clauselens-m"):
        spec = LADDER[name]
        assert spec.hidden_size % 64 == 0 and spec.intermediate_size % 64 == 0
        with torch.device("meta"):
            model = LlamaForCausalLM(spec.llama_config(spec.vocab_size, 0, 1))
        sizes.append(count_parameters(model)[1])
    # ladder v4: about 0.33M, 0.82M and 1.44M (docs/training.md)
    assert 0.2e6 < sizes[0] < 0.5e6 and 0.6e6 < sizes[1] < 1.0e6 and 1.2e6 < sizes[2] < 1.8e6, sizes
    with pytest.raises(ValueError, match="multiple of 64"):
        LadderSpec(hidden_size=96, intermediate_size=256, num_layers=1, num_heads=4, steps=1,
                   learning_rate=1e-3)


def test_rungs_pretrain_costliest_first_with_at_most_one_process_per_core(monkeypatch, tmp_path):
    """Three rungs on two cores: a pool of two, m first, so s and then xs share the other core."""
    import concurrent.futures

    from clauselens.models import resolve

    def layer_flops(name):  # independent of `pretraining_cost`: count the decoder's own weights
        spec = LADDER[name]
        with torch.device("meta"):
            model = LlamaForCausalLM(spec.llama_config(spec.vocab_size, 0, 1))
        layers = sum(p.numel() for n, p in model.named_parameters() if ".layers." in n)
        return spec.steps * spec.batch_size * spec.seq_len * layers

    seen = {}

    class Pool:
        def __init__(self, workers, **_):
            seen["workers"] = workers

        def __enter__(self):
            return self

        def __exit__(self, *_):
            return False

        def map(self, fn, tasks):
            seen["order"] = [t[0] for t in tasks]
            seen["threads"] = {t[3] for t in tasks}
            return []

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    monkeypatch.setattr(resolve.os, "cpu_count", lambda: 2)
    rungs = ["clauselens-xs", "clauselens-m", "clauselens-s"]
    resolve.pretrain_builtins(rungs, TEXTS, cache_dir=tmp_path)
    assert seen["workers"] == 2 and seen["threads"] == {1}
    assert seen["order"] == sorted(rungs, key=layer_flops, reverse=True) == [
        "clauselens-m", "clauselens-s", "clauselens-xs"]


def test_tokenizer_is_byte_level_with_specials():
    tok = train_tokenizer(TEXTS, vocab_size=320)
    assert (tok.eos_token, tok.pad_token, tok.unk_token) == (EOS, PAD, UNK)
    odd = "Größe ≤ 2.0 m — § 3.1\n\tdef f(): return 'ü'"
    ids = tok(odd, add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids and tok.decode(ids) == odd
    assert len(tok) <= 320


def test_builtin_model_is_pretrained_once_cached_and_deterministic(tiny_ladder, tmp_path):
    first = resolve_model(tiny_ladder, TEXTS, cache_dir=tmp_path / "a", progress=False)
    meta_file = tmp_path / "a" / "ladder" / first.rsplit("/", 1)[1] / "ladder.json"
    assert meta_file.is_file()
    mtime = meta_file.stat().st_mtime_ns
    t0 = time.perf_counter()
    again = resolve_model(tiny_ladder, TEXTS, cache_dir=tmp_path / "a", progress=False)
    assert again == first and time.perf_counter() - t0 < 0.5 and meta_file.stat().st_mtime_ns == mtime
    assert not [p for p in (tmp_path / "a" / "ladder").iterdir() if p.name.endswith(".tmp")]

    other = resolve_model(tiny_ladder, TEXTS[:1], cache_dir=tmp_path / "a", progress=False)
    assert other != first  # different texts, different model

    twin = resolve_model(tiny_ladder, TEXTS, cache_dir=tmp_path / "b", progress=False)
    a, b = load_file(f"{first}/model.safetensors"), load_file(f"{twin}/model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    meta = json.loads(meta_file.read_text())
    assert meta["held_out_loss_after"] < meta["held_out_loss_before"]  # it learned something
    model, tokenizer = load_causal_lm(first)
    assert isinstance(model, LlamaForCausalLM) and tokenizer.pad_token == PAD and not model.training


def test_pretraining_autocasts_to_bf16_only_where_the_cpu_has_it(tiny_ladder, monkeypatch, tmp_path):
    native = {"bf16": False}
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native["bf16"])
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    fp32 = resolve_model(tiny_ladder, TEXTS, cache_dir=tmp_path, progress=False)
    native["bf16"] = True
    bf16 = resolve_model(tiny_ladder, TEXTS, cache_dir=tmp_path, progress=False)
    assert fp32 != bf16  # the precision is part of the cache key
    precision = {p: json.loads(open(f"{p}/ladder.json").read())["precision"] for p in (fp32, bf16)}
    assert precision == {fp32: "fp32", bf16: "bf16"}
    a, b = load_file(f"{fp32}/model.safetensors"), load_file(f"{bf16}/model.safetensors")
    assert not all(torch.equal(a[k], b[k]) for k in a)  # bf16 rounding changed the training
    assert all(v.dtype == torch.float32 for v in b.values())  # autocast: the weights stay fp32
    monkeypatch.setitem(LADDER, "clauselens-test", replace(TINY, bf16=False))  # a spec can opt out
    off = resolve_model(tiny_ladder, TEXTS, cache_dir=tmp_path, progress=False)
    assert json.loads(open(f"{off}/ladder.json").read())["precision"] == "fp32"


def test_resolve_model_passes_hub_ids_and_checks_local_folders(tiny_ladder, tmp_path):
    assert resolve_model(ModelConfig(name="q", id="Qwen/Qwen2.5-0.5B")) == "Qwen/Qwen2.5-0.5B"
    with pytest.raises(ConfigError, match="model folder not found"):
        resolve_model(ModelConfig(name="q", id=str(tmp_path / "missing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no config.json"):
        resolve_model(ModelConfig(name="q", id=str(tmp_path / "empty")))
    with pytest.raises(ConfigError, match="unknown builtin model"):
        resolve_model(ModelConfig(name="q", id="builtin:nope"), TEXTS)
    with pytest.raises(ValueError, match="needs texts"):
        resolve_model(tiny_ladder, None, cache_dir=tmp_path)


def test_load_causal_lm_4bit_is_smaller_and_counts_logical_params(tiny_ladder, tmp_path):
    path = resolve_model(tiny_ladder, TEXTS, cache_dir=tmp_path, progress=False)
    full, _ = load_causal_lm(path)
    quant, _ = load_causal_lm(path, quantization="nf4", double_quant=True, compute_dtype="float32")
    layers = [m for m in quant.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(layers) == 7 and all(m.weight.dtype == torch.uint8 for m in layers)
    assert count_parameters(quant)[1] == count_parameters(full)[1]
    linear = [m.weight for m in full.modules() if isinstance(m, torch.nn.Linear) and m is not full.lm_head]
    n_linear = sum(w.numel() for w in linear)
    rest = base_weight_bytes(full) - sum(w.numel() * w.element_size() for w in linear)
    packed = base_weight_bytes(quant) - rest  # the 4-bit layers: packed nibbles plus quantization constants
    # 4 bits a weight plus constants (per 64-block absmax, and a 1 KiB code table per layer that
    # dominates only in layers this tiny): well under int8's 8 bits, let alone fp32's 32
    assert 0.5 * n_linear < packed < 0.75 * n_linear
    with pytest.raises(ValueError, match="quantization"):
        load_causal_lm(path, quantization="int3")
    with pytest.raises(ConfigError, match="cannot load"):
        load_causal_lm(tmp_path / "nothing-here")
