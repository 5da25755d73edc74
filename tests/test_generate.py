"""generate_rules and clean_rule on tiny in-process Llama models (no downloads)."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from clauselens.config import GenerationConfig
from clauselens.generate import clean_rule, generate_rules
from clauselens.generate.cleaning import check_rule_span
from clauselens.prompt import INSTRUCTION, render_prompt
from clauselens.records import Clause

FUNCTION = ("def check_rule(model):\n"
            "    return [d for d in model.elements('door') if d.get('clear_width_mm') < 800]\n")
TRAILER = "print('done')\n"


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE trained in-process: keeps spaces and newlines exactly, like real code LMs."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [INSTRUCTION, FUNCTION + TRAILER, "### Instruction\n### Rule\nClause: K 1.2 - Doors: doors"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus * 3, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>")


def tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(cfg).eval()


def clause(i: int, words: int = 1) -> Clause:
    return Clause(clause_id=f"K:1.{i}", document="K", paragraph=f"1.{i}", title="Doors",
                  text="Doors shall be at least 800 mm wide. " * words)


@pytest.fixture(scope="module")
def trained(tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    """Overfit to two continuations: clause 1 -> function + top-level print; clause 2 -> function + EOS."""
    model = tiny_llama(tokenizer, seed=1)
    texts = [render_prompt(clause(1), tokenizer).text + FUNCTION + TRAILER * 3,
             render_prompt(clause(2, words=2), tokenizer).text + FUNCTION + tokenizer.eos_token]
    enc = [tokenizer(t)["input_ids"] for t in texts]
    width = max(map(len, enc))
    ids = torch.tensor([e + [tokenizer.pad_token_id] * (width - len(e)) for e in enc])
    labels = torch.tensor([e + [-100] * (width - len(e)) for e in enc])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(200):
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05, "the tiny model did not memorise its two training texts"
    return model.eval()


# -- clean_rule and the end-of-function rule ---------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("Sure! Here it is:\n```python\nfrom x import y\n\ndef check_rule(model):\n    out = []\n\n"
     "    return out\n```\nIt checks doors.",
     "from x import y\ndef check_rule(model):\n    out = []\n\n    return out"),
    ("Import the module first.\n    import math\nimport math\ndef check_rule(model):\n    return [math.pi]",
     "import math\ndef check_rule(model):\n    return [math.pi]"),
    ("def helper(x):\n    return x\n\ndef check_rule(model):\n    return helper(1)\n\ndef other():\n    pass",
     "def check_rule(model):\n    return helper(1)"),
    ("Answer:\n    def check_rule(model):\n        return []\n    print('x')",
     "def check_rule(model):\n    return []"),
    ("def check_rule(\n    model,\n) -> list:\n    # col-0 comment next\n# note\n    return []\nx = 1",
     "def check_rule(\n    model,\n) -> list:\n    # col-0 comment next\n# note\n    return []"),
    ('def check_rule(model):\n    """Doc\nat column 0\n"""\n    return []\nThat\'s all.',
     'def check_rule(model):\n    """Doc\nat column 0\n"""\n    return []'),
    ("def check_rule(model): return []\nprint(1)", "def check_rule(model): return []"),
    ("def check_rule(model):\n    return [", "def check_rule(model):\n    return ["),
    ("No function, but code:\n```\nx = 1\n```\nbye", "x = 1"),
    ("just prose", "just prose"),
])
def test_clean_rule(raw: str, expected: str) -> None:
    assert clean_rule(raw) == expected


@pytest.mark.parametrize("text, complete", [
    ("def check_rule(model):\n    return []\n", False),  # the body may go on
    ("def check_rule(model):\n    return []\np", True),  # dedent to a new top-level statement
    ("def check_rule(model):\n    x = 1\n\n    return []\n", False),  # one blank line inside a body
    ("def check_rule(model):\n    return []\n\n\n", True),  # two blank lines after the body
    ("def check_rule(model):\n    return []\n# a comment\n", False),  # comments do not dedent
    ("def check_rule(model):\n    s = '''\nx", False),  # inside a string
    ("def check_rule(model):\n    return f(\n1", False),  # inside brackets
    ("def check_rule(model):\n", False),
    ("print('no function')\n\n\nx", False),
])
def test_function_end_rule(text: str, complete: bool) -> None:
    span = check_rule_span(text)
    assert (span is not None and span[1] is not None) is complete


# -- generation ----------------------------------------------------------------------------------------

def test_batch_equals_one_by_one_and_is_deterministic(tokenizer: PreTrainedTokenizerFast) -> None:
    model = tiny_llama(tokenizer)
    clauses = [clause(i, words=i + 1) for i in range(5)]  # different prompt lengths -> left padding
    batched = generate_rules(model, tokenizer, clauses, GenerationConfig(max_new_tokens=24, batch_size=3),
                             seed=0, cell_id="tiny/lora/s0", progress=False)
    single = [generate_rules(model, tokenizer, [c], GenerationConfig(max_new_tokens=24, batch_size=1),
                             seed=0, cell_id="tiny/lora/s0", progress=False)[0] for c in clauses]
    again = generate_rules(model, tokenizer, clauses, GenerationConfig(max_new_tokens=24, batch_size=3),
                           seed=0, cell_id="tiny/lora/s0", progress=False)
    assert [g.clause_id for g in batched] == [c.clause_id for c in clauses]
    assert [g.raw for g in batched] == [g.raw for g in single]
    assert [g.model_dump() for g in batched] == [g.model_dump() for g in again]
    assert all(g.n_new_tokens == 24 for g in batched)  # random weights: no stop before the bound
    assert len({g.raw for g in batched}) > 1  # outputs depend on the clause


def test_sampling_is_reproducible_for_a_seed(tokenizer: PreTrainedTokenizerFast) -> None:
    model = tiny_llama(tokenizer)
    clauses = [clause(i) for i in range(3)]
    cfg = GenerationConfig(max_new_tokens=16, batch_size=2, do_sample=True, temperature=1.5)

    def run(seed: int) -> list[str]:
        return [g.raw for g in generate_rules(model, tokenizer, clauses, cfg, seed, "c", progress=False)]

    greedy = [g.raw for g in generate_rules(model, tokenizer, clauses, GenerationConfig(max_new_tokens=16),
                                            0, "c", progress=False)]
    assert run(7) == run(7)
    assert run(7) != run(8)
    assert run(7) != greedy


def test_stops_after_the_function(tokenizer: PreTrainedTokenizerFast, trained: LlamaForCausalLM) -> None:
    cfg = GenerationConfig(max_new_tokens=120, batch_size=2)
    dedent, eos = generate_rules(trained, tokenizer, [clause(1), clause(2, words=2)], cfg, 0, "c",
                                 progress=False)
    # dedent stop: cut within the first top-level token after the body, well before the bound
    assert dedent.raw.startswith(FUNCTION)
    tail = dedent.raw[len(FUNCTION):]
    assert tail and TRAILER.startswith(tail) and tail != TRAILER
    assert dedent.rule == FUNCTION.rstrip()
    assert dedent.n_new_tokens == len(tokenizer(dedent.raw)["input_ids"]) < cfg.max_new_tokens
    # eos stop: the end token is neither in raw nor counted
    assert eos.raw == FUNCTION
    assert eos.n_new_tokens == len(tokenizer(FUNCTION)["input_ids"])


def test_peft_wrapped_model(tokenizer: PreTrainedTokenizerFast) -> None:
    base_out = generate_rules(tiny_llama(tokenizer), tokenizer, [clause(1)],
                              GenerationConfig(max_new_tokens=12), 0, "c", progress=False)
    lora = get_peft_model(tiny_llama(tokenizer), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    lora_out = generate_rules(lora, tokenizer, [clause(1)], GenerationConfig(max_new_tokens=12), 0, "c",
                              progress=False)
    assert lora_out[0].raw == base_out[0].raw  # fresh LoRA adapters (B = 0) leave the model unchanged


def test_no_clauses(tokenizer: PreTrainedTokenizerFast) -> None:
    model = tiny_llama(tokenizer)
    assert generate_rules(model, tokenizer, [], GenerationConfig(), 0, "c", progress=False) == []
