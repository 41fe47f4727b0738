"""Doubling the bars: one full direct cycle (``run_cycle``) at N and 2N bars.

Each size runs in a fresh process (a warm-up cycle, then ``--runs`` timed cycles, median), the
two sizes alternate ``--rounds`` times so machine drift hits both, and the ratio is taken of the
medians over all rounds. Also prints minor page faults per cycle and peak RSS per size: the
allocator effect described in qgap_assets/memory.py shows up there first.
Run: .venv/bin/python bench/bench_doubling.py [--days 60] [--runs 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, os, resource, sys, tempfile, time
from pathlib import Path
symbols, days, runs = (int(x) for x in sys.argv[1:4])
home = Path(tempfile.mkdtemp(prefix="qgap-bench-")); os.environ["QGAP_HOME"] = str(home)
cfg_path = home / "cfg.json"
cfg_path.write_text(json.dumps({"synthetic": {"symbols": symbols, "days": days}}))
from qgap_assets.config import load_config
from qgap_assets.cycle import run_cycle
from qgap_assets.ledger import db
from qgap_assets.ledger.repository import Ledger
url = f"sqlite:///{home / 'ledger.db'}"
db.upgrade(url)
ledger, cfg = Ledger(db.make_engine(url)), load_config(cfg_path)
run_cycle(cfg, None, ledger, home)  # warm-up: numba compile, dataset artifact
times, faults = [], []
for _ in range(runs):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    run_cycle(cfg, None, ledger, home)
    times.append(time.perf_counter() - t0)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps({"times": times, "faults": faults,
                  "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=100)
    ap.add_argument("--days", type=int, default=60, help="the smaller size; the larger is 2x")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    sizes = (args.days, 2 * args.days)
    results: dict[int, dict[str, list[float]]] = {d: {"times": [], "faults": [], "rss_gb": []}
                                                  for d in sizes}
    for _ in range(args.rounds):
        for days in sizes:
            out = subprocess.run([sys.executable, "-c", CHILD, str(args.symbols), str(days),
                                  str(args.runs)], capture_output=True, text=True, check=True,
                                 env=os.environ.copy())
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[days]["times"] += r["times"]
            results[days]["faults"] += r["faults"]
            results[days]["rss_gb"].append(r["rss_gb"])
    med = {d: statistics.median(results[d]["times"]) for d in sizes}
    for d in sizes:
        print(f"bars={args.symbols * d * 390} cycles={len(results[d]['times'])} "
              f"median_s={med[d]:.2f} min_s={min(results[d]['times']):.2f} "
              f"minor_faults_per_cycle={statistics.median(results[d]['faults']) / 1e3:.0f}k "
              f"peak_rss_gb={max(results[d]['rss_gb']):.2f}")
    print(f"doubling_ratio={med[sizes[1]] / med[sizes[0]]:.2f}")


if __name__ == "__main__":
    main()
