"""Building specs: the small JSON fixtures a rule is checked against, validated before any IFC is written.

A spec is `{"name": "inside", "elements": [{"kind": "door", "id": "door-1", "props": {...},
"parent": "space-1"}, ...]}`. Per element: `kind` (a `vocabulary.KINDS` key) and `id` (unique, becomes
`Element.id`) are required; `props` (name -> bool/int/float/str, unit in the name suffix), `parent` (the
id of the element that contains or aggregates it), `name` (a display label) and, for doors and windows,
`spaces` (further space ids the element bounds, besides a space parent) are optional. Property values
must fit their names: `is_*`/`has_*` are booleans, unit-suffixed names (`_mm`, `_m2`, ...) numbers. Other
top-level keys (e.g. an expected verdict) are metadata the builder ignores.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from .building import SPACE_KINDS
from .vocabulary import KINDS

CONTAINERS = ("storey", *SPACE_KINDS)
STAIR_PARTS = ("flight", "landing", "handrail", "guarding")
ELEMENT_KEYS = {"kind", "id", "props", "parent", "name", "spaces"}
# suffixes of numeric properties (vocabulary docstring, plus units its property lists use)
NUMERIC_SUFFIXES = ("_mm", "_m2", "_deg", "_pct", "_s", "_n", "_min", "_kw", "_l", "_db")
BUILDER_VERSION = 1  # part of the cache key: bump when the IFC mapping changes


def parent_kinds(kind: str) -> tuple[str, ...]:
    """The kinds an element of `kind` may name as its `parent`.

    Parents always rank above their children (building > storey > space > element, stair/ramp > part),
    so a valid spec cannot contain a containment cycle.
    """
    if kind == "building":
        return ()
    if kind == "storey":
        return ("building",)
    if kind in SPACE_KINDS:
        return ("storey",)
    if kind in STAIR_PARTS:
        return ("stair", "ramp", *CONTAINERS)
    return CONTAINERS


def validate_spec(spec: Any) -> None:
    """Raise ValueError naming the element index and field when `spec` is not a valid building spec."""
    if not isinstance(spec, dict):
        raise ValueError(f"building spec must be a dict, got {type(spec).__name__}")
    label = f"building spec {spec.get('name', '?')!r}"
    if not isinstance(spec.get("name", ""), str):
        raise ValueError(f"{label}: field 'name' must be a str")
    elements = spec.get("elements")
    if not isinstance(elements, list):
        raise ValueError(f"{label}: field 'elements' must be a list of element dicts")
    kinds: dict[str, str] = {}
    for i, element in enumerate(elements):
        where = f"{label}: elements[{i}]"
        if not isinstance(element, dict):
            raise ValueError(f"{where} must be a dict, got {type(element).__name__}")
        unknown = set(element) - ELEMENT_KEYS
        if unknown:
            raise ValueError(
                f"{where} has unknown field(s) {sorted(unknown)}; expected {sorted(ELEMENT_KEYS)}"
            )
        kind, element_id = element.get("kind"), element.get("id")
        if kind not in KINDS:
            raise ValueError(f"{where} field 'kind': unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        if not isinstance(element_id, str) or not element_id:
            raise ValueError(f"{where} field 'id': expected a non-empty str, got {element_id!r}")
        if element_id in kinds:
            raise ValueError(f"{where} field 'id': duplicate id {element_id!r}")
        kinds[element_id] = kind
        if not isinstance(element.get("name", ""), str):
            raise ValueError(f"{where} field 'name': expected a str")
        _validate_props(element.get("props", {}), f"{where} field 'props'")
    for i, element in enumerate(elements):
        _validate_links(element, kinds, f"{label}: elements[{i}] ({element['id']!r})")


def _validate_props(props: Any, where: str) -> None:
    if not isinstance(props, dict):
        raise ValueError(f"{where}: expected a dict of property -> value")
    for key, value in props.items():
        if not isinstance(key, str) or not key or key == "id":
            raise ValueError(f"{where}: property names must be non-empty str other than 'id', got {key!r}")
        if not isinstance(value, bool | int | float | str):
            raise ValueError(f"{where}: {key!r} must be a bool/int/float/str, got {type(value).__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}: {key!r} must be finite, got {value!r}")
        if key.startswith(("is_", "has_")) and not isinstance(value, bool):
            raise ValueError(f"{where}: {key!r} is a flag (is_/has_) and must be true/false, got {value!r}")
        if key.endswith(NUMERIC_SUFFIXES) and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{where}: {key!r} must be a number in the unit of its suffix, got {value!r}")


def _validate_links(element: dict[str, Any], kinds: dict[str, str], where: str) -> None:
    kind, parent = element["kind"], element.get("parent")
    if parent is not None:
        allowed = parent_kinds(kind)
        if not isinstance(parent, str) or parent not in kinds:
            raise ValueError(f"{where} field 'parent': {parent!r} is not the id of an element in this spec")
        if kinds[parent] not in allowed:
            raise ValueError(
                f"{where} field 'parent': a {kind} cannot be placed in a {kinds[parent]} ({parent!r}); "
                f"expected one of: {', '.join(allowed) or 'no parent'}"
            )
    spaces = element.get("spaces", [])
    if not isinstance(spaces, list):
        raise ValueError(f"{where} field 'spaces': expected a list of space ids")
    if spaces and kind not in ("door", "window"):
        raise ValueError(f"{where} field 'spaces': only doors and windows bound spaces, not a {kind}")
    for space in spaces:
        if not isinstance(space, str) or kinds.get(space) not in SPACE_KINDS:
            raise ValueError(f"{where} field 'spaces': {space!r} is not the id of a space in this spec")


def spec_hash(spec: dict[str, Any]) -> str:
    """A stable key for a spec (and the builder version): equal specs share one cached IFC file."""
    canonical = json.dumps({"builder": BUILDER_VERSION, "spec": spec}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]
