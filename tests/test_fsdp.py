"""Sharded FFT: two gloo processes under FSDP follow the loss trajectory of one plain process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_attribute_engine import bpe_tokenizer
from transformers import DataCollatorForSeq2Seq, LlamaConfig, LlamaForCausalLM, get_scheduler

from clauselens.config import ConfigError, ExperimentConfig, load_config
from clauselens.corpus.load import load_pairs
from clauselens.generate import generate_rules
from clauselens.models import load_causal_lm
from clauselens.train.cell import train_cell
from clauselens.train.examples import IGNORE_INDEX, encode_pairs
from clauselens.train.sharded import global_batches

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_study.toml"
STEPS, PER_RANK, LR = 3, 2, 3e-3
TOLERANCE = 1e-4  # absolute, on per-step mean token loss (float32, different reduction order)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("fsdp")
    tok = bpe_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(root / "base")
    tok.save_pretrained(root / "base")
    pairs = [p.model_copy(update={"split": "train"}) for p in load_pairs(ExperimentConfig.model_validate(
        {"models": [{"name": "x", "id": "x"}]}).data, ROOT)[:6]]
    cfg = load_config(TINY, {"output_dir": str(root / "run"), "strategies.fft.devices": 2,
                             "strategies.fft.max_steps": STEPS, "strategies.fft.batch_size": PER_RANK,
                             "strategies.fft.learning_rate": LR, "strategies.fft.max_length": 1024})
    row = train_cell(cfg, cfg.models[0], str(root / "base"), "fft", 0, pairs, root / "cell", progress=False)
    return root, cfg, pairs, row


def _single_process(root: Path, cfg: ExperimentConfig, pairs) -> tuple[list[float], LlamaForCausalLM]:
    """The same global batches in one plain process: the model's own mean loss, no FSDP, no torchrun."""
    model, tok = load_causal_lm(root / "base", dtype="float32", device="cpu")
    model.train()
    torch.manual_seed(0)
    examples = encode_pairs(pairs, tok, cfg.strategies.fft.max_length).examples
    collate = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=IGNORE_INDEX)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    schedule = get_scheduler("linear", optimizer, 0, STEPS)
    losses = []
    for ids in global_batches(len(examples), 2 * PER_RANK, STEPS, 0):
        loss = model(**collate([examples[i] for i in ids])).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses, model


def test_two_gloo_processes_match_one_process(setup):
    root, cfg, pairs, row = setup
    sharded = [h["loss"] for h in json.loads((root / "cell" / "log_history.json").read_text())]
    single, _ = _single_process(root, cfg, pairs)
    assert len(sharded) == STEPS
    assert np.abs(np.array(sharded) - np.array(single)).max() < TOLERANCE, (sharded, single)
    assert single[0] - single[-1] > 0.01  # the model learns: the comparison is not of constants
    assert "fsdp=2xgloo" in row["backend"] and row["steps"] == STEPS


def test_saved_checkpoint_has_the_trained_weights_and_generates(setup):
    root, cfg, pairs, _ = setup
    _, reference = _single_process(root, cfg, pairs)
    model, tok = load_causal_lm(root / "cell" / "model", dtype="float32", device="cpu")
    gap = max((a - b).abs().max().item() for a, b in zip(model.state_dict().values(),
                                                          reference.state_dict().values(), strict=True))
    assert gap < 1e-4
    out = generate_rules(model, tok, [pairs[0].clause], cfg.generation, 0, "x/fft/s0", progress=False)
    assert out[0].n_new_tokens > 0


def test_devices_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match=r"strategies.fft.devices"):
        load_config(TINY, {"strategies.fft.devices": 0})
