"""The comparator and unit vocabulary of regulation text, in one place.

Every part of clauselens that reads comparators ("not less than") or units of measure ("metres") in a
clause, or in a rule's property names (`width_mm`), takes its words from here: the semantic span
detector and the perturbations of `clauselens.attribute`, the categoriser of `clauselens.analyse`, the
corpus's constraint extractor, the synthetic pretraining clauses of `clauselens.models.synthetic`, and
the `constraint_match` score.

The readers ask different questions, so some keep their own selection (named below for its reader);
the selections are exact: changing one changes stored attributions, categories, corpus rules or
scores, so a change here is a change of results.
"""

from __future__ import annotations

# -- comparators ---------------------------------------------------------------------------------------
# Comparator phrases and their opposites (a `substitute` perturbation flips one into the other). The keys
# are the comparators a semantic span is made of (`clauselens.attribute.units`), longer phrases before
# the shorter ones they start with, so a regex alternation of them takes the longest.
COMPARATOR_OPPOSITES: dict[str, str] = {
    "not less than": "not more than", "not more than": "not less than", "not greater than": "not less than",
    "not fewer than": "not more than", "not exceeding": "not less than", "not exceed": "exceed",
    "no less than": "no more than", "no more than": "no less than", "no greater than": "no less than",
    "no fewer than": "no more than", "at least": "at most", "at most": "at least",
    "a minimum of": "a maximum of", "a maximum of": "a minimum of", "minimum of": "maximum of",
    "maximum of": "minimum of", "minimum": "maximum", "maximum": "minimum", "less than": "more than",
    "more than": "less than", "greater than": "less than", "fewer than": "more than",
    "exceeding": "not exceeding", "exceeds": "does not exceed", "exceed": "not exceed", "up to": "at least",
    "or more": "or less", "or less": "or more", "or greater": "or less",
}
SPAN_COMPARATORS: tuple[str, ...] = tuple(COMPARATOR_OPPOSITES)

# The categoriser's comparators (`clauselens.analyse.categories`, rule 6): wider, with symbols, for
# deciding whether a word is part of a comparison.
CATEGORY_COMPARATORS: tuple[str, ...] = (
    "not less than", "not more than", "no less than", "no more than", "not greater than", "not exceeding",
    "not to exceed", "not exceed", "not below", "not above", "less than", "more than", "greater than",
    "fewer than", "lower than", "higher than", "smaller than", "larger than", "wider than",
    "narrower than", "at least", "at most", "a minimum of", "a maximum of", "minimum", "maximum", "min",
    "max", "exceed", "exceeds", "exceeded", "exceeding", "or more", "or less", "or greater", "or fewer",
    "or above", "or below", "up to", "equal to", "equals", "≤", "≥", "<", ">", "=", "±", "+/-",
)
# Words that compare only when a number follows within three words ("between 900 and 1000 mm").
NUMBER_COMPARATORS = frozenset({"between", "within", "above", "below", "over", "under"})

# A lower / upper bound stated before a value. `BOUND_PHRASES` is how the synthetic clauses write one
# (`clauselens.models.synthetic`); the corpus's constraint extractor (`clauselens.corpus.constraints`)
# reads those and the extra variants after them (regex alternatives).
LOWER_BOUND_PHRASES: tuple[str, ...] = ("at least", "not less than", "a minimum of", "no less than")
UPPER_BOUND_PHRASES: tuple[str, ...] = ("not more than", "no more than", "a maximum of", "not exceeding")
LOWER_BOUND_PATTERNS: tuple[str, ...] = (
    "at least", "not less than", "no less than", "not be less than", "minimum(?: of)?", "a minimum of")
UPPER_BOUND_PATTERNS: tuple[str, ...] = (
    "not more than", "no more than", "not be more than", "no greater than", "not greater than",
    "not exceeding", "not exceed", "maximum(?: of)?", "a maximum of")

