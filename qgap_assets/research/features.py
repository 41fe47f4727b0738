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


def session_position(layout: SessionLayout) -> np.ndarray:
    """Each bar's index within its (symbol, session) slice: 0 at the session's first bar."""
    lengths = np.diff(layout.offsets)
    return np.arange(layout.n_bars, dtype=np.int64) - np.repeat(layout.offsets[:-1], lengths)


def momentum(close: np.ndarray, position: np.ndarray, lookback: int, lag: int = 0,
             out: np.ndarray | None = None) -> np.ndarray:
    """``close[i-lag] / close[i-lag-lookback] - 1`` inside the session, NaN elsewhere.

    ``position`` is :func:`session_position`. One shifted-slice division written into ``out``
    (no index arrays, no gathers): the feature is a memory-bound pass over the closes, and
    temporaries the size of the market made it grow faster than the data."""
    n = close.shape[0]
    out = np.empty(n) if out is None else out
    k = lag + lookback
    if k < n:
        np.divide(close[lookback:n - lag], close[:n - k], out=out[k:])
        np.subtract(out[k:], 1.0, out=out[k:])
    out[position < k] = np.nan  # the window starts before the session (or the data)
    return out


def compute_features(layout: SessionLayout, contract: FeatureContract) -> FeatureSet:
    position = session_position(layout)
    price = getattr(layout, contract.price_field)
    values = np.empty((len(contract.lookbacks), layout.n_bars))
    for row, lb in zip(values, contract.lookbacks):
        momentum(price, position, lb, contract.feature_lag, out=row)
    return FeatureSet(contract.hash(), tuple(contract.lookbacks), values)
