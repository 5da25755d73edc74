"""compare_run end to end on a store with really trained tiny cells (FFT, LoRA, QLoRA on a 4-bit base,
and the base itself): every table is written, each base precision is loaded once per model, a rerun
loads nothing and changes nothing, and a cell whose adapter is gone is skipped with an error logged."""

from __future__ import annotations

import logging
import shutil

import pandas as pd
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

import clauselens.compare.bank as bank_module
from clauselens.attribute import attribution_row, word_units
from clauselens.compare import compare_run
from clauselens.config import ExperimentConfig
from clauselens.layout import RunLayout
from clauselens.prompt import INSTRUCTION
from clauselens.records import Attribution, Cell, Clause, RulePair
from clauselens.store import Store
from clauselens.tables import (
    ABLATION,
    ADAPTER_DELTA,
    ATTRIBUTIONS,
    CELLS,
    CORRECTNESS_MODEL,
    FOCUS,
    GENERATIONS,
    MODELS,
    PAIRS,
    QUANTISATION_SPLIT,
    ROBUSTNESS,
    SCORES,
)
from clauselens.train import train_cell

TEXTS = ["Every stair shall have a headroom of not less than 2.0 m (see Diagram 1.3).",
         "The rise of a step shall not exceed 220 mm in any dwelling.",
         "Doors on escape routes shall be at least 800 mm wide.",
         "A landing shall be at least 900 mm long, except where paragraph 1.4 applies.",
         "Guarding shall be provided where the drop is more than 600 mm.",
         "Handrails shall be fixed at a height of between 900 mm and 1000 mm."]
TABLES = (ADAPTER_DELTA, QUANTISATION_SPLIT, ABLATION, ROBUSTNESS, CORRECTNESS_MODEL)


def rule(limit: int) -> str:
    return f"def check_rule(model):\n    return [s for s in model.elements('stair') if s.rise_mm > {limit}]\n"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("compare")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([INSTRUCTION, *TEXTS, rule(220), "### Instruction\n### Rule\nClause: K 1.2"] * 3,
                            trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "</s>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>")
    torch.manual_seed(0)
    base = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id))
    base.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    cfg = ExperimentConfig.model_validate({
        "output_dir": str(root / "run"),
        "models": [{"name": "tiny", "id": str(root / "base"), "params": 90_000}],
        "strategies": {"base": True, **{s: {"max_steps": 2, "batch_size": 2, "learning_rate": 1e-2}
                                        for s in ("fft", "lora", "qlora")}},
        "scoring": {"bootstrap": 200},
        "compare": {"max_clauses": 3, "robustness_clauses": 2, "shapley_samples": 4, "ablation_draws": 3},
    })
    clauses = [Clause(clause_id=f"K:1.{i}", document="K", paragraph=f"1.{i}", title="Stairs", text=t)
               for i, t in enumerate(TEXTS)]
    pairs = [RulePair(clause=c, rule=rule(200 + i), kind="quantitative", split="test" if i >= 3 else "train")
             for i, c in enumerate(clauses)]
    store = Store(root / "run")
    store.upsert(PAIRS, [p.row() for p in pairs])
    store.upsert(MODELS, [{"name": "tiny", "id": str(root / "base"), "path": str(root / "base"),
                           "params": 90_000}])
    cells = [Cell(model="tiny", params=90_000, strategy=s, seed=0) for s in ("base", "fft", "lora", "qlora")]
    for cell in cells[1:]:
        train_cell(cfg, cfg.models[0], str(root / "base"), cell.strategy, 0, pairs,
                   RunLayout(store.root).cell_dir(cell.cell_id), progress=False)
    store.upsert(CELLS, [{**c.model_dump(), "cell_id": c.cell_id, "status": "done", "error": None}
                         for c in cells])
    tests = [p for p in pairs if p.split == "test"]
    store.upsert(GENERATIONS, [{"cell_id": c.cell_id, "clause_id": p.clause.clause_id,
                                "raw": rule(210 + 5 * i), "rule": rule(210 + 5 * i), "n_new_tokens": 30}
                               for i, c in enumerate(cells) for p in tests])
    store.upsert(SCORES, [{"cell_id": c.cell_id, "clause_id": p.clause.clause_id,
                           "metric": "verdict_accuracy", "value": float(i % 2), "detail": ""}
                          for i, c in enumerate(cells) for p in tests])
    # the attribute stage's map of one cell and clause, with values no model would give: must be reused
    landing = pairs[3].clause
    stored = Attribution(cell_id="tiny/fft/s0", clause_id=landing.clause_id, clause_text=landing.text,
                         units=word_units(landing.text), scores=[7.0] * len(word_units(landing.text)),
                         method="loo", target="logprob", perturbation="delete")
    store.upsert(ATTRIBUTIONS, [attribution_row(stored, unit="word")])
    store.upsert(FOCUS, [{"cell_id": c.cell_id, "clause_id": p.clause.clause_id, "metric": "gini",
                          "value": 0.1 * i + 0.01 * j}
                         for i, c in enumerate(cells) for j, p in enumerate(tests)])
    yield store, cfg
    store.close()


