"""Attribution without a model: units and offsets, perturbations, methods, alignment, faithfulness, HTML."""

import json

import numpy as np
import pytest

from clauselens.attribute import (
    attribution_html,
    attribution_row,
    perturb,
    span_units,
    to_spans,
    to_words,
    word_units,
)
from clauselens.attribute.faithfulness import faithfulness_rows
from clauselens.attribute.methods import leave_one_out, shapley_sampling, sliding_window
from clauselens.attribute.perturb import apply_perturbation
from clauselens.records import Attribution, Unit

HEADROOM = ("The headroom of every room shall be not less than 2.0 metres, except in doorways "
            "(see Diagram 1.3).")
CLAUSES = [
    HEADROOM,
    "Provide all means of escape routes with a minimum clear headroom of 2m, except in doorways.",
    "A door of 1200mm width, fire resisting for 30 minutes, to BS 5395-2 and Approved Document B, "
    "where paragraph 2.5 applies unless the gradient is 1:12 or at least 1 in 20.",
    "If stairs have more than 36 risers in consecutive flights, make a minimum of one change of direction.",
]


def spans_by_text(text):
    return {u.text: u.span_type for u in span_units(text)}


def test_spans_parse_numbers_comparators_identifiers_and_conditions():
    spans = spans_by_text(HEADROOM)
    assert spans["2.0 metres"] == "number_unit"
    assert spans["not less than"] == "comparator"
    assert spans["Diagram 1.3"] == "identifier"
    assert spans["except in doorways"] == "condition"
    assert spans["headroom"] is None  # other words stay word units
    other = spans_by_text(CLAUSES[2])
    assert other["1200mm"] == other["30 minutes"] == "number_unit"
    assert other["BS 5395-2"] == other["Approved Document B"] == "identifier"
    assert spans_by_text("a gradient of at least 1 in 20")["at least"] == "comparator"
    assert spans_by_text("a gradient of at least 1 in 20")["1 in 20"] == "number_unit"
    # a condition is one unit, numbers and comparators inside it included
    assert other["where paragraph 2.5 applies unless the gradient is 1:12 or at least 1 in 20"] == "condition"


def test_bare_dotted_number_is_an_identifier_unless_a_comparator_quantifies_it():
    assert spans_by_text("as set out in 1.12 of this document") == {
        "as": None, "set": None, "out": None, "in": None, "1.12": "identifier", "of": None, "this": None,
        "document": None}
    assert spans_by_text("a ratio of at least 1.5 applies")["1.5"] == "number"


@pytest.mark.parametrize("text", CLAUSES)
def test_offsets_round_trip_and_rebuild(text):
    for units in (word_units(text), span_units(text)):
        assert all(text[u.start:u.end] == u.text for u in units)
        assert all(a.end <= b.start for a, b in zip(units, units[1:], strict=False))
        identity = [u.text for u in units]  # "replace" every unit by itself
        assert apply_perturbation(text, units, range(len(units)), identity, "mask") == text
    # spans cover exactly the characters of the words they contain
    word_chars = {i for u in word_units(text) for i in range(u.start, u.end)}
    span_chars = {i for u in span_units(text) for i in range(u.start, u.end)}
    assert word_chars <= span_chars


def test_delete_removes_unit_and_following_space():
    units = span_units(HEADROOM)
    idx = [u.text for u in units].index("not less than")
    assert perturb(HEADROOM, units, [idx], "delete") == HEADROOM.replace("not less than ", "")
    both = [idx, idx + 1]  # comparator and the quantity after it
    assert perturb(HEADROOM, units, both, "delete") == HEADROOM.replace("not less than 2.0 metres", "")


def test_mask_uses_configured_string_then_unk_then_fallback():
    units = word_units("clear headroom of 2m")

    class Tok:
        unk_token = "<unk>"

    assert perturb("clear headroom of 2m", units, [1], "mask", mask_string="[X]") == "clear [X] of 2m"
    assert perturb("clear headroom of 2m", units, [1], "mask", tokenizer=Tok()) == "clear <unk> of 2m"
    assert perturb("clear headroom of 2m", units, [1], "mask") == "clear ___ of 2m"


