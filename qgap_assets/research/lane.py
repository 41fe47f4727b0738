"""The autonomous lane: the candidate's current signals and target positions on the latest bars,
and the ``feature_parity`` check that proves the lane and the walk-forward evaluation compute the
same features.

The lane calls the one feature function (:func:`compute_features`) and the one decision kernel
(the realistic engine) on the latest sessions only, exactly as walk-forward does on all of them.
Features are session-local, so on the overlap (the lane's sessions) both ways must agree bit for
bit; a contract that differs (other lag, lookbacks, definition) fails the check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qgap_assets.data.sessions import NEW_YORK, SessionLayout, build_layout
from qgap_assets.research.backtest import Params
from qgap_assets.research.execution_model import ExecutionModel, kernel_inputs, run_one
from qgap_assets.research.features import FeatureContract, FeatureSet, compute_features
from qgap_assets.research.kernels import signal_of


@dataclass(frozen=True)
class LaneResult:
    contract_hash: str
    params: Params
    session_dates: tuple[str, ...]
    layout: SessionLayout
    features: FeatureSet
    signals: pd.DataFrame  # symbol, timestamp (last bar, UTC), feature, signal, target


def latest_sessions(session_bars: pd.DataFrame, n_sessions: int = 1) -> pd.DataFrame:
    """The bars of the last ``n_sessions`` New York session dates."""
    ts = session_bars["timestamp"]
    if ts.empty:
        return session_bars
    last_day = ts.max().tz_convert(NEW_YORK).normalize()
    cut = last_day
    for _ in range(n_sessions - 1):  # step back over earlier session dates present in the data
        earlier = ts[ts < cut]
        if earlier.empty:
            break
        cut = earlier.max().tz_convert(NEW_YORK).normalize()
    return session_bars[(ts >= cut).to_numpy()].reset_index(drop=True)


def run_lane(session_bars: pd.DataFrame, contract: FeatureContract, params: Params,
             model: ExecutionModel, n_sessions: int = 1) -> LaneResult:
    bars = latest_sessions(session_bars, n_sessions)
    layout = build_layout(bars)
    feats = compute_features(layout, contract)
    feat = feats.column(params.lookback)
    rec = run_one(layout, feat, params.threshold, model,
                  kernel_inputs(layout, model, contract.feature_lag))
    last = layout.offsets[1:] - 1
    first = layout.offsets[:-1]
    target = np.zeros(layout.n_sessions)
    if not rec.decisions.empty:
        session_of = np.searchsorted(layout.offsets, rec.decisions["bar"].to_numpy(), side="right") - 1
        latest = pd.Series(rec.decisions["target"].to_numpy()).groupby(session_of).last()
        target[latest.index.to_numpy()] = latest.to_numpy()
    signals = pd.DataFrame({
        "symbol": layout.session_symbol, "date": layout.session_date.astype(str),
        "timestamp": pd.to_datetime(layout.timestamp_ns[last], utc=True),
        "bars": last - first + 1, "feature": feat[last],
        "signal": [signal_of(float(x), params.threshold) if x == x else 0.0 for x in feat[last]],
        "target": target})
    return LaneResult(contract.hash(), params, tuple(str(d) for d in layout.dates()), layout,
                      feats, signals)


@dataclass(frozen=True)
class ParityResult:
    passed: bool
    overlap_bars: int
    mismatched_values: int
    contract_hashes: tuple[str, str]
    first_mismatches: tuple[dict[str, object], ...]

    def as_dict(self) -> dict[str, object]:
        return {"passed": self.passed, "overlap_bars": self.overlap_bars,
                "mismatched_values": self.mismatched_values,
                "evaluation_contract_hash": self.contract_hashes[0],
                "lane_contract_hash": self.contract_hashes[1],
                "first_mismatches": list(self.first_mismatches)}


def _aligned(eval_layout: SessionLayout, lane: LaneResult) -> tuple[np.ndarray, np.ndarray]:
    """Row positions in the evaluation layout of every lane bar (-1 where the evaluation has no
    such (symbol, timestamp)), matched session by session (no index over every bar)."""
    e_keys = pd.MultiIndex.from_arrays([eval_layout.session_symbol, eval_layout.session_date])
    l_keys = pd.MultiIndex.from_arrays([lane.layout.session_symbol, lane.layout.session_date])
    where = e_keys.get_indexer(l_keys)
    pos = np.full(lane.layout.n_bars, -1, dtype=np.int64)
    for k, ek in enumerate(where):
        ls, le = lane.layout.offsets[k], lane.layout.offsets[k + 1]
        if ek < 0:
            continue
        es, ee = eval_layout.offsets[ek], eval_layout.offsets[ek + 1]
        found = np.searchsorted(eval_layout.timestamp_ns[es:ee], lane.layout.timestamp_ns[ls:le])
        found = np.minimum(found, max(ee - es - 1, 0))
        ok = eval_layout.timestamp_ns[es + found] == lane.layout.timestamp_ns[ls:le]
        pos[ls:le] = np.where(ok, es + found, -1)
    return pos, pos >= 0


def feature_parity(eval_layout: SessionLayout, eval_features: FeatureSet, lane: LaneResult
                   ) -> ParityResult:
    """Bitwise equality of every feature on every bar both ways saw (NaN == NaN by bits)."""
    hashes = (eval_features.contract_hash, lane.contract_hash)
    pos, found = _aligned(eval_layout, lane)
    lane_symbol = np.repeat(lane.layout.session_symbol, np.diff(lane.layout.offsets))
    mismatches: list[dict[str, object]] = []
    bad = 0
    same_shape = eval_features.lookbacks == lane.features.lookbacks
    if same_shape:
        a = eval_features.values[:, pos[found]]
        b = lane.features.values[:, found]
        diff = a.view(np.int64) != b.view(np.int64)
        bad = int(diff.sum())
        rows = np.flatnonzero(found)
        for r, c in zip(*np.nonzero(diff)):
            if len(mismatches) >= 5:
                break
            mismatches.append({"feature": f"mom_{lane.features.lookbacks[r]}",
                               "symbol": str(lane_symbol[rows[c]]),
                               "timestamp_ns": int(lane.layout.timestamp_ns[rows[c]]),
                               "evaluation": float(a[r, c]), "lane": float(b[r, c])})
    else:
        bad = int(found.sum()) * max(len(lane.features.lookbacks), 1)
        mismatches.append({"feature": "columns", "evaluation": list(eval_features.lookbacks),
                           "lane": list(lane.features.lookbacks)})
    passed = bool(found.all() and found.any() and bad == 0 and hashes[0] == hashes[1])
    return ParityResult(passed, int(found.sum()), bad, hashes, tuple(mismatches))
