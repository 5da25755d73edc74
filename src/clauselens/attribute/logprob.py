"""Teacher-forced log-probability of one fixed output under many perturbed prompts, doing little work.

A perturbation changes only the clause, so every token before the first changed token is identical to
the unperturbed prompt (the instruction, the clause header, and for leave-one-out the clause words
before the removed one). Their keys and values cannot change, so they are computed once, in the forward
pass over the unperturbed prompt and output, and reused:

1. Each perturbed prompt is tokenized whole (exactly as a naive loop or captum would) and compared with
   the unperturbed token ids; the longest common prefix says how many positions can be reused.
2. Perturbed inputs are grouped by that prefix length, so a batch of neighbouring leave-one-out
   perturbations shares almost all of it. The batch runs only the tokens after the shared prefix, left
   padded after it (attention mask and explicit position ids keep padding out), on a copy of the
   reference KV cache expanded to the batch (`DynamicCache`).
3. Logits are computed only where the output is predicted (`logits_to_keep`): the vocabulary
   projection of every prompt position is work whose result is never read.

Models with sliding-window attention (Mistral, Gemma 3) keep the whole reference cache (the masks
apply the window) and batch only perturbed inputs of one length, so no row is padded (see `_batches`).

Results equal a naive loop of full forward passes up to floating-point reordering (tests check 1e-4 in
fp32, on every family including sliding-window models whose prompt is longer than the window).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
import torch
from transformers import DynamicCache, LlamaModel

from clauselens.prompt import PromptParts, prompt_token_ids

# transformers renamed `past_key_values` to `cache` during 5.x; pass whichever this version takes.
CACHE_KWARG = "cache" if "cache" in inspect.signature(LlamaModel.forward).parameters else "past_key_values"


def sliding_window(model: torch.nn.Module) -> int | None:
    """The attention window of a model with sliding-window layers (Mistral, Gemma 3), else None."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    window = getattr(config, "sliding_window", None)
    layer_types = getattr(config, "layer_types", None)
    if window is None or (layer_types is not None and "sliding_attention" not in layer_types):
        return None
    if getattr(config, "use_sliding_window", True) is False:
        return None
    return int(window)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class TeacherForcedScorer:
    """Per-output-token log-probabilities of `target_text` after prompts that differ only in the clause."""

    def __init__(self, model: torch.nn.Module, tokenizer: object, parts: PromptParts, target_text: str,
                 batch_size: int = 16):
        self.model = model
        self.tokenizer = tokenizer
        self.parts = parts
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.target_ids: list[int] = tokenizer(target_text, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
        if not self.target_ids:
            raise ValueError("attribution target text is empty: there is no output to attribute")
        self.reference_ids = self.sequence_ids(parts.text)
        self.window = sliding_window(model)
        self.forward_passes = 0
        self.tokens_computed = 0  # positions run through the model (the work that was not skipped)
        self._kv, self.reference_logprobs = self._reference_pass()

    @property
    def n_target(self) -> int:
        return len(self.target_ids)

    def sequence_ids(self, prompt: str) -> list[int]:
        """The prompt followed by the output minus its last token: the model's input."""
        return prompt_token_ids(self.tokenizer, prompt) + self.target_ids[:-1]

    def _target_logprobs(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        ids = torch.tensor(self.target_ids, device=logits.device).expand(logits.shape[0], -1)
        picked = logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1)
        return picked - torch.logsumexp(logits, dim=-1)

    @torch.inference_mode()
    def _reference_pass(self) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], np.ndarray]:
        ids = torch.tensor([self.reference_ids], device=self.device)
        cache = DynamicCache()
        out = self.model(input_ids=ids, use_cache=True, logits_to_keep=self.n_target, **{CACHE_KWARG: cache})
        self.forward_passes += 1
        self.tokens_computed += ids.shape[1]
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        return kv, self._target_logprobs(out.logits)[0].double().cpu().numpy()

    def score(self, prompts: Sequence[str]) -> np.ndarray:
        """Log-probability of each output token after each prompt, shape (len(prompts), n_target)."""
        out = np.zeros((len(prompts), self.n_target))
        rows: list[tuple[int, list[int], int]] = []
        for i, text in enumerate(prompts):
            ids = self.sequence_ids(text)
            if ids == self.reference_ids:
                out[i] = self.reference_logprobs
                continue
            shared = min(_common_prefix(ids, self.reference_ids), len(ids) - self.n_target)
            rows.append((i, ids, shared))
        for batch in self._batches(rows):
            shared = min(r[2] for r in batch)
            if shared == 0:  # nothing in common, not even a BOS token: run each row on its own
                for row in batch:
                    out[row[0]] = self._run([row[1]], 0)[0]
            else:
                out[[r[0] for r in batch]] = self._run([r[1] for r in batch], shared)
        return out

    def _batches(self, rows: list[tuple[int, list[int], int]]) -> list[list[tuple[int, list[int], int]]]:
        """Rows sharing the longest prefixes go together; under a sliding window, only rows of one length.

        Sliding-window masks compare cache indices, not position ids, so a left-padded row would see a
        window shifted by its padding (keys at the window's edge wrongly in or out). Rows of equal length
        cut at their batch's shared prefix have equal tails: no padding, and the window is exact.
        """
        if self.window is None:
            rows = sorted(rows, key=lambda r: (-r[2], len(r[1])))
            return [rows[i:i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        by_length: dict[int, list[tuple[int, list[int], int]]] = {}
        for row in rows:
            by_length.setdefault(len(row[1]), []).append(row)
        batches = []
        for group in by_length.values():
            group.sort(key=lambda r: -r[2])
            batches += [group[i:i + self.batch_size] for i in range(0, len(group), self.batch_size)]
        return batches

    @torch.inference_mode()
    def _run(self, sequences: list[list[int]], shared: int) -> np.ndarray:
        """Forward `sequences[:, shared:]` on the reference cache of the first `shared` positions."""
        tails = [s[shared:] for s in sequences]
        width = max(len(t) for t in tails)
        batch = len(tails)
        pad_id = 0
        input_ids = torch.full((batch, width), pad_id, dtype=torch.long)
        attention = torch.zeros((batch, shared + width), dtype=torch.long)
        attention[:, :shared] = 1
        positions = torch.zeros((batch, width), dtype=torch.long)
        for r, tail in enumerate(tails):
            pad = width - len(tail)
            input_ids[r, pad:] = torch.tensor(tail)
            attention[r, shared + pad:] = 1
            positions[r, pad:] = torch.arange(shared, shared + len(tail))
        kwargs = {}
        if shared:
            cache = DynamicCache()
            for layer, (keys, values) in enumerate(self._kv):
                cache.update(keys[:, :, :shared].expand(batch, -1, -1, -1),
                             values[:, :, :shared].expand(batch, -1, -1, -1), layer)
            kwargs[CACHE_KWARG] = cache
        out = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            position_ids=positions.to(self.device),
            use_cache=bool(shared),
            logits_to_keep=self.n_target,
            **kwargs,
        )
        self.forward_passes += 1
        self.tokens_computed += int(sum(len(t) for t in tails))
        return self._target_logprobs(out.logits).double().cpu().numpy()
