"""Exchange sessions and the flat session layout the simulator kernels run on.

Sessions come from ``exchange-calendars`` (XNYS by default): holidays have no session, early-close
days end early, DST is the calendar's business. A bar belongs to the session whose regular
[open, close) window contains its start time; bars outside every regular session are dropped and
counted (``outside_session``), never silently used.

:class:`SessionLayout` is the kernels' view of a bars frame: rows sorted by (symbol, timestamp),
one contiguous slice per (symbol, session) described by ``offsets``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from qgap_assets.ledger.hashing import is_symbol_time_ordered

NEW_YORK = "America/New_York"


@lru_cache(maxsize=8)
def get_calendar(name: str = "XNYS") -> xcals.ExchangeCalendar:
    return xcals.get_calendar(name, start="2000-01-03", end="2030-12-31")


def session_schedule(start: pd.Timestamp, end: pd.Timestamp, calendar: str = "XNYS") -> pd.DataFrame:
    """Regular sessions (open/close UTC) whose date lies in [start, end]."""
    cal = get_calendar(calendar)
    sched = cal.schedule.loc[str(start.date()):str(end.date()), ["open", "close"]]
    return sched


HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS


def local_dates(ts_ns: np.ndarray, tz: str = NEW_YORK) -> np.ndarray:
    """The calendar date in ``tz`` (``datetime64[D]``) of each UTC epoch-nanosecond timestamp.

    Same dates as ``tz_convert(tz)``, in one linear pass: the UTC offset is looked up in a table
    with one entry per UTC hour the data spans (New York changes offset only on the hour), built
    by converting those few hours. Converting every bar cost more than the rest of the layout
    and grew faster than the data."""
    if ts_ns.shape[0] == 0:
        return np.empty(0, dtype="datetime64[D]")
    hour = ts_ns // HOUR_NS
    first = int(hour.min())
    span = int(hour.max()) - first + 1
    if span > 2 * ts_ns.shape[0] + 48:  # sparse timestamps over a long span: convert directly
        local = pd.DatetimeIndex(ts_ns.view("datetime64[ns]")).tz_localize("UTC").tz_convert(tz)
        return local.tz_localize(None).to_numpy().astype("datetime64[D]")
    starts = (first + np.arange(span, dtype=np.int64)) * HOUR_NS
    zoned = pd.DatetimeIndex(starts.view("datetime64[ns]")).tz_localize("UTC").tz_convert(tz)
    offset = zoned.tz_localize(None).asi8 - starts
    return ((ts_ns + offset[hour - first]) // DAY_NS).astype("datetime64[D]")


@dataclass(frozen=True)
class SessionFilterResult:
    bars: pd.DataFrame
    outside_session: int


def filter_regular_sessions(bars: pd.DataFrame, calendar: str = "XNYS") -> SessionFilterResult:
    """Keep bars whose start lies inside a regular session of ``calendar``; count the rest."""
    if bars.empty:
        return SessionFilterResult(bars, 0)
    ts_ns = bars["timestamp"].dt.as_unit("ns").astype("int64").to_numpy()
    local_date = local_dates(ts_ns)
    sched = session_schedule(pd.Timestamp(local_date.min()), pd.Timestamp(local_date.max()), calendar)
    days = sched.index.to_numpy().astype("datetime64[D]")
    opens = sched["open"].dt.as_unit("ns").astype("int64").to_numpy()
    closes = sched["close"].dt.as_unit("ns").astype("int64").to_numpy()
    pos = np.clip(np.searchsorted(days, local_date), 0, max(days.shape[0] - 1, 0))
    if days.shape[0]:
        inside = (days[pos] == local_date) & (ts_ns >= opens[pos]) & (ts_ns < closes[pos])
    else:  # no session at all in the range (e.g. only a holiday)
        inside = np.zeros(ts_ns.shape[0], dtype=bool)
    if inside.all():
        return SessionFilterResult(bars, 0)  # nothing to drop: no copy of a large frame
    kept = bars.loc[inside].reset_index(drop=True)
    return SessionFilterResult(kept, int((~inside).sum()))


@dataclass(frozen=True)
class SessionLayout:
    """Flat arrays over bars sorted by (symbol, timestamp), sliced per (symbol, session).

    ``offsets[k]:offsets[k+1]`` are the rows of session k; ``session_symbol[k]`` and
    ``session_date[k]`` (New York calendar date, ``datetime64[D]``) name it.
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    timestamp_ns: np.ndarray
    offsets: np.ndarray
    session_symbol: np.ndarray
    session_date: np.ndarray
    symbols: tuple[str, ...]

    @property
    def n_bars(self) -> int:
        return int(self.close.shape[0])

    @property
    def n_sessions(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def dates(self) -> np.ndarray:
        """Sorted unique session dates."""
        return np.unique(self.session_date)


def build_layout(bars: pd.DataFrame) -> SessionLayout:
    """Layout of a validated bars frame; sessions are (symbol, New York calendar date)."""
    codes, uniques = pd.factorize(bars["symbol"], sort=True)
    ts_ns = bars["timestamp"].dt.as_unit("ns").astype("int64").to_numpy()  # any input resolution
    frame = bars
    if not is_symbol_time_ordered(codes, ts_ns):
        order = np.lexsort((ts_ns, codes))
        frame = bars.iloc[order]
        codes, ts_ns = codes[order], ts_ns[order]
    local_day = local_dates(ts_ns)
    n = len(frame)
    if n:
        change = np.empty(n, dtype=bool)
        change[0] = True
        change[1:] = (codes[1:] != codes[:-1]) | (local_day[1:] != local_day[:-1])
        starts = np.flatnonzero(change)
    else:
        starts = np.zeros(0, dtype=np.int64)
    offsets = np.append(starts, n).astype(np.int64)
    names = np.asarray(uniques, dtype=object).astype(str)
    return SessionLayout(
        open=frame["open"].to_numpy(dtype=np.float64),
        high=frame["high"].to_numpy(dtype=np.float64),
        low=frame["low"].to_numpy(dtype=np.float64),
        close=frame["close"].to_numpy(dtype=np.float64),
        volume=frame["volume"].to_numpy(dtype=np.float64),
        timestamp_ns=ts_ns,
        offsets=offsets,
        session_symbol=names[codes[starts]],
        session_date=local_day[starts],
        symbols=tuple(names.tolist()),
    )
