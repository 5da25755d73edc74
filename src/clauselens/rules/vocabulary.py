"""The vocabulary a rule is written in: element kinds, their properties (with units) and relations.

This is the contract between the rule API (`clauselens.rules`), the IFC mapping, the fixture builder
and the reference rules of the corpus. Property names carry their unit as a suffix: `_mm` lengths in
millimetres, `_m2` areas in square metres, `_deg` angles in degrees, `_pct` percentages, `_s` seconds,
`_n` counts; names without a suffix are booleans (`is_*`, `has_*`) or strings.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    # kind -> IFC entity it is read from
    "storey": "IfcBuildingStorey",
    "space": "IfcSpace",
    "corridor": "IfcSpace",  # IfcSpace with PredefinedType / ObjectType CORRIDOR
    "escape_route": "IfcSpace",  # ObjectType ESCAPE_ROUTE
    "door": "IfcDoor",
    "window": "IfcWindow",
    "wall": "IfcWall",
    "slab": "IfcSlab",
    "roof": "IfcRoof",
    "stair": "IfcStair",
    "flight": "IfcStairFlight",
    "landing": "IfcSlab",  # PredefinedType LANDING
    "ramp": "IfcRamp",
    "handrail": "IfcRailing",  # PredefinedType HANDRAIL
    "guarding": "IfcRailing",  # PredefinedType GUARDRAIL / BALUSTRADE
    "sanitary": "IfcSanitaryTerminal",
    "pipe": "IfcPipeSegment",
    "duct": "IfcDuctSegment",
    "fan": "IfcFan",
    "alarm": "IfcAlarm",
    "sprinkler": "IfcFireSuppressionTerminal",
    "flue": "IfcChimney",
    "appliance": "IfcFlowTerminal",
    "lift": "IfcTransportElement",
    "parking": "IfcSpace",  # ObjectType PARKING
    "building": "IfcBuilding",
}

PROPERTIES: dict[str, tuple[str, ...]] = {
    # kind -> documented properties (anything else may still be set and read with .get)
    "storey": ("elevation_mm", "height_above_ground_mm", "floor_area_m2", "occupancy_n"),
    "space": ("area_m2", "height_mm", "headroom_mm", "occupancy_n", "travel_distance_mm", "use",
              "is_habitable", "has_smoke_alarm", "ventilation_opening_m2", "window_area_m2",
              "floor_level_mm"),
    "corridor": ("clear_width_mm", "length_mm", "headroom_mm", "is_protected"),
    "escape_route": ("clear_width_mm", "headroom_mm", "travel_distance_mm", "is_protected",
                     "exits_n", "has_emergency_lighting"),
    "door": ("clear_width_mm", "height_mm", "fire_resistance_min", "is_fire_door", "is_self_closing",
             "opens_in_direction_of_escape", "threshold_height_mm", "vision_panel_height_mm",
             "opening_force_n", "leaf_width_mm"),
    "window": ("area_m2", "openable_area_m2", "sill_height_mm", "clear_opening_width_mm",
               "clear_opening_height_mm", "is_escape_window", "u_value"),
    "wall": ("thickness_mm", "height_mm", "fire_resistance_min", "u_value", "sound_reduction_db",
             "is_external", "is_compartment_wall"),
    "slab": ("thickness_mm", "fire_resistance_min", "u_value", "sound_reduction_db"),
    "roof": ("u_value", "pitch_deg", "fire_resistance_min"),
    "stair": ("clear_width_mm", "headroom_mm", "rise_total_mm", "risers_n", "is_escape_stair",
              "has_handrail_both_sides"),
    "flight": ("riser_height_mm", "going_mm", "pitch_deg", "risers_n", "clear_width_mm",
               "has_open_risers", "nosing_projection_mm"),
    "landing": ("length_mm", "clear_width_mm", "is_level", "gradient_pct"),
    "ramp": ("gradient_pct", "going_mm", "clear_width_mm", "rise_mm", "has_handrail"),
    "handrail": ("height_mm", "grip_diameter_mm", "extension_mm", "is_continuous"),
    "guarding": ("height_mm", "gap_mm", "is_climbable", "resists_load"),
    "sanitary": ("height_mm", "clear_space_mm", "flush_volume_l", "has_grab_rail"),
    "pipe": ("diameter_mm", "gradient_pct", "length_mm", "depth_mm"),
    "duct": ("diameter_mm", "area_m2", "airflow_l_s"),
    "fan": ("extract_rate_l_s", "is_intermittent", "overrun_min"),
    "alarm": ("is_mains_powered", "has_standby_supply", "distance_to_door_mm"),
    "sprinkler": ("coverage_m2", "is_installed"),
    "flue": ("height_mm", "diameter_mm", "distance_to_opening_mm", "distance_to_boundary_mm"),
    "appliance": ("rated_output_kw", "distance_to_combustible_mm"),
    "lift": ("car_width_mm", "car_depth_mm", "door_width_mm"),
    "parking": ("width_mm", "length_mm", "distance_to_entrance_mm", "is_accessible"),
    "building": ("height_mm", "storeys_n", "floor_area_m2", "top_floor_height_mm", "has_sprinklers",
                 "purpose_group"),
}

RELATIONS: dict[str, tuple[str, ...]] = {
    # element.related(name) -> elements; read from IFC containment/aggregation/boundaries
    "storey": ("spaces", "doors", "stairs", "windows"),
    "space": ("doors", "windows", "storey", "sanitary"),
    "door": ("spaces",),
    "window": ("spaces",),
    "stair": ("flights", "landings", "handrails", "guarding"),
    "flight": ("stair",),
    "landing": ("stair",),
    "ramp": ("handrails", "landings"),
    # added with the rule API: corridors/escape routes/parking are IfcSpaces too, plus back-references
    "corridor": ("doors", "windows", "storey"),
    "escape_route": ("doors", "windows", "storey"),
    "parking": ("storey",),
    "building": ("storeys",),
    "handrail": ("stair", "ramp"),
    "guarding": ("stair", "ramp"),
    "sanitary": ("spaces",),
}
