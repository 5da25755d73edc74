"""Metrics on embeddings: sentence cosine similarity and BERTScore-style token matching (F1, F3).

`token_f1` / `token_f3` follow BERTScore (Zhang et al., ICLR 2020) as CodeBERTScore (Zhou et al.,
EMNLP 2023) applies it to code: each token of one rule is matched to its most similar token of the
other (cosine of contextual token embeddings), recall averages over reference tokens, precision over
generated tokens, and F_beta = (1 + b^2) P R / (b^2 P + R). F3 weighs recall 3x, as the BuildThemis
paper reports. Differences from CodeBERTScore: the encoder is the configured sentence-transformers
model (default all-MiniLM-L6-v2, a general-text model, not CodeBERT), no IDF weighting and no
baseline rescaling, and the special tokens ([CLS], [SEP]) are left out of the matching.
"""

from __future__ import annotations

import numpy as np

from clauselens.score.embedding import DEFAULT_EMBEDDER, TextEmbedding, load_embedder
from clauselens.score.value import MetricValue


def semantic_similarity(reference: str, generated: str, embedder: str = DEFAULT_EMBEDDER) -> MetricValue:
    """Cosine similarity of the two rules' sentence embeddings (higher is better; 1 = same direction).

    This is the paper's quality measure ("semantic similarity between generated and reference rules").
    """
    ref, gen = load_embedder(embedder).embed([reference, generated])
    return MetricValue(float(np.clip(ref.sentence @ gen.sentence, -1.0, 1.0)), _truncation_note(ref, gen))


def token_f1(reference: str, generated: str, embedder: str = DEFAULT_EMBEDDER) -> MetricValue:
    """BERTScore-style F1 of greedy token matching (higher is better), see the module docstring."""
    return _token_f(reference, generated, embedder, beta=1.0)


def token_f3(reference: str, generated: str, embedder: str = DEFAULT_EMBEDDER) -> MetricValue:
    """BERTScore-style F3 (recall weighted 3x) of greedy token matching (higher is better)."""
    return _token_f(reference, generated, embedder, beta=3.0)


def greedy_match_f(reference_tokens: np.ndarray, generated_tokens: np.ndarray, beta: float) -> float:
    """F_beta of greedy cosine matching of two sets of unit-length token vectors (0 if either is empty)."""
    if len(reference_tokens) == 0 or len(generated_tokens) == 0:
        return 0.0
    sim = generated_tokens @ reference_tokens.T  # (generated, reference) cosines
    precision = float(sim.max(axis=1).mean())
    recall = float(sim.max(axis=0).mean())
    denominator = beta**2 * precision + recall
    if denominator <= 0:
        return 0.0
    return float(np.clip((1 + beta**2) * precision * recall / denominator, -1.0, 1.0))


def _token_f(reference: str, generated: str, embedder: str, beta: float) -> MetricValue:
    ref, gen = load_embedder(embedder).embed([reference, generated])
    return MetricValue(greedy_match_f(ref.tokens, gen.tokens, beta), _truncation_note(ref, gen))


def _truncation_note(ref: TextEmbedding, gen: TextEmbedding) -> str:
    cut = [what for what, e in (("reference", ref), ("generated", gen)) if e.truncated]
    return f"{' and '.join(cut)} truncated to the embedder's max_seq_length" if cut else ""
