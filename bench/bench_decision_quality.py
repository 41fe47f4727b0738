"""Decision quality of the promotion gates (a benchmark, not a test).

Over N seeds of a zero-edge random-walk market the gates should promote at most once (false
promotions); over N seeds of a market with a planted intraday momentum edge they should promote
almost always (true promotions). Each seed runs one full cycle (default market: 20 symbols x 60
days, 5 walk-forward folds, cost stress) on a fresh ledger, with a 27-point grid
(9 lookbacks x 3 thresholds) so the multiple-testing gates (DSR, PBO) have a real search to
deflate. Prints one JSON line per seed and the two rates.

Run: .venv/bin/python bench/bench_decision_quality.py [--seeds 20] [--first-seed 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

LOOKBACKS = (5, 10, 15, 20, 30, 45, 60, 90, 120)
THRESHOLDS = (0.0005, 0.001, 0.002)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--edge", type=float, default=1.0, help="planted edge strength")
    args = ap.parse_args()

    from qgap_assets.config import CycleConfig, StrategyGrid, SyntheticMarket
    from qgap_assets.cycle import run_cycle
    from qgap_assets.ledger import db
    from qgap_assets.ledger.repository import Ledger
    from qgap_assets.research.execution_model import ExecutionModel

    grid = StrategyGrid(lookbacks=LOOKBACKS, thresholds=THRESHOLDS)
    assert len(LOOKBACKS) * len(THRESHOLDS) == 27
    results: dict[str, list[bool]] = {}
    reasons: dict[str, Counter[str]] = {}
    # the third market takes every cost away, so only the statistical gates stand between a
    # random walk and a promotion (with costs, losing to them alone denies a random walk)
    frictionless = {"grid": grid.model_copy(update={"cost_bps": 0.0}),
                    "execution": ExecutionModel.frictionless(0.0)}
    markets = (("zero_edge", 0.0, {}), ("planted_edge", args.edge, {}),
               ("zero_edge_frictionless", 0.0, frictionless))
    for market, edge, extra in markets:
        results[market], reasons[market] = [], Counter()
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            home = Path(tempfile.mkdtemp(prefix="qgap-dq-"))
            url = f"sqlite:///{home / 'ledger.db'}"
            db.upgrade(url)
            engine = db.make_engine(url)
            cfg = CycleConfig(**{"synthetic": SyntheticMarket(seed=seed, edge=edge), "grid": grid,
                                 **extra})
            t0 = time.perf_counter()
            out = run_cycle(cfg, None, Ledger(engine), home)
            engine.dispose()
            promoted = out.decision == "promote"
            results[market].append(promoted)
            reasons[market].update(out.reasons)
            print(json.dumps({"market": market, "seed": seed, "decision": out.decision,
                              "reasons": list(out.reasons),
                              "seconds": round(time.perf_counter() - t0, 2)}), flush=True)
    summary = {m: {"promoted": sum(v), "seeds": len(v), "rate": sum(v) / len(v),
                   "deny_reasons": dict(reasons[m].most_common())} for m, v in results.items()}
    print(json.dumps({"summary": summary}, indent=1))
    ok = summary["zero_edge"]["promoted"] <= 1 and summary["planted_edge"]["promoted"] >= 18
    print(f"targets (zero-edge <= 1 of 20, planted >= 18 of 20): {'MET' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
