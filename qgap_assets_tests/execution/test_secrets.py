"""The Alpaca secret never reaches logs, Dagster run storage, alert payloads or ledger rows.

Drives every path that touches Alpaca (success, fallback, rejection, malformed answer, timeout,
cancel, the kill CLI, the Dagster resource inside a run, the alert sensor) with a recognizable
secret, then scans everything those paths wrote.
"""


import argparse
import logging

import dagster as dg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from qgap_assets.defs.execution import (AlpacaResource, ExecutionAlertsResource,
                                        execution_alert_job, execution_alert_sensor)
from qgap_assets.defs.execution import defs as execution_defs
from qgap_assets.execution.adapters import LeanAdapter
from qgap_assets.execution.breakers import BreakerConfig
from qgap_assets.execution.cli import add_kill_parser
from qgap_assets.execution.policy import RoutingPolicy
from qgap_assets.execution.records import EXECUTION_TABLES
from qgap_assets.execution.router import Router
from qgap_assets.ledger.models import metadata
from qgap_assets_tests.execution.conftest import API_KEY, SECRET, SLOW_S, intent
from qgap_assets_tests.fakes import Recorded, Reply, ScriptedHTTPServer
from qgap_assets_tests.fakes.alpaca_server import FakeAlpaca
from qgap_assets_tests.fakes.lean_server import FakeLean

ALERT_ON_EVERYTHING = BreakerConfig(consecutive_failures_reducing=1)


class Webhook(ScriptedHTTPServer):
    def handle(self, request: Recorded) -> Reply:
        return Reply(200, json={})


def test_secret_never_written_anywhere(engine: Engine, db_url: str, policy: RoutingPolicy,
                                       lean: LeanAdapter, fake_lean: FakeLean,
                                       fake_alpaca: FakeAlpaca,
                                       monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("ALPACA_API_KEY", API_KEY)
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET)
    monkeypatch.setenv("ALPACA_BASE_URL", fake_alpaca.url)
    monkeypatch.setenv("QGAP_LEAN_RUNNER_URL", fake_lean.url)
    texts: list[str] = []

    @dg.op
    def route_orders(context: dg.OpExecutionContext, alpaca_trading: AlpacaResource) -> None:
        """What the cycle does: adapters from resources, orders through the router."""
        adapter = alpaca_trading.adapter()
        context.log.info(f"adapter {adapter!r} {adapter.describe()} resource {alpaca_trading!r}")
        router = Router(engine, policy, {"lean": lean, "alpaca": adapter},
                        account="paper", breaker_config=ALERT_ON_EVERYTHING)
        fake_lean.script("POST", "/v1/orders", Reply(503, json={"error": "down"}))
        fake_alpaca.behavior["IWM"] = "accept"
        fake_alpaca.script("POST", "/v2/orders",
                           Reply(200, json={"code": 1}),                 # fallback: malformed
                           Reply(403, json={"code": 40310000, "message": "no"}),
                           Reply(200, delay_s=SLOW_S))
        for seq, symbol in enumerate(("SPY", "QQQ", "QQQ", "QQQ", "QQQ")):
            result = router.route(intent(symbol, seq))
            context.log.info(f"routed {result}")

    @dg.job(resource_defs={"alpaca_trading": execution_defs.resources["alpaca_trading"]})
    def cycle_like() -> None:
        route_orders()

    instance = dg.DagsterInstance.ephemeral()
    run = cycle_like.execute_in_process(instance=instance)
    assert run.success
    stored = instance.get_run_by_id(run.run_id)
    assert stored is not None
    texts += [str(stored.run_config), str(stored.tags)]
    texts += [str(record) for record in instance.all_logs(run.run_id)]

    parser = argparse.ArgumentParser()
    add_kill_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["kill", "set", "global", "--reason", "scan", "--database-url",
                              db_url])
    assert args.func(args) == 0

    with Webhook() as hook:
        context = dg.build_sensor_context(resources={"execution_alerts": ExecutionAlertsResource(
            database_url=db_url, k=1, window_s=3600, webhook_url=hook.url)})
        requests = execution_alert_sensor(context)
        assert isinstance(requests, list) and requests
        texts += [str(r.run_config) for r in requests]
        texts += [r.body.decode() for r in hook.requests]
        alert_run = execution_alert_job.execute_in_process(
            run_config=requests[0].run_config, instance=instance, raise_on_error=False)
        texts += [str(record) for record in instance.all_logs(alert_run.run_id)]

    with engine.connect() as conn:
        for name in EXECUTION_TABLES:
            rows = conn.execute(select(metadata.tables[name])).all()
            assert rows or name == "execution_pnl_marks"
            texts += [repr(tuple(row)) for row in rows]
    captured = capsys.readouterr()
    texts += [caplog.text, captured.out, captured.err, repr(execution_defs)]

    assert fake_alpaca.calls("POST", "/v2/orders")  # the secret did travel, to Alpaca only
    assert fake_alpaca.calls("POST")[0].headers["APCA-API-SECRET-KEY"] == SECRET
    leaks = [text for text in texts if SECRET in text]
    assert leaks == []
    key_leaks = [text for text in texts if API_KEY in text]
    assert key_leaks == []  # even the key id is only ever masked
