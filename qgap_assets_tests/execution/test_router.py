"""Routing through real HTTP venues: route used, reason codes, bounded retries, no double order.

Each test runs on SQLite and PostgreSQL (``shared_engine``) with fake LEAN and Alpaca servers on
127.0.0.1; every outcome is checked both in the returned result and in the append-only ledger
rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from qgap_assets.errors import InputValidationError
from qgap_assets.execution.adapters import AlpacaAdapter, LeanAdapter
from qgap_assets.execution.orders import OrderIntent
from qgap_assets.execution.policy import RoutingPolicy, parse_policy
from qgap_assets.execution.records import execution_order_events, execution_orders
from qgap_assets.execution.router import Router
from qgap_assets_tests.execution.conftest import POLICY_DOC, QUIET_BREAKERS, SLOW_S, StepClock
from qgap_assets_tests.fakes import Reply, free_port
from qgap_assets_tests.fakes.alpaca_server import FakeAlpaca
from qgap_assets_tests.fakes.lean_server import FakeLean

MakeIntent = Callable[..., OrderIntent]


def events(engine: Engine, coid: str, kind: str | None = None) -> list[Any]:
    e = execution_order_events
    query = select(e).where(e.c.client_order_id == coid).order_by(e.c.id)
    if kind:
        query = query.where(e.c.kind == kind)
    with engine.connect() as conn:
        return conn.execute(query).all()


def test_lean_accepts_and_every_event_carries_the_audit_tags(
        make_intent: MakeIntent, router: Router, shared_engine: Engine, fake_lean: FakeLean,
        fake_alpaca: FakeAlpaca) -> None:
    result = router.route(make_intent())
    assert (result.status, result.route_requested, result.route_used) == ("filled", "lean", "lean")
    assert result.fallback_reason is None and result.reason_code is None
    assert result.client_order_id == make_intent().client_order_id
    assert len(fake_lean.orders) == 1 and fake_alpaca.orders == {}
    rows = events(shared_engine, result.client_order_id)
    assert [r.kind for r in rows] == ["attempt", "final"]
    assert router.policy is not None
    for row in rows:
        assert (row.route_requested, row.policy_version, row.policy_hash) == (
            "lean", "test-1", router.policy.policy_hash)
        assert (row.strategy, row.account, row.symbol) == ("tsmom", "paper", "SPY")
    final = rows[-1]
    assert (final.status, final.route_used, final.broker_order_id, final.filled_qty) == (
        "filled", "lean", "1", 10.0)
    with shared_engine.connect() as conn:
        order = conn.execute(select(execution_orders).where(
            execution_orders.c.client_order_id == result.client_order_id)).one()
    assert (order.strategy, order.candidate, order.run_id, order.symbol, order.sequence) == (
        "tsmom", "cand-a", make_intent().run_id, "SPY", 0)


@pytest.mark.parametrize("reply, reason, lean_posts, lookups", [
    (Reply(201, delay_s=SLOW_S), "lean_timeout", 1, 1),
    (Reply(503, json={"error": "down"}), "lean_http_5xx", 1, 1),
    (Reply(201, body=b"<html>proxy error</html>"), "lean_malformed_response", 1, 1),
    (Reply(drop=True), "lean_connection_lost", 1, 1),
    (Reply(422, json={"error": "rejected", "message": "risk"}), "lean_rejected", 1, 0),
    (Reply(429, json={"error": "slow down"}, headers={"Retry-After": "0.01"}),
     "lean_rate_limited", 3, 0),
])
def test_lean_failure_falls_back_to_alpaca_once(
        make_intent: MakeIntent, router: Router, shared_engine: Engine, fake_lean: FakeLean,
        fake_alpaca: FakeAlpaca, reply: Reply, reason: str, lean_posts: int,
        lookups: int) -> None:
    fake_lean.script("POST", "/v1/orders", *[reply] * 3)
    result = router.route(make_intent())
    assert (result.status, result.route_used, result.fallback_reason) == (
        "filled", "alpaca_fallback", reason)
    assert len(fake_lean.calls("POST", "/v1/orders")) == lean_posts  # bounded
    assert len(fake_lean.calls("GET")) == lookups  # asked before falling back when ambiguous
    assert fake_lean.orders == {} and len(fake_alpaca.orders) == 1  # exactly one order
    steps = [(r.kind, r.adapter, r.operation)
             for r in events(shared_engine, result.client_order_id)]
    assert steps == ([("attempt", "lean", "submit")] + [("attempt", "lean", "lookup")] * lookups
                     + [("fallback", "alpaca", None), ("attempt", "alpaca", "submit"),
                        ("final", "alpaca", None)])
    final = events(shared_engine, result.client_order_id, "final")[0]
    assert (final.route_requested, final.route_used, final.fallback_reason) == (
        "lean", "alpaca_fallback", reason)


def test_lean_timeout_after_placing_is_found_and_not_doubled(
        make_intent: MakeIntent, router: Router, fake_lean: FakeLean,
        fake_alpaca: FakeAlpaca) -> None:
    fake_lean.script("POST", "/v1/orders", Reply(201, delay_s=SLOW_S, apply=True))
    result = router.route(make_intent())
    assert (result.status, result.route_used, result.fallback_reason) == ("filled", "lean", None)
    assert len(fake_lean.orders) == 1 and fake_alpaca.orders == {}


def test_lean_status_unknown_never_falls_back_and_resolves_later(
        make_intent: MakeIntent, router: Router, shared_engine: Engine, fake_lean: FakeLean,
        fake_alpaca: FakeAlpaca) -> None:
    order = make_intent()
    fake_lean.script("POST", "/v1/orders", Reply(201, delay_s=SLOW_S, apply=True))
    fake_lean.script("GET", f"/v1/orders/{order.client_order_id}",
                     Reply(502, json={"error": "bad gateway"}))
    first = router.route(order)
    assert (first.status, first.reason_code, first.route_used) == (
        "unknown", "lean_status_unknown", "lean")
    assert fake_alpaca.orders == {} and len(fake_lean.orders) == 1

    second = router.route(order)  # next cycle: LEAN answers the lookup, nothing is resubmitted
    assert (second.status, second.route_used) == ("filled", "lean")
    assert len(fake_lean.calls("POST", "/v1/orders")) == 1 and fake_alpaca.orders == {}
    assert [r.status for r in events(shared_engine, order.client_order_id, "final")] == [
        "unknown", "filled"]


def test_connection_refused_falls_back_as_unavailable(
        make_intent: MakeIntent, shared_engine: Engine, policy: RoutingPolicy,
        alpaca: AlpacaAdapter, fake_alpaca: FakeAlpaca, clock: StepClock) -> None:
    dead = LeanAdapter(f"http://127.0.0.1:{free_port()}", connect_timeout_s=1.0)
    router = Router(shared_engine, policy, {"lean": dead, "alpaca": alpaca},
                    breaker_config=QUIET_BREAKERS, clock=clock)
    result = router.route(make_intent())
    assert (result.route_used, result.fallback_reason) == ("alpaca_fallback", "lean_unavailable")
    assert len(fake_alpaca.orders) == 1


@pytest.mark.parametrize("configured", [False, True])
def test_unconfigured_lean_falls_back(
        make_intent: MakeIntent, shared_engine: Engine, policy: RoutingPolicy,
        alpaca: AlpacaAdapter, fake_alpaca: FakeAlpaca, clock: StepClock,
        configured: bool) -> None:
    adapters: dict[str, Any] = {"alpaca": alpaca}
    if configured:
        adapters["lean"] = LeanAdapter(None)  # present, but QGAP_LEAN_RUNNER_URL unset
    router = Router(shared_engine, policy, adapters, breaker_config=QUIET_BREAKERS, clock=clock)
    result = router.route(make_intent())
    assert (result.route_used, result.fallback_reason) == ("alpaca_fallback", "lean_unconfigured")
    assert len(fake_alpaca.orders) == 1


@pytest.mark.parametrize("reply, status, reason", [
    (Reply(503, json={"error": "down"}), "failed", "lean_http_5xx"),
    (Reply(422, json={"error": "rejected", "message": "risk"}), "rejected", "lean_rejected"),
])
def test_no_fallback_where_the_policy_forbids_it(
        make_intent: MakeIntent, router: Router, fake_lean: FakeLean, fake_alpaca: FakeAlpaca,
        reply: Reply, status: str, reason: str) -> None:
    fake_lean.script("POST", "/v1/orders", reply)
    result = router.route(make_intent("IWM"))
    assert (result.status, result.reason_code, result.route_used, result.fallback_reason) == (
        status, reason, "lean", None)
    assert fake_alpaca.orders == {}


def test_fallback_only_for_listed_reason_codes(
        make_intent: MakeIntent, shared_engine: Engine, lean: LeanAdapter, alpaca: AlpacaAdapter,
        clock: StepClock, fake_lean: FakeLean, fake_alpaca: FakeAlpaca) -> None:
    doc = {**POLICY_DOC, "fallback": {"allowed": True, "reasons": ["lean_timeout"]}}
    router = Router(shared_engine, parse_policy(doc), {"lean": lean, "alpaca": alpaca},
                    breaker_config=QUIET_BREAKERS, clock=clock)
    fake_lean.behavior["SPY"] = "reject"
    result = router.route(make_intent())
    assert (result.status, result.reason_code, result.fallback_reason) == (
        "rejected", "lean_rejected", None)
    assert fake_alpaca.orders == {}


@pytest.mark.parametrize("reply, status, reason, posts, orders", [
    (Reply(200, delay_s=SLOW_S, apply=True), "filled", None, 1, 1),
    (Reply(200, delay_s=SLOW_S), "failed", "alpaca_timeout", 1, 0),
    (Reply(500, json={"code": 50010000, "message": "internal"}), "failed", "alpaca_http_5xx", 1,
     0),
    (Reply(200, body=b"not json", apply=True), "filled", None, 1, 1),
    (Reply(429, json={"code": 42910000, "message": "rl"}), "failed", "alpaca_rate_limited", 3, 0),
    (Reply(403, json={"code": 40310000, "message": "insufficient buying power"}), "rejected",
     "alpaca_rejected", 1, 0),
])
def test_alpaca_route_outcomes(make_intent: MakeIntent, router: Router, fake_alpaca: FakeAlpaca,
                               reply: Reply, status: str, reason: str | None, posts: int,
                               orders: int) -> None:
    fake_alpaca.script("POST", "/v2/orders", *[reply] * 3)
    result = router.route(make_intent("QQQ"))
    assert (result.status, result.route_requested, result.route_used, result.reason_code) == (
        status, "alpaca", "alpaca", reason)
    assert result.fallback_reason is None
    assert len(fake_alpaca.calls("POST", "/v2/orders")) == posts
    assert len(fake_alpaca.orders) == orders


def test_alpaca_partial_fill(make_intent: MakeIntent, router: Router,
                             fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.behavior["QQQ"] = "partial"
    result = router.route(make_intent("QQQ", qty=8))
    assert (result.status, result.route_used, result.filled_qty, result.filled_avg_price) == (
        "partially_filled", "alpaca", 4.0, 101.25)


def test_failed_order_is_retried_later_and_placed_once(make_intent: MakeIntent, router: Router,
                                                       fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.script("POST", "/v2/orders", Reply(200, delay_s=SLOW_S))
    order = make_intent("QQQ")
    assert router.route(order).status == "failed"
    again = router.route(order)
    assert (again.status, again.replayed) == ("filled", False)
    assert len(fake_alpaca.orders) == 1


def test_repeating_an_intent_replays_without_resubmitting(
        make_intent: MakeIntent, router: Router, shared_engine: Engine,
        fake_lean: FakeLean) -> None:
    first, second = router.route(make_intent()), router.route(make_intent())
    assert not first.replayed and second.replayed
    assert (second.status, second.route_used, second.broker_order_id) == (
        first.status, first.route_used, first.broker_order_id)
    assert len(fake_lean.calls("POST", "/v1/orders")) == 1
    assert [r.kind for r in events(shared_engine, first.client_order_id)] == [
        "attempt", "final", "replay"]


def test_uncovered_symbol_is_refused_with_no_route(make_intent: MakeIntent, router: Router,
                                                   fake_lean: FakeLean,
                                                   fake_alpaca: FakeAlpaca) -> None:
    result = router.route(make_intent("AAPL"))
    assert (result.status, result.reason_code, result.route_used) == ("refused", "no_route", None)
    assert fake_lean.requests == [] and fake_alpaca.requests == []


def test_same_id_with_different_content_is_refused(make_intent: MakeIntent, router: Router,
                                                   fake_lean: FakeLean) -> None:
    router.route(make_intent(qty=10))
    result = router.route(make_intent(qty=11))
    assert (result.status, result.reason_code) == ("refused", "client_order_id_conflict")
    assert len(fake_lean.calls("POST")) == 1


def test_simulated_route_fills_at_the_model_price(make_intent: MakeIntent,
                                                  router: Router) -> None:
    result = router.route(make_intent("SIM", qty=3))
    assert (result.status, result.route_used, result.filled_qty, result.filled_avg_price) == (
        "filled", "simulated", 3.0, 50.0)


def test_malformed_intent_is_a_caller_error(make_intent: MakeIntent, router: Router) -> None:
    with pytest.raises(InputValidationError, match="'qty'"):
        router.route(make_intent(qty=0))
    with pytest.raises(InputValidationError, match="'limit_price'"):
        router.route(make_intent(order_type="limit"))


def test_unknown_after_fallback_is_resolved_at_alpaca_without_resubmitting(
        make_intent: MakeIntent, router: Router, fake_lean: FakeLean,
        fake_alpaca: FakeAlpaca) -> None:
    order = make_intent()
    fake_lean.script("POST", "/v1/orders", Reply(503, json={"error": "down"}))
    fake_alpaca.script("POST", "/v2/orders", Reply(200, delay_s=SLOW_S, apply=True))
    fake_alpaca.script("GET", "/v2/orders:by_client_order_id",
                       Reply(503, json={"code": 50300000, "message": "unavailable"}))
    first = router.route(order)
    assert (first.status, first.route_used, first.fallback_reason, first.reason_code) == (
        "unknown", "alpaca_fallback", "lean_http_5xx", "alpaca_status_unknown")

    second = router.route(order)
    assert (second.status, second.route_used, second.fallback_reason) == (
        "filled", "alpaca_fallback", "lean_http_5xx")
    assert len(fake_alpaca.calls("POST", "/v2/orders")) == 1 and len(fake_alpaca.orders) == 1
    assert len(fake_lean.calls("POST", "/v1/orders")) == 1 and fake_lean.orders == {}
