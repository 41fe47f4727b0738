"""The real alpaca-py TradingClient against a local server with Alpaca's REST shapes."""

from __future__ import annotations

import pytest

from qgap_assets.execution.adapters import AlpacaAdapter, OrderRequest
from qgap_assets.execution.reasons import Failure
from qgap_assets_tests.execution.conftest import API_KEY, SECRET, SLOW_S, Sleeps
from qgap_assets_tests.fakes import Reply, free_port
from qgap_assets_tests.fakes.alpaca_server import FakeAlpaca

ORDER = OrderRequest(client_order_id="qg-alpaca-1", symbol="QQQ", side="buy", qty=4.0)
RATE_LIMITED = Reply(429, json={"code": 42910000, "message": "rate limit exceeded"})


def test_filled_order_with_auth_headers(alpaca: AlpacaAdapter, fake_alpaca: FakeAlpaca) -> None:
    result = alpaca.submit(ORDER)
    assert result.ok and result.order is not None
    assert (result.order.status, result.order.filled_qty, result.order.filled_avg_price) == (
        "filled", 4.0, 101.25)
    post = fake_alpaca.calls("POST", "/v2/orders")[0]
    assert post.headers["APCA-API-KEY-ID"] == API_KEY
    assert post.json()["client_order_id"] == "qg-alpaca-1"
    assert (post.json()["type"], post.json()["side"]) == ("market", "buy")


def test_limit_order_body(alpaca: AlpacaAdapter, fake_alpaca: FakeAlpaca) -> None:
    alpaca.submit(OrderRequest("qg-l", "QQQ", "sell", 2.0, "limit", 410.5, "gtc"))
    body = fake_alpaca.calls("POST", "/v2/orders")[0].json()
    assert (body["type"], body["limit_price"], body["time_in_force"]) == ("limit", 410.5, "gtc")


@pytest.mark.parametrize("behavior, status, filled", [("accept", "accepted", 0.0),
                                                      ("partial", "partially_filled", 2.0)])
def test_open_and_partial_orders(alpaca: AlpacaAdapter, fake_alpaca: FakeAlpaca, behavior: str,
                                 status: str, filled: float) -> None:
    fake_alpaca.behavior["QQQ"] = behavior
    result = alpaca.submit(ORDER)
    assert result.ok and result.order is not None
    assert (result.order.status, result.order.filled_qty) == (status, filled)


def test_rejected(alpaca: AlpacaAdapter, fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.behavior["QQQ"] = "reject"
    result = alpaca.submit(ORDER)
    assert result.failure is Failure.REJECTED and result.http_status == 403
    assert "insufficient buying power" in (result.message or "")


def test_resubmitting_the_same_id_returns_the_existing_order(alpaca: AlpacaAdapter,
                                                             fake_alpaca: FakeAlpaca) -> None:
    first, second = alpaca.submit(ORDER), alpaca.submit(ORDER)
    assert first.order == second.order and second.details["duplicate_client_order_id"]
    assert len(fake_alpaca.orders) == 1


def test_429_honours_retry_after(alpaca: AlpacaAdapter, fake_alpaca: FakeAlpaca,
                                 sleeps: Sleeps) -> None:
    fake_alpaca.script("POST", "/v2/orders", Reply(429, json={"code": 42910000, "message": "rl"},
                                                   headers={"Retry-After": "0.03"}))
    result = alpaca.submit(ORDER)
    assert result.ok and result.http_calls == 2 and sleeps == [0.03]
    assert len(fake_alpaca.orders) == 1


def test_429_retries_are_bounded(alpaca: AlpacaAdapter, fake_alpaca: FakeAlpaca,
                                 sleeps: Sleeps) -> None:
    fake_alpaca.script("POST", "/v2/orders", *[RATE_LIMITED] * 5)
    result = alpaca.submit(ORDER)
    assert result.failure is Failure.RATE_LIMITED and result.http_calls == 3
    assert len(fake_alpaca.calls("POST", "/v2/orders")) == 3 and sleeps == [0.01, 0.01]
    assert fake_alpaca.orders == {}


@pytest.mark.parametrize("reply, failure", [
    (Reply(500, json={"code": 50010000, "message": "internal"}), Failure.HTTP_5XX),
    (Reply(504, json={"code": 50410000, "message": "gateway timeout"}), Failure.HTTP_5XX),
    (Reply(200, body=b"{\"id\": "), Failure.MALFORMED),
    (Reply(200, json={"id": "not-an-order"}), Failure.MALFORMED),
    (Reply(200, delay_s=SLOW_S), Failure.TIMEOUT),
    (Reply(drop=True), Failure.CONNECTION_LOST),
])
def test_ambiguous_failures_are_single_calls(alpaca: AlpacaAdapter, fake_alpaca: FakeAlpaca,
                                             reply: Reply, failure: Failure) -> None:
    """alpaca-py would retry a 504 POST by itself; here it is sent exactly once."""
    fake_alpaca.script("POST", "/v2/orders", reply)
    result = alpaca.submit(ORDER)
    assert result.failure is failure and result.http_calls == 1
    assert len(fake_alpaca.calls("POST", "/v2/orders")) == 1


def test_connection_refused_is_unavailable() -> None:
    adapter = AlpacaAdapter(API_KEY, SECRET, url_override=f"http://127.0.0.1:{free_port()}")
    assert adapter.submit(ORDER).failure is Failure.UNAVAILABLE
    assert adapter.health() is False


def test_missing_keys_are_unconfigured() -> None:
    adapter = AlpacaAdapter(None, None)
    assert adapter.submit(ORDER).failure is Failure.UNCONFIGURED and not adapter.health()


def test_wrong_secret_is_a_rejection_not_a_retry(fake_alpaca: FakeAlpaca) -> None:
    adapter = AlpacaAdapter(API_KEY, "wrong", url_override=fake_alpaca.url)
    result = adapter.submit(ORDER)
    assert result.failure is Failure.REJECTED and result.http_status == 401
    assert len(fake_alpaca.calls("POST")) == 1


def test_lookup_cancel_and_health(alpaca: AlpacaAdapter, fake_alpaca: FakeAlpaca) -> None:
    assert alpaca.lookup("qg-nobody").failure is Failure.NOT_FOUND
    fake_alpaca.behavior["QQQ"] = "accept"
    alpaca.submit(ORDER)
    cancelled = alpaca.cancel(ORDER.client_order_id)
    assert cancelled.order is not None and cancelled.order.status == "canceled"
    assert len(fake_alpaca.calls("DELETE")) == 1
    fake_alpaca.behavior["QQQ"] = "fill"
    filled = OrderRequest("qg-filled", "QQQ", "buy", 1.0)
    alpaca.submit(filled)
    unchanged = alpaca.cancel(filled.client_order_id)  # terminal: no DELETE is sent
    assert unchanged.order is not None and unchanged.order.status == "filled"
    assert len(fake_alpaca.calls("DELETE")) == 1
    assert alpaca.health() is True
    assert fake_alpaca.calls("GET", "/v2/account")
