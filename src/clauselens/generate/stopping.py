"""Stop each row of a batch once it has written a complete `check_rule` function, or an end token.

Without it a fine-tuned model that never learnt to emit EOS keeps writing (a second function, an
explanation) until `max_new_tokens`, which wastes most of generation time on small models.
"""

from __future__ import annotations

import torch
from transformers import StoppingCriteria

from clauselens.generate.cleaning import check_rule_span


class CheckRuleComplete(StoppingCriteria):
    """Per-row stop: the decoded continuation holds a complete `check_rule` (see
    `clauselens.generate.cleaning` for the rule) or its last token is an end token.

    It also records how many tokens each row really produced (`lengths`), because after a row
    stops `generate` keeps padding it while the other rows go on.
    """

    def __init__(self, tokenizer: object, prompt_length: int, eos_ids: set[int], batch_size: int):
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length
        self.eos_ids = eos_ids
        self.lengths: list[int | None] = [None] * batch_size  # new tokens kept, once stopped

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None, **kwargs: object
                 ) -> torch.BoolTensor:
        new = input_ids[:, self.prompt_length:]
        for row, ids in enumerate(new.tolist()):
            if self.lengths[row] is not None:
                continue
            if ids and ids[-1] in self.eos_ids:
                self.lengths[row] = len(ids) - 1
                continue
            text = self.tokenizer.decode(ids, skip_special_tokens=True)  # type: ignore[attr-defined]
            span = check_rule_span(text)
            if span is not None and span[1] is not None:
                self.lengths[row] = len(ids)
        done = [length is not None for length in self.lengths]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def kept(self, row: int, produced: int) -> int:
        """New tokens that belong to `row`'s output (all `produced` if it never stopped early)."""
        length = self.lengths[row]
        return produced if length is None else length
