"""Surrogate, coalition sampling, hierarchy and the method registry, against brute-force enumeration."""

import itertools
import math

import numpy as np
import pytest
from pydantic import ValidationError
from test_attribute_engine import CLAUSE, TARGET, bpe_tokenizer, tiny_llama

from clauselens.attribute import attribute_clause
from clauselens.attribute.clause import eval_mode, prepare
from clauselens.attribute.coalitions import sample_coalitions
from clauselens.attribute.evalcache import EvalCache
from clauselens.attribute.hierarchy import hierarchical
from clauselens.attribute.methods import leave_one_out
from clauselens.attribute.registry import METHODS, Problem, run_method
from clauselens.attribute.surrogate import surrogate
from clauselens.attribute.units import span_units, word_units
from clauselens.config import AttributionConfig
from clauselens.records import Clause

TEXT = "Provide a minimum clear headroom of 2.0 metres over stairs, except in doorways (see Diagram 1.3)."


def table_value(table: np.ndarray):
    """A value function given by a table over all 2**n coalitions (bit i = unit i present)."""
    def value(masks: np.ndarray) -> np.ndarray:
        index = (np.asarray(masks, dtype=int) << np.arange(masks.shape[1])).sum(axis=1)
        return table[index]
    return value


def exact_shapley(n: int, table: np.ndarray) -> np.ndarray:
    """Shapley values by the textbook formula, summing over every coalition without unit i."""
    phi = np.zeros((n,) + table.shape[1:])
    for i in range(n):
        for members in itertools.product([0, 1], repeat=n):
            if members[i]:
                continue
            s = sum(members)
            weight = math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
            without = sum(b << k for k, b in enumerate(members))
            phi[i] += weight * (table[without | (1 << i)] - table[without])
    return phi


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_kernel_shap_with_every_coalition_is_exact_shapley(n):
    rng = np.random.default_rng(n)
    table = rng.normal(size=(2 ** n, 3))  # an arbitrary, non-additive game with 3 output columns
    result = surrogate(n, table_value(table), budget=2 ** n, rng=rng)
    np.testing.assert_allclose(result.matrix.T, exact_shapley(n, table), atol=1e-9)
    np.testing.assert_allclose(result.scores, exact_shapley(n, table).sum(axis=1), atol=1e-9)
    assert result.options["coalitions"] == 2 ** n


@pytest.mark.parametrize("budget", [20, 30, 40])
def test_kernel_shap_recovers_an_additive_game_exactly(budget):
    n, rng = 9, np.random.default_rng(3)
    w, b = rng.normal(size=n), 1.7

    def value(masks):
        return (masks.astype(float) @ w + b)[:, None]
    result = surrogate(n, value, budget=budget, rng=rng)
    np.testing.assert_allclose(result.scores, w, atol=1e-9)  # Shapley values of an additive game: w
    if result.options["r2_heldout"] is not None:
        assert result.options["r2_heldout"] == pytest.approx(1.0)


def test_lasso_surrogate_recovers_a_sparse_additive_game():
    n, rng = 10, np.random.default_rng(4)
    w = np.zeros(n)
    w[[1, 6]] = [3.0, -2.0]

    def value(masks):
        return (masks.astype(float) @ w + 0.5)[:, None]
    result = surrogate(n, value, budget=60, fit="lasso", rng=rng)
    np.testing.assert_allclose(result.scores, w, atol=0.05)
    assert result.options["r2_heldout"] > 0.99


def test_interaction_terms_recover_a_pairwise_game_and_its_shapley_values():
    n, rng = 6, np.random.default_rng(5)
    w = np.array([2.0, 1.5, 0.3, -0.2, 0.1, 0.05])
    table = np.array([[sum(w[k] for k in range(n) if s >> k & 1) + 4.0 * (s & 1) * (s >> 1 & 1)]
                      for s in range(2 ** n)])  # units 0 and 1 only matter fully together
    result = surrogate(n, table_value(table), budget=40, interactions=2, rng=rng)
    np.testing.assert_allclose(result.scores, exact_shapley(n, table)[:, 0], atol=1e-9)
    assert result.options["interactions"] == [[0, 1, pytest.approx(4.0)]]


@pytest.mark.parametrize("n", [9, 10])
def test_coalitions_pin_both_ends_enumerate_heavy_sizes_and_pair_the_rest(n):
    cs = sample_coalitions(n, 2 * (n + 1) + 12, np.random.default_rng(0))
    assert not cs.masks[0].any() and cs.masks[1].all() and np.isinf(cs.weights[:2]).all()
    assert len({m.tobytes() for m in cs.masks}) == len(cs.masks) == 2 * (n + 1) + 12
    sizes = cs.masks.sum(axis=1)
    assert (sizes == 1).sum() == n and (sizes == n - 1).sum() == n  # enumerated completely
    drawn = {m.tobytes() for m in cs.masks[2 + 2 * n:]}
    assert all((~m).tobytes() in drawn for m in cs.masks[2 + 2 * n:])  # each with its complement
    kernel = (n - 1) / (np.arange(2, n - 1) * (n - np.arange(2, n - 1)))
    assert cs.weights[2 + 2 * n:].sum() == pytest.approx(kernel.sum())  # the kernel mass not enumerated


