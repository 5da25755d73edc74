"""clauselens.compare on tiny in-process Llama models: two tokenizers on the same words, one base model for
several adapters, the quantisation split on a real 4-bit base, and the ablation scorer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

import clauselens.compare.bank as bank_module
from clauselens.attribute import attribute_clause, perturb, word_units
from clauselens.attribute.evalcache import EvalCache
from clauselens.compare import AdapterBank, find_adapter_dir, rank_agreement, sequence_logprobs, split_clause
from clauselens.compare.explain import compare_attribution_config, explain, standalone
from clauselens.compare.quantisation import PrecisionPair
from clauselens.config import AttributionConfig
from clauselens.prompt import INSTRUCTION
from clauselens.records import Clause

CLAUSES = [Clause(clause_id=f"K:1.{i}", document="K", paragraph=f"1.{i}", title="Stairs", text=t) for i, t in
           enumerate(["Every stair shall have a headroom of not less than 2.0 m (see Diagram 1.3).",
                      "The rise of a step shall not exceed 220 mm in any dwelling.",
                      "Doors on escape routes shall be at least 800 mm wide."])]
OUTPUT = "def check_rule(model):\n    return [s for s in model.elements('stair') if s.get('rise_mm') > 220]\n"
CFG = compare_attribution_config(AttributionConfig(unit="word", method="loo", perturbation="delete"), 4)


def bpe_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained here; with a vocabulary of the bare alphabet it is character-level."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [INSTRUCTION, OUTPUT, *(c.text for c in CLAUSES), "### Instruction\n### Rule\nClause: K 1.2"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus * 3, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>")


def tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int) -> LlamaForCausalLM:
    """Widths are multiples of 64 so bitsandbytes quantizes every projection."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A base model on disk and three random (non-zero) LoRA adapters in trained-cell layout."""
    root = tmp_path_factory.mktemp("bank")
    tok = bpe_tokenizer(400)
    tiny_llama(tok, seed=0).save_pretrained(root / "base")
    tok.save_pretrained(root / "base")
    paths = {"base": root / "base"}
    for i, name in enumerate(("lora", "qlora", "other")):
        torch.manual_seed(10 + i)
        peft_model = get_peft_model(LlamaForCausalLM.from_pretrained(root / "base"),
                                    LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                               init_lora_weights=False))
        peft_model.save_pretrained(root / name / "adapter")
        paths[name] = root / name
    return paths


def test_two_tokenizers_give_word_scores_on_the_same_words():
    """A byte-level BPE model and a character-level model explain the same output on the same clauses;
    their token units differ, their word units are identical, and their word maps compare."""
    bpe, chars = bpe_tokenizer(400), bpe_tokenizer(258)
    assert len(chars) == 258 and len(bpe) > len(chars)
    cfg = CFG.model_copy(update={"unit": "token"})
    for clause in CLAUSES[:2]:
        a = explain(standalone("bpe", tiny_llama(bpe, 1), bpe), clause, OUTPUT, "bpe/base/s0", cfg)
        b = explain(standalone("chars", tiny_llama(chars, 2), chars), clause, OUTPUT, "chars/base/s0", cfg)
        token_a = attribute_clause(tiny_llama(bpe, 1), bpe, clause, OUTPUT, cfg, "a", cache=EvalCache())
        token_b = attribute_clause(tiny_llama(chars, 2), chars, clause, OUTPUT, cfg, "b", cache=EvalCache())
        assert len(token_b.units) > len(token_a.units)  # character tokens: many more units
        assert [(u.start, u.end) for u in token_a.units] != [(u.start, u.end) for u in token_b.units]
        words = [(u.start, u.end) for u in word_units(clause.text)]
        assert [(u.start, u.end) for u in a.units] == words == [(u.start, u.end) for u in b.units]
        assert all(u.kind == "word" for u in a.units + b.units)
        # realignment keeps every token's score: on words, or reported as unaligned (punctuation)
        for token, word in ((token_a, a), (token_b, b)):
            assert sum(word.scores) + word.options["unaligned_score"] == pytest.approx(sum(token.scores))
            assert np.any(np.abs(word.scores) > 0)
        tau = rank_agreement(a, b)
        assert -1.0 <= tau <= 1.0


