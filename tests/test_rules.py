"""Rule API and IFC building models: spec -> IFC -> BuildingModel, relations, errors, real verdicts."""

from __future__ import annotations

import math
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.util.element
import pytest

from clauselens.rules import BuildingModel, Finding, build_ifc, load_building, run_rule
from clauselens.rules import ifc as ifc_module
from clauselens.rules.building import RELATION_TARGETS
from clauselens.rules.fixture import parent_kinds
from clauselens.rules.vocabulary import KINDS, PROPERTIES, RELATIONS


@pytest.fixture(autouse=True)
def fixture_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path_factory.getbasetemp() / "ifc-cache"
    monkeypatch.setenv("CLAUSELENS_CACHE_DIR", str(cache))
    return cache


HOUSE = {
    "name": "house",
    "elements": [
        # listed before the space and storey it sits in: the builder must not depend on order
        {"kind": "door", "id": "door-0", "parent": "route", "props": {"clear_width_mm": 1000}},
        {
            "kind": "building",
            "id": "bldg",
            "props": {"height_mm": 7200, "storeys_n": 2, "purpose_group": "1(a)"},
        },
        {"kind": "storey", "id": "ground", "parent": "bldg", "props": {"elevation_mm": 0}},
        {"kind": "storey", "id": "first", "parent": "bldg", "props": {"elevation_mm": 2700.5}},
        {"kind": "space", "id": "kitchen", "name": "Kitchen", "parent": "ground", "props": {"area_m2": 12.5}},
        {"kind": "corridor", "id": "hall", "parent": "ground", "props": {"clear_width_mm": 900}},
        {"kind": "escape_route", "id": "route", "parent": "first", "props": {"is_protected": True}},
        {"kind": "parking", "id": "bay", "parent": "ground", "props": {"width_mm": 2400}},
        {
            "kind": "door",
            "id": "door-k",
            "parent": "kitchen",
            "spaces": ["hall"],
            "props": {"clear_width_mm": 800, "is_fire_door": False},
        },
        {"kind": "door", "id": "door-f", "parent": "first", "props": {"clear_width_mm": 760}},
        {"kind": "window", "id": "win-1", "parent": "kitchen", "props": {"sill_height_mm": 800}},
        {"kind": "sanitary", "id": "wc", "parent": "kitchen", "props": {"has_grab_rail": True}},
        {"kind": "stair", "id": "stair-1", "parent": "ground", "props": {"clear_width_mm": 850}},
        {
            "kind": "flight",
            "id": "flight-1",
            "parent": "stair-1",
            "props": {"riser_height_mm": 190, "going_mm": 250},
        },
        {"kind": "landing", "id": "landing-1", "parent": "stair-1", "props": {"length_mm": 900}},
        {"kind": "handrail", "id": "rail-1", "parent": "stair-1", "props": {"height_mm": 950}},
        {
            "kind": "guarding",
            "id": "guard-1",
            "parent": "stair-1",
            "props": {"height_mm": 1000, "gap_mm": 99},
        },
        {"kind": "guarding", "id": "guard-2", "parent": "route", "props": {"height_mm": 1100}},
        {"kind": "ramp", "id": "ramp-1", "parent": "ground", "props": {"gradient_pct": 5.0}},
        {"kind": "handrail", "id": "rail-2", "parent": "ramp-1"},
        {"kind": "slab", "id": "slab-1", "parent": "ground", "props": {"thickness_mm": 200}},
        {"kind": "wall", "id": "wall-1", "props": {"is_external": True, "u_value": 0.18}},
        {"kind": "appliance", "id": "boiler", "parent": "kitchen", "props": {"rated_output_kw": 24.0}},
        {"kind": "sprinkler", "id": "spr-1", "parent": "hall", "props": {"is_installed": False}},
    ],
}


def ids(elements: list) -> list[str]:
    return sorted(e.id for e in elements)


def test_round_trip_keeps_ids_kinds_names_and_props() -> None:
    model = load_building(HOUSE)
    assert model.name == "house"
    seen = {e.id: e for kind in KINDS for e in model.elements(kind)}
    assert sorted(seen) == sorted(e["id"] for e in HOUSE["elements"])  # no implicit containers leak in
    for spec_element in HOUSE["elements"]:
        element = seen[spec_element["id"]]
        assert element.kind == spec_element["kind"]
        assert element.name == spec_element.get("name", spec_element["id"])
        assert dict(element.props) == spec_element.get("props", {})
        for key, value in spec_element.get("props", {}).items():
            assert type(element.get(key)) is type(value)
    assert model.element("ground").get("elevation_mm") == 0
    assert model.element("first").get("elevation_mm") == 2700.5
    assert model.element("door-f").get("missing_mm") is None
    assert model.element("door-f").get("missing_mm", -1) == -1


def test_every_kind_round_trips_including_shared_entities() -> None:
    parents = {"flight": "stair-x", "landing": "stair-x", "handrail": "stair-x", "guarding": "stair-x"}
    elements = [{"kind": "stair", "id": "stair-x"}]
    elements += [
        {"kind": kind, "id": f"{kind}-x", "parent": parents[kind]}
        if kind in parents
        else {"kind": kind, "id": f"{kind}-x"}
        for kind in KINDS
        if kind != "stair"
    ]
    model = load_building({"name": "all", "elements": elements})
    for kind in KINDS:
        assert ids(model.elements(kind)) == [f"{kind}-x"], kind


def test_ifc_file_uses_the_documented_entities(tmp_path: Path) -> None:
    path = build_ifc(HOUSE, tmp_path / "house.ifc")
    f = ifcopenshell.open(str(path))
    assert f.schema == "IFC4"
    by_name = {p.Name: p for p in f.by_type("IfcProduct")}
    assert by_name["hall"].is_a() == "IfcSpace" and by_name["hall"].ObjectType == "CORRIDOR"
    assert by_name["bay"].PredefinedType == "PARKING"
    assert by_name["landing-1"].is_a() == "IfcSlab" and by_name["landing-1"].PredefinedType == "LANDING"
    assert by_name["rail-1"].PredefinedType == "HANDRAIL" and by_name["guard-1"].PredefinedType == "GUARDRAIL"
    assert by_name["boiler"].is_a() == "IfcFlowTerminal" and by_name["wc"].is_a() == "IfcSanitaryTerminal"
    assert ifcopenshell.util.element.get_pset(by_name["door-k"], "Pset_ClauseLens")["clear_width_mm"] == 800
    # a door in a space: contained in the space's storey, bounding the space (and the extra one)
    assert ifcopenshell.util.element.get_container(by_name["door-k"]).Name == "ground"
    bounded = sorted(
        r.RelatingSpace.Name
        for r in f.by_type("IfcRelSpaceBoundary")
        if r.RelatedBuildingElement.Name == "door-k"
    )
    assert bounded == ["hall", "kitchen"]
    assert ifcopenshell.util.element.get_aggregate(by_name["flight-1"]).Name == "stair-1"
    assert ifcopenshell.util.element.get_aggregate(by_name["kitchen"]).Name == "ground"
    assert ifcopenshell.util.element.get_container(by_name["wc"]).Name == "kitchen"
    assert ifcopenshell.util.element.get_container(by_name["door-0"]).Name == "first"
    assert ifcopenshell.util.element.get_aggregate(by_name["rail-2"]).Name == "ramp-1"
    assert ifcopenshell.util.element.get_container(by_name["stair-1"]).Name == "ground"
    assert ifcopenshell.util.element.get_aggregate(by_name["guard-2"]) is None
    assert ifcopenshell.util.element.get_container(by_name["guard-2"]).Name == "route"


@pytest.mark.parametrize(
    ("element", "relation", "expected"),
    [
        ("bldg", "storeys", ["first", "ground"]),
        ("ground", "spaces", ["bay", "hall", "kitchen"]),
        ("ground", "doors", ["door-k"]),
        ("first", "doors", ["door-0", "door-f"]),
        ("first", "spaces", ["route"]),
        ("ground", "stairs", ["stair-1"]),
        ("ground", "windows", ["win-1"]),
        ("kitchen", "doors", ["door-k"]),
        ("hall", "doors", ["door-k"]),
        ("kitchen", "windows", ["win-1"]),
        ("kitchen", "sanitary", ["wc"]),
        ("kitchen", "storey", ["ground"]),
        ("route", "storey", ["first"]),
        ("route", "doors", ["door-0"]),
        ("door-0", "spaces", ["route"]),
        ("door-k", "spaces", ["hall", "kitchen"]),
        ("door-f", "spaces", []),
        ("win-1", "spaces", ["kitchen"]),
        ("stair-1", "flights", ["flight-1"]),
        ("stair-1", "landings", ["landing-1"]),
        ("stair-1", "handrails", ["rail-1"]),
        ("stair-1", "guarding", ["guard-1"]),
        ("flight-1", "stair", ["stair-1"]),
        ("landing-1", "stair", ["stair-1"]),
        ("rail-1", "stair", ["stair-1"]),
        ("rail-2", "ramp", ["ramp-1"]),
        ("rail-2", "stair", []),
        ("guard-2", "stair", []),
        ("ramp-1", "handrails", ["rail-2"]),
        ("wc", "spaces", ["kitchen"]),
    ],
)
def test_relations(element: str, relation: str, expected: list[str]) -> None:
    assert ids(load_building(HOUSE).element(element).related(relation)) == expected


def test_every_vocabulary_relation_has_targets() -> None:
    for kind, relations in RELATIONS.items():
        assert kind in KINDS
        for relation in relations:
            assert relation in RELATION_TARGETS, (kind, relation)
    assert set(PROPERTIES) == set(KINDS)


def test_unknown_kind_and_relation_name_the_valid_ones() -> None:
    model = load_building(HOUSE)
    with pytest.raises(ValueError, match=r"unknown element kind 'doors'.*valid kinds: storey, space"):
        model.elements("doors")
    with pytest.raises(ValueError, match=r"'door' has no relation 'storey'; valid relations: spaces"):
        model.element("door-k").related("storey")
    with pytest.raises(ValueError, match="valid relations: none"):
        model.element("wall-1").related("spaces")
    with pytest.raises(KeyError, match="no element with id 'nope'"):
        model.element("nope")


def test_elements_without_parent_sit_in_an_invisible_default_storey(tmp_path: Path) -> None:
    spec = {"name": "loose", "elements": [{"kind": "door", "id": "d"}, {"kind": "storey", "id": "s"}]}
    f = ifcopenshell.open(str(build_ifc(spec, tmp_path / "loose.ifc")))
    door = next(p for p in f.by_type("IfcDoor"))
    assert ifcopenshell.util.element.get_container(door).ObjectType == "CLAUSELENS_IMPLICIT"
    model = load_building(spec)
    assert model.element("d").related("spaces") == []
    assert model.element("s").related("doors") == []  # the spec's storey does not adopt loose doors
    assert len(f.by_type("IfcBuildingStorey")) == 2 and model.elements("building") == []


@pytest.mark.parametrize(
    ("elements", "pattern"),
    [
        (
            [{"kind": "door", "id": "a"}, {"kind": "doorway", "id": "b"}],
            r"elements\[1\] field 'kind': unknown kind 'doorway'",
        ),
        (
            [{"kind": "door", "id": "a", "parent": "space-9"}],
            r"elements\[0\] \('a'\) field 'parent': 'space-9' is not",
        ),
        (
            [{"kind": "door", "id": "a"}, {"kind": "flight", "id": "f", "parent": "a"}],
            r"elements\[1\] \('f'\) field 'parent': a flight cannot be placed in a door",
        ),
        (
            [{"kind": "space", "id": "a"}, {"kind": "stair", "id": "a"}],
            r"elements\[1\] field 'id': duplicate id 'a'",
        ),
        ([{"kind": "door", "id": ""}], r"elements\[0\] field 'id': expected a non-empty str"),
        (
            [{"kind": "door", "id": "a", "props": {"w_mm": None}}],
            r"elements\[0\] field 'props': 'w_mm' must be",
        ),
        (
            [{"kind": "door", "id": "a", "props": {"w_mm": [1]}}],
            r"elements\[0\] field 'props': 'w_mm' must be",
        ),
        ([{"kind": "door", "id": "a", "props": {"w_mm": math.nan}}], r"'w_mm' must be finite"),
        (
            [{"kind": "door", "id": "a", "props": {"clear_width_mm": "800"}}],
            r"'clear_width_mm' must be a number",
        ),
        ([{"kind": "door", "id": "a", "props": {"height_mm": True}}], r"'height_mm' must be a number"),
        ([{"kind": "door", "id": "a", "props": {"is_fire_door": 1}}], r"'is_fire_door' is a flag"),
        ([{"kind": "door", "id": "a", "props": {"id": "x"}}], r"other than 'id'"),
        ([{"kind": "door", "id": "a", "prop": {}}], r"elements\[0\] has unknown field\(s\) \['prop'\]"),
        (
            [{"kind": "wall", "id": "a", "spaces": []}, {"kind": "wall", "id": "b", "spaces": ["a"]}],
            r"elements\[1\] \('b'\) field 'spaces': only doors and windows",
        ),
        (
            [{"kind": "wall", "id": "w"}, {"kind": "door", "id": "a", "spaces": ["w"]}],
            r"'w' is not the id of a space",
        ),
        (
            [{"kind": "building", "id": "b"}, {"kind": "building", "id": "c", "parent": "b"}],
            r"expected one of: no parent",
        ),
    ],
)
def test_bad_specs_name_the_element_and_field(elements: list, pattern: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=pattern):
        build_ifc({"name": "bad", "elements": elements}, tmp_path / "bad.ifc")
    with pytest.raises(ValueError, match=pattern):
        load_building({"name": "bad", "elements": elements})
    assert not (tmp_path / "bad.ifc").exists()


def test_spec_needs_an_element_list() -> None:
    with pytest.raises(ValueError, match="field 'elements' must be a list"):
        load_building({"name": "x", "element": []})


def test_parent_kinds_rank_above_children() -> None:
    assert parent_kinds("flight") == (
        "stair",
        "ramp",
        "storey",
        "space",
        "corridor",
        "escape_route",
        "parking",
    )
    assert parent_kinds("space") == ("storey",) and parent_kinds("building") == ()


def test_specs_are_cached_by_hash_and_ifc_paths_load(fixture_cache: Path, tmp_path: Path) -> None:
    ifc_module._read_cached_spec.cache_clear()
    spec = {"name": "cached", "elements": [{"kind": "door", "id": "d", "props": {"clear_width_mm": 812}}]}
    load_building(spec)
    cached = ifc_module.fixture_path(spec)
    assert cached.parent == fixture_cache and cached.suffix == ".ifc"
    mtime = cached.stat().st_mtime_ns
    ifc_module._read_cached_spec.cache_clear()
    assert load_building(dict(spec)).element("d").get("clear_width_mm") == 812
    assert cached.stat().st_mtime_ns == mtime  # reused, not rebuilt
    other = {**spec, "name": "other"}
    assert ifc_module.fixture_path(other) != cached
    assert load_building(str(cached)).element("d").get("clear_width_mm") == 812
    assert load_building(cached).name == "cached"


