"""The market-size options every benchmark takes (100 symbols x 60 days = 2.34 M minute bars)."""

import argparse


def market_args(runs: int) -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--runs", type=int, default=runs, help="timed runs; the median is reported")
    return ap.parse_args()
