"""Does a model read its clause? The log-probability gain of its own rule under its own clause.

For each test clause i with generated rule g_i, `clause_dependence` is the mean per-token
log-probability of g_i after the prompt of clause i minus its mean over the prompts of `others` other
test clauses (the next ones in the given order, cyclically). A model that ignores its input writes the
same rule whatever the clause and scores about 0; a model that reads it finds its own rule likelier
after its own clause. Per token, so long and short rules weigh alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from clauselens.prompt import render_prompt
from clauselens.records import Clause

OTHERS = 4


@torch.inference_mode()
def mean_logprob(model: torch.nn.Module, tokenizer: object, prompt: str, target: str) -> float:
    """Mean log-probability per token of `target` right after `prompt` (teacher forced)."""
    add_special = not getattr(tokenizer, "chat_template", None)
    prompt_ids = tokenizer(prompt, add_special_tokens=add_special)["input_ids"]  # type: ignore[operator]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids + target_ids], device=device)
    logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    picked = logprobs.gather(1, torch.tensor(target_ids, device=device)[:, None])
    return float(picked.mean())


def clause_dependence(model: torch.nn.Module, tokenizer: object, clauses: Sequence[Clause],
                      outputs: Sequence[str], others: int = OTHERS) -> list[float | None]:
    """Per clause: own-clause minus other-clause mean log-probability of its output; None when the
    output is empty or there is no other clause to compare with."""
    if len(clauses) != len(outputs):
        raise ValueError(f"{len(clauses)} clauses but {len(outputs)} outputs")
    prompts = [render_prompt(c, tokenizer).text for c in clauses]
    k = min(others, len(clauses) - 1)
    gains: list[float | None] = []
    for i, output in enumerate(outputs):
        if k < 1 or not output.strip():
            gains.append(None)
            continue
        own = mean_logprob(model, tokenizer, prompts[i], output)
        rest = [mean_logprob(model, tokenizer, prompts[(i + j) % len(prompts)], output)
                for j in range(1, k + 1)]
        gains.append(own - sum(rest) / len(rest))
    return gains
