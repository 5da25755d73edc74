"""What a rule sees: `Finding`, `Element` and `BuildingModel`, as plain Python objects.

This module imports nothing but the standard library and `vocabulary`, because the sandbox child
(`sandbox_child.py`) loads it without `ifcopenshell` or site-packages: the parent parses IFC into the
plain dict of `BuildingModel.to_dict()`, and the child rebuilds the same objects with `from_dict`.

Relations are not stored per name. Each element keeps its spatial/aggregation `parent` (the nearest
ancestor that is itself an element) and the spaces it `bounds` (IfcRelSpaceBoundary). A relation name
picks a set of target kinds (`"doors"` -> door, `"storey"` -> storey, `"spaces"` -> every IfcSpace
kind); `element.related(name)` returns the elements of those kinds linked to the element: its ancestors,
its descendants, the spaces it bounds, the elements bounding it, and the elements bounding its
descendant spaces (so a storey's doors include the doors of its spaces).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .vocabulary import KINDS, RELATIONS

SPACE_KINDS = ("space", "corridor", "escape_route", "parking")

# relation name -> element kinds it returns (plural names return many, singular ones the ancestor)
RELATION_TARGETS: dict[str, tuple[str, ...]] = {
    "spaces": SPACE_KINDS,
    "doors": ("door",),
    "windows": ("window",),
    "stairs": ("stair",),
    "storey": ("storey",),
    "storeys": ("storey",),
    "sanitary": ("sanitary",),
    "flights": ("flight",),
    "landings": ("landing",),
    "handrails": ("handrail",),
    "guarding": ("guarding",),
    "stair": ("stair",),
    "ramp": ("ramp",),
    "building": ("building",),
}

PropValue = bool | int | float | str


@dataclass(frozen=True)
class Finding:
    """One element checked by a rule. `compliant` takes any truthy value and is stored as a bool."""

    element_id: str
    compliant: bool
    message: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.element_id, str):
            raise TypeError(
                f"Finding.element_id must be a str (an element's .id), got {type(self.element_id).__name__}"
            )
        if not isinstance(self.message, str):
            raise TypeError(f"Finding.message must be a str, got {type(self.message).__name__}")
        object.__setattr__(self, "compliant", bool(self.compliant))


class Element:
    """One building element: id, kind, name, properties (unit in the name suffix) and relations."""

    __slots__ = ("id", "kind", "name", "props", "_model")

    def __init__(self, model: BuildingModel, id: str, kind: str, name: str, props: Mapping[str, Any]):
        self.id = id
        self.kind = kind
        self.name = name
        self.props: Mapping[str, PropValue] = types.MappingProxyType(dict(props))
        self._model = model

    def get(self, prop: str, default: Any = None) -> Any:
        """A property value (float/int in the unit of the suffix, bool or str), or `default`."""
        return self.props.get(prop, default)

    def related(self, relation: str) -> list[Element]:
        """Elements linked to this one by `relation` (one of `vocabulary.RELATIONS[self.kind]`)."""
        valid = RELATIONS.get(self.kind, ())
        if relation not in valid:
            raise ValueError(
                f"{self.kind!r} has no relation {relation!r}; valid relations: {', '.join(valid) or 'none'}"
            )
        return self._model._related(self, RELATION_TARGETS[relation])

    def __repr__(self) -> str:
        return f"Element({self.kind} {self.id!r})"


class BuildingModel:
    """The elements of one building, by kind, with their containment and space boundaries."""

    def __init__(self, name: str, elements: list[dict[str, Any]]):
        self.name = name
        self._elements = [
            Element(self, e["id"], e["kind"], e.get("name") or e["id"], e.get("props", {})) for e in elements
        ]
        self._by_id = {e.id: e for e in self._elements}
        self._parent = {e["id"]: e.get("parent") for e in elements}
        self._bounds = {e["id"]: tuple(e.get("bounds", ())) for e in elements}
        self._children: dict[str, list[str]] = {}
        self._bounded_by: dict[str, list[str]] = {}
        for element_id, parent in self._parent.items():
            if parent is not None:
                self._children.setdefault(parent, []).append(element_id)
        for element_id, spaces in self._bounds.items():
            for space_id in spaces:
                self._bounded_by.setdefault(space_id, []).append(element_id)

    def elements(self, kind: str) -> list[Element]:
        """All elements of `kind` (a key of `vocabulary.KINDS`), in file order."""
        if kind not in KINDS:
            raise ValueError(f"unknown element kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        return [e for e in self._elements if e.kind == kind]

    def element(self, element_id: str) -> Element:
        """The element with this id (KeyError naming the id when absent)."""
        try:
            return self._by_id[element_id]
        except KeyError:
            raise KeyError(f"no element with id {element_id!r} in building {self.name!r}") from None

    def _ancestors(self, element_id: str) -> list[str]:
        chain: list[str] = []
        parent = self._parent.get(element_id)
        while parent is not None and parent not in chain:
            chain.append(parent)
            parent = self._parent.get(parent)
        return chain

    def _descendants(self, element_id: str) -> set[str]:
        found: set[str] = set()
        queue = list(self._children.get(element_id, ()))
        while queue:
            child = queue.pop()
            if child not in found:
                found.add(child)
                queue.extend(self._children.get(child, ()))
        return found

    def _related(self, element: Element, kinds: tuple[str, ...]) -> list[Element]:
        own_and_below = {element.id, *self._descendants(element.id)}
        linked = set(own_and_below) | set(self._ancestors(element.id)) | set(self._bounds[element.id])
        for space_id in own_and_below:
            linked.update(self._bounded_by.get(space_id, ()))
        linked.discard(element.id)
        return [e for e in self._elements if e.id in linked and e.kind in kinds]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data; `from_dict(to_dict())` rebuilds an equal model."""
        return {
            "name": self.name,
            "elements": [
                {
                    "id": e.id,
                    "kind": e.kind,
                    "name": e.name,
                    "props": dict(e.props),
                    "parent": self._parent[e.id],
                    "bounds": list(self._bounds[e.id]),
                }
                for e in self._elements
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildingModel:
        return cls(str(data.get("name", "")), list(data["elements"]))

    def __repr__(self) -> str:
        return f"BuildingModel({self.name!r}, {len(self._elements)} elements)"
