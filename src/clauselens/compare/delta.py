"""Adapter deltas: what fine-tuning changed in a clause's attribution, word by word.

For one clause and one fine-tuned cell, both the cell and the base model it started from explain the
*cell's own output* (teacher-forced log-probability), so the only thing that differs is the weights.
delta = fine-tuned - base on each word. For a QLoRA cell the base is the 4-bit base it was trained
on; for LoRA and FFT cells the full-precision base.

Row (table `adapter_delta`, key cell_id, clause_id): l1 = sum |delta|; l1_relative =
l1 / (sum |fine-tuned| + sum |base|), in [0, 1] (0: identical maps, 1: no unit kept its score);
the word with the largest |delta|; Kendall tau between the two |maps|; payload = an `Attribution`
whose scores are the delta (the report draws it like any attribution), with both maps in `options`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from clauselens.compare.alignment import aligned, aligned_scores, rank_agreement
from clauselens.records import Attribution


def adapter_delta(fine_tuned: Attribution, base: Attribution, *, base_cell_id: str,
                  base_precision: str) -> dict[str, Any]:
    """One `adapter_delta` row from a fine-tuned cell's and its base's attributions of the same output."""
    if fine_tuned.clause_id != base.clause_id:
        raise ValueError(f"adapter delta needs one clause; got {fine_tuned.clause_id} and {base.clause_id}")
    fine_tuned = aligned(fine_tuned, "word")
    ft, b = aligned_scores(fine_tuned, base, "word")
    delta = ft - b
    words = fine_tuned.units
    scale = float(np.abs(ft).sum() + np.abs(b).sum())
    l1 = float(np.abs(delta).sum())
    top = int(np.argmax(np.abs(delta)))
    payload = fine_tuned.model_copy(update={
        "scores": delta.tolist(), "matrix": None, "output_tokens": None,
        "options": {"kind": "adapter_delta", "base_cell_id": base_cell_id, "base_precision": base_precision,
                    "fine_tuned_scores": ft.tolist(), "base_scores": b.tolist()},
    })
    return {
        "cell_id": fine_tuned.cell_id, "base_cell_id": base_cell_id, "base_precision": base_precision,
        "clause_id": fine_tuned.clause_id, "method": fine_tuned.method,
        "perturbation": fine_tuned.perturbation,
        "n_units": len(words), "l1": l1, "l1_relative": l1 / scale if scale > 0 else math.nan,
        "kendall_tau": rank_agreement(fine_tuned, base, "word"),
        "top_unit": words[top].text, "top_unit_start": words[top].start, "top_delta": float(delta[top]),
        "payload": payload.to_json(),
    }
