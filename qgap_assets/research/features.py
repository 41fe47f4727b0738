"""The feature contract and the one feature function.

Walk-forward evaluation, the reproducibility replay and the autonomous lane all call
:func:`compute_features` with the same :class:`FeatureContract`; the contract's hash is recorded
with every run, so equal hashes mean equal code path and equal inputs by construction (the
``feature_parity`` check proves it bitwise on the data).

Feature ``mom_L`` at bar i of a session is ``close[i] / close[i - L] - 1.0`` (float64), using only
closes of the same session, shifted by ``feature_lag`` bars (the value decided on at bar i was
computed from data available ``feature_lag`` bars earlier, modelling late TA data); NaN where the
window is not yet inside the session.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from qgap_assets.data.sessions import SessionLayout
from qgap_assets.ledger.hashing import hash_obj


@dataclass(frozen=True)
class FeatureContract:
    name: str = "intraday_tsmom"
    version: str = "1.0.0"
    lookbacks: tuple[int, ...] = (15, 30, 60)
    feature_lag: int = 0
    price_field: str = "close"

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f"mom_{lb}" for lb in self.lookbacks)

    def spec(self) -> dict[str, object]:
        return {**asdict(self), "features": list(self.features),
                "definition": "close[i-lag]/close[i-lag-L]-1 within session"}

    def hash(self) -> str:
        return hash_obj(self.spec())


@dataclass(frozen=True)
class FeatureSet:
    """Feature matrix aligned with a :class:`SessionLayout` (rows = bars, cols = lookbacks)."""

    contract_hash: str
    lookbacks: tuple[int, ...]
    values: np.ndarray  # float64, shape (n_lookbacks, n_bars), C-contiguous

    def column(self, lookback: int) -> np.ndarray:
        return self.values[self.lookbacks.index(lookback)]


def _session_start_of_bar(layout: SessionLayout) -> np.ndarray:
    lengths = np.diff(layout.offsets)
    return np.repeat(layout.offsets[:-1], lengths)


def momentum(close: np.ndarray, session_start: np.ndarray, lookback: int, lag: int = 0) -> np.ndarray:
    """``close[i-lag] / close[i-lag-lookback] - 1`` inside the session, NaN elsewhere."""
    n = close.shape[0]
    idx = np.arange(n, dtype=np.int64)
    cur = idx - lag
    prev = cur - lookback
    valid = prev >= session_start
    out = np.full(n, np.nan)
    out[valid] = close[cur[valid]] / close[prev[valid]] - 1.0
    return out


def compute_features(layout: SessionLayout, contract: FeatureContract) -> FeatureSet:
    start = _session_start_of_bar(layout)
    price = getattr(layout, contract.price_field)
    values = np.vstack([momentum(price, start, lb, contract.feature_lag) for lb in contract.lookbacks]) \
        if contract.lookbacks else np.zeros((0, layout.n_bars))
    return FeatureSet(contract.hash(), tuple(contract.lookbacks), np.ascontiguousarray(values))
