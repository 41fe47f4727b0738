"""Dagster objects of the execution area (thin: the logic lives in ``qgap_assets.execution``).

* ``AlpacaResource`` / ``LeanRunnerResource``: configured adapters for the cycle's execution
  step. Alpaca keys come from ``ALPACA_API_KEY`` / ``ALPACA_SECRET_KEY`` through ``dg.EnvVar``,
  so the values never appear in Dagster's config, UI or run storage.
* ``execution_alert_sensor``: reads the execution ledger and, on ``k`` fallbacks or failures
  within a window (or a breaker escalating), logs a warning, POSTs to
  ``QGAP_ALERT_WEBHOOK_URL`` when set and requests an ``execution_alert_job`` run, which fails
  on purpose so the alert is a red run in the UI and reaches any run-failure notification.
"""


import json
import os
from pathlib import Path

import dagster as dg
from pydantic import Field
from sqlalchemy import Engine, inspect

from qgap_assets.execution.adapters.alpaca import BASE_URL_ENV, AlpacaAdapter
from qgap_assets.execution.adapters.base import RetryPolicy
from qgap_assets.execution.adapters.lean import LEAN_URL_ENV, LeanAdapter
from qgap_assets.execution.alerts import (WEBHOOK_ENV, AlertConfig, AlertCursor, post_webhook,
                                          scan)
from qgap_assets.execution.audit import utc_now
from qgap_assets.ledger import db


class AlpacaResource(dg.ConfigurableResource):
    """Alpaca trading (paper unless ``paper=False``); set the keys from ``dg.EnvVar``.

    Both keys are excluded from the resource's repr, so logging the resource cannot leak them
    (the adapter's repr and ``describe()`` show a masked key id).
    """

    api_key: str = Field(repr=False)
    secret_key: str = Field(repr=False)
    paper: bool = True
    url_override: str | None = None
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    max_rate_limit_retries: int = 2
    max_retry_wait_s: float = 2.0

    def adapter(self) -> AlpacaAdapter:
        """``url_override`` unset means ``ALPACA_BASE_URL``, unset too means Alpaca's own
        (paper unless ``paper=False``) endpoint."""
        return AlpacaAdapter(self.api_key, self.secret_key, paper=self.paper,
                             url_override=self.url_override or os.environ.get(BASE_URL_ENV)
                             or None,
                             connect_timeout_s=self.connect_timeout_s,
                             read_timeout_s=self.read_timeout_s,
                             retry=RetryPolicy(max_retries=self.max_rate_limit_retries,
                                               max_wait_s=self.max_retry_wait_s))


class LeanRunnerResource(dg.ConfigurableResource):
    """The LEAN runner; ``url`` empty means ``QGAP_LEAN_RUNNER_URL`` (unset: unconfigured, and
    the router falls back with ``lean_unconfigured`` where the policy allows)."""

    url: str = ""
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 5.0
    max_rate_limit_retries: int = 2
    max_retry_wait_s: float = 2.0

    def adapter(self) -> LeanAdapter:
        return LeanAdapter(self.url or os.environ.get(LEAN_URL_ENV) or None,
                           connect_timeout_s=self.connect_timeout_s,
                           read_timeout_s=self.read_timeout_s,
                           retry=RetryPolicy(max_retries=self.max_rate_limit_retries,
                                             max_wait_s=self.max_retry_wait_s))


class ExecutionAlertsResource(dg.ConfigurableResource):
    """Alert thresholds and delivery. Empty ``database_url`` means the qgap ledger
    (``QGAP_DATABASE_URL`` or the embedded SQLite); empty ``webhook_url`` means
    ``QGAP_ALERT_WEBHOOK_URL`` (unset: no webhook)."""

    k: int = 3
    window_s: float = 900.0
    database_url: str = ""
    webhook_url: str = ""
    webhook_timeout_s: float = 5.0

    def engine(self) -> Engine | None:
        """The ledger engine, or None when the embedded database does not exist yet (the
        sensor must not create one as a side effect)."""
        url = self.database_url or db.default_database_url()
        if db.is_embedded(url) and not Path(url.split("sqlite:///", 1)[-1]).exists():
            return None
        return db.make_engine(url)

    def resolved_webhook_url(self) -> str | None:
        return self.webhook_url or os.environ.get(WEBHOOK_ENV) or None


class ExecutionAlertOpConfig(dg.Config):
    kind: str
    message: str
    count: int
    reasons_json: str
    client_order_ids: list[str]


@dg.op(description="Fails on purpose: an execution alert as a red run.")
def raise_execution_alert(context: dg.OpExecutionContext, config: ExecutionAlertOpConfig) -> None:
    context.log.error(config.message)
    raise dg.Failure(description=config.message, metadata={
        "kind": config.kind, "count": config.count,
        "reasons": dg.MetadataValue.json(json.loads(config.reasons_json)),
        "client_order_ids": dg.MetadataValue.json(config.client_order_ids)})


@dg.job(description="Raised by execution_alert_sensor; each run is one alert.",
        tags={"qgap/area": "execution"})
def execution_alert_job() -> None:
    raise_execution_alert()


@dg.sensor(job=execution_alert_job, minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Alerts on repeated execution fallbacks/failures and breaker trips.")
def execution_alert_sensor(context: dg.SensorEvaluationContext,
                           execution_alerts: ExecutionAlertsResource
                           ) -> dg.SkipReason | list[dg.RunRequest]:
    engine = execution_alerts.engine()
    if engine is None:
        return dg.SkipReason("no ledger database yet")
    try:
        if not inspect(engine).has_table("execution_order_events"):
            return dg.SkipReason("ledger has no execution tables; run `qgap db upgrade`")
        config = AlertConfig(k=execution_alerts.k, window_s=execution_alerts.window_s)
        alerts, cursor = scan(engine, AlertCursor.parse(context.cursor), config, utc_now())
    finally:
        engine.dispose()
    context.update_cursor(cursor.dumps())
    if not alerts:
        return dg.SkipReason("no execution alert")
    webhook = execution_alerts.resolved_webhook_url()
    runs = []
    for alert in alerts:
        context.log.warning(alert.message)
        if webhook:
            outcome = post_webhook(webhook, alert, execution_alerts.webhook_timeout_s)
            context.log.info(f"alert {alert.key} webhook: {outcome}")
        runs.append(dg.RunRequest(
            run_key=alert.key, tags={"qgap/alert_kind": alert.kind},
            run_config={"ops": {"raise_execution_alert": {"config": {
                "kind": alert.kind, "message": alert.message, "count": alert.count,
                "reasons_json": json.dumps(alert.reasons, sort_keys=True),
                "client_order_ids": alert.client_order_ids}}}}))
    return runs


defs = dg.Definitions(
    jobs=[execution_alert_job],
    sensors=[execution_alert_sensor],
    resources={
        "alpaca_trading": AlpacaResource(api_key=dg.EnvVar("ALPACA_API_KEY"),
                                         secret_key=dg.EnvVar("ALPACA_SECRET_KEY")),
        "lean_runner": LeanRunnerResource(),
        "execution_alerts": ExecutionAlertsResource(),
    },
)
