"""The building-entity lexicon: what counts as a "building entity" word in a clause.

Two sources, so that the lexicon is neither invented nor tied to one corpus:
- IFC: the names of the concrete IFC4 product entities below `IfcElement` and `IfcSpatialElement`
  (read from ifcopenshell's schema), split at capitals: `IfcStairFlight` gives the phrase
  "stair flight" and its head noun "flight". Abstract entities and the `*StandardCase` /
  `*ElementedCase` duplicates are skipped, and so are head nouns too generic to name a thing on their
  own ("element", "device", "case", ...).
- the words the UK Approved Documents use for building parts that IFC names differently or not at all
  (escape route, landing, guarding, ...), including every element kind of the rule vocabulary
  (`clauselens.rules.vocabulary.KINDS`; listed here rather than imported, so that the analysis does not
  load the rule sandbox).
"""

from __future__ import annotations

import re
from functools import lru_cache

import ifcopenshell.ifcopenshell_wrapper as ifc_wrapper

IFC_SCHEMA = "IFC4"
_ROOTS = ("IfcElement", "IfcSpatialElement")
_GENERIC_HEADS = frozenset({
    "element", "case", "proxy", "part", "feature", "addition", "subtraction", "component", "connection",
    "recovery", "device", "unit", "control", "assembly", "equipment", "accessory", "box", "structure",
    "zone", "bundle", "fitting", "segment", "terminal",
})

CORPUS_ENTITIES: tuple[str, ...] = (
    "escape route", "means of escape", "access route", "approach route", "final exit", "exit", "storey exit",
    "landing", "flight", "step", "tread", "riser", "nosing", "stairway", "staircase", "stair", "ramp",
    "handrail", "guarding", "balustrade", "barrier", "corridor", "lobby", "hall", "hallway", "passage",
    "doorway", "doorset", "door", "fire door", "window", "rooflight", "opening", "vent", "ventilator",
    "room", "habitable room", "space", "floor", "ceiling", "loft", "basement", "balcony", "gallery",
    "mezzanine", "dwelling", "dwellinghouse", "flat", "building", "lift", "shaft", "chimney", "flue",
    "hearth", "fireplace", "duct", "pipe", "drain", "sewer", "gutter", "cesspool", "septic tank", "boiler",
    "appliance", "wc", "toilet", "bathroom", "kitchen", "shower", "bath", "washbasin", "sink", "urinal",
    "cubicle", "kerb", "car park", "parking space", "garage", "conservatory", "porch", "cavity",
    "cavity barrier", "compartment wall", "compartment floor", "fire damper", "smoke alarm", "heat alarm",
    "sprinkler", "joist", "lintel", "foundation", "partition", "external wall", "separating wall",
    "separating floor", "protected stairway", "protected corridor", "protected shaft", "parking",
    "storey", "sanitary fitting", "alarm", "fan",
)


def _split_camel(name: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Z][a-z]+|[A-Z]+(?![a-z])|\d+", name)]


def _descends_from_root(entity: ifc_wrapper.entity) -> bool:
    node = entity
    while node is not None:
        if node.name() in _ROOTS:
            return True
        node = node.supertype()
    return False


@lru_cache(maxsize=1)
def ifc_entity_phrases() -> frozenset[str]:
    """Phrases from the concrete IFC4 product entity names (see the module docstring)."""
    schema = ifc_wrapper.schema_by_name(IFC_SCHEMA)
    phrases: set[str] = set()
    for entity in schema.entities():
        name = entity.name()
        if entity.is_abstract() or name.endswith(("StandardCase", "ElementedCase")):
            continue
        if not _descends_from_root(entity):
            continue
        words = _split_camel(name[3:])  # drop the "Ifc" prefix
        if not words:
            continue
        phrases.add(" ".join(words))
        if words[-1] not in _GENERIC_HEADS:
            phrases.add(words[-1])
    return frozenset(phrases)


@lru_cache(maxsize=1)
def building_entity_lexicon() -> frozenset[str]:
    """Every building-entity phrase: IFC names and corpus words (lower case)."""
    return frozenset(ifc_entity_phrases() | set(CORPUS_ENTITIES))
