"""Adapter ``alpaca``: the real alpaca-py ``TradingClient`` (paper by default).

Two things are tightened around the SDK, both because a trading cycle must never hang or
double an order:

* Timeouts. alpaca-py passes no timeout to requests; a (connect, read) timeout is mounted on the
  client's session (``TimeoutHTTPAdapter`` on ``_session``).
* Retries. alpaca-py retries 429 and 504 itself (3 times, 3 s apart, Retry-After ignored;
  ``TradingClient`` does not expose the settings), and a blind retry of a POST after a 504 can
  place the order twice. Its retry count (``_retry``) is set to 0 and :class:`RetryPolicy`
  retries 429 only, honouring Retry-After with a cap. Every other ambiguous failure goes back to
  the router, which looks the order up by client order id instead of resubmitting.

Those two private attributes of alpaca-py 0.44's ``RESTClient`` are the only ones touched; the
tests pin both behaviours (a stalled server times out, a 504 is sent exactly once).

A resubmission of a client order id Alpaca already holds (422 ``client_order_id must be
unique``) is answered with the existing order, so submitting twice is idempotent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.models import Order
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from qgap_assets.execution.adapters.base import (AdapterResult, OrderRequest, RetryPolicy,
                                                 VenueOrder, failure_for_exception,
                                                 failure_for_status, mask, retry_after_seconds,
                                                 timeout_session, with_calls)
from qgap_assets.execution.reasons import Failure

API_KEY_ENV = "ALPACA_API_KEY"
SECRET_KEY_ENV = "ALPACA_SECRET_KEY"
BASE_URL_ENV = "ALPACA_BASE_URL"

_STATUS_MAP = {
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "canceled", "expired": "canceled", "done_for_day": "canceled",
    "replaced": "canceled",
    "rejected": "rejected",
}  # everything else (new, accepted, pending_*, held, stopped, ...) is still open: "accepted"


class AlpacaAdapter:
    """Orders through Alpaca's trading API. Missing keys mean every call is ``unconfigured``."""

    name = "alpaca"

    def __init__(self, api_key: str | None, secret_key: str | None, *, paper: bool = True,
                 url_override: str | None = None, connect_timeout_s: float = 3.0,
                 read_timeout_s: float = 10.0, retry: RetryPolicy | None = None) -> None:
        self.paper = paper
        self.url_override = url_override
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.retry = retry or RetryPolicy()
        self._key_hint = mask(api_key)
        self._client: TradingClient | None = None
        if api_key and secret_key:
            self._client = TradingClient(api_key, secret_key, paper=paper,
                                         url_override=url_override)
            self._client._retry = 0  # see the module docstring: retries are RetryPolicy's
            timeout_session(self.timeout, self._client._session)

    @classmethod
    def from_env(cls, **kwargs: Any) -> AlpacaAdapter:
        """Keys from ``ALPACA_API_KEY``/``ALPACA_SECRET_KEY``; ``ALPACA_BASE_URL`` overrides the URL."""
        kwargs.setdefault("url_override", os.environ.get(BASE_URL_ENV) or None)
        return cls(os.environ.get(API_KEY_ENV), os.environ.get(SECRET_KEY_ENV), **kwargs)

    def __repr__(self) -> str:
        return (f"AlpacaAdapter(paper={self.paper!r}, url_override={self.url_override!r}, "
                f"api_key={self._key_hint!r})")

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "paper": self.paper, "url_override": self.url_override,
                "api_key": self._key_hint, "connect_timeout_s": self.timeout[0],
                "read_timeout_s": self.timeout[1],
                "max_rate_limit_retries": self.retry.max_retries}

    # -- operations ------------------------------------------------------------------------------

    def submit(self, order: OrderRequest) -> AdapterResult:
        common = {"symbol": order.symbol, "qty": order.qty, "side": order.side,
                  "time_in_force": order.time_in_force, "client_order_id": order.client_order_id}
        request = (LimitOrderRequest(limit_price=order.limit_price, **common)
                   if order.order_type == "limit" else MarketOrderRequest(**common))
        result = self.retry.run(lambda: self._sdk(lambda c: c.submit_order(request)))
        if result.failure is Failure.REJECTED and "client_order_id must be unique" in (
                result.message or ""):
            existing = self.lookup(order.client_order_id)
            return with_calls(existing, result.http_calls + existing.http_calls,
                              duplicate_client_order_id=True)
        if result.failure is Failure.NOT_FOUND:
            return AdapterResult(failure=Failure.REJECTED, http_status=result.http_status,
                                 http_calls=result.http_calls, message=result.message)
        return result

    def lookup(self, client_order_id: str) -> AdapterResult:
        return self.retry.run(lambda: self._sdk(lambda c: c.get_order_by_client_id(client_order_id)))

    def cancel(self, client_order_id: str) -> AdapterResult:
        found = self.lookup(client_order_id)
        if not found.ok or found.order is None or found.order.status not in ("accepted",
                                                                              "partially_filled"):
            return found
        broker_id = found.order.broker_order_id
        cancelled = self.retry.run(
            lambda: self._sdk(lambda c: c.cancel_order_by_id(broker_id), expect_order=False))
        after = self.lookup(client_order_id)
        return with_calls(after, found.http_calls + cancelled.http_calls + after.http_calls,
                          cancel_failure=None if cancelled.failure is None
                          else str(cancelled.failure))

    def health(self) -> bool:
        if self._client is None:
            return False
        result = self._sdk(lambda c: c.get_account(), expect_order=False)
        return result.failure is None

    # -- plumbing --------------------------------------------------------------------------------

    def _sdk(self, call: Callable[[TradingClient], Any], expect_order: bool = True
             ) -> AdapterResult:
        """One SDK call (one HTTP request, SDK retries being off) mapped to an AdapterResult."""
        if self._client is None:
            return AdapterResult(failure=Failure.UNCONFIGURED,
                                 message=f"{API_KEY_ENV}/{SECRET_KEY_ENV} are not set")
        try:
            response = call(self._client)
        except APIError as exc:
            status = exc.status_code
            if status is None:
                return AdapterResult(failure=Failure.MALFORMED, http_calls=1, message=str(exc))
            details = {}
            failure = failure_for_status(status)
            if failure is Failure.RATE_LIMITED and exc.response is not None:
                details["retry_after_s"] = retry_after_seconds(exc.response.headers)
            return AdapterResult(failure=failure, http_status=status, http_calls=1,
                                 message=_api_message(exc), details=details)
        except requests.JSONDecodeError as exc:  # also a RequestException: must come first
            return AdapterResult(failure=Failure.MALFORMED, http_calls=1,
                                 message=f"invalid JSON: {exc}")
        except requests.RequestException as exc:
            return AdapterResult(failure=failure_for_exception(exc), http_calls=1,
                                 message=f"{type(exc).__name__}: {exc}")
        except ValueError as exc:  # pydantic validation of the order/account document
            return AdapterResult(failure=Failure.MALFORMED, http_calls=1,
                                 message=f"unexpected Alpaca document: {str(exc)[:300]}")
        if not expect_order:
            return AdapterResult(order=None, http_calls=1)
        order = venue_order(response)
        return AdapterResult(order=order, http_calls=1,
                             failure=Failure.REJECTED if order.status == "rejected" else None)


def venue_order(order: Order) -> VenueOrder:
    """Normalize an alpaca-py ``Order``."""
    status = getattr(order.status, "value", str(order.status))
    avg = order.filled_avg_price
    return VenueOrder(client_order_id=order.client_order_id,
                      status=_STATUS_MAP.get(status, "accepted"),
                      broker_order_id=str(order.id), filled_qty=float(order.filled_qty or 0.0),
                      filled_avg_price=None if avg in (None, "") else float(avg),
                      venue_status=status)


def _api_message(exc: APIError) -> str:
    try:
        return f"HTTP {exc.status_code}: {exc.code}: {exc.message}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.status_code}: {str(exc)[:200]}"
