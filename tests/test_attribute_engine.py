"""The attribution engine on tiny in-process Llama models (fp32): exactness, efficiency, caches, targets."""

import json

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from clauselens.attribute import (
    attribute_clause,
    faithfulness_curves,
    perturb,
    to_words,
    token_units,
    word_units,
)
from clauselens.attribute.evalcache import EvalCache, model_fingerprint
from clauselens.config import AttributionConfig
from clauselens.prompt import INSTRUCTION, render_prompt
from clauselens.records import Clause

CLAUSE = Clause(
    clause_id="K:1.12", document="K", paragraph="1.12", title="Headroom",
    text="Provide all means of escape routes with a minimum clear headroom of 2m, except in doorways.",
)
TARGET = "def check_rule(model):\n    return [s for s in model.spaces if s.headroom < 2000]"


def bpe_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<eos>", "<pad>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([INSTRUCTION, CLAUSE.text, TARGET] * 3, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>")


def word_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """One token per word or punctuation run: a tokenizer whose every unit is exactly one token."""
    pre = pre_tokenizers.Whitespace()
    vocab = {"<unk>": 0, "<pad>": 1, "___": 2}
    for text in texts:
        for piece, _ in pre.pre_tokenize_str(text):
            vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>")


def tiny_llama(vocab_size: int, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         initializer_range=0.3)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def bpe():
    tok = bpe_tokenizer()
    return tiny_llama(len(tok)), tok


def naive_logprobs(model, tok, clause_text: str) -> np.ndarray:
    """Per-token log-probabilities of TARGET from one plain forward pass: no cache, no batch, no padding."""
    prompt = render_prompt(CLAUSE, tok).with_clause(clause_text).text
    target = tok(TARGET, add_special_tokens=False)["input_ids"]
    ids = tok(prompt)["input_ids"] + target
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    start = len(ids) - len(target) - 1
    return np.array([logp[start + t, target[t]].item() for t in range(len(target))])


@pytest.mark.parametrize(("unit", "perturbation", "batch_size"), [
    ("word", "delete", 3), ("token", "mask", 5), ("span", "substitute", 16)])
def test_leave_one_out_equals_a_naive_loop_of_forward_passes(bpe, unit, perturbation, batch_size):
    model, tok = bpe
    cfg = AttributionConfig(unit=unit, perturbation=perturbation, method="loo", batch_size=batch_size)
    attr = attribute_clause(model, tok, CLAUSE, TARGET, cfg, "tiny/fft/s0", cache=EvalCache())
    full = naive_logprobs(model, tok, CLAUSE.text)
    replacements = attr.options.get("replacements")
    naive = []
    for i in range(len(attr.units)):
        if replacements is None:
            text = perturb(CLAUSE.text, attr.units, [i], perturbation)
        else:
            u = attr.units[i]
            text = CLAUSE.text[:u.start] + replacements[i] + CLAUSE.text[u.end:]
        naive.append(full - naive_logprobs(model, tok, text))
    naive = np.array(naive)
    assert np.abs(np.array(attr.scores) - naive.sum(axis=1)).max() < 1e-4
    assert np.abs(np.array(attr.matrix) - naive.T).max() < 1e-4
    assert np.abs(naive.sum(axis=1)).max() > 0.05  # the model is sensitive: the comparison is not vacuous
    assert len(attr.output_tokens) == len(attr.matrix)


def test_shapley_scores_sum_to_full_minus_empty(bpe):
    model, tok = bpe
    cfg = AttributionConfig(method="shapley", shapley_samples=6, perturbation="delete")
    attr = attribute_clause(model, tok, CLAUSE, TARGET, cfg, "tiny/fft/s0", cache=EvalCache(), seed=4)
    units = word_units(CLAUSE.text)
    empty_text = perturb(CLAUSE.text, units, range(len(units)), "delete")
    expected = naive_logprobs(model, tok, CLAUSE.text).sum() - naive_logprobs(model, tok, empty_text).sum()
    assert sum(attr.scores) == pytest.approx(expected, abs=1e-3)
    assert attr.options["value_full"] - attr.options["value_empty"] == pytest.approx(expected, abs=1e-3)
    again = attribute_clause(model, tok, CLAUSE, TARGET, cfg, "tiny/fft/s0", cache=EvalCache(), seed=4)
    assert again.scores == attr.scores  # seeded
    other = attribute_clause(model, tok, CLAUSE, TARGET, cfg, "tiny/fft/s0", cache=EvalCache(), seed=5)
    assert other.scores != attr.scores


def test_window_of_one_is_leave_one_out(bpe):
    model, tok = bpe
    loo = attribute_clause(model, tok, CLAUSE, TARGET, AttributionConfig(method="loo"), "c")
    model.train()  # attribution switches to eval mode and back
    win = attribute_clause(model, tok, CLAUSE, TARGET, AttributionConfig(method="window", window=1), "c")
    assert model.training
    model.eval()
    assert np.allclose(loo.scores, win.scores, atol=1e-9)
    win3 = attribute_clause(model, tok, CLAUSE, TARGET, AttributionConfig(method="window", window=3), "c")
    assert not np.allclose(loo.scores, win3.scores)


def test_a_unit_the_model_cannot_see_scores_zero():
    """A model wired to ignore the identity of some tokens: their embeddings are one shared vector.

    Masking "doorways" by "___" then changes nothing the model can see (both are ignored tokens and the
    token count is unchanged), so its score must be 0 up to rounding, through batching, padding and the
    reused prefix cache; every other word's mask is visible and scores clearly away from 0.
    """
    prompt = render_prompt(CLAUSE, None)
    tok = word_tokenizer([prompt.text, TARGET])
    model = tiny_llama(len(tok), seed=1)
    ignored = tok.convert_tokens_to_ids(["doorways", "___"])
    with torch.no_grad():
        model.model.embed_tokens.weight[ignored] = model.model.embed_tokens.weight[ignored[0]].clone()
    cfg = AttributionConfig(perturbation="mask", mask_string="___", batch_size=4)
    attr = attribute_clause(model, tok, CLAUSE, TARGET, cfg, "blind", cache=EvalCache())
    scores = dict(zip([u.text for u in attr.units], attr.scores, strict=True))
    assert abs(scores.pop("doorways")) < 1e-5
    assert min(abs(s) for s in scores.values()) > 1e-3


def test_token_attribution_aligns_to_the_words_of_another_tokenizer(bpe):
    model, tok = bpe
    other_tok = word_tokenizer([render_prompt(CLAUSE, None).text, TARGET])
    other = tiny_llama(len(other_tok), seed=2)
    cfg = AttributionConfig(unit="token")
    a = to_words(attribute_clause(model, tok, CLAUSE, TARGET, cfg, "bpe"))
    b = to_words(attribute_clause(other, other_tok, CLAUSE, TARGET, cfg, "wordlevel"))
    assert [u.text for u in a.units] == [u.text for u in b.units] == [u.text for u in word_units(CLAUSE.text)]
    assert len(token_units(CLAUSE.text, tok)) > len(a.units)  # BPE cut words into pieces; words put them back


def test_evaluation_cache_in_memory_and_on_disk(bpe, tmp_path):
    model, tok = bpe
    cfg = AttributionConfig(method="loo")
    cache = EvalCache()
    first = attribute_clause(model, tok, CLAUSE, TARGET, cfg, "c", cache=cache, cache_dir=tmp_path)
    assert first.options["evaluations"] == len(first.units) + 1
    second = attribute_clause(model, tok, CLAUSE, TARGET, cfg, "c", cache=cache)
    assert second.options["evaluations"] == 0 and second.scores == first.scores
    resumed = attribute_clause(model, tok, CLAUSE, TARGET, cfg, "c", cache=EvalCache(), cache_dir=tmp_path)
    assert resumed.options["evaluations"] == 0 and resumed.scores == first.scores
    changed = tiny_llama(len(tok), seed=9)
    assert model_fingerprint(changed) != model_fingerprint(model)
    fresh = attribute_clause(changed, tok, CLAUSE, TARGET, cfg, "c", cache=cache, cache_dir=tmp_path)
    assert fresh.options["evaluations"] == len(first.units) + 1


def fake_generate(prompts):
    """A 'model' whose rule copies the numbers of the clause: only number words can change it."""
    return [" ".join(w for w in p.split() if any(ch.isdigit() for ch in w) and "." not in w) for p in prompts]


def jaccard(a, b):
    pairs = [(set(x.split()), set(y.split())) for x, y in zip(a, b, strict=True)]
    return [len(x & y) / max(1, len(x | y)) for x, y in pairs]


def test_similarity_and_verdict_targets_use_the_injected_functions(bpe):
    model, tok = bpe
    original = fake_generate([render_prompt(CLAUSE, tok).text])[0]
    assert "2m," in original
    sim = attribute_clause(model, tok, CLAUSE, original, AttributionConfig(target="similarity"), "c",
                           generate_fn=fake_generate, similarity_fn=jaccard, cache=EvalCache())
    scores = dict(zip([u.text for u in sim.units], sim.scores, strict=True))
    assert scores.pop("2m") == pytest.approx(1.0) and set(scores.values()) == {0.0}
    assert sim.matrix is None

    def verdicts(rules):
        return [("fail" if "2m," in r else "pass", "pass") for r in rules]

    ver = attribute_clause(model, tok, CLAUSE, original, AttributionConfig(target="verdict"), "c",
                           generate_fn=fake_generate, verdict_fn=verdicts, cache=EvalCache())
    scores = dict(zip([u.text for u in ver.units], ver.scores, strict=True))
    assert scores.pop("2m") == pytest.approx(0.5) and set(scores.values()) == {0.0}
    with pytest.raises(ValueError, match="generate_fn"):
        attribute_clause(model, tok, CLAUSE, original, AttributionConfig(target="similarity"), "c")


def test_faithfulness_rows_for_a_real_attribution(bpe):
    model, tok = bpe
    cfg = AttributionConfig(method="loo", perturbation="substitute")
    attr = attribute_clause(model, tok, CLAUSE, TARGET, cfg, "tiny/fft/s0")
    rows = faithfulness_curves(model, tok, CLAUSE, TARGET, attr, cfg)
    assert [r["curve"] for r in rows] == ["deletion", "insertion"]
    deletion = json.loads(rows[0]["points"])
    assert deletion["value"][0] == pytest.approx(attr.options["value_full"], abs=1e-6)
    insertion = json.loads(rows[1]["points"])
    assert insertion["value"][-1] == pytest.approx(attr.options["value_full"], abs=1e-6)
    # removing the single top unit removes exactly what leave-one-out measured for it
    assert deletion["value"][0] - deletion["value"][1] == pytest.approx(max(attr.scores), abs=1e-6)
    assert {"aopc", "random_aopc", "comprehensiveness", "sufficiency", "n_units"} <= set(rows[0])