def test_substitute_is_plausible_and_seeded():
    units = span_units(HEADROOM)
    names = [u.text for u in units]
    pick = [names.index(n) for n in ("not less than", "2.0 metres", "Diagram 1.3", "except in doorways")]
    out = perturb(HEADROOM, units, pick, "substitute", rng=3)
    assert "not more than" in out
    assert ("1.0 metres" in out) or ("4.0 metres" in out)
    assert "Diagram 1.3" not in out and "Diagram " in out
    assert "including in doorways" in out
    assert out == perturb(HEADROOM, units, pick, "substitute", rng=3)
    words = word_units(HEADROOM)
    metres = [u.text for u in words].index("metres")
    assert perturb(HEADROOM, words, [metres], "substitute", rng=0).count("millimetres") == 1
    # a plain word has no natural substitute: it falls back to the mask string
    every = [u.text for u in words].index("every")
    assert "___ room" in perturb(HEADROOM, words, [every], "substitute", rng=0)


def additive(weights):
    """v(S) = sum of the weights of the present units, reported as one column per unit."""
    w = np.asarray(weights, dtype=float)
    return lambda masks: np.asarray(masks, dtype=float) * w


def test_methods_recover_an_additive_value_function_exactly():
    w = np.array([3.0, -1.0, 0.5, 0.0, 2.0])
    value = additive(w)
    assert np.allclose(leave_one_out(5, value).scores, w)
    assert np.allclose(sliding_window(5, 1, value).scores, w)
    # a window of 2: each unit gets the mean of the (one or two) windows covering it
    expected = [w[0] + w[1], (w[0] + 2 * w[1] + w[2]) / 2, (w[1] + 2 * w[2] + w[3]) / 2,
                (w[2] + 2 * w[3] + w[4]) / 2, w[3] + w[4]]
    assert np.allclose(sliding_window(5, 2, value).scores, expected)
    shap = shapley_sampling(5, 4, np.random.default_rng(0), value)
    assert np.allclose(shap.scores, w)  # additive games: every marginal is the unit's own weight


def test_shapley_sampling_is_efficient_on_an_interaction_game():
    rng = np.random.default_rng(1)
    pair = rng.normal(size=(6, 6))

    def value(masks):
        m = np.asarray(masks, dtype=float)
        return np.einsum("ki,ij,kj->k", m, pair, m)[:, None]

    result = shapley_sampling(6, 7, np.random.default_rng(2), value)
    full, empty = value(np.ones((1, 6)))[0, 0], value(np.zeros((1, 6)))[0, 0]
    assert result.scores.sum() == pytest.approx(full - empty, abs=1e-9)
    assert np.ptp(result.scores) > 0.1


def make_attr(units, scores, matrix=None):
    return Attribution(cell_id="m/fft/s0", clause_id="K:1", clause_text=HEADROOM, units=units,
                       scores=scores, method="loo", target="logprob", perturbation="delete", matrix=matrix)


def test_to_words_and_to_spans_align_by_character_offsets():
    words = word_units(HEADROOM)
    scores = list(np.arange(len(words), dtype=float))
    attr = make_attr(words, scores, matrix=[scores, [2 * s for s in scores]])
    spans = to_spans(attr)
    by_text = dict(zip([u.text for u in spans.units], spans.scores, strict=True))
    names = [u.text for u in words]
    comparator = sum(scores[names.index(n)] for n in ("not", "less", "than"))
    assert by_text["not less than"] == pytest.approx(comparator)
    assert sum(spans.scores) == pytest.approx(sum(scores))
    assert np.allclose(np.asarray(spans.matrix)[1], 2 * np.asarray(spans.matrix)[0])
    back = to_words(spans)
    assert [u.text for u in back.units] == names
    assert sum(back.scores) == pytest.approx(sum(scores))
    # pieces of words (e.g. subword tokens) add up to their word
    pieces = [Unit(text=HEADROOM[0:2], start=0, end=2, kind="token"),
              Unit(text=HEADROOM[2:3], start=2, end=3, kind="token")]
    words_of_pieces = to_words(make_attr(pieces, [1.5, 0.25]))
    assert words_of_pieces.scores[0] == pytest.approx(1.75)
    assert words_of_pieces.options["aligned_from"] == "token"


