"""Pretrain one ladder model from scratch: a byte-level BPE tokenizer, then next-token prediction.

The corpus is small (regulation text plus the train-split reference rules), so the recipe is plain:
the token stream is cut into rows of `seq_len` tokens, batches are drawn with a seeded generator,
AdamW, cosine decay after a short warmup. Every 50th row is held out so the saved metadata shows the
model learned something (held-out loss before and after). Everything is seeded: on one torch build two
runs give identical weights (seen here with 1 and with 2 threads; other CPUs may round differently).

The forward pass runs under bf16 autocast (weights and optimizer stay fp32) where the CPU multiplies
bf16 natively: 1.38 times as many steps of m in the same time (benchmarks/pretrain_precision.py), and
steps are what teach a rung to copy a clause's numbers. Elsewhere emulated bf16 would be slower than
fp32, so it trains in fp32; the precision is part of the cache key and of the saved metadata.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast, get_cosine_schedule_with_warmup

from clauselens.models.ladder import LadderSpec

EOS, PAD, UNK = "<|endoftext|>", "<|pad|>", "<|unk|>"
HELD_OUT_EVERY = 50  # 2% of the corpus


def pretraining_precision(spec: LadderSpec) -> str:
    """"bf16" (autocast) where `spec.bf16` asks for it and this CPU has native bf16 (AVX512-BF16 or AMX),
    else "fp32"."""
    native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(
        torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return "bf16" if spec.bf16 and native else "fp32"


def train_tokenizer(texts: Sequence[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE (every string encodes; no unknown bytes) with eos / pad / unk specials.

    Digits are split into single tokens before BPE, so "1200" and "1250" share their pieces: a model
    that copies a clause's number copies digit by digit instead of needing a token per value.
    """
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD, unk_token=UNK)


def _token_stream(texts: Sequence[str], tokenizer: PreTrainedTokenizerFast) -> torch.Tensor:
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for encoded in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        ids.extend(encoded)
        ids.append(eos)
    return torch.tensor(ids, dtype=torch.long)


def split_rows(stream: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) rows of `seq_len` tokens; every HELD_OUT_EVERY-th row is held out, so the
    held-out text is spread over the whole corpus (prose and rules alike) and never trained on."""
    n = len(stream) // seq_len
    rows = stream[: n * seq_len].view(n, seq_len)
    held = torch.zeros(n, dtype=torch.bool)
    held[HELD_OUT_EVERY // 2 :: HELD_OUT_EVERY] = True
    return rows[~held], rows[held]


@torch.no_grad()
def _held_out_loss(model: LlamaForCausalLM, held_out: torch.Tensor) -> float:
    model.eval()
    losses = [model(input_ids=b, labels=b).loss.item() for b in held_out.split(16)]
    model.train()
    return sum(losses) / len(losses)


def training_step(model: LlamaForCausalLM, optimizer: torch.optim.Optimizer,
                  schedule: torch.optim.lr_scheduler.LRScheduler, batch: torch.Tensor,
                  labels: torch.Tensor, precision: str) -> float:
    """One clipped AdamW step on `batch` (forward under bf16 autocast when `precision` is "bf16")."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        loss = model(input_ids=batch, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def pretrain(spec: LadderSpec, texts: Sequence[str], out_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Train tokenizer and model on `texts`, save both to `out_dir`; return what happened."""
    t0 = time.perf_counter()
    torch.manual_seed(spec.seed)
    tokenizer = train_tokenizer(texts, spec.vocab_size)
    stream = _token_stream(texts, tokenizer)
    train_rows, held_out = split_rows(stream, spec.seq_len)
    if len(held_out) == 0:
        need = (HELD_OUT_EVERY // 2 + 1) * spec.seq_len
        raise ValueError(f"ladder pretraining needs at least {need} tokens of text; got {len(stream)}")

    config = spec.llama_config(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id)
    model = LlamaForCausalLM(config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=0.01)
    schedule = get_cosine_schedule_with_warmup(optimizer, max(1, spec.steps // 20), spec.steps)
    generator = torch.Generator().manual_seed(spec.seed)
    precision = pretraining_precision(spec)
    loss_before = _held_out_loss(model, held_out)

    losses: list[float] = []
    bar = _LossBar(progress, spec.steps, out_dir.name)
    for _ in range(spec.steps):
        batch = train_rows[torch.randint(0, len(train_rows), (spec.batch_size,), generator=generator)]
        losses.append(training_step(model, optimizer, schedule, batch, batch, precision))
        bar.advance(losses[-1])
    bar.close()

    loss_after = _held_out_loss(model, held_out)
    model.eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    tail = losses[-max(1, len(losses) // 10) :]
    return {
        "tokens": int(len(stream)),
        "tokens_trained": spec.steps * spec.batch_size * spec.seq_len,
        "epochs_equivalent": round(spec.steps * spec.batch_size / len(train_rows), 3),
        "held_out_tokens": held_out.numel(),
        "vocab_size": len(tokenizer),
        "params": sum(p.numel() for p in model.parameters()),
        "train_loss_first": losses[0],
        "train_loss_last": sum(tail) / len(tail),
        "loss_curve": {str(i + 25): round(sum(losses[i:i + 25]) / 25, 4)  # mean of each 25 steps
                       for i in range(0, len(losses) - 24, 25)},
        "held_out_loss_before": loss_before,
        "held_out_loss_after": loss_after,
        "held_out_ppl_after": math.exp(min(loss_after, 50.0)),
        "wall_s": round(time.perf_counter() - t0, 2),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "precision": precision,
    }


class _LossBar:
    """A rich progress bar that shows the running loss, or nothing when progress is off."""

    def __init__(self, enabled: bool, total: int, label: str):
        self._progress = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn(f"pretraining {label}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.3f}"), TimeRemainingColumn(), transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("pretrain", total=total, loss=float("nan"))

    def advance(self, loss: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=loss)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
