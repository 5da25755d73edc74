"""Real families through the code: real tokenizers and chat templates, real architectures (tiny, random).

One study runs every family (one model each, three strategies, one clause attributed per cell, so
corpus, scoring, analysis and the report run once); span attribution and the exactness tests use each
family's model directly, and compare the KV-prefix engine with plain full forward passes computed here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from clauselens.attribute import attribute_clause, perturb, span_units, word_units
from clauselens.attribute.evalcache import EvalCache
from clauselens.attribute.logprob import TeacherForcedScorer, sliding_window
from clauselens.config import AttributionConfig, load_config
from clauselens.models import load_causal_lm
from clauselens.models.families import FAMILIES, family_dir, tokenizer_dir
from clauselens.prompt import prompt_token_ids, render_prompt
from clauselens.records import Attribution, Clause
from clauselens.run import run_study
from clauselens.store import Store

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_study.toml"
pytestmark = pytest.mark.slow
CLAUSE = Clause(
    clause_id="K:1.12", document="K", paragraph="1.12", title="Headroom",
    text="Provide all means of escape routes with a minimum clear headroom of 2.0m, except in doorways "
         "where the headroom may be reduced to 1.95m over a width of 0.8m.",
)
TARGET = "def check_rule(model):\n    return [s for s in model.spaces if s.headroom < 2000]"


def _available(name: str) -> bool:
    try:
        tokenizer_dir(name)
    except Exception:
        return shutil.which("npm") is not None  # npm present: fail loudly in the test, not skip
    return True


AVAILABLE = [name for name in sorted(FAMILIES) if _available(name)]


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    if request.param not in AVAILABLE:
        pytest.skip(f"family:{request.param}: no npm and no cached tokenizer")
    return request.param


@pytest.fixture(scope="module")
def loaded(family):
    model, tok = load_causal_lm(family_dir(family), dtype="float32", device="cpu")
    return family, model, tok


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One study over every family (one model each): corpus, scoring, analysis and report run once."""
    out = tmp_path_factory.mktemp("families")
    cfg = load_config(TINY, {
        "output_dir": str(out), "models": [{"name": f, "id": f"family:{f}"} for f in AVAILABLE],
        "data.max_train": 4, "data.max_test": 2, "data.kinds": ["quantitative"],
        **{f"strategies.{s}.max_steps": 1 for s in ("fft", "lora", "qlora")},
        **{f"strategies.{s}.batch_size": 2 for s in ("fft", "lora", "qlora")},
        # a random-init model's greedy output is often special tokens only (an empty rule, which is not
        # attributed); sampling (seeded) gives every clause ordinary text to attribute
        "generation.max_new_tokens": 10, "generation.do_sample": True,
        "attribution.max_clauses": 1, "attribution.faithfulness": False,
        "compare.enabled": False, "scoring.bootstrap": 100,
    })
    return cfg, run_study(cfg)


def test_whole_study_runs_on_the_family(study, family):
    cfg, report = study
    assert report is not None and report.is_file()
    with Store(cfg.output_dir) as store:
        cells = store.read("cells")
        mine = cells[cells["model"] == family]
        assert sorted(mine["strategy"]) == ["fft", "lora", "qlora"] and set(mine["status"]) == {"done"}
        training = store.read("training").set_index("cell_id")
        assert bool(training.loc[f"{family}/qlora/s0", "quantized"])
        generations = store.read("generations")
        assert generations["cell_id"].str.startswith(f"{family}/").sum() == 3 * 2
        rows = store.read("attributions")
        rows = rows[rows["cell_id"].str.startswith(f"{family}/")]
        pairs = store.read("pairs")
    assert len(rows) == 3
    for payload in rows["payload"]:
        attr = Attribution.from_json(payload)
        clause = next(p for p in pairs.itertuples() if p.clause_id == attr.clause_id)
        # the units are the words a reader sees in the clause text, whatever the tokenizer did to them
        assert [u.text for u in attr.units] == [u.text for u in word_units(clause.text)]
        assert all(np.isfinite(attr.scores)) and len(attr.scores) == len(attr.units)
    assert family in report.read_text()


def test_span_attribution_on_the_real_tokenizer(loaded):
    family, model, tok = loaded
    attr = attribute_clause(model, tok, CLAUSE, TARGET, AttributionConfig(unit="span", faithfulness=False),
                            f"{family}/fft/s0", cache=EvalCache())
    spans = [u.text for u in attr.units]
    assert "2.0m" in spans  # a number + unit span, however many tokens it is
    assert spans == [u.text for u in span_units(CLAUSE.text)]
    assert all(np.isfinite(attr.scores)) and np.abs(attr.scores).max() > 0


def test_chat_template_and_exactly_one_bos(loaded):
    family, _, tok = loaded
    parts = render_prompt(CLAUSE, tok)
    assert parts.prefix != "### Instruction\n" and tok.chat_template
    ids = prompt_token_ids(tok, parts.text)
    bos = tok.bos_token_id
    if family == "qwen3":  # Qwen has no BOS at all
        assert bos is None
    else:  # the others' templates write one and their tokenizers add another: one remains
        assert tok(parts.text)["input_ids"][:2] == [bos, bos]
        assert ids[0] == bos and ids.count(bos) == 1


def test_numbers_split_into_tokens_stay_one_word_unit(loaded):
    family, _, tok = loaded
    units = word_units(CLAUSE.text)
    assert "2.0m" in [u.text for u in units]
    if family == "qwen3":  # Qwen tokenizes digits one by one
        assert len(tok("2.0m", add_special_tokens=False)["input_ids"]) >= 3


def _naive(model, tok, prompt: str, target: list[int]) -> np.ndarray:
    """One plain forward pass over the whole sequence (no cache, no batch, no padding); the vocabulary
    projection only where the target is predicted (a vocabulary of up to 262k makes the rest costly)."""
    ids = prompt_token_ids(tok, prompt) + target
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids]), logits_to_keep=len(target) + 1).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)  # row k predicts token len(ids) - len(target) + k
    return np.array([logp[t, target[t]].item() for t in range(len(target))])


def test_leave_one_out_through_the_kv_prefix_equals_full_forward_passes(loaded):
    family, model, tok = loaded
    parts = render_prompt(CLAUSE, tok)
    scorer = TeacherForcedScorer(model, tok, parts, TARGET, batch_size=8)
    units = word_units(CLAUSE.text)
    texts = [parts.with_clause(perturb(CLAUSE.text, units, [i], "delete")).text for i in range(len(units))]
    fast = scorer.score(texts)
    target = tok(TARGET, add_special_tokens=False)["input_ids"]
    naive = np.array([_naive(model, tok, t, target) for t in texts])
    err = np.abs(fast - naive).max()
    assert err < 1e-4, f"{family}: max |KV-prefix - naive| = {err:.2e}"
    assert np.abs(naive - _naive(model, tok, parts.text, target)).sum(axis=1).max() > 1e-3  # not vacuous
    window = sliding_window(model)
    if family in ("gemma3", "mistral"):
        assert window is not None and len(scorer.reference_ids) > 2 * window  # the window really binds
    else:
        assert window is None
