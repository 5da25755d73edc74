"""The registries: config validation and dispatch use the same names; unknown names list them."""

import pytest
from pydantic import ValidationError

from clauselens.config import AttributionConfig, ScoringConfig
from clauselens.registry import METHODS, METRICS, PERTURBATIONS, REGISTRIES, TARGETS, UNITS, Registry


def test_every_declared_name_has_an_implementation_and_nothing_else_is_registered():
    for registry in REGISTRIES.values():
        registry.load()
        assert set(registry._impl) == set(registry.names()), registry.kind
        for name in registry:
            assert registry[name] is not None


@pytest.mark.parametrize(("field", "registry"), [
    ("method", METHODS), ("target", TARGETS), ("unit", UNITS), ("perturbation", PERTURBATIONS)])
def test_the_config_accepts_the_registered_names_and_lists_them_otherwise(field, registry):
    for name in registry:
        assert getattr(AttributionConfig(**{field: name}), field) == name
    with pytest.raises(ValidationError) as err:
        AttributionConfig(**{field: "nope"})
    listed = ", ".join(registry)
    assert f"attribution.{field}: unknown {registry.noun} 'nope'; expected one of {listed}" in str(err.value)
    with pytest.raises(ValueError, match=f"expected one of {', '.join(registry)}"):
        registry["nope"]


def test_score_metrics_are_validated_by_the_config():
    assert ScoringConfig().metrics == list(METRICS)
    with pytest.raises(ValidationError, match="scoring.metrics: unknown metric 'rouge'; expected one of sem"):
        ScoringConfig(metrics=["bleu", "rouge"])
    assert METRICS["bleu"].higher_is_better and not METRICS["levenshtein"].higher_is_better


def test_a_plugin_registers_a_new_name_that_the_config_then_accepts():
    registry: Registry = Registry("x.kind", "thing", ("a",), "clauselens.registry")
    registry.register("a", 1)

    @registry.register("b")
    def b():
        return 2

    assert list(registry) == ["a", "b"] and registry["b"] is b and "b" in registry
    with pytest.raises(ValueError, match="x.kind: unknown thing 'c'; expected one of a, b"):
        registry.check("c")
    with pytest.raises(LookupError, match="does not implement it"):
        Registry("y.kind", "thing", ("z",), "clauselens.registry")["z"]
