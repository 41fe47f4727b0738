"""What triggers cycles: a daily schedule after the New York close and a drop-folder sensor."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from qgap_assets.defs.cycle import autonomy_cycle_job
from qgap_assets.ledger.db import qgap_home

BARS_SUFFIXES = (".csv", ".parquet")

daily_cycle_schedule = dg.ScheduleDefinition(
    name="daily_cycle_after_close",
    job=autonomy_cycle_job,
    cron_schedule="30 16 * * 1-5",
    execution_timezone="America/New_York",
    description="One cycle every weekday at 16:30 New York, after the regular close.",
)


def drop_folder() -> Path:
    return Path(os.environ.get("QGAP_DROP_DIR", str(qgap_home() / "dropbox")))


@dg.sensor(job=autonomy_cycle_job, minimum_interval_seconds=60,
           description="Starts a cycle for every new bars file dropped into QGAP_DROP_DIR.")
def new_bars_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    folder = drop_folder()
    if not folder.is_dir():
        return dg.SensorResult(skip_reason=f"drop folder {folder} does not exist")
    requests = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in BARS_SUFFIXES or not path.is_file():
            continue
        stat = path.stat()
        requests.append(dg.RunRequest(
            run_key=f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}",
            run_config={"resources": {"settings": {"config": {"bars_file": str(path)}}}},
            tags={"qgap/bars_file": path.name}))
    if not requests:
        return dg.SensorResult(skip_reason=f"no bars files in {folder}")
    return dg.SensorResult(run_requests=requests)


defs = dg.Definitions(schedules=[daily_cycle_schedule], sensors=[new_bars_sensor])