def test_adapter_bank_loads_the_base_once_and_switches_adapters(saved, monkeypatch):
    loads = []
    real = bank_module.load_causal_lm

    def counting(*args, **kwargs):
        loads.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(bank_module, "load_causal_lm", counting)
    before = AdapterBank.total_base_loads
    adapters = {n: find_adapter_dir(saved[n]) for n in ("lora", "qlora", "other")}
    bank = AdapterBank(saved["base"], adapters)
    assert len(loads) == 1 and bank.base_loads == 1 and AdapterBank.total_base_loads == before + 1
    clause = CLAUSES[0]
    scores = {}
    for name in ("lora", "qlora", None, "other", "lora"):
        attr = explain(bank.variant(name, f"bank|{name}"), clause, OUTPUT, "x", CFG)
        scores.setdefault(name, []).append(np.asarray(attr.scores))
    assert len(loads) == 1  # switching never reloads
    first, again = scores["lora"]
    np.testing.assert_allclose(first, again, atol=1e-9)  # switching back restores the adapter exactly
    for a, b in (("lora", "qlora"), ("lora", "other"), ("qlora", None), ("other", None)):
        assert np.abs(scores[a][0] - scores[b][0]).max() > 1e-3, (a, b)
    # the bank's base is the plain base model (no adapter leaks in, no cached adapter values served)
    plain = LlamaForCausalLM.from_pretrained(saved["base"]).eval()
    direct = explain(standalone("plain", plain, bank.tokenizer), clause, OUTPUT, "x", CFG)
    np.testing.assert_allclose(scores[None][0], direct.scores, atol=1e-4)
    with pytest.raises(KeyError, match="no adapter"):
        bank.variant("missing", "x")
    bank.close()


def test_find_adapter_dir_prefers_the_final_adapter(saved, tmp_path):
    assert find_adapter_dir(saved["lora"]) == saved["lora"] / "adapter"
    (tmp_path / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    (tmp_path / "checkpoints" / "checkpoint-4" / "adapter_config.json").write_text("{}")
    (tmp_path / "checkpoints" / "checkpoint-12").mkdir()
    (tmp_path / "checkpoints" / "checkpoint-12" / "adapter_config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="only training checkpoints"):
        find_adapter_dir(tmp_path)  # an unfinished adapter is not the cell
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    assert find_adapter_dir(tmp_path) == tmp_path / "adapter"
    with pytest.raises(FileNotFoundError, match="no final LoRA adapter"):
        find_adapter_dir(tmp_path / "checkpoints" / "nothing-here")


def test_quantisation_split_on_a_real_4bit_base(saved):
    """The same adapters on the fp32 and the NF4 base. With one adapter under both names, every
    difference is quantisation; with two adapters, training differences appear as well."""
    lora, qlora = find_adapter_dir(saved["lora"]), find_adapter_dir(saved["qlora"])
    banks = {"full": AdapterBank(saved["base"], {"lora": lora, "qlora": qlora, "same": lora}),
             "4bit": AdapterBank(saved["base"], {"lora": lora, "qlora": qlora, "same": lora}, quantized=True)}
    import bitsandbytes as bnb
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in banks["4bit"].model.modules())
    assert not any(isinstance(m, bnb.nn.Linear4bit) for m in banks["full"].model.modules())

    def four(q_name: str, clause: Clause) -> PrecisionPair:
        got = {(p, n): explain(banks[p].variant(n, f"{p}|{n}"), clause, OUTPUT, n, CFG)
               for p in banks for n in ("lora", q_name)}
        return PrecisionPair(got[("full", "lora")], got[("4bit", "lora")], got[("full", q_name)],
                             got[("4bit", q_name)])

    for clause in CLAUSES[:2]:
        same = {r["distance"]: r for r in split_clause(four("same", clause))}
        different = {r["distance"]: r for r in split_clause(four("qlora", clause))}
        for distance in ("js_distance", "one_minus_tau"):
            assert same[distance]["trained_differently"] == pytest.approx(0.0, abs=1e-9)
            assert same[distance]["quantisation_noise"] > 0  # NF4 really moves the attributions
            assert same[distance]["observed"] == pytest.approx(same[distance]["quantisation_noise"], rel=0.5)
            assert different[distance]["trained_differently"] > 0.01
    for b in banks.values():
        b.close()


def test_sequence_logprobs_match_the_attribution_engine(saved):
    """The ablation scorer values texts exactly as attribution does: v(full) and v(full) - LOO score."""
    bank = AdapterBank(saved["base"], {"lora": find_adapter_dir(saved["lora"])})
    clause = CLAUSES[1]
    with bank.use("lora") as model:
        attr = attribute_clause(model, bank.tokenizer, clause, OUTPUT, CFG, "x", cache=EvalCache())
        units = word_units(clause.text)
        texts = [clause.text] + [perturb(clause.text, units, [i], "delete") for i in range(3)]
        values = sequence_logprobs(model, bank.tokenizer, clause, texts, OUTPUT, batch_size=2)
    assert values[0] == pytest.approx(attr.options["value_full"], abs=1e-4)
    np.testing.assert_allclose(values[0] - values[1:], attr.scores[:3], atol=1e-4)
    with pytest.raises(ValueError, match="empty"):
        sequence_logprobs(bank.model, bank.tokenizer, clause, texts, "")
    bank.close()