# -- units of measure ----------------------------------------------------------------------------------
# Units as a clause writes them after a number, for the `number_unit` span (`clauselens.attribute.units`).
SPAN_UNITS: tuple[str, ...] = (
    "millimetres", "millimetre", "millimeters", "millimeter", "centimetres", "centimetre", "metres", "metre",
    "meters", "meter", "kilometres", "mm²", "mm2", "m²", "m2", "m³", "m3", "mm", "cm", "km", "m",
    "kN/m²", "kN/m2", "kN", "kPa", "Pa", "N/mm²", "N/mm2", "kg/m²", "kg/m2", "kg/m³", "kg/m3", "kg", "tonnes",
    "W/m²K", "W/m2K", "W/(m²·K)", "W/(m2·K)", "W/mK", "kWh", "kW", "W", "l/s", "litres", "litre", "m³/h",
    "m3/h", "ach", "dB", "lux", "lx", "°C", "°", "degrees", "per cent", "percent", "%", "seconds", "second",
    "minutes", "minute", "mins", "hours", "hour", "hrs", "days", "years", "year", "storeys", "storey",
    "persons", "people", "risers", "steps", "mph",
)
# Another unit of the same quantity, for a `substitute` perturbation.
OTHER_UNIT: dict[str, str] = {
    "mm": "m", "m": "mm", "cm": "mm", "km": "m", "metres": "millimetres", "metre": "millimetre",
    "millimetres": "metres", "millimetre": "metre", "meters": "millimeters", "meter": "millimeter",
    "m²": "mm²", "m2": "mm2", "mm²": "m²", "mm2": "m2", "m³": "litres", "m3": "litres", "litres": "m³",
    "seconds": "minutes", "second": "minute", "minutes": "hours", "minute": "hour", "mins": "hours",
    "hours": "minutes", "hour": "minute", "hrs": "mins", "days": "hours", "years": "months",
    "kN": "N", "kPa": "Pa", "Pa": "kPa", "kg": "g", "kW": "W", "W": "kW", "kWh": "Wh", "%": "per mille",
    "storeys": "metres", "storey": "metre", "dB": "lux", "lux": "dB", "°C": "K", "degrees": "per cent",
    "per cent": "degrees", "percent": "degrees", "l/s": "m³/h", "m³/h": "l/s", "m3/h": "l/s",
}
# The categoriser's unit words (lower case; rule 5), the short ones that are units only after a number,
# and the unit suffixes written onto a number ("900mm", "30min").
CATEGORY_UNITS = frozenset(
    "mm cm km m2 m² m3 m³ kg kn kw kpa mpa db lux % ° °c millimetre millimetres millimeter millimeters metre "
    "metres meter meters centimetre centimetres kilometre kilometres kilogram kilograms kilonewton "
    "kilonewtons newton newtons kilowatt kilowatts watt watts litre litres liter liters minute minutes "
    "hour hours degrees decibel decibels pascal pascals percent w/m2k w/m²k l/s m/s kg/m2 kg/m² kn/m2 "
    "kn/m² ach".split())
AMBIGUOUS_UNITS = frozenset("m s l n w h k pa min mins hr hrs sec second seconds degree".split())
ATTACHED_UNITS: tuple[str, ...] = (
    "mm", "cm", "km", "m", "m2", "m²", "m3", "m³", "kg", "kn", "n", "kw", "w", "l", "ls", "l/s", "s", "sec",
    "min", "mins", "h", "hr", "hrs", "%", "°", "°c", "db", "pa", "kpa", "lux", "k", "mpa")
# Unit as a clause writes it -> (canonical unit of a rule constraint, factor to it), for the corpus's
# constraint extractor (`clauselens.corpus.constraints`).
CANONICAL_UNITS: dict[str, tuple[str, float]] = {
    "mm": ("mm", 1),
    "millimetres": ("mm", 1),
    "m": ("mm", 1000),
    "metre": ("mm", 1000),
    "metres": ("mm", 1000),
    "m2": ("m2", 1),
    "mm2": ("m2", 1e-6),
    "m3": ("m3", 1),
    "litres": ("l", 1),
    "l/s": ("l_s", 1),
    "minutes": ("min", 1),
    "mins": ("min", 1),
    "degrees": ("deg", 1),
    "kW": ("kw", 1),
    "dB": ("db", 1),
    "N": ("n_force", 1),
    "W/m2K": ("w_m2k", 1),
    "W/(m2K)": ("w_m2k", 1),
    "W/m2.K": ("w_m2k", 1),
    "persons": ("count", 1),
    "people": ("count", 1),
    "risers": ("count", 1),
    "storeys": ("count", 1),
    "steps": ("count", 1),
    "exits": ("count", 1),
}
# A rule property's unit suffix (`clauselens.rules.vocabulary`: `width_mm`, `gradient_pct`) -> (canonical
# unit, how a clause writes it), for the synthetic clauses; `u_value` has no suffix.
PROPERTY_UNITS: dict[str, tuple[str, str]] = {
    "_mm": ("mm", "mm"), "_m2": ("m2", "m2"), "_deg": ("deg", " degrees"), "_min": ("min", " minutes"),
    "_l_s": ("l_s", " l/s"), "_kw": ("kw", " kW"), "_db": ("db", " dB"), "_l": ("l", " litres"),
    "_pct": ("pct", "%"), "_n": ("count", ""), "u_value": ("w_m2k", " W/m2K"),
}
# The suffixes `constraint_match` reads a comparison's unit from (it labels counts `n`, seconds `s`).
PROPERTY_SUFFIXES: tuple[str, ...] = ("mm", "m2", "deg", "pct", "min", "s", "n", "l", "l_s", "kw", "db")
