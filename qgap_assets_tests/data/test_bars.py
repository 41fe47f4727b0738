from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qgap_assets.data.bars import read_bars, validate_bars, write_bars
from qgap_assets.data.synthetic import generate_bars
from qgap_assets.errors import InputValidationError
from qgap_assets.ledger.hashing import dataset_hash


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return validate_bars(generate_bars(symbols=3, days=4, seed=11))


@pytest.mark.parametrize("column,value,rule", [
    ("high", 1.0, "high >= max(open, close)"),
    ("low", 1e6, "low <= min(open, close)"),
    ("close", np.nan, "no NaN/inf"),
    ("open", -5.0, "> 0"),
    ("volume", -1.0, ">= 0"),
    ("volume", np.inf, "finite"),
])
def test_each_rule_is_named_with_the_offending_row(bars: pd.DataFrame, column: str, value: float,
                                                    rule: str) -> None:
    bad = bars.copy()
    bad.loc[5, column] = value
    with pytest.raises(InputValidationError) as info:
        validate_bars(bad)
    msg = str(info.value)
    assert f"column '{column}'" in msg and rule in msg
    assert "row 5:" in msg


def test_duplicate_symbol_timestamp_refused(bars: pd.DataFrame) -> None:
    dup = pd.concat([bars, bars.iloc[[3]]], ignore_index=True)
    with pytest.raises(InputValidationError, match=r"unique \(symbol, timestamp\)"):
        validate_bars(dup)


def test_naive_timestamps_refused(bars: pd.DataFrame, tmp_path: Path) -> None:
    frame = bars.copy()
    frame["timestamp"] = frame["timestamp"].dt.tz_localize(None).astype(str)
    frame.to_csv(tmp_path / "naive.csv", index=False)
    with pytest.raises(InputValidationError, match="naive refused"):
        read_bars(tmp_path / "naive.csv")


def test_missing_column_named(bars: pd.DataFrame) -> None:
    with pytest.raises(InputValidationError, match=r"\['volume'\].*required column"):
        validate_bars(bars.drop(columns="volume"))


def test_csv_parquet_shuffled_hash_the_same_and_one_cent_changes_it(bars: pd.DataFrame,
                                                                     tmp_path: Path) -> None:
    h = dataset_hash(bars)
    csv = read_bars(write_bars(bars, tmp_path / "b.csv"))
    pq = read_bars(write_bars(bars.sample(frac=1.0, random_state=3), tmp_path / "b.parquet"))
    assert dataset_hash(csv) == h == dataset_hash(pq)
    tweaked = bars.copy()
    tweaked.loc[10, "close"] = tweaked.loc[10, "close"] + 0.01
    tweaked.loc[10, "high"] = max(tweaked.loc[10, "high"], tweaked.loc[10, "close"])
    assert dataset_hash(tweaked) != h


def test_offsets_are_converted_to_utc(tmp_path: Path) -> None:
    frame = pd.DataFrame({"timestamp": ["2024-03-11T09:30:00-04:00"], "symbol": ["A"], "open": [1.0],
                          "high": [1.0], "low": [1.0], "close": [1.0], "volume": [0.0]})
    out = validate_bars(frame)
    assert out["timestamp"].iloc[0] == pd.Timestamp("2024-03-11T13:30:00Z")


def test_synthetic_is_deterministic_and_edge_knob_changes_it() -> None:
    a, b = generate_bars(2, 3, seed=5), generate_bars(2, 3, seed=5)
    assert dataset_hash(a) == dataset_hash(b)
    assert dataset_hash(generate_bars(2, 3, seed=5, edge=0.0)) != dataset_hash(a)
