"""Keyword tables that tie regulation wording to the rule vocabulary (`clauselens.rules.vocabulary`).

`KIND_WORDS` says which words name an element kind; `MEASURES` says which words name a measured quantity
of some kinds, in which unit; `QUALITIES` says which phrases state a yes/no property. The rule builder
(`clauselens.corpus.rulebook`) only emits a rule when these tables map a clause's wording to exactly one
reading. Entries are deliberately narrow: a missed clause costs nothing, a wrong mapping teaches a model a
wrong rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b", re.IGNORECASE)


KIND_WORDS: dict[str, re.Pattern[str]] = {
    "door": _words(r"doors?", r"doorways?", r"doorsets?", r"door leaf", r"door leaves", r"gates?"),
    "escape_route": _words(
        r"escape routes?", r"means of escape", r"exit routes?", r"routes? of escape", r"exit passageways?"
    ),
    "corridor": _words(r"corridors?", r"passageways?", r"lobby", r"lobbies"),
    "stair": _words(
        r"stairs?", r"stairways?", r"protected stairways?", r"staircases?", r"flights?(?: of stairs)?"
    ),
    "flight": _words(r"stairs?", r"flights?", r"steps?", r"treads?", r"stairways?"),
    "landing": _words(r"landings?"),
    "ramp": _words(r"ramps?", r"ramped access"),
    "handrail": _words(r"handrails?"),
    "guarding": _words(r"guarding", r"balustrades?", r"barriers?", r"parapets?"),
    "window": _words(r"windows?", r"rooflights?", r"openings? in the roof", r"openable area"),
    "space": _words(
        r"rooms?",
        r"bedrooms?",
        r"kitchens?",
        r"bathrooms?",
        r"spaces?",
        r"living rooms?",
        r"habitable rooms?",
        r"cloakrooms?",
        r"compartments?",
    ),
    "wall": _words(
        r"walls?",
        r"leaf",
        r"leaves",
        r"partitions?",
        r"cavity",
        r"cavities",
        r"enclosures?",
        r"fire resisting construction",
        r"separating construction",
        r"shafts?",
        r"lift shafts?",
        r"brickwork",
        r"blockwork",
        r"masonry",
    ),
    "slab": _words(r"floors?", r"slabs?", r"screeds?", r"ceilings?"),
    "roof": _words(r"roofs?"),
    "pipe": _words(
        r"pipes?",
        r"pipework",
        r"drains?",
        r"sewers?",
        r"stacks?",
        r"discharge pipes?",
        r"branch(?:es)?",
        r"gutters?",
    ),
    "duct": _words(r"ducts?", r"ductwork", r"dampers?"),
    "fan": _words(r"fans?", r"extract ventilation", r"extract"),
    "alarm": _words(r"alarms?", r"detectors?"),
    "sprinkler": _words(r"sprinklers?", r"sprinkler systems?"),
    "flue": _words(r"flues?", r"chimneys?", r"flue outlets?", r"terminals?"),
    "appliance": _words(r"appliances?", r"boilers?", r"stoves?", r"heaters?", r"charge points?", r"hearths?"),
    "sanitary": _words(r"WCs?", r"baths?", r"basins?", r"toilets?", r"showers?", r"cisterns?", r"urinals?"),
    "lift": _words(r"lifts?", r"lift cars?", r"platform lifts?"),
    "parking": _words(r"parking (?:bays?|spaces?)", r"car parking", r"parking"),
    "building": _words(
        r"buildings?", r"dwellings?", r"dwellinghouses?", r"extensions?", r"conservator(?:y|ies)"
    ),
    "storey": _words(r"storeys?"),
}


@dataclass(frozen=True)
class Measure:
    """A measured quantity: the words that name it, its canonical unit, and kind -> property."""

    name: str
    words: re.Pattern[str]
    unit: str  # canonical unit of clauselens.corpus.constraints.UNITS
    targets: dict[str, str]
    label: str  # how a rule message names it
    default_kind: str | None = None  # used when no kind word is near the number


MEASURES: tuple[Measure, ...] = (
    Measure(
        "headroom",
        _words(r"headroom"),
        "mm",
        {
            "escape_route": "headroom_mm",
            "corridor": "headroom_mm",
            "stair": "headroom_mm",
            "space": "headroom_mm",
            "parking": "headroom_mm",
        },
        "clear headroom",
        "space",
    ),
    Measure(
        "width",
        _words(r"(?:clear |effective |unobstructed |minimum )?(?:opening )?widths?", r"wide"),
        "mm",
        {
            "door": "clear_width_mm",
            "corridor": "clear_width_mm",
            "escape_route": "clear_width_mm",
            "stair": "clear_width_mm",
            "ramp": "clear_width_mm",
            "landing": "clear_width_mm",
            "parking": "width_mm",
            "window": "clear_opening_width_mm",
            "lift": "car_width_mm",
        },
        "width",
    ),
    Measure(
        "rise",
        _words(r"rise", r"riser height"),
        "mm",
        {"flight": "riser_height_mm"},
        "rise of each step",
        "flight",
    ),
    Measure("going", _words(r"going"), "mm", {"flight": "going_mm", "ramp": "going_mm"}, "going"),
    Measure(
        "pitch",
        _words(r"pitch"),
        "deg",
        {"flight": "pitch_deg", "roof": "pitch_deg", "slab": "pitch_deg"},
        "pitch",
    ),
    Measure(
        "height",
        _words(r"height", r"high"),
        "mm",
        {
            "guarding": "height_mm",
            "handrail": "height_mm",
            "door": "height_mm",
            "flue": "height_mm",
            "window": "clear_opening_height_mm",
            "building": "height_mm",
        },
        "height",
    ),
    Measure(
        "sill",
        _words(r"sill(?: height)?", r"cill", r"above (?:the )?floor(?: level)?"),
        "mm",
        {"window": "sill_height_mm"},
        "sill height",
    ),
    Measure(
        "length",
        _words(r"length", r"long", r"deep"),
        "mm",
        {"landing": "length_mm", "corridor": "length_mm", "parking": "length_mm", "lift": "car_depth_mm"},
        "length",
    ),
    Measure(
        "travel",
        _words(r"travel distances?", r"distance of travel", r"travel"),
        "mm",
        {"escape_route": "travel_distance_mm", "space": "travel_distance_mm"},
        "travel distance",
        "escape_route",
    ),
    Measure(
        "fire resistance",
        _words(r"fire resist\w*", r"REI", r"integrity"),
        "min",
        {
            "door": "fire_resistance_min",
            "wall": "fire_resistance_min",
            "slab": "fire_resistance_min",
            "stair": "fire_resistance_min",
            "corridor": "fire_resistance_min",
            "duct": "fire_resistance_min",
            "roof": "fire_resistance_min",
        },
        "fire resistance",
    ),
    Measure(
        "opening angle",
        _words(r"open(?:s|ing)? (?:by|through)", r"opening angle"),
        "deg",
        {"door": "opening_angle_deg", "window": "opening_angle_deg"},
        "opening angle",
    ),
    Measure(
        "spacing",
        _words(r"centres", r"spacing", r"spaced", r"apart"),
        "mm",
        {"wall": "tie_spacing_mm", "pipe": "support_spacing_mm"},
        "spacing",
    ),
    Measure(
        "height above opening",
        _words(r"above (?:any |the )?(?:opening|window|air inlet)s?"),
        "mm",
        {"pipe": "height_above_opening_mm", "flue": "height_above_opening_mm"},
        "height above openings",
    ),
    Measure(
        "height above roof",
        _words(r"above (?:the )?(?:roof|ridge)(?: line| level)?"),
        "mm",
        {"flue": "height_above_roof_mm", "pipe": "height_above_roof_mm"},
        "height above the roof",
    ),
    Measure(
        "trap seal",
        _words(r"water seals?", r"seals?", r"seal depth"),
        "mm",
        {"sanitary": "trap_seal_mm", "pipe": "trap_seal_mm"},
        "trap water seal",
        "sanitary",
    ),
    Measure(
        "clearance",
        _words(r"clearance", r"clear space", r"air ?space", r"separation"),
        "mm",
        {"pipe": "clearance_mm", "flue": "clearance_mm", "appliance": "distance_to_combustible_mm"},
        "clearance",
    ),
    Measure(
        "area",
        _words(r"(?:floor )?area"),
        "m2",
        {
            "window": "openable_area_m2",
            "space": "area_m2",
            "building": "floor_area_m2",
            "storey": "floor_area_m2",
        },
        "area",
    ),
    Measure(
        "boundary distance",
        _words(r"(?:relevant |site )?boundary"),
        "mm",
        {
            "wall": "distance_to_boundary_mm",
            "flue": "distance_to_boundary_mm",
            "roof": "distance_to_boundary_mm",
            "building": "distance_to_boundary_mm",
        },
        "distance to the boundary",
        "building",
    ),
    Measure(
        "height above ground",
        _words(r"above (?:the )?(?:adjacent )?ground(?: level)?"),
        "mm",
        {"storey": "height_above_ground_mm"},
        "height above ground level",
    ),
    Measure("overrun", _words(r"run ?on", r"overrun"), "min", {"fan": "overrun_min"}, "overrun time", "fan"),
    Measure(
        "openable area",
        _words(r"openable area", r"unobstructed openable area"),
        "m2",
        {"window": "openable_area_m2"},
        "openable area",
        "window",
    ),
    Measure(
        "ventilation area",
        _words(
            r"equivalent area", r"free area", r"ventilation openings?", r"permanent ventilation", r"vents?"
        ),
        "m2",
        {
            "space": "ventilation_opening_m2",
            "corridor": "ventilation_opening_m2",
            "stair": "ventilation_opening_m2",
        },
        "ventilation equivalent area",
        "space",
    ),
    Measure(
        "u-value",
        _words(r"U ?values?", r"Uvalues?"),
        "w_m2k",
        {"wall": "u_value", "roof": "u_value", "window": "u_value", "slab": "u_value"},
        "U-value",
    ),
    Measure(
        "sound insulation",
        _words(r"airborne sound insulation", r"DnT,w", r"Rw", r"sound reduction"),
        "db",
        {"wall": "sound_reduction_db", "slab": "sound_reduction_db"},
        "airborne sound insulation",
    ),
    Measure(
        "diameter",
        _words(r"diameter", r"bore", r"nominal size", r"sizes?"),
        "mm",
        {"pipe": "diameter_mm", "flue": "diameter_mm", "duct": "diameter_mm", "handrail": "grip_diameter_mm"},
        "diameter",
    ),
    Measure("depth", _words(r"depth", r"cover"), "mm", {"pipe": "depth_mm"}, "depth of cover"),
    Measure(
        "flush",
        _words(r"flush(?:ing)?(?: volume)?"),
        "l",
        {"sanitary": "flush_volume_l"},
        "flush volume",
        "sanitary",
    ),
    Measure(
        "extract",
        _words(r"extract(?:ion)? rate", r"extract"),
        "l_s",
        {"fan": "extract_rate_l_s"},
        "extract rate",
        "fan",
    ),
    Measure(
        "opening force",
        _words(r"opening force", r"force"),
        "n_force",
        {"door": "opening_force_n"},
        "opening force",
        "door",
    ),
    Measure(
        "threshold",
        _words(r"thresholds?", r"upstands?"),
        "mm",
        {"door": "threshold_height_mm"},
        "threshold height",
        "door",
    ),
    Measure(
        "cavity width",
        _words(r"cavity widths?", r"cavity"),
        "mm",
        {"wall": "cavity_width_mm"},
        "cavity width",
        "wall",
    ),
    Measure(
        "bend radius", _words(r"radius", r"radii"), "mm", {"pipe": "bend_radius_mm"}, "bend radius", "pipe"
    ),
    Measure(
        "thickness",
        _words(r"thick", r"thickness"),
        "mm",
        {
            "wall": "thickness_mm",
            "slab": "thickness_mm",
            "window": "glass_thickness_mm",
            "appliance": "hearth_thickness_mm",
        },
        "thickness",
    ),
    Measure(
        "extension",
        _words(r"extends?", r"extending", r"beyond"),
        "mm",
        {"handrail": "extension_mm"},
        "extension beyond the flight",
    ),
    Measure("gap", _words(r"gaps?", r"sphere"), "mm", {"guarding": "gap_mm"}, "opening size"),
    Measure(
        "rated output",
        _words(r"rated (?:heat )?(?:output|input)", r"output", r"input"),
        "kw",
        {"appliance": "rated_output_kw"},
        "rated output",
        "appliance",
    ),
    Measure("risers", _words(r"risers"), "count", {"flight": "risers_n"}, "number of risers", "flight"),
    Measure(
        "storeys", _words(r"storeys"), "count", {"building": "storeys_n"}, "number of storeys", "building"
    ),
    Measure(
        "occupants",
        _words(r"persons", r"people", r"occupants"),
        "count",
        {"space": "occupancy_n"},
        "number of occupants",
        "space",
    ),
    Measure(
        "exits", _words(r"exits"), "count", {"escape_route": "exits_n"}, "number of exits", "escape_route"
    ),
)


@dataclass(frozen=True)
class Quality:
    """A yes/no property stated in words: phrase -> kind -> property, the required value, and a message
    predicate ("is self-closing") that follows the kind's name."""

    phrase: re.Pattern[str]
    targets: dict[str, str]
    value: bool
    predicate: str
    requires: re.Pattern[str] | None = None  # another phrase that must be in the same sentence
    default_kind: str | None = None  # used when no kind word is in the sentence or title


