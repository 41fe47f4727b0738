"""HTTP client for a LEAN runner service (the contract is in the README's "Execution" section).

The runner wraps a QuantConnect LEAN live/paper algorithm behind a small JSON API keyed by our
client order id. The client is deliberately dumb: one request per operation with (connect, read)
timeouts, bounded retries only for 429, and every outcome mapped to the shared failure
vocabulary so the router can decide about fallback.
"""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import quote

import requests

from qgap_assets.execution.adapters.base import (VENUE_STATUSES, AdapterResult, OrderRequest,
                                                 RetryPolicy, VenueOrder, failure_for_exception,
                                                 failure_for_status, retry_after_seconds,
                                                 timeout_session)
from qgap_assets.execution.reasons import Failure

LEAN_URL_ENV = "QGAP_LEAN_RUNNER_URL"


class LeanAdapter:
    """Adapter ``lean``: talks to the runner at ``base_url`` (None means unconfigured)."""

    name = "lean"

    def __init__(self, base_url: str | None, *, connect_timeout_s: float = 2.0,
                 read_timeout_s: float = 5.0, retry: RetryPolicy | None = None) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.retry = retry or RetryPolicy()
        self._session = timeout_session(self.timeout)

    @classmethod
    def from_env(cls, **kwargs: Any) -> LeanAdapter:
        """Configured from ``QGAP_LEAN_RUNNER_URL``; unset means every call is ``unconfigured``."""
        return cls(os.environ.get(LEAN_URL_ENV) or None, **kwargs)

    def __repr__(self) -> str:
        return f"LeanAdapter(base_url={self.base_url!r}, timeout={self.timeout!r})"

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "base_url": self.base_url,
                "connect_timeout_s": self.timeout[0], "read_timeout_s": self.timeout[1],
                "max_rate_limit_retries": self.retry.max_retries}

    # -- operations ------------------------------------------------------------------------------

    def submit(self, order: OrderRequest) -> AdapterResult:
        body = {"client_order_id": order.client_order_id, "symbol": order.symbol,
                "side": order.side, "qty": order.qty, "order_type": order.order_type,
                "limit_price": order.limit_price, "time_in_force": order.time_in_force}
        result = self._call("POST", "/v1/orders", order.client_order_id, json=body)
        if result.failure is Failure.NOT_FOUND:  # a 404 on submit is a refusal, not a lookup miss
            return AdapterResult(failure=Failure.REJECTED, http_status=result.http_status,
                                 http_calls=result.http_calls, message=result.message)
        return result

    def lookup(self, client_order_id: str) -> AdapterResult:
        return self._call("GET", f"/v1/orders/{quote(client_order_id, safe='')}", client_order_id)

    def cancel(self, client_order_id: str) -> AdapterResult:
        return self._call("DELETE", f"/v1/orders/{quote(client_order_id, safe='')}",
                          client_order_id)

    def health(self) -> bool:
        if self.base_url is None:
            return False
        try:
            response = self._session.get(f"{self.base_url}/v1/health")
            return response.status_code == 200 and response.json().get("status") == "ok"
        except (requests.RequestException, ValueError, AttributeError):
            return False

    # -- plumbing --------------------------------------------------------------------------------

    def _call(self, method: str, path: str, client_order_id: str,
              json: dict[str, Any] | None = None) -> AdapterResult:
        if self.base_url is None:
            return AdapterResult(failure=Failure.UNCONFIGURED,
                                 message=f"{LEAN_URL_ENV} is not set")
        url = f"{self.base_url}{path}"
        return self.retry.run(lambda: self._once(method, url, client_order_id, json))

    def _once(self, method: str, url: str, client_order_id: str,
              json: dict[str, Any] | None) -> AdapterResult:
        try:
            response = self._session.request(method, url, json=json)
        except requests.RequestException as exc:
            return AdapterResult(failure=failure_for_exception(exc), http_calls=1,
                                 message=f"{type(exc).__name__}: {exc}")
        status = response.status_code
        if status >= 400:
            failure = failure_for_status(status)
            details: dict[str, Any] = {}
            if failure is Failure.RATE_LIMITED:
                details["retry_after_s"] = retry_after_seconds(response.headers)
            return AdapterResult(failure=failure, http_status=status, http_calls=1,
                                 message=_error_message(response), details=details)
        try:
            order = parse_order(response.json(), client_order_id)
        except ValueError as exc:
            return AdapterResult(failure=Failure.MALFORMED, http_status=status, http_calls=1,
                                 message=str(exc))
        failure = Failure.REJECTED if order.status == "rejected" else None
        return AdapterResult(order=order, failure=failure, http_status=status, http_calls=1,
                             message=order.reason)


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if isinstance(body, dict):
        return f"HTTP {response.status_code}: {body.get('error')}: {body.get('message')}"
    return f"HTTP {response.status_code}: {str(body)[:200]}"


def _number(body: dict[str, Any], key: str, *, optional: bool = False) -> float | None:
    value = body.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"LEAN order field {key!r} must be a finite number, got {value!r}")
    return float(value)


def parse_order(body: Any, client_order_id: str) -> VenueOrder:
    """Validate a LEAN order document against the contract; ValueError names the field."""
    if not isinstance(body, dict):
        raise ValueError(f"LEAN order must be a JSON object, got {type(body).__name__}")
    if body.get("client_order_id") != client_order_id:
        raise ValueError(f"LEAN order field 'client_order_id' is {body.get('client_order_id')!r}, "
                         f"expected {client_order_id!r}")
    status = body.get("status")
    if status not in VENUE_STATUSES:
        raise ValueError(f"LEAN order field 'status' is {status!r}, expected one of "
                         f"{sorted(VENUE_STATUSES)}")
    lean_id = body.get("lean_order_id")
    return VenueOrder(client_order_id=client_order_id, status=status,
                      broker_order_id=None if lean_id is None else str(lean_id),
                      filled_qty=_number(body, "filled_qty") or 0.0,
                      filled_avg_price=_number(body, "filled_avg_price", optional=True),
                      venue_status=status, reason=body.get("reason"))
