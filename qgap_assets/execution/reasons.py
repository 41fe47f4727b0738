"""Every reason code the execution router writes, in one place.

Reason codes are the vocabulary of the audit trail and of the alerts, so they are constants
(never ad-hoc strings) and each has a one-line meaning. the README's "Execution" section lists them all; a
test checks that the document and this module agree.
"""

from __future__ import annotations

from enum import StrEnum


class Failure(StrEnum):
    """How one adapter call failed. The router prefixes the adapter name: ``lean_timeout``."""

    TIMEOUT = "timeout"
    CONNECTION_LOST = "connection_lost"
    HTTP_5XX = "http_5xx"
    MALFORMED = "malformed_response"
    REJECTED = "rejected"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    UNCONFIGURED = "unconfigured"
    NOT_FOUND = "not_found"


# The request may have reached the venue and been acted on: the router must ask the venue for the
# client order id before it does anything else with the order (never a double order).
AMBIGUOUS_FAILURES = frozenset({Failure.TIMEOUT, Failure.CONNECTION_LOST, Failure.HTTP_5XX,
                                Failure.MALFORMED})

# Failures that count towards a breaker's consecutive-failure trigger. A rejection is the venue
# working as designed (it has its own reject-rate trigger) and "unconfigured" is a setup fact.
BREAKER_FAILURES = frozenset({Failure.TIMEOUT, Failure.CONNECTION_LOST, Failure.HTTP_5XX,
                              Failure.MALFORMED, Failure.RATE_LIMITED, Failure.UNAVAILABLE})

FAILURE_MEANINGS: dict[Failure, str] = {
    Failure.TIMEOUT: "no answer within the read timeout (the request may have been acted on)",
    Failure.CONNECTION_LOST: "the connection dropped after the request was sent",
    Failure.HTTP_5XX: "the service answered with a 5xx status",
    Failure.MALFORMED: "the answer was not the JSON the contract specifies",
    Failure.REJECTED: "the venue refused the order (4xx or an order status of rejected)",
    Failure.RATE_LIMITED: "429 after the bounded retries (Retry-After honoured, capped)",
    Failure.UNAVAILABLE: "connection refused or connect timeout (nothing was sent)",
    Failure.UNCONFIGURED: "no URL / credentials configured for this adapter",
    Failure.NOT_FOUND: "the venue does not know the client order id (lookups only)",
}

ADAPTER_NAMES = ("lean", "alpaca", "simulated")

# What each adapter can actually report (the simulator has no network to fail).
ADAPTER_FAILURES: dict[str, tuple[Failure, ...]] = {
    "lean": tuple(f for f in Failure if f is not Failure.NOT_FOUND),
    "alpaca": tuple(f for f in Failure if f is not Failure.NOT_FOUND),
    "simulated": (Failure.REJECTED, Failure.UNCONFIGURED),
}


def adapter_reason(adapter: str, failure: Failure | str) -> str:
    """The ledgered reason code for an adapter failure, e.g. ``lean_http_5xx``."""
    return f"{adapter}_{Failure(failure).value}"


def halted_reason(adapter: str) -> str:
    """The adapter's circuit breaker is HALTED: the router does not call it at all."""
    return f"{adapter}_halted"


def reducing_reason(adapter: str) -> str:
    """The adapter's breaker is REDUCING and the order would add risk."""
    return f"{adapter}_reducing"


def status_unknown_reason(adapter: str) -> str:
    """The adapter failed ambiguously and then could not say whether it holds the order."""
    return f"{adapter}_status_unknown"


NO_ROUTE = "no_route"
CLIENT_ORDER_ID_CONFLICT = "client_order_id_conflict"
STRATEGY_HALTED = "strategy_halted"
STRATEGY_REDUCING = "strategy_reducing"
KILL_LEVELS = ("global", "account", "strategy", "symbol")


def kill_reason(level: str) -> str:
    """An active kill switch at ``level`` blocked (or cancelled) the order."""
    return f"kill_{level}"


ROUTER_MEANINGS: dict[str, str] = {
    NO_ROUTE: "the routing policy does not list the symbol; the order is refused",
    CLIENT_ORDER_ID_CONFLICT: "an order with this client order id but different content exists",
    STRATEGY_HALTED: "the strategy's circuit breaker is HALTED",
    STRATEGY_REDUCING: "the strategy's breaker is REDUCING and the order would add risk",
    **{kill_reason(level): f"the {level} kill switch is on" for level in KILL_LEVELS},
}


def all_reason_codes() -> dict[str, str]:
    """Every reason code with its meaning (the table in the README's "Execution" section)."""
    codes = dict(ROUTER_MEANINGS)
    for adapter in ADAPTER_NAMES:
        for failure in ADAPTER_FAILURES[adapter]:
            codes[adapter_reason(adapter, failure)] = f"{adapter}: {FAILURE_MEANINGS[failure]}"
        codes[halted_reason(adapter)] = f"{adapter}: its circuit breaker is HALTED"
        codes[reducing_reason(adapter)] = (f"{adapter}: its breaker is REDUCING and the order "
                                           "would add risk")
        if Failure.TIMEOUT in ADAPTER_FAILURES[adapter]:
            codes[status_unknown_reason(adapter)] = (
                f"{adapter}: failed ambiguously and could not confirm whether it holds the "
                "order; no fallback (it could double the order)")
    return codes


class Trigger(StrEnum):
    """Why a circuit breaker changed state (``execution_breaker_events.trigger``)."""

    CONSECUTIVE_FAILURES = "consecutive_failures"
    FALLBACK_RATE = "fallback_rate"
    REJECT_RATE = "reject_rate"
    DAILY_LOSS = "daily_loss"
    COOLDOWN = "cooldown"
    MANUAL_RESET = "manual_reset"