def test_attribution_json_round_trip_and_row():
    attr = make_attr(span_units(HEADROOM), [0.1 * i for i in range(len(span_units(HEADROOM)))])
    again = Attribution.from_json(attr.to_json())
    assert again == attr
    row = attribution_row(attr)
    assert row["unit"] == "span" and Attribution.from_json(row["payload"]) == attr


def test_html_shades_by_sign_escapes_and_titles():
    units = [Unit(text="a<b", start=0, end=3), Unit(text="c", start=4, end=5)]
    attr = Attribution(cell_id="c", clause_id="k", clause_text="a<b c", units=units, scores=[1.0, -1.0],
                       method="loo", target="logprob", perturbation="delete")
    out = attribution_html(attr)
    assert "a&lt;b" in out and "a<b" not in out
    assert 'title="a&lt;b · word · score +1"' in out
    colours = [part.split(";")[0] for part in out.split("background:")[1:]]
    assert colours[0] != colours[1]
    assert attribution_html(attr, scale=100.0).count("#f") >= 2  # tiny scores on a big scale: near white


def test_faithfulness_numbers_on_a_constructed_game():
    w = np.array([3.0, 1.0, 0.0, -1.0])

    class Game:
        value = staticmethod(lambda masks: (np.asarray(masks, dtype=float) * w).sum(axis=1, keepdims=True))

    attr = make_attr(word_units(HEADROOM)[:4], list(w))
    deletion, insertion = faithfulness_rows(attr, Game(), np.random.default_rng(0), n_random=20)
    # deletion in order 0,1,2,3: values 3, 0, -1, -1, 0 -> AOPC = mean(3 - v) = 2.8
    assert deletion["aopc"] == pytest.approx(2.8)
    # insertion: 0, 3, 4, 4, 3 -> mean(v - 0) = 2.8
    assert insertion["aopc"] == pytest.approx(2.8)
    # top 1/5/10/20 % is 1 unit, top 50 % is 2: comprehensiveness (3,3,3,3,4)/5, sufficiency (0,0,0,0,-1)/5
    assert deletion["comprehensiveness"] == pytest.approx(3.2)
    assert deletion["sufficiency"] == pytest.approx(-0.2)
    assert deletion["aopc"] > deletion["random_aopc"]
    reversed_attr = make_attr(attr.units, list(-w))
    worst, _ = faithfulness_rows(reversed_attr, Game(), np.random.default_rng(0), n_random=20)
    assert worst["aopc"] < worst["random_aopc"]
    points = json.loads(deletion["points"])
    assert points["k"] == [0, 1, 2, 3, 4] and points["value"] == [3.0, 0.0, -1.0, -1.0, 0.0]


STAIR = "The stair shall have a minimum headroom of 2.0 m."


def stair_tokens() -> tuple[list[Unit], list[float]]:
    """Sub-word pieces of STAIR (as a tokenizer might cut it) with hand-picked scores; "." is a unit too."""
    cuts = [(0, 3), (4, 7), (7, 9), (10, 15), (16, 20), (21, 22), (23, 30), (31, 35), (35, 39), (40, 42),
            (43, 46), (47, 48), (48, 49)]
    units = [Unit(text=STAIR[a:b], start=a, end=b, kind="token") for a, b in cuts]
    scores = [1.0, -2.0, 0.5, 3.0, -1.0, 2.0, 0.25, 4.0, -0.5, 1.5, 2.5, -1.5, 0.75]
    return units, scores


