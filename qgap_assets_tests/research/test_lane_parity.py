"""The autonomous lane and walk-forward share one feature path: bitwise parity, and a diverging
contract fails it."""

from __future__ import annotations

import numpy as np
import pytest

from qgap_assets.data.bars import validate_bars
from qgap_assets.data.sessions import build_layout, filter_regular_sessions
from qgap_assets.data.synthetic import generate_bars
from qgap_assets.research.backtest import Params
from qgap_assets.research.execution_model import ExecutionModel, realistic_backtest
from qgap_assets.research.features import FeatureContract, compute_features
from qgap_assets.research.lane import feature_parity, run_lane


@pytest.fixture(scope="module")
def session_bars():  # type: ignore[no-untyped-def]
    return filter_regular_sessions(validate_bars(generate_bars(symbols=3, days=4, seed=5))).bars


def test_same_contract_is_bitwise_equal_on_the_overlap(session_bars) -> None:  # type: ignore[no-untyped-def]
    contract = FeatureContract(lookbacks=(15, 30))
    layout = build_layout(session_bars)
    feats = compute_features(layout, contract)
    lane = run_lane(session_bars, contract, Params(15, 0.0005), ExecutionModel(), n_sessions=2)
    res = feature_parity(layout, feats, lane)
    assert res.passed and res.mismatched_values == 0
    assert res.overlap_bars == 3 * 2 * 390
    assert len(lane.signals) == 6 and set(lane.signals["signal"]) <= {-1.0, 0.0, 1.0}


@pytest.mark.parametrize("diverging", [FeatureContract(lookbacks=(15, 30), feature_lag=1),
                                       FeatureContract(lookbacks=(15, 31))])
def test_a_diverging_contract_fails(session_bars, diverging: FeatureContract) -> None:  # type: ignore[no-untyped-def]
    layout = build_layout(session_bars)
    feats = compute_features(layout, FeatureContract(lookbacks=(15, 30)))
    lane = run_lane(session_bars, diverging, Params(15, 0.0005), ExecutionModel())
    res = feature_parity(layout, feats, lane)
    assert not res.passed and res.mismatched_values > 0 and res.first_mismatches


def test_lane_target_is_the_evaluation_engines_last_decision(session_bars) -> None:  # type: ignore[no-untyped-def]
    contract = FeatureContract(lookbacks=(15,))
    model = ExecutionModel()
    lane = run_lane(session_bars, contract, Params(15, 0.0005), model)
    rec = realistic_backtest(session_bars, 15, 0.0005, model)
    last_day = lane.session_dates[-1]
    day = np.datetime64(last_day)
    for _, row in lane.signals.iterrows():
        d = rec.decisions[rec.decisions["symbol"] == row["symbol"]]
        ts = d["timestamp"].to_numpy().astype("datetime64[ns]").astype("datetime64[D]")
        mine = d[ts >= day]
        assert row["target"] == (mine["target"].iloc[-1] if len(mine) else 0.0)
