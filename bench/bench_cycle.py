"""One full cycle on 100 symbols x 60 days: core called directly vs through the Dagster job.

A cycle = load + validate + hash bars, features, walk-forward (5 folds, 3x3 grid) under the
realistic execution model, the stress scenarios, the lane and its parity check, the
reproducibility replay, gates, ledger write (and manifest).

Each timed cycle runs in a fresh process, as ``qgap cycle`` and Dagster's default run launcher
run one (a run per process). The child warms up on a tiny market first (numba compilation, the
Dagster instance and job snapshot), then times one full-size cycle. Direct and Dagster children
alternate, ``--runs`` of each, sharing one QGAP_HOME (ledger, artifact store, Dagster instance)
prepared by the parent. Repeated in-process runs would measure something else: Dagster keeps
the previous run's step outputs reachable until the next one, so a long-lived process pays page
faults for ~1 GB of fresh memory per run. Reports medians, the overhead and each mode's peak
RSS (one cycle in a fresh process). ``--days 120`` doubles the bars.
Run: .venv/bin/python bench/bench_cycle.py [--runs 7]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _args import market_args

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
mode, home, symbols, days = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
import dagster as dg
from qgap_assets.cli import prepare_dagster_home
from qgap_assets.config import load_config
from qgap_assets.cycle import run_cycle
from qgap_assets.definitions import defs
from qgap_assets.ledger import db
from qgap_assets.ledger.repository import Ledger

prepare_dagster_home()
url = f"sqlite:///{home / 'ledger.db'}"
ledger = Ledger(db.make_engine(url))
tiny, full = home / "tiny.json", home / "full.json"

def dagster_cycle(instance, cfg_path):
    res = defs.resolve_job_def("autonomy_cycle").execute_in_process(instance=instance, run_config={
        "resources": {"settings": {"config": {"config_file": str(cfg_path)}},
                      "ledger": {"config": {"database_url": url, "home": str(home)}}}})
    assert res.success

with dg.DagsterInstance.get() as instance:
    if mode == "direct":
        run_cycle(load_config(tiny), None, ledger, home)
        t0 = time.perf_counter()
        run_cycle(load_config(full), None, ledger, home)
    else:
        dagster_cycle(instance, tiny)
        t0 = time.perf_counter()
        dagster_cycle(instance, full)
    seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds,
                  "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2}))
"""


def main() -> None:
    args = market_args(runs=7)
    home = Path(tempfile.mkdtemp(prefix="qgap-bench-"))
    env = {**os.environ, "QGAP_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    (home / "tiny.json").write_text(json.dumps({"synthetic": {"symbols": 3, "days": 20}}))
    (home / "full.json").write_text(json.dumps({"synthetic": {"symbols": args.symbols,
                                                              "days": args.days}}))
    # The parent prepares what every child shares: the ledger schema and the Dagster instance
    # storage, and (one untimed direct cycle) the full-size dataset artifact.
    setup = ("from pathlib import Path; from qgap_assets.cli import prepare_dagster_home;"
             "from qgap_assets.ledger import db; from qgap_assets.config import load_config;"
             "from qgap_assets.cycle import run_cycle; from qgap_assets.ledger.repository import Ledger;"
             f"h = Path({str(home)!r}); prepare_dagster_home(); u = f'sqlite:///{{h}}/ledger.db';"
             "db.upgrade(u); run_cycle(load_config(h / 'full.json'), None, Ledger(db.make_engine(u)), h)")
    subprocess.run([sys.executable, "-c", setup], env=env, check=True)
    seconds: dict[str, list[float]] = {"direct": [], "dagster": []}
    rss: dict[str, list[float]] = {"direct": [], "dagster": []}
    for _ in range(args.runs):
        for mode in ("direct", "dagster"):
            out = subprocess.run([sys.executable, "-c", CHILD, mode, str(home), str(args.symbols),
                                  str(args.days)], env=env, capture_output=True, text=True)
            if out.returncode:
                sys.exit(f"{mode} child failed:\n{out.stderr[-3000:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            seconds[mode].append(r["seconds"])
            rss[mode].append(r["rss_gb"])
    d, g = statistics.median(seconds["direct"]), statistics.median(seconds["dagster"])
    print(f"bars={args.symbols * args.days * 390} runs={args.runs} direct_median_s={d:.2f} "
          f"dagster_median_s={g:.2f} dagster_overhead={(g / d - 1) * 100:.0f}% "
          f"(+{g - d:.2f} s) peak_rss_gb direct={max(rss['direct']):.2f} "
          f"dagster={max(rss['dagster']):.2f}")
    print("direct:", [round(s, 2) for s in seconds["direct"]])
    print("dagster:", [round(s, 2) for s in seconds["dagster"]])


if __name__ == "__main__":
    main()