def test_hierarchy_with_zero_mass_is_flat_leave_one_out():
    leaves = word_units(TEXT)
    rng = np.random.default_rng(6)
    w, pair = rng.normal(size=(len(leaves), 2)), rng.normal(size=2)

    def value(masks):
        z = masks.astype(float)
        return z @ w + np.outer(z[:, 6] * z[:, 7], pair)  # "2.0" and "metres" interact
    result = hierarchical(TEXT, leaves, value, mass=0.0)
    flat = leave_one_out(len(leaves), value)
    assert result.units == leaves
    np.testing.assert_allclose(result.matrix, flat.matrix, atol=1e-12)


def test_hierarchy_refines_only_heavy_units_and_scores_them_exactly():
    leaves = word_units(TEXT)
    spans = span_units(TEXT)
    w = np.full(len(leaves), 0.01)
    heavy = next(s for s in spans if s.text == "2.0 metres")
    w[[i for i, leaf in enumerate(leaves) if heavy.start <= leaf.start < heavy.end]] = [5.0, 3.0]

    def value(masks):
        return (masks.astype(float) @ w)[:, None]
    result = hierarchical(TEXT, leaves, value, mass=0.3)
    texts = [u.text for u in result.units]
    assert "2.0" in texts and "metres" in texts and "2.0 metres" not in texts  # the heavy span refined
    assert "except in doorways" in texts and "see Diagram 1.3" in texts  # light chunks kept whole
    assert "headroom" in texts  # the heavy chunk refined into spans and words
    for unit, score in zip(result.units, result.scores, strict=True):  # each unit's own leave-one-out
        inside = [i for i, leaf in enumerate(leaves) if unit.start <= leaf.start < unit.end]
        assert score == pytest.approx(w[inside].sum())
    assert result.options["refined_units"] == 2  # the chunk, then the span


def test_registry_names_match_the_config_and_unknown_names_are_refused():
    for name in METHODS:  # the config accepts exactly the registered names
        assert AttributionConfig(method=name).method == name
    problem = Problem("a b", word_units("a b"), lambda m: m.sum(axis=1, keepdims=True).astype(float),
                      AttributionConfig(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="expected one of loo, window, shapley, surrogate, hierarchy"):
        run_method("lime", problem)
    with pytest.raises(ValidationError, match="surrogate"):
        AttributionConfig(method="lime")
    with pytest.raises(ValidationError):
        AttributionConfig(surrogate_fit="ridge")
    with pytest.raises(ValueError, match="'hierarchy' refines spans"):
        hierarchical(TEXT, span_units(TEXT), problem.value, mass=0.1)


@pytest.fixture(scope="module")
def tiny():
    tok = bpe_tokenizer()
    return tiny_llama(len(tok)), tok


def test_surrogate_and_hierarchy_through_the_engine(tiny):
    model, tok = tiny
    clause = Clause(clause_id="K:1", document="K", paragraph="1", text="Headroom of 2m, except in doorways.")
    attr = attribute_clause(model, tok, clause, TARGET, AttributionConfig(
        method="surrogate", surrogate_budget=100), "c", cache=EvalCache())
    n = len(attr.units)
    assert attr.options["coalitions"] == 2 ** n and attr.options["r2_heldout"] is not None
    # Exact Shapley values of the engine's own value function, from its table over all coalitions.
    with eval_mode(model):
        pc = prepare(model, tok, clause, TARGET, target="logprob", perturbation="delete", cache=EvalCache())
        masks = np.array([[s >> k & 1 for k in range(n)] for s in range(2 ** n)], dtype=bool)
        table = pc.value(masks).sum(axis=1)
    np.testing.assert_allclose(attr.scores, exact_shapley(n, table), atol=1e-3)
    hier = attribute_clause(model, tok, CLAUSE, TARGET, AttributionConfig(method="hierarchy",
                            hierarchical_mass=0.0), "c", cache=EvalCache())
    flat = attribute_clause(model, tok, CLAUSE, TARGET, AttributionConfig(method="loo"), "c",
                            cache=EvalCache())
    assert [u.text for u in hier.units] == [u.text for u in flat.units]
    np.testing.assert_allclose(hier.scores, flat.scores, atol=1e-4)
