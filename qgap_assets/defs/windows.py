"""Named replay windows as Dagster partitions: an analyst backfills high_vol, low_vol, trending,
choppy from the UI. Each partition's metrics are ledgered (``research_window_metrics``) and its
full report goes to the content-addressed artifact store (path in the asset metadata).
Registered through ``defs/cycle.py``'s ``Definitions`` (it shares the cycle's IO manager)."""

import dagster as dg
import pandas as pd

from qgap_assets import cycle as core
from qgap_assets.defs.metadata import md_table
from qgap_assets.defs.resources import LedgerResource
from qgap_assets.research.evaluation import Evaluation
from qgap_assets.research.windows import WINDOWS

GROUP = "autonomy_cycle"
replay_windows = dg.StaticPartitionsDefinition(list(WINDOWS))


@dg.asset(group_name=GROUP, code_version="windows-v1", partitions_def=replay_windows)
def replay_window_metrics(context: dg.AssetExecutionContext, ledger: LedgerResource,
                          features: core.Prepared, fold_metrics: Evaluation) -> dg.Output[dict]:
    """The candidate replayed on one named window (rule in the metadata)."""
    report = core.window_report(features, fold_metrics, context.partition_key)
    path = ledger.store.put_json(report)
    ledger.ledger().record_window(report, path.name, context.run.run_id)
    funnel = pd.DataFrame({"counter": list(report["funnel"]), "count": list(report["funnel"].values())})
    return dg.Output(report, metadata={
        "artifact": dg.MetadataValue.path(str(path)), "rule": report["rule"],
        "days": report["days"], "pnl_total": report["pnl_total"], "sharpe": report["sharpe"],
        "max_drawdown": report["max_drawdown"], "return_on_capital": report["return_on_capital"],
        "funnel": md_table(funnel), "dates": ", ".join(report["dates"])})


replay_windows_job = dg.define_asset_job(
    "replay_windows", selection=[replay_window_metrics], partitions_def=replay_windows,
    description="Replay the current candidate on named market windows (one partition each).")

window_assets = [replay_window_metrics]
