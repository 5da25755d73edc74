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
    # kind -> documented properties (anything else may still be set and read with .get); the open
    # corpus's reference rules read only these
    "storey": (
        "elevation_mm", "height_above_ground_mm", "floor_area_m2", "occupancy_n"
    ),
    "space": (
        "area_m2", "height_mm", "headroom_mm", "occupancy_n", "travel_distance_mm", "use",
        "is_habitable", "has_smoke_alarm", "ventilation_opening_m2", "window_area_m2",
        "floor_level_mm", "has_co_alarm", "has_thermostat", "turning_circle_mm"
    ),
    "corridor": (
        "clear_width_mm", "length_mm", "headroom_mm", "is_protected", "fire_resistance_min",
        "ventilation_opening_m2"
    ),
    "escape_route": (
        "clear_width_mm", "headroom_mm", "travel_distance_mm", "is_protected", "exits_n",
        "has_emergency_lighting"
    ),
    "door": (
        "clear_width_mm", "height_mm", "fire_resistance_min", "is_fire_door", "is_self_closing",
        "opens_in_direction_of_escape", "threshold_height_mm", "vision_panel_height_mm",
        "opening_force_n", "leaf_width_mm", "has_vision_panel", "is_security_rated",
        "letter_plate_height_mm", "letter_plate_width_mm", "opening_angle_deg",
        "opening_force_30_to_60_deg_n", "pull_side_space_mm", "reveal_depth_mm"
    ),
    "window": (
        "area_m2", "openable_area_m2", "sill_height_mm", "clear_opening_width_mm",
        "clear_opening_height_mm", "is_escape_window", "u_value", "handle_height_mm"
    ),
    "wall": (
        "thickness_mm", "height_mm", "fire_resistance_min", "u_value", "sound_reduction_db",
        "is_external", "is_compartment_wall", "cavity_width_mm", "has_cavity_barrier", "has_dpc",
        "is_fire_resisting", "is_fire_stopped", "is_non_combustible", "residual_cavity_width_mm",
        "resilient_layer_thickness_mm", "tie_spacing_mm"
    ),
    "slab": (
        "thickness_mm", "fire_resistance_min", "u_value", "sound_reduction_db",
        "is_compartment_floor", "panel_area_m2", "pitch_deg", "screed_thickness_mm",
        "ventilated_air_space_mm"
    ),
    "roof": (
        "u_value", "pitch_deg", "fire_resistance_min", "has_guarding",
        "noncombustible_band_width_mm"
    ),
    "stair": (
        "clear_width_mm", "headroom_mm", "rise_total_mm", "risers_n", "is_escape_stair",
        "has_handrail_both_sides", "fire_resistance_min", "is_protected", "ventilation_opening_m2"
    ),
    "flight": (
        "riser_height_mm", "going_mm", "pitch_deg", "risers_n", "clear_width_mm", "has_open_risers",
        "nosing_projection_mm", "nosing_contrast_width_mm", "tread_overlap_mm"
    ),
    "landing": (
        "length_mm", "clear_width_mm", "is_level", "gradient_pct", "clear_of_door_swing_mm"
    ),
    "ramp": (
        "gradient_pct", "going_mm", "clear_width_mm", "rise_mm", "has_handrail",
        "has_handrail_both_sides", "is_slip_resistant", "kerb_height_mm"
    ),
    "handrail": (
        "height_mm", "grip_diameter_mm", "extension_mm", "is_continuous", "has_visual_contrast"
    ),
    "guarding": (
        "height_mm", "gap_mm", "is_climbable", "resists_load"
    ),
    "sanitary": (
        "height_mm", "clear_space_mm", "flush_volume_l", "has_grab_rail", "depth_mm", "has_trap",
        "trap_seal_mm"
    ),
    "pipe": (
        "diameter_mm", "gradient_pct", "length_mm", "depth_mm", "air_test_duration_min",
        "air_test_pressure_mm", "bend_radius_mm", "has_access_point", "height_above_opening_mm",
        "insulated_length_from_vessel_mm", "is_insulated", "is_labelled", "is_sealed",
        "vertical_length_below_tundish_mm"
    ),
    "duct": (
        "diameter_mm", "area_m2", "airflow_l_s", "fire_resistance_min", "flexible_length_mm",
        "is_fire_stopped", "is_insulated", "is_sealed"
    ),
    "fan": (
        "extract_rate_l_s", "is_intermittent", "overrun_min", "distance_below_ceiling_mm",
        "distance_to_background_ventilator_mm"
    ),
    "alarm": (
        "is_mains_powered", "has_standby_supply", "distance_to_door_mm", "distance_to_appliance_mm",
        "distance_to_wall_mm"
    ),
    "sprinkler": (
        "coverage_m2", "is_installed"
    ),
    "flue": (
        "height_mm", "diameter_mm", "distance_to_opening_mm", "distance_to_boundary_mm",
        "bend_angle_deg", "fixing_distance_mm", "horizontal_section_mm", "is_lined", "is_sealed"
    ),
    "appliance": (
        "rated_output_kw", "distance_to_combustible_mm", "has_hearth", "has_thermostat",
        "hearth_thickness_mm"
    ),
    "lift": (
        "car_width_mm", "car_depth_mm", "door_width_mm", "call_button_distance_from_return_wall_mm",
        "call_button_height_mm", "controls_distance_from_front_wall_mm",
        "controls_distance_from_return_wall_mm", "controls_height_mm"
    ),
    "parking": (
        "width_mm", "length_mm", "distance_to_entrance_mm", "is_accessible", "has_charge_point"
    ),
    "building": (
        "height_mm", "storeys_n", "floor_area_m2", "top_floor_height_mm", "has_sprinklers",
        "purpose_group", "access_door_spacing_mm", "distance_to_cesspool_mm",
        "distance_to_drainage_field_mm", "distance_to_septic_tank_mm",
        "distance_to_treatment_discharge_mm", "has_broadband_infrastructure",
        "has_fire_alarm_system", "has_fire_main", "has_firefighting_shaft"
    ),
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
