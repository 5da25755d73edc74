"""Clause -> rule pairs as supervised examples: prompt tokens masked, loss on the rule tokens only.

The prompt is `clauselens.prompt.render_prompt` (the chat template when the tokenizer has one), the
same text generation and attribution use. Prompt and rule are tokenized separately and concatenated,
so the model learns to continue exactly the token sequence it will be given at generation time; the
prompt goes through `clauselens.prompt.prompt_token_ids` (one BOS, whether or not a chat template
wrote one). Over-long examples keep the whole prompt and lose the end of the rule (and its eos); an
example whose prompt alone fills `max_length` is dropped. Both are counted, never silent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from transformers import PreTrainedTokenizerBase

from clauselens.prompt import prompt_token_ids, render_prompt
from clauselens.records import RulePair

IGNORE_INDEX = -100


@dataclass
class EncodedPairs:
    """Tokenized examples of one split plus what truncation did to them."""

    examples: list[dict[str, list[int]]] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)  # clause ids whose rule was cut
    dropped: list[str] = field(default_factory=list)  # clause ids whose prompt alone was too long

    @property
    def target_tokens(self) -> int:
        return sum(sum(1 for t in ex["labels"] if t != IGNORE_INDEX) for ex in self.examples)

    def describe(self, split: str) -> str:
        parts = [f"{split}: {len(self.examples)} examples"]
        if self.truncated:
            parts.append(f"{len(self.truncated)} rules truncated ({', '.join(self.truncated[:5])})")
        if self.dropped:
            parts.append(f"{len(self.dropped)} dropped, prompt too long ({', '.join(self.dropped[:5])})")
        return "; ".join(parts)


def encode_pair(pair: RulePair, tokenizer: PreTrainedTokenizerBase, max_length: int) -> tuple[Any, bool]:
    """(example or None when the prompt alone is too long, whether the rule was truncated)."""
    prompt = prompt_token_ids(tokenizer, render_prompt(pair.clause, tokenizer).text)
    target = tokenizer(pair.rule, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    room = max_length - len(prompt)
    if room < 1:
        return None, True
    truncated = len(target) > room
    target = target[:room]
    ids = prompt + target
    return {
        "input_ids": ids,
        "attention_mask": [1] * len(ids),
        "labels": [IGNORE_INDEX] * len(prompt) + target,
    }, truncated


def encode_pairs(
    pairs: Sequence[RulePair], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> EncodedPairs:
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no eos token; training needs one to end each rule")
    out = EncodedPairs()
    for pair in pairs:
        example, truncated = encode_pair(pair, tokenizer, max_length)
        if example is None:
            out.dropped.append(pair.clause.clause_id)
            continue
        if truncated:
            out.truncated.append(pair.clause.clause_id)
        out.examples.append(example)
    return out
