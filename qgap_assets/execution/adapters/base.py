"""The one interface every execution adapter implements, and the HTTP plumbing they share.

Adapters never raise for venue or network trouble: every call returns an :class:`AdapterResult`
whose ``failure`` says what went wrong in the shared vocabulary (:class:`Failure`). The router
turns that into ledgered reason codes and decides about fallback; keeping the adapters free of
routing decisions is what lets LEAN, Alpaca and the simulator be swapped per symbol.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any, Protocol, runtime_checkable

import requests
from urllib3.exceptions import NewConnectionError

from qgap_assets.execution.reasons import Failure

SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit")
TIMES_IN_FORCE = ("day", "gtc", "ioc", "fok", "opg", "cls")

# Normalized order statuses. "accepted" and "partially_filled" are open (can still fill or be
# cancelled); the other three are terminal.
OPEN_STATUSES = frozenset({"accepted", "partially_filled"})
VENUE_STATUSES = frozenset({"accepted", "partially_filled", "filled", "canceled", "rejected"})


@dataclass(frozen=True)
class OrderRequest:
    """What an adapter is asked to place. The client order id is the idempotency key."""

    client_order_id: str
    symbol: str
    side: str
    qty: float
    order_type: str = "market"
    limit_price: float | None = None
    time_in_force: str = "day"


@dataclass(frozen=True)
class VenueOrder:
    """An order as the venue reports it, normalized (``status`` is one of VENUE_STATUSES)."""

    client_order_id: str
    status: str
    broker_order_id: str | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    venue_status: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AdapterResult:
    """The outcome of one adapter operation: a venue order, or a failure.

    Both are set only for ``Failure.REJECTED`` when the venue answered with a rejected order.
    """

    order: VenueOrder | None = None
    failure: Failure | None = None
    http_status: int | None = None
    http_calls: int = 0
    message: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None and self.order is not None


@runtime_checkable
class ExecutionAdapter(Protocol):
    """One venue. ``name`` is one of ``lean``, ``alpaca``, ``simulated``."""

    name: str

    def submit(self, order: OrderRequest) -> AdapterResult:
        """Place ``order``. Submitting an id the venue already holds returns that order."""
        ...

    def lookup(self, client_order_id: str) -> AdapterResult:
        """The venue's view of the order, or ``Failure.NOT_FOUND``."""
        ...

    def cancel(self, client_order_id: str) -> AdapterResult:
        """Ask the venue to cancel the order; returns the order as it stands afterwards."""
        ...

    def health(self) -> bool:
        """True when the venue answers its health/account endpoint."""
        ...

    def describe(self) -> dict[str, Any]:
        """Non-secret settings for the ledger (never keys or secrets)."""
        ...


def failure_for_status(status: int) -> Failure:
    """Map an HTTP error status to the shared failure vocabulary."""
    if status == 429:
        return Failure.RATE_LIMITED
    if status >= 500:
        return Failure.HTTP_5XX
    if status == 404:
        return Failure.NOT_FOUND
    return Failure.REJECTED


def failure_for_exception(exc: requests.RequestException) -> Failure:
    """Classify a transport exception by whether the request can have reached the venue.

    A refused connection or a connect timeout sent nothing (safe to fall back); a read timeout
    or a connection dropped mid-exchange may have been acted on (the router must look first).
    """
    if isinstance(exc, requests.ConnectTimeout):
        return Failure.UNAVAILABLE
    if isinstance(exc, requests.Timeout):
        return Failure.TIMEOUT
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        if isinstance(reason, NewConnectionError):
            return Failure.UNAVAILABLE
        return Failure.CONNECTION_LOST
    return Failure.CONNECTION_LOST


def retry_after_seconds(headers: Mapping[str, str] | None, default: float | None = None
                        ) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), else ``default``."""
    value = (headers or {}).get("Retry-After")
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for 429 only: the one answer that guarantees nothing was acted on.

    ``max_retries`` extra calls at most, each after the server's Retry-After capped at
    ``max_wait_s`` (so a hostile or confused server cannot stall the cycle). ``sleep`` is
    injectable so tests can see the waits without spending them.
    """

    max_retries: int = 2
    default_wait_s: float = 0.5
    max_wait_s: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def run(self, call: Callable[[], AdapterResult]) -> AdapterResult:
        """Call until it is not rate limited or the retries are spent; count every HTTP call.

        A rate-limited result carries the server's hint in ``details["retry_after_s"]``.
        """
        calls = 0
        attempt = 0
        while True:
            result = call()
            calls += result.http_calls
            if result.failure is not Failure.RATE_LIMITED or attempt >= self.max_retries:
                return with_calls(result, calls)
            wait = result.details.get("retry_after_s")
            self.sleep(min(self.max_wait_s, self.default_wait_s if wait is None else wait))
            attempt += 1


def with_calls(result: AdapterResult, calls: int, **details: Any) -> AdapterResult:
    """``result`` with its HTTP call count replaced (and extra details merged)."""
    return AdapterResult(order=result.order, failure=result.failure,
                         http_status=result.http_status, http_calls=calls,
                         message=result.message, details={**result.details, **details})


class TimeoutHTTPAdapter(requests.adapters.HTTPAdapter):
    """A requests transport adapter that applies a default (connect, read) timeout.

    requests has no session-wide timeout and alpaca-py passes none, so without this a venue that
    accepts the connection and never answers would hang the cycle forever.
    """

    def __init__(self, timeout: tuple[float, float], **kwargs: Any) -> None:
        self._timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


def timeout_session(timeout: tuple[float, float], session: requests.Session | None = None
                    ) -> requests.Session:
    """Mount :class:`TimeoutHTTPAdapter` on ``session`` (a new one by default) for http/https."""
    session = session or requests.Session()
    adapter = TimeoutHTTPAdapter(timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def mask(value: str | None, keep: int = 4) -> str:
    """``****abcd``: enough to tell credentials apart in an audit row, never enough to use."""
    if not value:
        return ""
    return "****" + value[-keep:] if len(value) > keep * 2 else "****"
