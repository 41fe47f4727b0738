"""All ledger tables, imported from every area, on one ``metadata`` (the migrations' target).

Add an area's table module here when it adds tables.
"""

from __future__ import annotations

import importlib

from qgap_assets.ledger.schema import metadata

# Areas that add tables to the shared metadata. Missing modules are tolerated only while an
# area is being built; the drift test (migrations vs models) catches a forgotten one.
_AREA_TABLE_MODULES = (
    "qgap_assets.execution.records",
    "qgap_assets.advisory.records",
    "qgap_assets.promotion.records",
)
for _name in _AREA_TABLE_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # pragma: no cover - only while an area is missing
        if exc.name != _name:
            raise

__all__ = ["metadata"]
