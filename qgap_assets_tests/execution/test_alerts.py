"""The alerting sensor: k fallbacks/failures in a window -> log line, webhook POST, failed run."""

from __future__ import annotations

import dagster as dg
import pytest
from sqlalchemy.engine import Engine

from qgap_assets.defs.execution import (ExecutionAlertsResource, execution_alert_job,
                                        execution_alert_sensor)
from qgap_assets.execution.adapters import AlpacaAdapter, LeanAdapter
from qgap_assets.execution.breakers import BreakerConfig
from qgap_assets.execution.policy import RoutingPolicy
from qgap_assets.execution.router import Router
from qgap_assets_tests.execution.conftest import QUIET_BREAKERS, intent
from qgap_assets_tests.fakes import Recorded, Reply, ScriptedHTTPServer
from qgap_assets_tests.fakes.lean_server import FakeLean

DOWN = Reply(503, json={"error": "down"})


class Webhook(ScriptedHTTPServer):
    def handle(self, request: Recorded) -> Reply:
        return Reply(200, json={"ok": True})


@pytest.fixture
def webhook() -> Webhook:
    with Webhook() as server:
        yield server  # type: ignore[misc]


def _fallbacks(engine: Engine, policy: RoutingPolicy, lean: LeanAdapter, alpaca: AlpacaAdapter,
               fake_lean: FakeLean, n: int, first: int = 0,
               breakers: BreakerConfig = QUIET_BREAKERS) -> None:
    """``n`` orders that LEAN fails and Alpaca takes (wall-clock timestamps)."""
    router = Router(engine, policy, {"lean": lean, "alpaca": alpaca}, breaker_config=breakers)
    fake_lean.script("POST", "/v1/orders", *[DOWN] * n)
    for seq in range(first, first + n):
        assert router.route(intent("SPY", seq)).route_used == "alpaca_fallback"


def _evaluate(db_url: str, cursor: str | None, webhook_url: str = "", k: int = 3
              ) -> tuple[dg.SkipReason | list[dg.RunRequest], str | None]:
    resource = ExecutionAlertsResource(database_url=db_url, k=k, window_s=3600,
                                       webhook_url=webhook_url, webhook_timeout_s=2)
    context = dg.build_sensor_context(cursor=cursor,
                                      resources={"execution_alerts": resource})
    result = execution_alert_sensor(context)
    return result, context.cursor


def test_k_fallbacks_raise_one_alert(engine: Engine, db_url: str, policy: RoutingPolicy,
                                     lean: LeanAdapter, alpaca: AlpacaAdapter,
                                     fake_lean: FakeLean, webhook: Webhook,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    _fallbacks(engine, policy, lean, alpaca, fake_lean, 2)
    result, cursor = _evaluate(db_url, None, webhook.url)
    assert isinstance(result, dg.SkipReason) and webhook.requests == []  # 2 < k

    _fallbacks(engine, policy, lean, alpaca, fake_lean, 1, first=2)
    result, cursor = _evaluate(db_url, cursor, webhook.url)
    assert isinstance(result, list) and len(result) == 1
    request = result[0]
    assert request.tags["qgap/alert_kind"] == "fallback"
    config = request.run_config["ops"]["raise_execution_alert"]["config"]
    assert config["count"] == 3 and '"lean_http_5xx": 3' in config["reasons_json"]
    log = capsys.readouterr().err  # Dagster's console logger
    assert "WARNING - qgap execution: 3 fallbacks LEAN -> Alpaca within 3600s" in log
    assert "webhook: HTTP 200" in log
    [post] = webhook.calls("POST")
    body = post.json()
    assert (body["source"], body["kind"], body["count"]) == ("qgap.execution", "fallback", 3)
    assert body["reasons"] == {"lean_http_5xx": 3}

    again, _ = _evaluate(db_url, cursor, webhook.url)  # the same burst alerts once
    assert isinstance(again, dg.SkipReason) and len(webhook.calls("POST")) == 1

    run = execution_alert_job.execute_in_process(run_config=request.run_config,
                                                 raise_on_error=False)
    assert not run.success  # the alert is a failed run in Dagster
    failure = run.failure_data_for_node("raise_execution_alert")
    assert failure is not None and "3 fallbacks" in str(failure.error)


def test_failures_and_breaker_trips_alert(engine: Engine, db_url: str, policy: RoutingPolicy,
                                         lean: LeanAdapter, fake_lean: FakeLean) -> None:
    config = BreakerConfig(consecutive_failures_reducing=2, consecutive_failures_halted=None,
                           fallback_rate_reducing=None, fallback_rate_halted=None,
                           reject_rate_reducing=None, reject_rate_halted=None)
    router = Router(engine, policy, {"lean": lean}, breaker_config=config)
    fake_lean.script("POST", "/v1/orders", *[DOWN] * 2)
    for seq in range(2):
        assert router.route(intent("IWM", seq)).status == "failed"
    result, _ = _evaluate(db_url, None, k=2)
    assert isinstance(result, list)
    kinds = sorted(r.tags["qgap/alert_kind"] for r in result)
    assert kinds == ["breaker", "breaker", "failure"]  # strategy and lean adapter tripped
    assert len({r.run_key for r in result}) == 3


def test_missing_embedded_ledger_is_skipped_not_created(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    result, _ = _evaluate(url, None)
    assert isinstance(result, dg.SkipReason) and not (tmp_path / "absent.db").exists()


def test_definitions_load_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code location must load on a machine without Alpaca keys (they resolve at run time)."""
    from qgap_assets.defs.execution import defs

    for name in ("ALPACA_API_KEY", "ALPACA_SECRET_KEY", "QGAP_LEAN_RUNNER_URL"):
        monkeypatch.delenv(name, raising=False)
    dg.Definitions.validate_loadable(defs)
    sensor = defs.resolve_sensor_def("execution_alert_sensor")
    assert sensor.job_name == "execution_alert_job"
