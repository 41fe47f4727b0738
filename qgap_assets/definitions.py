"""The one ``Definitions`` object of the qgap code location, merged from per-area modules."""

from __future__ import annotations

import importlib

import dagster as dg

from qgap_assets.defs import automation, cycle
from qgap_assets.defs.resources import CycleSettings, LedgerResource

_parts = [cycle.defs, automation.defs]
for _area in ("qgap_assets.defs.execution", "qgap_assets.defs.advisory", "qgap_assets.defs.evidence",
              "qgap_assets.defs.promotion"):
    try:
        _parts.append(importlib.import_module(_area).defs)
    except ModuleNotFoundError as exc:  # an area still being built
        if exc.name != _area:
            raise

defs = dg.Definitions.merge(
    *_parts,
    dg.Definitions(resources={
        "settings": CycleSettings(),
        "ledger": LedgerResource(database_url=dg.EnvVar("QGAP_DATABASE_URL").get_value("") or ""),
    }),
)
