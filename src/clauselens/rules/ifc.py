"""Building models are IFC4 files, written and read with ifcopenshell.

Mapping (write and read):
- kind -> entity as in `vocabulary.KINDS`. Kinds sharing an entity are told apart by type:
  `space` = IfcSpace (PredefinedType SPACE or anything not below), `corridor` / `escape_route` = IfcSpace
  USERDEFINED with ObjectType `CORRIDOR` / `ESCAPE_ROUTE`, `parking` = IfcSpace PARKING (or ObjectType
  `PARKING`); `landing` = IfcSlab LANDING, `slab` = any other IfcSlab; `handrail` = IfcRailing HANDRAIL,
  `guarding` = any other IfcRailing (the builder writes GUARDRAIL). `appliance` is a plain
  IfcFlowTerminal: its subtypes (sanitary, sprinkler) are matched by exact class, never as appliances.
  IFC4 `*StandardCase` classes read as their base kind. Other IFC products are not elements.
- `Element.id` = IfcRoot.Name (the spec id); when a read file has an empty or repeated Name, the GlobalId.
  `Element.name` = LongName, else Description, else the id. The builder writes a spec `name` to Description.
- properties = the single values of the property set `Pset_ClauseLens`: IfcBoolean / IfcInteger /
  IfcReal / IfcLabel, plain numbers in the unit of the property's suffix (independent of project units).
- parent = IfcRelAggregates (storey in building, space in storey, flight/landing/railing in stair or
  ramp) or IfcRelContainedInSpatialStructure (other elements in a storey or space), skipping ancestors
  that are not elements (site, project). A door or window whose spec parent is a space is contained in
  that space's storey and bounds the space (IfcRelSpaceBoundary), as authoring tools write it; the spec
  field `spaces` adds further boundaries.
- Elements without a parent are placed in an implicit storey of an implicit building (ObjectType
  `CLAUSELENS_IMPLICIT`), which the reader skips: a rule sees exactly the spec's elements.
- The model name is IfcProject.Name (the spec name), else the file stem.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import threading
from pathlib import Path
from typing import Any

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.pset
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.api.unit
import ifcopenshell.guid
import ifcopenshell.util.element

from ..layout import cache_root
from ..store import atomic_write
from .building import SPACE_KINDS, BuildingModel
from .fixture import spec_hash, validate_spec
from .vocabulary import KINDS

PSET = "Pset_ClauseLens"
IMPLICIT = "CLAUSELENS_IMPLICIT"
SPACE_OBJECT_TYPES = {"CORRIDOR": "corridor", "ESCAPE_ROUTE": "escape_route", "PARKING": "parking"}
# kind -> (PredefinedType, ObjectType) the builder writes
TYPE_OF_KIND: dict[str, tuple[str | None, str | None]] = {
    "space": ("SPACE", None),
    "corridor": ("USERDEFINED", "CORRIDOR"),
    "escape_route": ("USERDEFINED", "ESCAPE_ROUTE"),
    "parking": ("PARKING", None),
    "landing": ("LANDING", None),
    "slab": ("FLOOR", None),
    "handrail": ("HANDRAIL", None),
    "guarding": ("GUARDRAIL", None),
}
STANDARD_CASES = {
    "IfcWallStandardCase": "IfcWall",
    "IfcWallElementedCase": "IfcWall",
    "IfcSlabStandardCase": "IfcSlab",
    "IfcSlabElementedCase": "IfcSlab",
    "IfcDoorStandardCase": "IfcDoor",
    "IfcWindowStandardCase": "IfcWindow",
}
KIND_OF_ENTITY = {entity: kind for kind, entity in KINDS.items() if list(KINDS.values()).count(entity) == 1}
SPATIAL = ("storey", *SPACE_KINDS)  # aggregated in their parent, like stair and ramp parts


def kind_of(entity: ifcopenshell.entity_instance) -> str | None:
    """The vocabulary kind of an IFC product, or None when it is not one of the kinds."""
    ifc_class = STANDARD_CASES.get(entity.is_a(), entity.is_a())
    predefined = getattr(entity, "PredefinedType", None)
    object_type = (getattr(entity, "ObjectType", None) or "").upper()
    if ifc_class == "IfcSpace":
        return SPACE_OBJECT_TYPES.get(object_type, "parking" if predefined == "PARKING" else "space")
    if ifc_class == "IfcSlab":
        return "landing" if predefined == "LANDING" else "slab"
    if ifc_class == "IfcRailing":
        return "handrail" if predefined == "HANDRAIL" else "guarding"
    return KIND_OF_ENTITY.get(ifc_class)


def build_ifc(spec: dict[str, Any], path: str | Path) -> Path:
    """Write the building `spec` (see `clauselens.rules.fixture`) as an IFC4 file at `path`."""
    validate_spec(spec)
    path = Path(path)
    f = ifcopenshell.file(schema="IFC4")
    project = ifcopenshell.api.root.create_entity(
        f, ifc_class="IfcProject", name=spec.get("name") or path.stem
    )
    ifcopenshell.api.unit.assign_unit(f)
    entities = {e["id"]: _create(f, e) for e in spec["elements"]}
    kinds = {e["id"]: e["kind"] for e in spec["elements"]}
    parents = {e["id"]: e.get("parent") for e in spec["elements"]}
    implicit: dict[str, ifcopenshell.entity_instance] = {}

    def implicit_container(kind: str) -> ifcopenshell.entity_instance:
        if kind not in implicit:
            entity = _create(f, {"kind": kind, "id": f"implicit-{kind}"})
            entity.ObjectType = IMPLICIT
            above = project if kind == "building" else implicit_container("building")
            ifcopenshell.api.aggregate.assign_object(f, products=[entity], relating_object=above)
            implicit[kind] = entity
        return implicit[kind]

    for element in spec["elements"]:
        entity, kind, parent_id = entities[element["id"]], element["kind"], element.get("parent")
        if kind == "building":
            ifcopenshell.api.aggregate.assign_object(f, products=[entity], relating_object=project)
            parent = None
        elif parent_id is None:
            parent = implicit_container("building" if kind == "storey" else "storey")
        else:
            parent = entities[parent_id]
        bounded = [entities[s] for s in element.get("spaces", [])]
        if parent is not None and kind in ("door", "window") and kinds.get(parent_id) in SPACE_KINDS:
            bounded.insert(0, parent)
            storey_id = parents.get(parent_id)
            parent = entities[storey_id] if storey_id else implicit_container("storey")
        if parent is not None and (kind in SPATIAL or parent.is_a() in ("IfcStair", "IfcRamp")):
            ifcopenshell.api.aggregate.assign_object(f, products=[entity], relating_object=parent)
        elif parent is not None:
            ifcopenshell.api.spatial.assign_container(f, products=[entity], relating_structure=parent)
        for space in bounded:
            f.create_entity(
                "IfcRelSpaceBoundary",
                GlobalId=ifcopenshell.guid.new(),
                RelatingSpace=space,
                RelatedBuildingElement=entity,
                PhysicalOrVirtualBoundary="PHYSICAL",
                InternalOrExternalBoundary="NOTDEFINED",
            )
    with atomic_write(path) as fh:
        fh.write(f.to_string())
    return path


def _create(f: ifcopenshell.file, element: dict[str, Any]) -> ifcopenshell.entity_instance:
    predefined, object_type = TYPE_OF_KIND.get(element["kind"], (None, None))
    entity = ifcopenshell.api.root.create_entity(
        f, ifc_class=KINDS[element["kind"]], name=element["id"], predefined_type=predefined
    )
    if object_type:
        entity.ObjectType = object_type
    if element.get("name"):
        entity.Description = element["name"]
    if element.get("props"):
        pset = ifcopenshell.api.pset.add_pset(f, product=entity, name=PSET)
        ifcopenshell.api.pset.edit_pset(f, pset=pset, properties=dict(element["props"]))
    return entity


def read_ifc(path: str | Path) -> dict[str, Any]:
    """Parse an IFC file into the plain data of `BuildingModel.to_dict()`."""
    path = Path(path)
    try:
        f = ifcopenshell.open(str(path))
    except (OSError, RuntimeError, ifcopenshell.Error, ifcopenshell.SchemaError) as exc:
        raise ValueError(f"{path}: cannot read as IFC ({exc})") from exc
    products = [(p, kind_of(p)) for p in f.by_type("IfcProduct")]
    elements = [p for p, kind in products if kind is not None and (p.ObjectType or "") != IMPLICIT]
    name_counts = collections.Counter(p.Name for p in elements)
    ids = {p.id(): p.Name if p.Name and name_counts[p.Name] == 1 else p.GlobalId for p in elements}
    kinds = {p.id(): kind for p, kind in products}
    rows = []
    for p in elements:
        props = ifcopenshell.util.element.get_pset(p, PSET) or {}
        props.pop("id", None)
        bounds = [rel.RelatingSpace for rel in getattr(p, "ProvidesBoundaries", None) or ()]
        rows.append(
            {
                "id": ids[p.id()],
                "kind": kinds[p.id()],
                "name": getattr(p, "LongName", None) or p.Description or ids[p.id()],
                "props": props,
                "parent": _parent_id(p, ids),
                "bounds": [ids[s.id()] for s in bounds if s.id() in ids],
            }
        )
    projects = f.by_type("IfcProject")
    return {"name": (projects[0].Name if projects else None) or path.stem, "elements": rows}


def _parent_id(entity: ifcopenshell.entity_instance, ids: dict[int, str]) -> str | None:
    """The id of the nearest aggregating/containing ancestor that is an element."""
    seen: set[int] = set()
    parent = entity
    while True:
        parent = ifcopenshell.util.element.get_aggregate(parent) or ifcopenshell.util.element.get_container(
            parent
        )
        if parent is None or parent.id() in seen:
            return None
        if parent.id() in ids:
            return ids[parent.id()]
        seen.add(parent.id())


def cache_dir() -> Path:
    """Where built fixtures are cached: $CLAUSELENS_CACHE_DIR, else `ifc/` in the clauselens cache
    (`layout.cache_root`, shared with the ladder)."""
    if os.environ.get("CLAUSELENS_CACHE_DIR"):
        return Path(os.environ["CLAUSELENS_CACHE_DIR"])
    return cache_root() / "ifc"


def fixture_path(spec: dict[str, Any]) -> Path:
    """The cached IFC file of a spec, built on first use (keyed by a hash of the spec)."""
    validate_spec(spec)
    path = cache_dir() / f"{spec_hash(spec)}.ifc"
    if not path.exists():
        build_ifc(spec, path)
    return path


# ifcopenshell is not thread-safe: two threads parsing at once (score runs sandboxed rules from a thread
# pool) crashed the process in libifcopenshell.parse.so. Every build and parse goes through this lock.
IFC_LOCK = threading.RLock()


def building_data(source: str | Path | dict[str, Any] | BuildingModel) -> dict[str, Any]:
    """Plain data of a building given as an IFC path, a spec or a model (parsed once per process)."""
    with IFC_LOCK:
        return _building_data(source)


def _building_data(source: str | Path | dict[str, Any] | BuildingModel) -> dict[str, Any]:
    if isinstance(source, BuildingModel):
        return source.to_dict()
    if isinstance(source, dict):
        validate_spec(source)
        try:
            canonical = json.dumps(source, sort_keys=True)
        except TypeError as exc:
            raise ValueError(
                f"building spec {source.get('name', '?')!r} is not JSON-serialisable: {exc}"
            ) from exc
        return _read_cached_spec(canonical)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"IFC file not found: {path}")
    stat = path.stat()
    return _read_cached_file(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=512)
def _read_cached_spec(canonical_spec: str) -> dict[str, Any]:
    return read_ifc(fixture_path(json.loads(canonical_spec)))


@functools.lru_cache(maxsize=128)
def _read_cached_file(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    return read_ifc(path)


def load_building(source: str | Path | dict[str, Any]) -> BuildingModel:
    """A `BuildingModel` from an IFC file path or a building spec (built to a cached IFC file first)."""
    return BuildingModel.from_dict(building_data(source))