def test_compare_run_writes_every_table_loading_each_base_once(study, monkeypatch):
    store, cfg = study
    loads: list[dict] = []
    real = bank_module.load_causal_lm

    def counting(path, **kwargs):
        loads.append(kwargs)
        return real(path, **kwargs)

    monkeypatch.setattr(bank_module, "load_causal_lm", counting)
    compare_run(store, cfg, progress=False)
    assert sorted(k["quantization"] or "full" for k in loads) == ["full", "nf4"]  # two adapters each

    delta = store.read(ADAPTER_DELTA)
    assert len(delta) == 9  # 3 fine-tuned cells x 3 clauses
    precision = dict(zip(delta["cell_id"], delta["base_precision"], strict=False))
    assert precision == {"tiny/fft/s0": "full", "tiny/lora/s0": "full", "tiny/qlora/s0": "4bit-nf4"}
    assert set(delta["base_cell_id"]) == {"tiny/base/s0"}
    assert (delta["l1"] > 0).all() and delta["l1_relative"].between(0, 1).all()
    payload = Attribution.from_json(delta["payload"].iloc[0])
    assert all(u.kind == "word" for u in payload.units)
    reused = delta[(delta["cell_id"] == "tiny/fft/s0") & (delta["clause_id"] == "K:1.3")]
    assert set(Attribution.from_json(reused["payload"].iloc[0]).options["fine_tuned_scores"]) == {7.0}
    others = [Attribution.from_json(x).options["fine_tuned_scores"] for x in delta["payload"]]
    assert sum(set(x) == {7.0} for x in others) == 1  # every other map was computed here

    split = store.read(QUANTISATION_SPLIT)
    assert sorted(split["distance"]) == ["js_distance", "one_minus_tau"]
    assert (split["n_clauses"] == 3).all() and (split["quantisation_noise"] > 0).all()

    ablation = store.read(ABLATION)
    assert set(ablation["cell_id"]) == {f"tiny/{s}/s0" for s in ("base", "fft", "lora", "qlora")}
    assert {"numerical_constraint", "deontic"} <= set(ablation["category"])
    assert (ablation["n_clauses"] <= 3).all()

    robustness = store.read(ROBUSTNESS)
    assert set(robustness["cell_id"]) == {"all", *(f"tiny/{s}/s0" for s in ("base", "fft", "lora", "qlora"))}
    headline = robustness[(robustness["cell_id"] == "all") & (robustness["statistic"] == "kendall_tau")]
    assert {"perturbation_baseline", "shapley_seed", "loo_vs_shapley"} <= set(headline["measure"])
    assert (headline["n_clauses"] == 2).all() and headline["value"].between(-1, 1).all()

    model = store.read(CORRECTNESS_MODEL)  # 3 clauses: too few, and said so
    assert len(model) == 4 and model["sentence"].str.startswith("not estimable: ").all()


def test_compare_rerun_loads_nothing_and_changes_nothing(study, monkeypatch):
    store, cfg = study
    before = {t.name: store.read(t) for t in TABLES}
    if before["adapter_delta"].empty:
        compare_run(store, cfg, progress=False)
        before = {t.name: store.read(t) for t in TABLES}

    def no_load(*args, **kwargs):
        raise AssertionError("a rerun with nothing missing must not load a model")

    monkeypatch.setattr(bank_module, "load_causal_lm", no_load)
    monkeypatch.setattr("clauselens.train.load_cell", no_load)
    compare_run(store, cfg, progress=False)
    for table, frame in before.items():
        after = store.read(table)
        key = list(frame.columns[:2])
        pd.testing.assert_frame_equal(frame.sort_values(key).reset_index(drop=True),
                                      after.sort_values(key).reset_index(drop=True), check_like=True)


def test_compare_skips_a_cell_whose_adapter_is_missing(study, caplog):
    store, cfg = study
    if store.read(ADAPTER_DELTA).empty:
        compare_run(store, cfg, progress=False)
    folder = RunLayout(store.root).cell_dir("tiny/qlora/s0")
    shutil.move(folder / "adapter", folder.parent / "qlora-adapter-away")
    try:
        store.delete(ADAPTER_DELTA, "cell_id = ?", ["tiny/qlora/s0"])
        with caplog.at_level(logging.ERROR, logger="clauselens"):
            compare_run(store, cfg, progress=False)
        assert "cannot load tiny (4bit)" in caplog.text
        delta = store.read(ADAPTER_DELTA)
        assert set(delta["cell_id"]) == {"tiny/fft/s0", "tiny/lora/s0"}  # the others are untouched
    finally:
        shutil.move(folder.parent / "qlora-adapter-away", folder / "adapter")