def test_the_attribution_aggregates_itself_on_words_spans_and_categories():
    units, scores = stair_tokens()
    assert [u.text for u in units] == ["The", "sta", "ir", "shall", "have", "a", "minimum", "head", "room",
                                       "of", "2.0", "m", "."]
    attr = Attribution(cell_id="m/fft/s0", clause_id="K:9", clause_text=STAIR, units=units, scores=scores,
                       method="loo", target="logprob", perturbation="delete")
    # words: "stair" = sta + ir, "headroom" = head + room; "." belongs to no word and is left out
    words = attr.aggregate("word")
    assert [u.text for u in words.units] == ["The", "stair", "shall", "have", "a", "minimum", "headroom",
                                             "of", "2.0", "m"]
    assert words.scores == pytest.approx([1.0, -1.5, 3.0, -1.0, 2.0, 0.25, 3.5, 1.5, 2.5, -1.5])
    assert words.options["unaligned_score"] == pytest.approx(0.75)
    assert words == to_words(attr)  # the same code as the stage's alignment
    # spans: "minimum" is a comparator, "2.0 m" one number_unit span holding 2.5 - 1.5
    spans = attr.aggregate("span")
    by_text = dict(zip([u.text for u in spans.units], spans.scores, strict=True))
    assert by_text["2.0 m"] == pytest.approx(1.0) and by_text["minimum"] == pytest.approx(0.25)
    # categories, from the words: The/have/a/of function, stair building entity, shall deontic, minimum
    # comparator, headroom content, 2.0 numerical constraint, m unit
    table = words.aggregate("category")
    expected = {"function": [1.0, -1.0, 2.0, 1.5], "building_entity": [-1.5], "deontic": [3.0],
                "comparator": [0.25], "content": [3.5], "numerical_constraint": [2.5], "unit": [-1.5]}
    total_abs = sum(abs(s) for s in words.scores)
    for category, members in expected.items():
        row = table.loc[category]
        assert row["score"] == pytest.approx(sum(members))
        assert row["mean"] == pytest.approx(sum(members) / len(members))
        assert row["n_units"] == len(members)
        assert row["share"] == pytest.approx(sum(abs(s) for s in members) / total_abs)
    per_unit = {c: sum(abs(s) for s in m) / len(m) / total_abs for c, m in expected.items()}
    share_per_unit = per_unit["function"] / sum(per_unit.values())
    assert table.loc["function", "share_per_unit"] == pytest.approx(share_per_unit)
    absent = table.loc["rule_identifier"]
    assert absent["n_units"] == 0 and absent["score"] == 0 and np.isnan(absent["mean"])
    assert table["share"].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown level 'sentence'"):
        attr.aggregate("sentence")


def test_the_attribution_renders_itself_with_the_report_palette():
    from matplotlib.figure import Figure

    from clauselens.attribute.render import PALETTE, Shading

    units, scores = stair_tokens()
    matrix = [scores, [2 * s for s in scores]]
    attr = Attribution(cell_id="m/fft/s0", clause_id="K:9", clause_text=STAIR, units=units, scores=scores,
                       method="loo", target="logprob", perturbation="delete", matrix=matrix,
                       output_tokens=["a", "b"])
    out = attr.to_html()
    assert out == attribution_html(attr) == attr._repr_html_()
    assert out.count('class="cl-unit"') == len(units)
    shading = Shading(4.0)
    assert shading.style(4.0) in out and shading.style(-2.0) in out  # the largest |score| is the scale
    assert PALETTE == "RdBu_r" and shading.colours(4.0)[0] != shading.colours(-4.0)[0]
    assert isinstance(attr.plot(), Figure) and isinstance(attr.plot("scores"), Figure)
    assert Attribution.from_json(attr.to_json()) == attr  # rendering does not touch the record