def _q(
    phrase: re.Pattern[str],
    targets: dict[str, str],
    predicate: str,
    value: bool = True,
    requires: re.Pattern[str] | None = None,
) -> Quality:
    """A quality; a single-kind quality defaults to that kind."""
    default = next(iter(targets)) if len(targets) == 1 else None
    return Quality(phrase, targets, value, predicate, requires, default)


QUALITIES: tuple[Quality, ...] = (
    _q(
        _words(r"self ?closing", r"selfclosing", r"self-closing"),
        {"door": "is_self_closing"},
        "is self-closing",
    ),
    _q(_words(r"fire doors?", r"fire doorsets?"), {"door": "is_fire_door"}, "is a fire door"),
    _q(_words(r"smoke alarms?"), {"space": "has_smoke_alarm"}, "has a smoke alarm"),
    _q(_words(r"heat alarms?", r"heat detectors?"), {"space": "has_heat_alarm"}, "has a heat alarm"),
    _q(_words(r"carbon monoxide alarms?"), {"space": "has_co_alarm"}, "has a carbon monoxide alarm"),
    _q(_words(r"CO2 monitors?"), {"space": "has_co2_monitor"}, "has a CO2 monitor"),
    _q(
        _words(r"mains ?(?:powered|operated|supply)"),
        {"alarm": "is_mains_powered"},
        "is mains-powered",
        requires=_words(r"alarms?", r"detectors?"),
    ),
    _q(
        _words(r"standby (?:power )?supply", r"battery back ?up", r"standby power"),
        {"alarm": "has_standby_supply"},
        "has a standby power supply",
        requires=_words(r"alarms?"),
    ),
    _q(
        _words(r"risers (?:that|which) are not open", r"no open risers", r"not have open risers"),
        {"flight": "has_open_risers"},
        "has no open risers",
        value=False,
    ),
    _q(
        _words(
            r"handrails? (?:on|to) both sides", r"handrails? on each side", r"on each side of the flights?"
        ),
        {"stair": "has_handrail_both_sides", "ramp": "has_handrail_both_sides"},
        "has handrails on both sides",
    ),
    _q(
        _words(
            r"provide (?:a |suitable )?handrails?",
            r"handrails? should be provided",
            r"with (?:a )?handrails?",
            r"have (?:a )?(?:suitable )?handrails?",
        ),
        {"stair": "has_handrail", "ramp": "has_handrail", "flight": "has_handrail"},
        "has a handrail",
    ),
    _q(
        _words(r"provide guarding", r"provided with guarding", r"should be guarded", r"have guarding"),
        {
            "stair": "has_guarding",
            "flight": "has_guarding",
            "landing": "has_guarding",
            "ramp": "has_guarding",
            "roof": "has_guarding",
        },
        "has guarding",
    ),
    _q(
        _words(r"protected corridors?", r"protected lobby", r"protected lobbies"),
        {"corridor": "is_protected"},
        "is protected",
    ),
    _q(_words(r"protected stairways?", r"protected stairs?"), {"stair": "is_protected"}, "is protected"),
    _q(
        _words(r"protected (?:escape )?routes?", r"protected entrance hall"),
        {"escape_route": "is_protected"},
        "is protected",
    ),
    _q(
        _words(r"emergency lighting", r"escape lighting"),
        {"escape_route": "has_emergency_lighting", "space": "has_emergency_lighting"},
        "has emergency lighting",
    ),
    _q(
        _words(r"sprinklers?", r"sprinkler systems?", r"automatic fire suppression"),
        {"building": "has_sprinklers"},
        "has sprinklers",
    ),
    _q(
        _words(
            r"automatic (?:fire )?detection",
            r"fire detection and (?:fire )?alarm systems?",
            r"fire alarm systems?",
            r"automatic fire alarm",
        ),
        {"building": "has_fire_alarm_system"},
        "has a fire detection and alarm system",
    ),
    _q(
        _words(r"fire mains?", r"dry (?:rising )?mains?", r"wet (?:rising )?mains?"),
        {"building": "has_fire_main"},
        "has a fire main",
    ),
    _q(
        _words(r"firefighting shafts?", r"firefighting lifts?"),
        {"building": "has_firefighting_shaft"},
        "has a firefighting shaft",
    ),
    _q(
        _words(r"open in the direction of escape", r"opens? in the direction of (?:escape|exit)"),
        {"door": "opens_in_direction_of_escape"},
        "opens in the direction of escape",
    ),
    _q(
        _words(r"landings? (?:should|must) be level", r"level landings?"), {"landing": "is_level"}, "is level"
    ),
    _q(
        _words(
            r"not (?:be )?(?:easily )?climbable",
            r"not easy to climb",
            r"difficult to climb",
            r"prevent children (?:from )?(?:readily )?being able to climb",
        ),
        {"guarding": "is_climbable"},
        "is not climbable",
        value=False,
    ),
    _q(
        _words(r"continuous handrails?", r"handrails? (?:should be|are|is) continuous"),
        {"handrail": "is_continuous"},
        "is continuous",
    ),
    _q(_words(r"grab ?rails?", r"support rails?"), {"sanitary": "has_grab_rail"}, "has a grab rail"),
    _q(
        _words(r"emergency escape windows?", r"escape windows?"),
        {"window": "is_escape_window"},
        "is an emergency escape window",
    ),
    _q(
        _words(r"accessible parking", r"parking (?:bays?|spaces?) for disabled", r"designated parking"),
        {"parking": "is_accessible"},
        "is accessible",
    ),
    _q(
        _words(r"electric vehicle charge points?", r"charge points?"),
        {"parking": "has_charge_point"},
        "has an electric vehicle charge point",
    ),
    _q(
        _words(r"resist(?:s|ing)? (?:the )?(?:horizontal |imposed )?loads?", r"withstand (?:the )?loads?"),
        {"guarding": "resists_load"},
        "resists the design loads",
        requires=_words(r"guarding", r"barriers?", r"balustrades?"),
    ),
    _q(
        _words(r"slip ?resistant", r"slipresistant"),
        {
            "flight": "is_slip_resistant",
            "ramp": "is_slip_resistant",
            "slab": "is_slip_resistant",
            "landing": "is_slip_resistant",
        },
        "is slip-resistant",
    ),
    _q(
        _words(r"traps?"),
        {"sanitary": "has_trap"},
        "has a trap",
        requires=_words(r"appliances?", r"WCs?", r"basins?", r"baths?", r"sinks?", r"fittings?"),
    ),
    _q(
        _words(r"rodding (?:eyes?|points?)", r"access points?", r"inspection chambers?"),
        {"pipe": "has_access_point"},
        "has an access point",
        requires=_words(r"drains?", r"pipes?", r"sewers?"),
    ),
    _q(
        _words(r"non ?return valves?", r"antiflooding valves?", r"anti ?flooding"),
        {"pipe": "has_non_return_valve"},
        "has a non-return valve",
    ),
    _q(
        _words(r"air admittance valves?"), {"pipe": "has_air_admittance_valve"}, "has an air admittance valve"
    ),
    _q(
        _words(r"cavity barriers?"),
        {"wall": "has_cavity_barrier", "roof": "has_cavity_barrier", "slab": "has_cavity_barrier"},
        "has cavity barriers",
    ),
    _q(
        _words(r"fire ?stopp(?:ed|ing)", r"firestopp(?:ed|ing)"),
        {"pipe": "is_fire_stopped", "duct": "is_fire_stopped", "wall": "is_fire_stopped"},
        "is fire-stopped",
    ),
    _q(
        _words(r"fire resisting", r"fireresisting", r"fire-resisting"),
        {
            "door": "is_fire_resisting",
            "wall": "is_fire_resisting",
            "slab": "is_fire_resisting",
            "duct": "is_fire_resisting",
            "window": "is_fire_resisting",
            "stair": "is_fire_resisting",
        },
        "is fire-resisting",
    ),
    _q(
        _words(
            r"non ?combustible", r"noncombustible", r"limited combustibility", r"class A1", r"class A2s1, d0"
        ),
        {
            "wall": "is_non_combustible",
            "slab": "is_non_combustible",
            "roof": "is_non_combustible",
            "pipe": "is_non_combustible",
            "duct": "is_non_combustible",
            "flue": "is_non_combustible",
        },
        "is non-combustible",
    ),
    _q(_words(r"vision panels?"), {"door": "has_vision_panel"}, "has a vision panel"),
    _q(
        _words(r"tactile paving", r"corduroy hazard warning", r"tactile warning"),
        {"flight": "has_tactile_warning", "ramp": "has_tactile_warning"},
        "has a tactile warning surface",
    ),
    _q(
        _words(r"visually contrast", r"contrast visually", r"visual contrast"),
        {
            "flight": "has_visual_contrast",
            "door": "has_visual_contrast",
            "sanitary": "has_visual_contrast",
            "ramp": "has_visual_contrast",
            "handrail": "has_visual_contrast",
        },
        "contrasts visually",
    ),
    _q(
        _words(r"manifestation"),
        {"window": "has_manifestation", "door": "has_manifestation"},
        "has manifestation",
    ),
    _q(
        _words(r"safety glass", r"safety glazing", r"break safely", r"safe breakage"),
        {"window": "is_safety_glazing", "door": "is_safety_glazing"},
        "has safety glazing",
    ),
    _q(
        _words(r"opening limiters?", r"restrictors?"),
        {"window": "has_opening_limiter"},
        "has an opening limiter",
    ),
    _q(
        _words(r"smoke vents?", r"automatic opening vents?", r"smoke ventilation", r"smoke control"),
        {"stair": "has_smoke_vent", "corridor": "has_smoke_vent", "space": "has_smoke_vent"},
        "has smoke ventilation",
    ),
    _q(_words(r"insulated", r"lagged"), {"pipe": "is_insulated", "duct": "is_insulated"}, "is insulated"),
    _q(
        _words(r"sealed", r"airtight"),
        {"duct": "is_sealed", "pipe": "is_sealed", "flue": "is_sealed"},
        "is sealed",
    ),
    _q(
        _words(r"labelled", r"clearly marked", r"identified"),
        {"pipe": "is_labelled", "flue": "is_labelled"},
        "is labelled",
    ),
    _q(
        _words(r"commissioned"),
        {"fan": "is_commissioned", "appliance": "is_commissioned", "duct": "is_commissioned"},
        "is commissioned",
    ),
    _q(
        _words(r"room ?sealed", r"roomsealed", r"balanced flue"),
        {"appliance": "is_room_sealed"},
        "is room-sealed",
    ),
    _q(_words(r"hearths?"), {"appliance": "has_hearth"}, "stands on a hearth"),
    _q(
        _words(r"flue liners?", r"lined"),
        {"flue": "is_lined"},
        "is lined",
        requires=_words(r"flues?", r"chimneys?"),
    ),
    _q(
        _words(r"notice plates?", r"data plates?"),
        {"flue": "has_notice_plate", "appliance": "has_notice_plate"},
        "has a notice plate",
    ),
    _q(
        _words(r"blending valves?", r"mixing valves?", r"temperature limiting devices?", r"TMV"),
        {"sanitary": "has_blending_valve"},
        "has a blending valve",
    ),
    _q(_words(r"intermittent (?:extract|fans?)"), {"fan": "is_intermittent"}, "is intermittent"),
    _q(
        _words(r"thermostats?", r"thermostatic"),
        {"appliance": "has_thermostat", "space": "has_thermostat"},
        "has a thermostat",
    ),
    _q(
        _words(r"radon"),
        {"slab": "has_radon_protection", "building": "has_radon_protection"},
        "has radon protection",
    ),
    _q(
        _words(r"damp ?proof courses?", r"dampproof courses?", r"DPC"),
        {"wall": "has_dpc"},
        "has a damp-proof course",
    ),
    _q(
        _words(r"damp ?proof membranes?", r"dampproof membranes?", r"DPM"),
        {"slab": "has_dpm"},
        "has a damp-proof membrane",
    ),
    _q(
        _words(r"vapour control layers?"),
        {
            "wall": "has_vapour_control_layer",
            "roof": "has_vapour_control_layer",
            "slab": "has_vapour_control_layer",
        },
        "has a vapour control layer",
    ),
    _q(
        _words(r"PAS 24", r"secure doorsets?", r"security standard"),
        {"door": "is_security_rated", "window": "is_security_rated"},
        "is security-rated",
    ),
    _q(
        _words(r"residual current devices?", r"RCDs?"),
        {"building": "has_rcd"},
        "has residual current protection",
    ),
    _q(
        _words(r"network termination points?", r"physical infrastructure", r"gigabitready"),
        {"building": "has_broadband_infrastructure"},
        "has in-building broadband infrastructure",
    ),
    _q(
        _words(r"accessible thresholds?", r"level thresholds?", r"step ?free"),
        {"door": "has_level_threshold"},
        "has a level threshold",
    ),
    _q(
        _words(r"accessible WCs?", r"accessible toilets?", r"wheelchair[- ]?accessible (?:WC|toilet)s?"),
        {"sanitary": "is_accessible"},
        "is accessible",
    ),
    _q(
        _words(r"compartment walls?"),
        {"wall": "is_compartment_wall"},
        "is a compartment wall",
        requires=_words(r"(?:constructed|provided|separated|built) (?:as|by|with)"),
    ),
    _q(
        _words(r"compartment floors?"),
        {"slab": "is_compartment_floor"},
        "is a compartment floor",
        requires=_words(r"(?:constructed|provided|separated|built) (?:as|by|with)"),
    ),
)
