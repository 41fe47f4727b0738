"""Market bars at the boundary: reading CSV/Parquet and validating with a pandera schema.

Every frame that enters qgap passes :func:`validate_bars`; inside the core the data is trusted.
A violation raises :class:`InputValidationError` naming the column, the rule and the first
offending rows, and the CLI exits 2 before anything is written to the ledger.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from qgap_assets.errors import InputValidationError
from qgap_assets.ledger.hashing import BAR_COLUMNS, is_symbol_time_ordered

PRICE_COLUMNS = ("open", "high", "low", "close")
_OFFSET_RE = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
MAX_ROWS_SHOWN = 5


def _finite(s: pd.Series) -> pd.Series:
    return pd.Series(np.isfinite(s.to_numpy(dtype="float64")), index=s.index)


BARS_SCHEMA = pa.DataFrameSchema(
    columns={
        "timestamp": pa.Column("datetime64[ns, UTC]", nullable=False),
        "symbol": pa.Column(str, pa.Check.str_length(min_value=1), nullable=False),
        **{col: pa.Column("float64", [pa.Check(_finite, name="finite (no NaN/inf)"),
                                      pa.Check.gt(0, name="price > 0")], nullable=False)
           for col in PRICE_COLUMNS},
        "volume": pa.Column("float64", [pa.Check(_finite, name="finite (no NaN/inf)"),
                                        pa.Check.ge(0, name="volume >= 0")], nullable=False),
    },
    checks=[
        pa.Check(lambda df: df["low"] <= np.minimum(df["open"], df["close"]),
                 name="low <= min(open, close)"),
        pa.Check(lambda df: df["high"] >= np.maximum(df["open"], df["close"]),
                 name="high >= max(open, close)"),
    ],
    strict=True,  # validate_bars builds the frame from exactly these columns (extra ones dropped)
    coerce=False,
    name="bars",
)

_FRAME_CHECK_COLUMNS = {"low <= min(open, close)": "low", "high >= max(open, close)": "high"}


def _rows_text(frame: pd.DataFrame, index: list[int]) -> str:
    shown = frame.loc[frame.index.isin(index[:MAX_ROWS_SHOWN])]
    lines = []
    for idx, row in shown.iterrows():
        fields = ", ".join(f"{c}={row[c]}" for c in frame.columns if c in BAR_COLUMNS)
        lines.append(f"    row {idx}: {fields}")
    return "\n".join(lines)


_RULE_NAMES = {
    "not_nullable": "no NaN/inf (not null)",
    "greater_than(0)": "> 0",
    "greater_than_or_equal_to(0)": ">= 0",
    "field_uniqueness": "unique (symbol, timestamp)",
    "multiple_fields_uniqueness": "unique (symbol, timestamp)",
}


def _raise_named(frame: pd.DataFrame, exc: SchemaErrors, source: str) -> None:
    cases = exc.failure_cases.copy()
    grouped: dict[tuple[str, str], set[int]] = {}
    for _, case in cases.iterrows():
        check = str(case["check"])
        rule = _RULE_NAMES.get(check, check)
        if check in _FRAME_CHECK_COLUMNS:
            column = _FRAME_CHECK_COLUMNS[check]
        elif "uniqueness" in check:
            column = "symbol, timestamp"
        else:
            column = str(case["column"])
        idx = case["index"]
        rows = grouped.setdefault((column, rule), set())
        if idx is not None and not (isinstance(idx, float) and np.isnan(idx)):
            rows.add(int(idx))
    problems = []
    for (column, rule), rows in grouped.items():
        index = sorted(rows)
        msg = f"  column '{column}', rule '{rule}': {len(index)} offending row(s)"
        if index:
            msg += ", first:\n" + _rows_text(frame, index)
        problems.append(msg)
    raise InputValidationError(f"bars from {source} failed validation:\n" + "\n".join(problems))


def _coerce_timestamps(frame: pd.DataFrame, source: str) -> pd.Series:
    ts = frame["timestamp"]
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        return ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    if pd.api.types.is_datetime64_dtype(ts.dtype):
        raise InputValidationError(
            f"bars from {source} failed validation:\n  column 'timestamp', rule 'timezone-aware "
            f"timestamps (naive refused)': all {len(ts)} row(s) are naive, first:\n"
            + _rows_text(frame, list(frame.index[:MAX_ROWS_SHOWN])))
    text = ts.astype(str).str.strip()
    naive = ~text.str.contains(_OFFSET_RE, regex=True)
    if naive.any():
        bad = list(frame.index[naive.to_numpy()])
        raise InputValidationError(
            f"bars from {source} failed validation:\n  column 'timestamp', rule 'ISO-8601 with "
            f"UTC offset (naive refused)': {len(bad)} offending row(s), first:\n"
            + _rows_text(frame, bad))
    try:
        parsed = pd.to_datetime(text, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise InputValidationError(
            f"bars from {source} failed validation:\n  column 'timestamp', rule 'parseable "
            f"ISO-8601 timestamp': {exc}") from exc
    return parsed.astype("datetime64[ns, UTC]")


def validate_bars(frame: pd.DataFrame, source: str = "input") -> pd.DataFrame:
    """Validate and normalise a bars frame; returns it sorted by (symbol, timestamp)."""
    missing = [c for c in BAR_COLUMNS if c not in frame.columns]
    if missing:
        raise InputValidationError(
            f"bars from {source} failed validation:\n  column(s) {missing}, rule 'required "
            f"column': missing (have {list(frame.columns)})")
    frame = frame.reset_index(drop=True)
    columns = {"timestamp": _coerce_timestamps(frame, source), "symbol": frame["symbol"].astype(str)}
    for col in (*PRICE_COLUMNS, "volume"):
        if frame[col].dtype == np.float64:  # already numeric: nothing to coerce or refuse
            columns[col] = frame[col]
            continue
        values = pd.to_numeric(frame[col], errors="coerce")
        not_numeric = values.isna() & frame[col].notna()
        if not_numeric.any():
            bad = list(frame.index[not_numeric.to_numpy()])
            raise InputValidationError(
                f"bars from {source} failed validation:\n  column '{col}', rule 'numeric': "
                f"{len(bad)} offending row(s), first:\n" + _rows_text(frame, bad))
        columns[col] = values.astype("float64")
    out = pd.DataFrame(columns)  # one construction: no per-column block merge
    try:
        BARS_SCHEMA.validate(out, lazy=True, inplace=True)  # `out` is ours: no defensive copy
    except SchemaErrors as exc:
        _raise_named(out, exc, source)
    return _sorted_unique(out, source)


def _sorted_unique(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Sort by (symbol, timestamp) and refuse duplicate pairs, naming every offending row.

    One factorize + lexsort instead of a hash-based uniqueness check and a second sort: on
    millions of rows this was the most expensive part of validation. Bars that already come in
    strict (symbol, timestamp) order (the generator's, most files) skip the sort: a linear check.
    """
    codes, _ = pd.factorize(frame["symbol"], sort=True)
    ts = frame["timestamp"].dt.as_unit("ns").astype("int64").to_numpy()
    if is_symbol_time_ordered(codes, ts):  # strictly increasing within a symbol: unique, sorted
        return frame
    order = np.lexsort((ts, codes))
    c, t = codes[order], ts[order]
    same = (c[1:] == c[:-1]) & (t[1:] == t[:-1])
    if same.any():
        bad = np.zeros(order.shape[0], dtype=bool)
        bad[1:] |= same
        bad[:-1] |= same
        rows = sorted(int(i) for i in frame.index[order[bad]])
        raise InputValidationError(
            f"bars from {source} failed validation:\n  column 'symbol, timestamp', rule 'unique "
            f"(symbol, timestamp)': {len(rows)} offending row(s), first:\n" + _rows_text(frame, rows))
    return frame.take(order).reset_index(drop=True)


def read_bars(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet bars file and validate it."""
    p = Path(path)
    if not p.is_file():
        raise InputValidationError(f"bars file not found: {p}")
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        elif suffix in (".csv", ".txt", ".gz"):
            frame = pd.read_csv(p, dtype={"symbol": str, "timestamp": str})
        else:
            raise InputValidationError(
                f"bars file {p}: unsupported format {suffix!r} (use .csv or .parquet)")
    except InputValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable file is bad input
        raise InputValidationError(f"bars file {p} could not be read: {exc}") from exc
    return validate_bars(frame, source=str(p))


def write_bars(frame: pd.DataFrame, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(p, index=False)
    else:
        out = frame.copy()
        out["timestamp"] = out["timestamp"].map(lambda t: t.isoformat())
        out.to_csv(p, index=False, float_format="%.17g")
    return p
