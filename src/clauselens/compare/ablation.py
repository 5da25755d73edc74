"""Category-level ablation: remove every word of one category at once and see how far the output falls.

Unit attributions perturb one word at a time, so a model that reads a threshold from either of two
redundant numbers looks as if it ignored both. Ablating a whole category (all numerical constraints,
all rule identifiers, ...) asks the direct question: how much less likely is the model's own output
without them? A category with many words removes more text, so each ablation is paired with a control:
the same number of words drawn at random from the clause (seeded per clause, so every cell of the study
sees the same random draws), averaged over `draws` draws.

Per (cell, clause, category present in the clause): drop = log p(output | clause) - log p(output |
clause without the category), in nats of the whole output; control_drop likewise for random words.
Table `ablation` summarises over clauses: mean drops with bootstrap CIs, the ratio of the means (NaN
when the control's mean drop is not positive: a ratio to nothing says nothing), the mean excess drop
(drop - control_drop, per clause) with its CI, which is defined even when the ratio is not, and a
Wilcoxon signed-rank p-value of drop vs control_drop.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats

from clauselens.analyse import categorise
from clauselens.attribute import perturb, word_units
from clauselens.compare.intervals import format_ci, mean_with_ci
from clauselens.prompt import prompt_token_ids, render_prompt
from clauselens.records import Attribution, Clause, Unit

ValueOfTexts = Callable[[list[str]], np.ndarray]


@torch.inference_mode()
def sequence_logprobs(model: torch.nn.Module, tokenizer: Any, clause: Clause, clause_texts: Sequence[str],
                      target_text: str, batch_size: int = 16) -> np.ndarray:
    """Teacher-forced log-probability of `target_text` after the prompt of each clause text, in nats.

    Tokenized as the attribution engine does (prompt with special tokens, then the output without), so
    the unperturbed value equals its `value_full`. Left padding with explicit positions.
    """
    parts = render_prompt(clause, tokenizer)
    target: list[int] = tokenizer(target_text, add_special_tokens=False)["input_ids"]
    if not target:
        raise ValueError(f"clause {clause.clause_id}: the output to score is empty")
    device = next(model.parameters()).device
    out = np.zeros(len(clause_texts))
    for start in range(0, len(clause_texts), batch_size):
        chunk = clause_texts[start:start + batch_size]
        seqs = [prompt_token_ids(tokenizer, parts.with_clause(t).text) + target[:-1] for t in chunk]
        width = max(map(len, seqs))
        ids = torch.zeros((len(seqs), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        positions = torch.zeros_like(ids)
        for row, seq in enumerate(seqs):
            pad = width - len(seq)
            ids[row, pad:] = torch.tensor(seq)
            mask[row, pad:] = 1
            positions[row, pad:] = torch.arange(len(seq))
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                       position_ids=positions.to(device), logits_to_keep=len(target)).logits.float()
        picked = torch.tensor(target, device=logits.device).expand(len(seqs), -1).unsqueeze(-1)
        logprobs = logits.log_softmax(-1).gather(-1, picked).squeeze(-1).sum(-1)
        out[start:start + len(chunk)] = logprobs.cpu().numpy()
    return out


def word_categories(clause: Clause, lexicons: Mapping[str, Sequence[str]] | None = None) -> tuple[list[Unit],
                                                                                                   list[str]]:
    """The clause's word units and the analysis stage's category of each."""
    units = word_units(clause.text)
    probe = Attribution(cell_id="-", clause_id=clause.clause_id, clause_text=clause.text, units=units,
                        scores=[0.0] * len(units), method="none", target="none", perturbation="none")
    return units, categorise(probe, lexicons)


def clause_rng(seed: int, clause_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(clause_id.encode())])


def ablate_clause(clause: Clause, value: ValueOfTexts, *, perturbation: str = "delete", draws: int = 5,
                  seed: int = 0, mask_string: str | None = None, tokenizer: object | None = None,
                  lexicons: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """Per category present in `clause`: its drop and the mean drop of `draws` random same-size ablations.

    `value` maps clause texts to the log-probability of the output (all texts in one call, so a model
    can batch them).
    """
    units, categories = word_categories(clause, lexicons)
    rng = clause_rng(seed, clause.clause_id)
    present = sorted(set(categories))
    sets: list[list[int]] = []
    for category in present:
        members = [i for i, c in enumerate(categories) if c == category]
        sets.append(members)
        sets += [sorted(rng.choice(len(units), size=len(members), replace=False).tolist())
                 for _ in range(draws)]
    texts = [clause.text] + [perturb(clause.text, units, s, perturbation, rng, mask_string=mask_string,
                                     tokenizer=tokenizer) for s in sets]
    values = np.asarray(value(texts), dtype=float)
    full, rest = values[0], values[1:].reshape(len(present), draws + 1)
    return [{"clause_id": clause.clause_id, "category": category, "n_units": len(sets[i * (draws + 1)]),
             "n_clause_units": len(units), "drop": float(full - rest[i, 0]),
             "control_drop": float(np.mean(full - rest[i, 1:]))}
            for i, category in enumerate(present)]


def summarise_ablation(per_clause: pd.DataFrame, *, n_boot: int, seed: int = 0) -> list[dict[str, Any]]:
    """Table `ablation`: per (cell, category), mean drop and control drop over clauses, with CIs."""
    rows = []
    for (cell_id, category), frame in per_clause.groupby(["cell_id", "category"], sort=True):
        drop, low, high = mean_with_ci(frame["drop"].tolist(), n_boot=n_boot, seed=seed)
        control, c_low, c_high = mean_with_ci(frame["control_drop"].tolist(), n_boot=n_boot, seed=seed)
        diffs = (frame["drop"] - frame["control_drop"]).to_numpy()
        excess, e_low, e_high = mean_with_ci(diffs.tolist(), n_boot=n_boot, seed=seed)
        p = float(stats.wilcoxon(diffs).pvalue) if len(diffs) >= 3 and np.any(diffs != 0) else math.nan
        ratio = drop / control if control > 0 else math.nan
        test = f", Wilcoxon p = {p:.3g}" if math.isfinite(p) else ""
        rows.append({
            "cell_id": cell_id, "category": category, "n_clauses": len(frame),
            "mean_units": float(frame["n_units"].mean()), "mean_drop": drop, "ci_low": low, "ci_high": high,
            "control_mean_drop": control, "control_ci_low": c_low, "control_ci_high": c_high, "ratio": ratio,
            "excess_drop": excess, "excess_ci_low": e_low, "excess_ci_high": e_high, "p": p,
            "sentence": (f"{cell_id}: removing all {category} words lowers the log-probability of the "
                         f"model's output by {format_ci(drop, low, high)} nats, against "
                         f"{format_ci(control, c_low, c_high)} for as many random words "
                         f"({len(frame)} clauses{test})"),
        })
    return rows
