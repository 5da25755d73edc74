"""The one builder of table `attributions`' rows (`clauselens.tables.ATTRIBUTIONS`)."""

from __future__ import annotations

from typing import Any

from clauselens.attribute.units import unit_kind
from clauselens.records import Attribution


def attribution_row(attr: Attribution, unit: str | None = None) -> dict[str, Any]:
    """A row of table `attributions` (key: cell_id, clause_id, method, target, perturbation, unit).

    `unit` is the configured unit setting; by default the one recorded in the attribution's options,
    else the kind of its units. Every declared column is filled, `n_units` included.
    """
    return {
        "cell_id": attr.cell_id, "clause_id": attr.clause_id, "method": attr.method, "target": attr.target,
        "perturbation": attr.perturbation,
        "unit": unit or attr.options.get("unit") or unit_kind(list(attr.units)),
        "n_units": len(attr.units), "payload": attr.to_json(),
    }
