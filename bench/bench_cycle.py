"""One full cycle on 100 symbols x 60 days: core called directly vs through the Dagster job.

Prints the median wall time of each over N runs, the Dagster overhead ratio and the process's
peak RSS. A cycle = load + validate + hash bars, features, walk-forward (5 folds, 3x3 grid) under
the realistic execution model, the stress scenarios, the reproducibility replay, gates, ledger
write (and manifest). ``--days 120`` doubles the bars.
Run: .venv/bin/python bench/bench_cycle.py [--runs 3]
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from _args import market_args


def main() -> None:
    args = market_args(runs=3)
    home = Path(tempfile.mkdtemp(prefix="qgap-bench-"))
    os.environ["QGAP_HOME"] = str(home)
    os.environ.pop("DAGSTER_HOME", None)
    cfg_path = home / "cfg.json"
    cfg_path.write_text(json.dumps({"synthetic": {"symbols": args.symbols, "days": args.days}}))

    import dagster as dg

    from qgap_assets.cli import prepare_dagster_home
    from qgap_assets.config import load_config
    from qgap_assets.cycle import run_cycle
    from qgap_assets.definitions import defs
    from qgap_assets.ledger import db
    from qgap_assets.ledger.repository import Ledger

    prepare_dagster_home()  # the local instance config `qgap cycle` uses (dagster_local.yaml)
    url = f"sqlite:///{home / 'ledger.db'}"
    db.upgrade(url)
    ledger = Ledger(db.make_engine(url))
    cfg = load_config(cfg_path)
    run_cycle(cfg, None, ledger, home)  # warm-up: numba compile, dataset artifact
    direct, dagster = [], []
    job = defs.resolve_job_def("autonomy_cycle")
    with dg.DagsterInstance.get() as instance:
        for _ in range(args.runs):
            t0 = time.perf_counter()
            run_cycle(cfg, None, ledger, home)
            direct.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            res = job.execute_in_process(instance=instance, run_config={"resources": {
                "settings": {"config": {"config_file": str(cfg_path)}},
                "ledger": {"config": {"database_url": url, "home": str(home)}}}})
            dagster.append(time.perf_counter() - t0)
            assert res.success
    d, g = statistics.median(direct), statistics.median(dagster)
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"bars={args.symbols * args.days * 390} runs={args.runs} direct_median_s={d:.2f} "
          f"dagster_median_s={g:.2f} dagster_overhead={(g / d - 1) * 100:.0f}% "
          f"peak_rss_gb={rss_gb:.2f}")


if __name__ == "__main__":
    main()
