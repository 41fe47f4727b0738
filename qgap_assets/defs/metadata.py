"""How tables reach the Dagster UI: one markdown renderer for every asset's metadata."""

from typing import Any

import dagster as dg
import pandas as pd


def md_table(rows: pd.DataFrame | list[dict[str, Any]]) -> dg.MetadataValue:
    """A frame or a list of row dicts as a markdown table (``_none_`` when empty)."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    return dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "_none_")
