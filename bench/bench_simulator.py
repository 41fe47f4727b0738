"""Frictionless simulator throughput on 100 symbols x 60 days of minute bars (2.34 M bars).

Measures what `qgap backtest` reports as `seconds`: bars in memory -> results (session layout,
feature, kernel, per-symbol/day aggregation), not file reading. Prints the median of N runs
after one warm-up (numba compile). Run: .venv/bin/python bench/bench_simulator.py [--runs 7]
"""

from __future__ import annotations

import statistics
import time

from _args import market_args
from qgap_assets.data.synthetic import generate_bars
from qgap_assets.research.backtest import frictionless_backtest


def main() -> None:
    args = market_args(runs=7)
    bars = generate_bars(args.symbols, args.days, seed=1)
    frictionless_backtest(bars.iloc[:10_000], 30, 0.001, 1.0)  # compile
    times = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        res = frictionless_backtest(bars, 30, 0.001, 1.0)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"bars={len(bars)} runs={args.runs} median_s={med:.4f} "
          f"median_bars_per_s={len(bars) / med / 1e6:.2f}M "
          f"min_s={min(times):.4f} max_s={max(times):.4f} trades={res.summary['trades']}")


if __name__ == "__main__":
    main()
