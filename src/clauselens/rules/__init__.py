"""Executable rules: the API a rule is written against, IFC building models and the rule sandbox.

A rule is `def check_rule(model) -> list[Finding]`; it reads `model.elements(kind)`, `element.get(prop)`
and `element.related(relation)` (names in `clauselens.rules.vocabulary`). Buildings are IFC4 files
(`load_building`, `build_ifc` for JSON fixture specs). Untrusted rules only run through `run_rule`, in a
separate process inside operating-system isolation (`clauselens doctor` lists the layers). See
docs/rules.md.
"""

from .building import BuildingModel, Element, Finding
from .ifc import build_ifc, load_building
from .sandbox import RuleOutcome, run_rule, run_rules

__all__ = [
    "BuildingModel",
    "Element",
    "Finding",
    "RuleOutcome",
    "build_ifc",
    "load_building",
    "run_rule",
    "run_rules",
]
