"""FFT / LoRA / QLoRA on a tiny in-process Llama: what each strategy trains, resume, reuse, loading."""

from __future__ import annotations

import json
from pathlib import Path

import bitsandbytes as bnb
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, TrainerCallback

from clauselens.config import ExperimentConfig, QLoRAConfig
from clauselens.models.pretrain import train_tokenizer
from clauselens.records import Clause, RulePair
from clauselens.train import load_cell, train_cell
from clauselens.train.examples import IGNORE_INDEX, encode_pairs

STEPS = 16


def _pair(i: int, split: str = "train") -> RulePair:
    limit = 150 + 10 * i
    clause = Clause(clause_id=f"K:1.{i}", document="K", paragraph=f"1.{i}", title="Stairs",
                    text=f"The rise of every step shall not exceed {limit} mm.")
    rule = (f"def check_rule(model):\n    return [s for s in model.elements('stair')"
            f" if s.get('rise_mm') > {limit}]\n")
    return RulePair(clause=clause, rule=rule, kind="quantitative", split=split)


PAIRS = [_pair(i) for i in range(8)] + [_pair(i, "val") for i in (8, 9)] + [_pair(10, "test")]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("tiny-base")
    tokenizer = train_tokenizer([p.clause.text + "\n" + p.rule for p in PAIRS] * 4, vocab_size=400)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    model.save_pretrained(root)
    tokenizer.save_pretrained(root)
    return str(root)


def _cfg(base_dir: str, qlora: dict | None = None, **hyper) -> ExperimentConfig:
    common = {"max_steps": STEPS, "batch_size": 4, "save_steps": 8}
    return ExperimentConfig.model_validate({
        "models": [{"name": "tiny", "id": base_dir}],
        "strategies": {"fft": {**common, "learning_rate": 3e-3, **hyper},
                       "lora": {**common, "learning_rate": 1e-2, **hyper},
                       "qlora": {**common, "learning_rate": 1e-2, **hyper, **(qlora or {})}},
    })


