"""Realistic execution engine throughput on 100 symbols x 60 days of minute bars (2.34 M bars).

Same measurement as bench_simulator.py (bars in memory -> results: session layout, feature,
kernel inputs, kernel, records) for one parameter point under the default execution model
(spread, slippage buckets, 10 % participation cap with partial fills, day orders), plus the
grid kernel alone (3x3 grid per pass). Median of N runs after one warm-up.
Run: .venv/bin/python bench/bench_realistic.py [--runs 7]
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from _args import market_args
from qgap_assets.data.synthetic import generate_bars
from qgap_assets.research.execution_model import (ExecutionModel, grid_stats, kernel_inputs,
                                                  realistic_backtest)
from qgap_assets.data.sessions import build_layout
from qgap_assets.research.features import FeatureContract, compute_features


def main() -> None:
    args = market_args(runs=7)
    bars = generate_bars(args.symbols, args.days, seed=1)
    model = ExecutionModel(fee_bps=1.0)
    realistic_backtest(bars.iloc[:10_000], 30, 0.001, model)  # compile
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        rec = realistic_backtest(bars, 30, 0.001, model)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    layout = build_layout(bars)
    contract = FeatureContract(lookbacks=(15, 30, 60))
    feats = compute_features(layout, contract)
    inputs = kernel_inputs(layout, model, 0)
    rows = np.repeat(np.arange(3), 3).astype(np.int64)
    thetas = np.tile([0.0005, 0.001, 0.002], 3)
    gtimes = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        grid_stats(layout, feats.values, rows, thetas, model, inputs)
        gtimes.append(time.perf_counter() - t0)
    gmed = statistics.median(gtimes)
    print(f"bars={len(bars)} runs={args.runs} one_point_median_s={med:.4f} "
          f"one_point_bars_per_s={len(bars) / med / 1e6:.2f}M min_s={min(times):.4f} "
          f"max_s={max(times):.4f} fills={len(rec.fills)} | grid3x3_kernel_median_s={gmed:.4f} "
          f"grid_bar_params_per_s={9 * len(bars) / gmed / 1e6:.1f}M")


if __name__ == "__main__":
    main()
