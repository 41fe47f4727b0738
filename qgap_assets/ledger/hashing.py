"""The one canonical serialization behind every hash qgap records.

Canonical JSON: UTF-8, keys sorted, no insignificant whitespace, floats written with Python's
shortest round-trip ``repr`` (so 0.1 is ``0.1`` and a float hashes the same on every machine),
non-finite floats as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has no literal
for them), tuples as lists, numpy scalars as their Python value. Every hash is the lowercase hex
sha256 of that text.

Dataset hash: bars sorted by (symbol, timestamp), then the columns timestamp (int64 ns UTC),
the sorted symbol table (UTF-8) and each row's index into it, open/high/low/close/volume (float64, little-endian) fed to sha256 column by
column. It is independent of row order and of the file format the bars came from, and any
change to one value (one cent on one price) changes it.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

BAR_COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close", "volume")


def _normalize(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _normalize(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_normalize(v) for v in obj]
    if isinstance(obj, np.generic):
        return _normalize(obj.item())
    if isinstance(obj, float):
        if math.isnan(obj):
            return "NaN"
        if math.isinf(obj):
            return "Infinity" if obj > 0 else "-Infinity"
        return obj
    if isinstance(obj, (datetime, pd.Timestamp)):
        return obj.isoformat()
    return obj


def canonical_json(obj: Any) -> str:
    """Serialize ``obj`` canonically (see module docstring)."""
    return json.dumps(_normalize(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def hash_obj(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj``."""
    return sha256_hex(canonical_json(obj))


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def is_symbol_time_ordered(codes: np.ndarray, ts_ns: np.ndarray) -> bool:
    """True when rows are strictly ordered by (symbol code, timestamp): the order validated
    bars are kept in, so hashing and the session layout can skip a sort."""
    if codes.shape[0] < 2:
        return True
    dc = np.diff(codes)
    return bool(np.all((dc > 0) | ((dc == 0) & (np.diff(ts_ns) > 0))))


def dataset_hash(bars: pd.DataFrame) -> str:
    """Content hash of a validated bars frame (see module docstring).

    Validated frames are already in (symbol, timestamp) order; then nothing is reordered or
    copied and the column buffers are hashed in place (linear in the number of bars)."""
    ts = bars["timestamp"]
    if not (isinstance(ts.dtype, pd.DatetimeTZDtype) and str(ts.dtype.tz) == "UTC"
            and ts.dtype.unit == "ns"):
        ts = pd.to_datetime(ts, utc=True).astype("datetime64[ns, UTC]")
    ts_ns = ts.astype("int64").to_numpy()
    codes, uniques = pd.factorize(bars["symbol"], sort=True)
    order = None if is_symbol_time_ordered(codes, ts_ns) else np.lexsort((ts_ns, codes))

    def ordered(values: np.ndarray, dtype: str) -> np.ndarray:
        values = values if order is None else values[order]
        return np.ascontiguousarray(values, dtype=dtype)

    h = hashlib.sha256()
    h.update(b"qgap-bars-v1")
    h.update(memoryview(ordered(ts_ns, "<i8")))
    h.update("\x1f".join(map(str, uniques)).encode("utf-8"))
    h.update(memoryview(ordered(codes.astype("<i8", copy=False), "<i8")))
    for col in ("open", "high", "low", "close", "volume"):
        h.update(memoryview(ordered(bars[col].to_numpy(dtype="float64"), "<f8")))
    return h.hexdigest()


def frame_hash(frame: pd.DataFrame) -> str:
    """Hash of a result frame, bitwise: column names, dtypes and raw values in order."""
    h = hashlib.sha256()
    for col in frame.columns:
        h.update(str(col).encode("utf-8"))
        values = frame[col].to_numpy()
        h.update(str(values.dtype).encode("utf-8"))
        if values.dtype == object:
            h.update("\x1f".join(map(str, values.tolist())).encode("utf-8"))
        else:
            h.update(np.ascontiguousarray(values).tobytes())
    return h.hexdigest()
