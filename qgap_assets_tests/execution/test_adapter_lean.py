"""The LEAN HTTP client against a local runner speaking the contract (real HTTP, 127.0.0.1)."""

from __future__ import annotations

import pytest

from qgap_assets.execution.adapters import LeanAdapter, OrderRequest
from qgap_assets.execution.reasons import Failure
from qgap_assets_tests.execution.conftest import SLOW_S, Sleeps
from qgap_assets_tests.fakes import Reply, free_port
from qgap_assets_tests.fakes.lean_server import FakeLean

ORDER = OrderRequest(client_order_id="qg-lean-1", symbol="SPY", side="buy", qty=10.0)


def test_accepted_fill_sends_the_contract_body(lean: LeanAdapter, fake_lean: FakeLean) -> None:
    result = lean.submit(ORDER)
    assert result.ok and result.order is not None
    assert (result.order.status, result.order.filled_qty, result.order.filled_avg_price) == (
        "filled", 10.0, 100.5)
    assert result.http_calls == 1
    assert fake_lean.calls("POST", "/v1/orders")[0].json() == {
        "client_order_id": "qg-lean-1", "symbol": "SPY", "side": "buy", "qty": 10.0,
        "order_type": "market", "limit_price": None, "time_in_force": "day"}


@pytest.mark.parametrize("behavior, status, filled", [("accept", "accepted", 0.0),
                                                      ("partial", "partially_filled", 5.0)])
def test_open_and_partial_orders(lean: LeanAdapter, fake_lean: FakeLean, behavior: str,
                                 status: str, filled: float) -> None:
    fake_lean.behavior["SPY"] = behavior
    result = lean.submit(ORDER)
    assert result.ok and result.order is not None
    assert (result.order.status, result.order.filled_qty) == (status, filled)


def test_resubmitting_the_same_id_is_idempotent(lean: LeanAdapter, fake_lean: FakeLean) -> None:
    first, second = lean.submit(ORDER), lean.submit(ORDER)
    assert first.order == second.order
    assert (first.http_status, second.http_status) == (201, 200)
    assert len(fake_lean.orders) == 1


@pytest.mark.parametrize("behavior", ["reject", "rejected_status"])
def test_rejections(lean: LeanAdapter, fake_lean: FakeLean, behavior: str) -> None:
    fake_lean.behavior["SPY"] = behavior
    result = lean.submit(ORDER)
    assert result.failure is Failure.REJECTED
    assert "risk limit" in (result.message or "")


def test_429_honours_retry_after_within_the_cap(lean: LeanAdapter, fake_lean: FakeLean,
                                                sleeps: Sleeps) -> None:
    fake_lean.script("POST", "/v1/orders",
                     Reply(429, json={"error": "rate_limited"}, headers={"Retry-After": "0.02"}),
                     Reply(429, json={"error": "rate_limited"}, headers={"Retry-After": "30"}))
    result = lean.submit(ORDER)
    assert result.ok and result.http_calls == 3
    assert sleeps == [0.02, 0.05]  # the server's hint, then the cap
    assert len(fake_lean.orders) == 1


def test_429_retries_are_bounded(lean: LeanAdapter, fake_lean: FakeLean, sleeps: Sleeps) -> None:
    fake_lean.script("POST", "/v1/orders", *[Reply(429, json={"error": "rate_limited"})] * 5)
    result = lean.submit(ORDER)
    assert result.failure is Failure.RATE_LIMITED and result.http_calls == 3
    assert len(fake_lean.calls("POST", "/v1/orders")) == 3 and len(sleeps) == 2
    assert fake_lean.orders == {}


@pytest.mark.parametrize("reply, failure", [
    (Reply(503, json={"error": "unavailable"}), Failure.HTTP_5XX),
    (Reply(201, body=b'{"client_order_id": "qg-lean-1", "status":'), Failure.MALFORMED),
    (Reply(201, json={"client_order_id": "qg-lean-1", "status": "weird", "filled_qty": 0}),
     Failure.MALFORMED),
    (Reply(201, json={"client_order_id": "someone-else", "status": "filled", "filled_qty": 1}),
     Failure.MALFORMED),
    (Reply(201, delay_s=SLOW_S), Failure.TIMEOUT),
    (Reply(drop=True), Failure.CONNECTION_LOST),
])
def test_ambiguous_failures_are_single_calls(lean: LeanAdapter, fake_lean: FakeLean,
                                             reply: Reply, failure: Failure) -> None:
    fake_lean.script("POST", "/v1/orders", reply)
    result = lean.submit(ORDER)
    assert result.failure is failure and result.http_calls == 1
    assert len(fake_lean.calls("POST", "/v1/orders")) == 1  # never blindly resubmitted


def test_connection_refused_is_unavailable() -> None:
    adapter = LeanAdapter(f"http://127.0.0.1:{free_port()}", connect_timeout_s=1.0)
    assert adapter.submit(ORDER).failure is Failure.UNAVAILABLE
    assert adapter.health() is False


def test_unconfigured_sends_nothing() -> None:
    adapter = LeanAdapter(None)
    result = adapter.submit(ORDER)
    assert result.failure is Failure.UNCONFIGURED and result.http_calls == 0
    assert adapter.health() is False


def test_lookup_404_tombstones_the_id(lean: LeanAdapter, fake_lean: FakeLean) -> None:
    assert lean.lookup(ORDER.client_order_id).failure is Failure.NOT_FOUND
    late = lean.submit(ORDER)  # a submit still in flight after the 404 must not execute
    assert late.failure is Failure.REJECTED and late.http_status == 409
    assert fake_lean.orders == {}


def test_conflicting_content_under_one_id_is_refused(lean: LeanAdapter,
                                                     fake_lean: FakeLean) -> None:
    assert lean.submit(ORDER).ok
    other = OrderRequest(client_order_id=ORDER.client_order_id, symbol="SPY", side="buy", qty=99)
    assert lean.submit(other).failure is Failure.REJECTED
    assert len(fake_lean.orders) == 1


def test_lookup_cancel_and_health(lean: LeanAdapter, fake_lean: FakeLean) -> None:
    fake_lean.behavior["SPY"] = "accept"
    lean.submit(ORDER)
    found = lean.lookup(ORDER.client_order_id)
    assert found.ok and found.order is not None and found.order.status == "accepted"
    cancelled = lean.cancel(ORDER.client_order_id)
    assert cancelled.order is not None and cancelled.order.status == "canceled"
    assert fake_lean.calls("DELETE")[0].path == f"/v1/orders/{ORDER.client_order_id}"
    assert lean.health() is True
