"""Batched, deterministic rule generation with any Hugging Face causal LM (plain or peft-wrapped).

Choices, and why:
- Prompts are sorted by length before batching (less padding) and padded on the left by hand, so
  the caller's tokenizer is never mutated (`padding_side`, `pad_token`) and every row's last
  prompt token sits right before the first generated one.
- Greedy decoding by default: a rule is a function of the clause and the cell, nothing else, and in
  float32 a batch gives the same text as one clause at a time (checked on CPU and on an H100). In
  bf16/fp16 the padded batch's rounding can flip a near-tied argmax (seen on 1 of 7 rows of a random
  tiny model): set `generation.batch_size = 1` where exact batch invariance matters more than speed.
  With `do_sample` the run is reproducible for a given seed and batch size (each batch reseeds a
  private RNG stream from `(seed, batch index)`).
- Only `GenerationConfig` decides decoding: repetition penalties, top-k and beams that a model's
  `generation_config.json` may carry are set to neutral values, so a hub model's defaults cannot
  change results silently.
- The prompt is `clauselens.prompt.render_prompt(clause, tokenizer).text`, tokenized by
  `clauselens.prompt.prompt_token_ids` (one BOS even when a chat template already wrote one).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import transformers
from rich.progress import track
from transformers import StoppingCriteriaList

from clauselens.config import GenerationConfig
from clauselens.generate.cleaning import clean_rule
from clauselens.generate.stopping import CheckRuleComplete
from clauselens.prompt import prompt_token_ids, render_prompt
from clauselens.records import Clause, Generation


def generate_rules(model: torch.nn.Module, tokenizer: object, clauses: Sequence[Clause],
                   gen_cfg: GenerationConfig, seed: int, cell_id: str, progress: bool = True
                   ) -> list[Generation]:
    """One `Generation` per clause, in the order given.

    Each row stops at an end token, at `gen_cfg.max_new_tokens`, or once it holds a complete
    `check_rule` function (`CheckRuleComplete`). `raw` is the decoded continuation up to the stop;
    `rule` is `clean_rule(raw)`; `n_new_tokens` counts the tokens of `raw` (no end token, no padding);
    `truncated` says the row reached `max_new_tokens`.
    """
    prompts = [render_prompt(c, tokenizer).text for c in clauses]
    outputs = generate_texts(model, tokenizer, prompts, gen_cfg, seed, progress=progress,
                             label=f"generate {cell_id}")
    return [Generation(cell_id=cell_id, clause_id=c.clause_id, raw=raw, rule=clean_rule(raw), n_new_tokens=n,
                       truncated=n >= gen_cfg.max_new_tokens)  # type: ignore[operator]
            for c, (raw, n) in zip(clauses, outputs, strict=True)]


def rule_token_bound(tokenizer: object, rules: Sequence[str], margin: float = 0.25) -> int:
    """`max_new_tokens` that lets every rule end: the longest tokenised rule (plus its end token) and
    `margin` more. A fixed bound either cuts rules off (a small tokenizer spends many tokens on code)
    or wastes time on models that never stop."""
    if not rules:
        raise ValueError("no training rules to derive generation.max_new_tokens from; set it in the config")
    longest = max(len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in rules)  # type: ignore[operator]
    return int((longest + 1) * (1 + margin) + 0.999)


def generate_texts(model: torch.nn.Module, tokenizer: object, prompts: Sequence[str],
                   gen_cfg: GenerationConfig, seed: int, progress: bool = False, label: str = "generate"
                   ) -> list[tuple[str, int]]:
    """(raw continuation, its token count) for each full prompt text, with `generate_rules`' decoding.

    The attribution engine's `similarity` and `verdict` targets regenerate from perturbed prompts here.
    """
    if not prompts:
        return []
    if gen_cfg.max_new_tokens is None:
        raise ValueError("generation.max_new_tokens is unset; resolve it with rule_token_bound first")
    ids = [prompt_token_ids(tokenizer, p) for p in prompts]
    eos_ids = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id  # type: ignore[attr-defined]
    if pad_id is None:
        pad_id = min(eos_ids) if eos_ids else 0  # masked out either way
    device = next(model.parameters()).device
    gen_config = _decoding_config(gen_cfg, pad_id, eos_ids)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batches = [order[i:i + gen_cfg.batch_size] for i in range(0, len(order), gen_cfg.batch_size)]
    results: list[tuple[str, int]] = [("", 0)] * len(ids)
    model.eval()
    for b, batch in enumerate(track(batches, description=label, disable=not progress)):
        input_ids, attention_mask = _left_pad([ids[i] for i in batch], pad_id, device)
        stop = CheckRuleComplete(tokenizer, input_ids.shape[1], eos_ids, len(batch))
        with torch.random.fork_rng(devices=_cuda_devices(device)), torch.inference_mode():
            torch.manual_seed(int(np.random.SeedSequence([seed, b]).generate_state(1)[0]))
            out = model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                 generation_config=gen_config, stopping_criteria=StoppingCriteriaList([stop]))
        new_tokens = out[:, input_ids.shape[1]:].tolist()
        for row, i in enumerate(batch):
            kept = new_tokens[row][:stop.kept(row, len(new_tokens[row]))]
            results[i] = (tokenizer.decode(kept, skip_special_tokens=True), len(kept))  # type: ignore[attr-defined]
    return results


def _eos_ids(model: torch.nn.Module, tokenizer: object) -> set[int]:
    """End tokens: the tokenizer's and the model's generation config's (chat models add end-of-turn)."""
    ids: set[int] = set()
    candidates = [getattr(tokenizer, "eos_token_id", None),
                  getattr(getattr(model, "generation_config", None), "eos_token_id", None)]
    for value in candidates:
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return ids


def _decoding_config(gen_cfg: GenerationConfig, pad_id: int, eos_ids: set[int]
                     ) -> transformers.GenerationConfig:
    sampling = {"temperature": gen_cfg.temperature, "top_p": gen_cfg.top_p, "top_k": 0} if gen_cfg.do_sample \
        else {}
    return transformers.GenerationConfig(
        max_new_tokens=gen_cfg.max_new_tokens, do_sample=gen_cfg.do_sample, num_beams=1,
        repetition_penalty=1.0, no_repeat_ngram_size=0, pad_token_id=pad_id,
        eos_token_id=sorted(eos_ids) or None, **sampling)


def _left_pad(rows: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, r in enumerate(rows):
        ids[k, width - len(r):] = torch.tensor(r, dtype=torch.long)
        mask[k, width - len(r):] = 1
    return ids.to(device), mask.to(device)


def _cuda_devices(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []
