"""Hand curation of the open corpus: readings written by hand, and readings rejected on review.

The keyword tables (`clauselens.corpus.keywords`) read most clauses; these two tables record what a person
decided after reading every pair the tables produced (see docs/corpus.md):

- `OVERRIDES`: clause id -> checks, for clauses whose wording the tables cannot map unambiguously but whose
  meaning is plain (property names outside `rules.vocabulary` are allowed: a rule reads them with `.get`);
- `REVIEWED_OUT`: clause id -> why the tables' reading is wrong (a condition, an option, a misread).

Clause text: Crown copyright, Open Government Licence v3.0 (see uk-approved-documents/NOTICE.md).
"""

from __future__ import annotations

from clauselens.corpus.rulecode import Check


def at_least(kind: str, prop: str, label: str, unit: str, value: float) -> Check:
    return Check(kind, prop, "min", label, unit, low=value)


def at_most(kind: str, prop: str, label: str, unit: str, value: float) -> Check:
    return Check(kind, prop, "max", label, unit, high=value)


def between(kind: str, prop: str, label: str, unit: str, low: float, high: float) -> Check:
    return Check(kind, prop, "range", label, unit, low=low, high=high)


def must_be(kind: str, prop: str, label: str, value: bool = True) -> Check:
    return Check(kind, prop, "is", label, expected=value)


_DOOR_AND_ENVELOPE = [
    at_least("door", "fire_resistance_min", "fire resistance of doors to the stair", "min", 30),
    at_least("wall", "fire_resistance_min", "fire resistance of the building envelope", "min", 30),
]
_ROOF_BAND = [at_least("roof", "noncombustible_band_width_mm", "width of the band over the wall", "mm", 300)]
_CEILING_PANEL = [at_most("slab", "panel_area_m2", "area of a flexible ceiling panel", "m2", 5)]
_FAN_BELOW_CEILING = [at_most("fan", "distance_below_ceiling_mm", "distance below the ceiling", "mm", 400)]
_LIFT_CONTROLS = [
    between("lift", "controls_height_mm", "height of landing and car controls", "mm", 900, 1200),
    at_least(
        "lift", "controls_distance_from_front_wall_mm", "controls distance from the front wall", "mm", 400
    ),
]
_OPENING_FORCE = [
    at_most("door", "opening_force_n", "opening force from 0 to 30 degrees", "n_force", 30),
    at_most("door", "opening_force_30_to_60_deg_n", "opening force from 30 to 60 degrees", "n_force", 22.5),
]
_PULL_SIDE_SPACE = [at_least("door", "pull_side_space_mm", "space on the pull side", "mm", 300)]
_REVEAL = [at_most("door", "reveal_depth_mm", "depth of the reveal on the leading side", "mm", 200)]

OVERRIDES: dict[str, list[Check]] = {
    "K:1.6": [must_be("flight", "has_open_risers", "flight has no open risers", False)],
    "K:1.7a": [
        at_least("flight", "nosing_contrast_width_mm", "width of the contrasting nosing strip", "mm", 55)
    ],
    "K:1.7b": [at_most("flight", "nosing_projection_mm", "nosing projection over the tread below", "mm", 25)],
    "K:1.9a": [at_least("flight", "tread_overlap_mm", "tread overlap", "mm", 16)],
    "K:1.15": [at_least("stair", "clear_width_mm", "stair width between enclosing walls", "mm", 1200)],
    "K:1.16": [at_least("stair", "clear_width_mm", "stair width", "mm", 900)],
    "K:1.22": [must_be("landing", "is_level", "landing is level")],
    "K:1.34": [between("handrail", "height_mm", "handrail height above the pitch line", "mm", 900, 1000)],
    "K:2.5": [at_least("ramp", "kerb_height_mm", "kerb height on the open side", "mm", 100)],
    "K:2.9": [at_least("ramp", "clear_width_mm", "ramp width between walls, upstands or kerbs", "mm", 1500)],
    "K:2.11": [must_be("ramp", "has_handrail_both_sides", "ramp has handrails on both sides")],
    "B-vol1:2.17": _DOOR_AND_ENVELOPE,
    "B-vol1:3.68": _DOOR_AND_ENVELOPE,
    "B-vol2:3.32": _DOOR_AND_ENVELOPE,
    "B-vol1:4.17a": _CEILING_PANEL,
    "B-vol2:6.18a": _CEILING_PANEL,
    "B-vol1:5.14": _ROOF_BAND,
    "B-vol1:7.17": _ROOF_BAND,
    "B-vol2:8.28": _ROOF_BAND,
    "B-vol1:13.2a": [
        at_least("door", "clear_width_mm", "access door width", "mm", 750),
        at_most("building", "access_door_spacing_mm", "distance between access doors", "mm", 60000),
    ],
    "C:4.19b": [
        at_least("slab", "ventilated_air_space_mm", "ventilated air space below the floor", "mm", 150)
    ],
    "C:5.13c": [at_least("wall", "residual_cavity_width_mm", "residual cavity width", "mm", 50)],
    "F-vol1:1.20b": _FAN_BELOW_CEILING,
    "F-vol2:1.30a": _FAN_BELOW_CEILING,
    "F-vol1:1.51": [at_least("fan", "overrun_min", "overrun after the room is vacated", "min", 15)],
    "F-vol2:1.31b": [at_least("fan", "overrun_min", "overrun after occupants have left", "min", 15)],
    "F-vol1:1.55": [
        at_least(
            "fan", "distance_to_background_ventilator_mm", "distance to background ventilators", "mm", 500
        )
    ],
    "F-vol1:1.77b": [at_most("duct", "flexible_length_mm", "length of flexible ductwork", "mm", 1500)],
    "G:3.54": [at_most("pipe", "length_mm", "pipe length from valve outlet to tundish", "mm", 600)],
    "G:3.56a": [
        at_least("pipe", "vertical_length_below_tundish_mm", "vertical pipe below the tundish", "mm", 300)
    ],
    "H:H1-1.38": [
        at_least("pipe", "air_test_pressure_mm", "air test pressure in water gauge", "mm", 38),
        at_least("pipe", "air_test_duration_min", "air test duration", "min", 3),
        at_least("sanitary", "trap_seal_mm", "trap water seal", "mm", 25),
    ],
    "H:H2-1.16": [
        at_least("building", "distance_to_septic_tank_mm", "distance to a septic tank", "mm", 7000)
    ],
    "H:H2-1.59": [at_least("building", "distance_to_cesspool_mm", "distance to a cesspool", "mm", 7000)],
    "H:H2-1.27c": [
        at_least("building", "distance_to_drainage_field_mm", "distance to a drainage field", "mm", 15000)
    ],
    "H:H2-1.54": [
        at_least(
            "building",
            "distance_to_treatment_discharge_mm",
            "distance to a treatment plant discharge",
            "mm",
            10000,
        )
    ],
    "J:1.48": [
        at_most("flue", "horizontal_section_mm", "horizontal section at a rear outlet", "mm", 150),
        at_most("flue", "bend_angle_deg", "bend angle to the vertical", "deg", 45),
    ],
    "J:2.18": [at_least("flue", "fixing_distance_mm", "distance of metal fixings from the flue", "mm", 50)],
    "J:2.24": [at_least("appliance", "hearth_thickness_mm", "constructional hearth thickness", "mm", 125)],
    "J:2.36a": [at_least("alarm", "distance_to_wall_mm", "ceiling alarm distance from any wall", "mm", 300)],
    "J:2.36b": [
        between(
            "alarm", "distance_to_appliance_mm", "horizontal distance from the appliance", "mm", 1000, 3000
        )
    ],
    "L-vol1:4.24c": [
        at_least("pipe", "insulated_length_from_vessel_mm", "insulated length from the vessel", "mm", 1000)
    ],
    "L-vol1:6.33a": [
        at_most("slab", "screed_thickness_mm", "screed thickness for direct electric heating", "mm", 60)
    ],
    "L-vol1:6.33b": [
        at_least("slab", "screed_thickness_mm", "screed thickness for storage heating", "mm", 65)
    ],
    "M-vol1:1.11k": _LIFT_CONTROLS,
    "M-vol1:2.16e": _LIFT_CONTROLS,
    "M-vol1:3.16e": _LIFT_CONTROLS,
    "M-vol1:2.10c": [at_least("ramp", "clear_width_mm", "ramp flight clear width", "mm", 900)],
    "M-vol1:2.10d": [at_least("ramp", "clear_width_mm", "ramp flight clear width", "mm", 1200)],
    "M-vol1:3.10c": [at_least("ramp", "clear_width_mm", "ramp flight clear width", "mm", 1200)],
    "M-vol1:3.10f": [
        at_least("landing", "clear_of_door_swing_mm", "landing clear of any door swing", "mm", 1200)
    ],
    "M-vol1:2.14g": _REVEAL,
    "M-vol1:2.20g": _REVEAL,
    "M-vol1:3.14i": _REVEAL,
    "M-vol1:2.30c": [between("window", "handle_height_mm", "window handle height", "mm", 450, 1200)],
    "M-vol1:2.30d": [between("window", "handle_height_mm", "window handle height", "mm", 450, 1400)],
    "M-vol1:3.22d": [at_least("space", "turning_circle_mm", "clear turning circle", "mm", 1500)],
    "M-vol1:3.34c": [at_most("sanitary", "depth_mm", "sink depth", "mm", 150)],
    "M-vol2:1.33e": [at_least("stair", "clear_width_mm", "flight width between enclosing walls", "mm", 1200)],
    "M-vol2:1.37d": [at_least("handrail", "extension_mm", "handrail extension beyond the flight", "mm", 300)],
    "M-vol2:2.17a": _OPENING_FORCE,
    "M-vol2:3.10a": _OPENING_FORCE,
    "M-vol2:2.17b": _PULL_SIDE_SPACE,
    "M-vol2:3.10c": _PULL_SIDE_SPACE,
    "M-vol2:3.28b": [
        between("lift", "call_button_height_mm", "landing call button height", "mm", 900, 1100),
        at_least(
            "lift",
            "call_button_distance_from_return_wall_mm",
            "call button distance from a return wall",
            "mm",
            500,
        ),
    ],
    "M-vol2:3.34g": [
        between("lift", "controls_height_mm", "car controls height", "mm", 900, 1200),
        at_least(
            "lift",
            "controls_distance_from_return_wall_mm",
            "car controls distance from a return wall",
            "mm",
            400,
        ),
    ],
    "M-vol2:3.49g": [at_least("lift", "door_width_mm", "access clear width", "mm", 800)],
    "Q:1.3a": [
        at_most("door", "letter_plate_width_mm", "letter plate aperture width", "mm", 260),
        at_most("door", "letter_plate_height_mm", "letter plate aperture height", "mm", 40),
    ],
    "Q:1.6": [at_least("wall", "resilient_layer_thickness_mm", "resilient layer thickness", "mm", 9)],
}

_HEADING = "a heading ('escape from upper storeys a maximum of 4.5m') was read as a limit"
_SCOPE = "the limit is the scope of an exception or permission, not a requirement"
_OPTION = "the limit belongs to one optional solution or alternative ('may', 'could', 'one of')"
_CAVITY_BARRIER = "alternative materials for cavity barriers, not a requirement on walls"
_EXEMPTION = "a condition for an exemption from the requirements"

REVIEWED_OUT: dict[str, str] = {
    "B-vol1:2.1": _HEADING,
    "B-vol1:3.15": _HEADING,
    "B-vol1:2.1b": _HEADING,
    "B-vol1:3.15b": _HEADING,
    "B-vol1:2.9": "the 1370-1830 mm mounting height is not a door's",
    "B-vol1:3.23": "the 1370-1830 mm mounting height is not a door's",
    "B-vol1:3.28": "mixes the scope limit (top storey 11 m) with the lobby requirements",
    "B-vol1:3.28a": _SCOPE,
    "B-vol1:3.66": _SCOPE,
    "B-vol1:3.66a": _SCOPE,
    "B-vol1:10.14": _SCOPE,
    "B-vol2:12.15": _SCOPE,
    "B-vol2:17.3": _SCOPE,
    "B-vol1:11.12b": _SCOPE,
    "B-vol1:11.13c": _SCOPE,
    "B-vol2:13.13b": _SCOPE,
    "B-vol2:13.14c": _SCOPE,
    "B-vol1:11.21a": _OPTION,
    "B-vol2:13.22a": _OPTION,
    "B-vol1:7.16": _SCOPE,
    "B-vol2:8.27": _SCOPE,
    "B-vol1:16.3a": _SCOPE,
    "B-vol2:18.3a": _SCOPE,
    "B-vol2:4.8d": _SCOPE,
    "B-vol2:3.17": _SCOPE,
    "B-vol1:11.12": _SCOPE,
    "B-vol1:11.13": _SCOPE,
    "B-vol2:13.13": _SCOPE,
    "B-vol2:13.14": _SCOPE,
    "B-vol1:11.21": _OPTION,
    "B-vol2:13.22": _OPTION,
    "B-vol1:12.8": "a classification statement, not a requirement",
    "B-vol2:14.8": "a classification statement, not a requirement",
    "B-vol1:5.21a": _CAVITY_BARRIER,
    "B-vol1:5.21b": _CAVITY_BARRIER,
    "B-vol1:5.21d": _CAVITY_BARRIER,
    "B-vol2:9.14a": _CAVITY_BARRIER,
    "B-vol2:9.14b": _CAVITY_BARRIER,
    "B-vol2:9.14d": _CAVITY_BARRIER,
    "B-vol1:5.23d": "the element whose fire resistance is meant is not stated",
    "B-vol2:9.16d": "the element whose fire resistance is meant is not stated",
    "B-vol1:7.24": "'not more than REI 60' bounds the stair's rating; misread as a minimum",
    "B-vol1:7.24b": "the E 30 rating is of a glazed screen, not a wall",
    "B-vol2:8.34b": "the E 30 rating is of a glazed screen, not a wall",
    "B-vol2:8.34": "'not more than REI 60' bounds the stair's rating; misread as a minimum",
    "B-vol2:3.38": "garbled extraction",
    "B-vol2:11.2e": "misread: the area limit is of a surface finish",
    "B-vol2:8.11f": "a cross-reference, not a requirement",
    "C:4.7b": _OPTION,
    "C:4.18a": _OPTION,
    "C:5.13b": _OPTION,
    "C:5.15a": _OPTION,
    "E:2.38a": _EXEMPTION,
    "E:3.34": "a joint's distance from the cavity face is not a cavity width",
    "E:3.72": "a joint's distance from the cavity face is not a cavity width",
    "E:3.86": "a joint's distance from the cavity face is not a cavity width",
    "E:4.23": "a condition on the existing wall, not a requirement",
    "H:H1-2.24": _OPTION,
    "J:4.28": _OPTION,
    "H:H1-2.24b": _OPTION,
    "J:4.28b": _OPTION,
    "F-vol1:3.21": _EXEMPTION,
    "L-vol1:0.14b": _EXEMPTION,
    "L-vol1:0.15b": _EXEMPTION,
    "L-vol2:0.18b": _EXEMPTION,
    "L-vol2:0.19b": _EXEMPTION,
    "L-vol1:0.14": _EXEMPTION,
    "L-vol1:0.15": _EXEMPTION,
    "L-vol2:0.18": _EXEMPTION,
    "L-vol2:0.19": _EXEMPTION,
    "L-vol1:4.15c": "the thickness is of perimeter insulation, not of the floor",
    "M-vol1:1.15": "the door widths are in a table; 750 mm was misattributed",
    "M-vol1:2.22": "a nib width was read as a door width",
    "M-vol1:2.22d": "a nib width was read as a door width",
    "M-vol1:2.24b": "clear space in front of kitchen units is not an appliance clearance",
    "M-vol2:3.14c": "passing places read as corridor length and width",
    "M-vol1:2.24": "misread: several unrelated limits",
    "M-vol1:3.31": "misread: several unrelated limits",
    "M-vol1:3.24e": "corner distance read as a door width",
    "M-vol1:3.24f": "a nib width was read as a door width",
    "M-vol1:3.24g": "a nib width was read as a door width",
    "M-vol1:3.36g": "misread",
    "M-vol2:1.13a": "an approach route width was read as a parking bay's",
    # qualitative readings
    "B-vol1:3.105": "the machine room is to be outside the protected stairway; not a property of the stair",
    "B-vol2:5.41": "the machine room is to be outside the protected stairway; not a property of the stair",
    "B-vol1:14.4": "about where fire main outlets go, not whether there is a fire main",
    "B-vol1:14.7": "about vehicle access to fire mains",
    "B-vol2:16.7": "about vehicle access to fire mains",
    "B-vol1:13.2b": _OPTION,
    "J:1.40": _OPTION,
    "L-vol1:6.10": _OPTION,
    "B-vol2:17.9": "the obligation is to vent the shaft, not to provide one",
    "H:H1-1.33": "a permission ('may be terminated ... when fitted with')",
    "J:1.51": "the access cover's gas-tightness, not a non-combustible flue",
    "J:1.53": "the gaps around a fireplace surround, not the flue",
    "J:3.40b": "the exception, not the rule",
    "J:4.32b": "garbled extraction",
    "M-vol1:3.7": "a step-free approach route, not a door threshold",
    "M-vol1:3.8": "a step-free approach route, not a door threshold",
    "M-vol1:3.32": "step-free kitchen and living areas, not a door threshold",
    "M-vol1:3.32a": "step-free kitchen and living areas, not a door threshold",
    "M-vol1:3.32b": "step-free kitchen and living areas, not a door threshold",
}