class Snapshot(TrainerCallback):
    """Copies of the parameters (and 4-bit module facts) at the start and end of training."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.before = {n: p.detach().clone() for n, p in model.named_parameters()}

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.after = {n: p.detach().clone() for n, p in model.named_parameters()}
        self.trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        self.linear4bit = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]


class Counter(TrainerCallback):
    def __init__(self):
        self.steps = 0
        self.began = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.began += 1

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1


class Kill(TrainerCallback):
    """Simulates a killed process right after the step that follows a checkpoint."""

    def __init__(self, at_step: int):
        self.at_step = at_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at_step:
            raise KeyboardInterrupt("simulated kill")


@pytest.fixture(scope="module")
def trained(base_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("cells")
    cfg = _cfg(base_dir)
    cells = {}
    for strategy in ("fft", "lora", "qlora"):
        snap = Snapshot()
        row = train_cell(cfg, cfg.models[0], base_dir, strategy, 0, PAIRS, root / strategy, progress=False,
                         callbacks=[snap])
        cells[strategy] = (row, root / strategy, snap)
    return cells


def test_fft_changes_every_weight_tensor(trained):
    row, out_dir, snap = trained["fft"]
    assert snap.trainable == set(snap.before)
    unchanged = [n for n in snap.before if torch.equal(snap.before[n], snap.after[n])]
    assert unchanged == []
    assert row["trainable_params"] == row["total_params"] > 0
    assert (out_dir / "model" / "model.safetensors").is_file()


def test_lora_trains_only_adapters_and_keeps_base_bit_identical(trained):
    row, out_dir, snap = trained["lora"]
    adapters = {n for n in snap.before if "lora_" in n}
    assert adapters and snap.trainable == adapters
    changed_base = [n for n in snap.before if n not in adapters
                    and not torch.equal(snap.before[n], snap.after[n])]
    assert changed_base == []
    assert all(snap.after[n].abs().max() > 0 for n in adapters if "lora_B" in n)  # B starts at zero
    assert row["trainable_params"] == sum(snap.after[n].numel() for n in adapters)
    assert row["trainable_params"] < row["total_params"] / 3
    saved = {p.name for p in (out_dir / "adapter").iterdir()}
    assert "adapter_model.safetensors" in saved and "model.safetensors" not in saved


def test_qlora_base_is_stored_in_4bit_and_adapters_train(trained):
    row, out_dir, snap = trained["qlora"]
    fft_row = trained["fft"][0]
    assert len(snap.linear4bit) == 2 * 7  # q, k, v, o, gate, up, down in each of 2 layers
    for module in snap.linear4bit:
        assert isinstance(module.weight, bnb.nn.Params4bit)
        assert module.weight.dtype == torch.uint8
        assert module.weight.quant_state.quant_type == "nf4"
        assert module.weight.numel() * 2 == module.in_features * module.out_features  # 2 values a byte
    frozen = [n for n in snap.before if n not in snap.trainable]
    assert any(".weight" in n and "proj" in n for n in frozen)
    assert all(torch.equal(snap.before[n], snap.after[n]) for n in frozen)
    assert snap.trainable and all("lora_" in n for n in snap.trainable)
    assert all(snap.after[n].abs().max() > 0 for n in snap.trainable if "lora_B" in n)
    assert row["quantized"] is True and fft_row["quantized"] is False
    assert row["base_weight_mb"] < 0.5 * fft_row["base_weight_mb"]
    assert row["total_params"] == trained["lora"][0]["total_params"]  # 4-bit counted at logical size
    assert "nf4" in row["backend"] and "Linear4bit" in row["notes"]


@pytest.mark.parametrize("strategy", ["fft", "lora", "qlora"])
def test_loss_falls_on_small_overfit_set(trained, strategy):
    row, out_dir, _ = trained[strategy]
    losses = [h["loss"] for h in json.loads((out_dir / "log_history.json").read_text()) if "loss" in h]
    assert len(losses) >= 3
    assert losses[-1] < losses[0] - 0.5, losses
    assert row["steps"] == STEPS and row["val_loss"] is not None
    assert row["train_loss"] == pytest.approx(losses[-1])
    assert row["tokens_per_s"] > 0 and row["wall_s"] > 0 and row["peak_memory_mb"] > 0
    assert not (out_dir / "checkpoints").exists()


def test_finished_cell_is_not_retrained(trained, base_dir):
    row, out_dir, _ = trained["lora"]
    counter = Counter()
    cfg = _cfg(base_dir)
    again = train_cell(cfg, cfg.models[0], base_dir, "lora", 0, PAIRS, out_dir, progress=False,
                       callbacks=[counter])
    assert again == row and counter.began == 0
    changed = _cfg(base_dir, learning_rate=1e-4)
    with pytest.raises(ValueError, match="other settings"):
        train_cell(changed, changed.models[0], base_dir, "lora", 0, PAIRS, out_dir, progress=False)


def test_killed_run_resumes_from_last_checkpoint(base_dir, tmp_path):
    cfg = _cfg(base_dir, max_steps=6, save_steps=2)
    out_dir = tmp_path / "lora"
    with pytest.raises(KeyboardInterrupt):
        train_cell(cfg, cfg.models[0], base_dir, "lora", 0, PAIRS, out_dir, progress=False,
                   callbacks=[Kill(3)])
    assert (out_dir / "checkpoints" / "checkpoint-2").is_dir()
    assert not (out_dir / "training.json").exists()
    counter = Counter()
    row = train_cell(cfg, cfg.models[0], base_dir, "lora", 0, PAIRS, out_dir, progress=False,
                     callbacks=[counter])
    assert counter.steps == 4  # steps 3..6: continued from checkpoint-2, not restarted
    assert row["steps"] == 6
    assert "resumed from checkpoint-2" in row["notes"]
    history = json.loads((out_dir / "log_history.json").read_text())
    assert max(h["step"] for h in history) == 6


def test_load_cell_rebuilds_each_cell_for_inference(trained, base_dir):
    ids = torch.tensor([[5, 17, 42, 7, 99]])
    base, _ = load_cell(base_dir, "base", Path("unused"))
    with torch.no_grad():
        reference = base(input_ids=ids.to(base.device)).logits.float().cpu()
    for strategy, (_, out_dir, _) in trained.items():
        model, tokenizer = load_cell(base_dir, strategy, out_dir)
        assert not model.training and tokenizer.pad_token is not None
        with torch.no_grad():
            logits = model(input_ids=ids.to(model.device)).logits.float().cpu()
        assert not torch.allclose(logits, reference, atol=1e-4), strategy
        n4 = sum(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
        assert (n4 > 0) == (strategy == "qlora")
    with pytest.raises(ValueError, match="holds a lora cell"):
        load_cell(base_dir, "qlora", trained["lora"][1])
    qlora_dir = trained["qlora"][1]
    load_cell(base_dir, "qlora", qlora_dir, qlora_cfg=QLoRAConfig())  # nf4 + double quant, as trained
    with pytest.raises(ValueError, match="was trained with"):
        load_cell(base_dir, "qlora", qlora_dir, qlora_cfg=QLoRAConfig(quant_type="fp4"))


def test_prompt_is_masked_and_truncation_is_counted(base_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    full = encode_pairs(PAIRS[:2], tokenizer, max_length=512)
    example = full.examples[0]
    target = [t for t in example["labels"] if t != IGNORE_INDEX]
    assert target[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(target[:-1]) == PAIRS[0].rule
    n_prompt = example["labels"].index(target[0])
    assert example["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert not full.truncated and not full.dropped
    short = encode_pairs(PAIRS[:2], tokenizer, max_length=n_prompt + 3)
    assert short.truncated == ["K:1.0", "K:1.1"] and short.target_tokens == 6
    assert "2 rules truncated" in short.describe("train")
    none = encode_pairs(PAIRS[:2], tokenizer, max_length=n_prompt - 1)
    assert none.dropped == ["K:1.0", "K:1.1"] and not none.examples


def test_chat_template_shapes_the_prompt(base_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    tokenizer.chat_template = "{% for m in messages %}<|user|>{{ m['content'] }}{% endfor %}<|assistant|>"
    example = encode_pairs(PAIRS[:1], tokenizer, max_length=4096).examples[0]
    prompt = tokenizer.decode(example["input_ids"][: example["labels"].count(IGNORE_INDEX)])
    assert prompt.startswith("<|user|>") and prompt.endswith("<|assistant|>")
    assert PAIRS[0].clause.text in prompt and "### Instruction" not in prompt


@pytest.mark.skipif(torch.cuda.is_available(), reason="paged optimizers exist on CUDA")
def test_paged_optimizer_is_refused_on_cpu(base_dir, tmp_path):
    cfg = _cfg(base_dir, qlora={"optimizer": "paged_adamw_8bit"})
    with pytest.raises(ValueError, match="needs a CUDA GPU"):
        train_cell(cfg, cfg.models[0], base_dir, "qlora", 0, PAIRS, tmp_path / "q", progress=False)


def test_early_stopping_stops_when_val_loss_stops_improving(base_dir, tmp_path):
    cfg = _cfg(base_dir, max_steps=40, eval_steps=2, early_stopping_patience=2, learning_rate=5.0)
    row = train_cell(cfg, cfg.models[0], base_dir, "fft", 0, PAIRS, tmp_path / "fft", progress=False)
    history = json.loads((tmp_path / "fft" / "log_history.json").read_text())
    evals = [h["eval_loss"] for h in history if "eval_loss" in h]
    assert row["steps"] < 40 and len(evals) >= 3  # a diverging run is cut short
    assert row["val_loss"] == pytest.approx(min(evals))  # the best checkpoint is the one kept