def test_foreign_ifc_ids_fall_back_to_global_ids(tmp_path: Path) -> None:
    """A file not written by build_ifc: repeated Names, IfcWallStandardCase, no Pset_ClauseLens."""
    f = ifcopenshell.file(schema="IFC4")
    project = ifcopenshell.api.root.create_entity(f, ifc_class="IfcProject", name="foreign")
    site = ifcopenshell.api.root.create_entity(f, ifc_class="IfcSite", name="site")
    storey = ifcopenshell.api.root.create_entity(f, ifc_class="IfcBuildingStorey", name="L0")
    ifcopenshell.api.aggregate.assign_object(f, products=[site], relating_object=project)
    ifcopenshell.api.aggregate.assign_object(f, products=[storey], relating_object=site)
    walls = [
        ifcopenshell.api.root.create_entity(f, ifc_class="IfcWallStandardCase", name="Wall") for _ in range(2)
    ]
    ifcopenshell.api.spatial.assign_container(f, products=walls, relating_structure=storey)
    path = tmp_path / "foreign.ifc"
    f.write(str(path))
    model = load_building(path)
    assert model.name == "foreign"
    assert ids(model.elements("wall")) == sorted(w.GlobalId for w in walls)
    assert [w.props for w in model.elements("wall")] == [{}, {}]
    assert model.elements("storey")[0].id == "L0"
    assert model.elements("storey")[0].related("doors") == []


def test_unreadable_and_missing_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ifc"
    junk.write_text("not an ifc file")
    with pytest.raises(ValueError, match="junk.ifc: cannot read as IFC"):
        load_building(junk)
    with pytest.raises(FileNotFoundError, match="missing.ifc"):
        load_building(tmp_path / "missing.ifc")


def test_finding_is_frozen_and_checks_its_fields() -> None:
    finding = Finding("door-1", 1, "ok")
    assert finding.compliant is True and Finding("d", None).compliant is False
    with pytest.raises(AttributeError):
        finding.compliant = False  # type: ignore[misc]
    with pytest.raises(TypeError, match="element_id must be a str"):
        Finding(42, True)  # type: ignore[arg-type]


def test_model_to_dict_round_trips() -> None:
    model = load_building(HOUSE)
    again = BuildingModel.from_dict(model.to_dict())
    assert again.to_dict() == model.to_dict()
    assert ids(again.element("ground").related("doors")) == ["door-k"]


DOOR_WIDTH_RULE = """
def check_rule(model):
    findings = []
    for door in model.elements("door"):
        width = door.get("clear_width_mm")
        findings.append(Finding(door.id, width is not None and width >= 775, "clear width at least 775 mm"))
    return findings
"""

GUARDING_RULE = '''
def check_rule(model):
    """Stairs need guarding at least 900 mm high with gaps under 100 mm."""
    findings = []
    for stair in model.elements("stair"):
        guards = stair.related("guarding")
        ok = bool(guards) and all(g.get("height_mm", 0) >= 900 and g.get("gap_mm", 999) < 100 for g in guards)
        findings.append(Finding(stair.id, ok, f"{len(guards)} guarding elements"))
    return findings
'''


def test_reference_rules_give_the_right_verdicts_on_inside_and_outside_fixtures() -> None:
    inside = {
        "name": "inside",
        "elements": [
            {"kind": "door", "id": "d1", "props": {"clear_width_mm": 775}},
            {"kind": "door", "id": "d2", "props": {"clear_width_mm": 926.5}},
        ],
    }
    outside = {
        "name": "outside",
        "elements": [
            {"kind": "door", "id": "d1", "props": {"clear_width_mm": 774.9}},
            {"kind": "door", "id": "d2", "props": {"clear_width_mm": 900}},
            {"kind": "door", "id": "d3"},
        ],
    }
    empty = {"name": "empty", "elements": [{"kind": "wall", "id": "w"}]}
    outcome = run_rule(DOOR_WIDTH_RULE, [inside, outside, empty])
    assert outcome.ok, outcome.message
    assert outcome.verdicts == [True, False, True]
    assert [(f.element_id, f.compliant) for f in outcome.findings[1]] == [
        ("d1", False),
        ("d2", True),
        ("d3", False),
    ]
    assert outcome.findings[2] == []

    outcome = run_rule(
        GUARDING_RULE,
        [
            HOUSE,
            {
                **HOUSE,
                "elements": [
                    {**e, "props": {"height_mm": 850}} if e["id"] == "guard-1" else e
                    for e in HOUSE["elements"]
                ],
            },
        ],
    )
    assert outcome.ok, outcome.message
    assert outcome.verdicts == [True, False]
    assert outcome.findings[0] == [Finding("stair-1", True, "1 guarding elements")]
