"""Alerts on repeated fallbacks and failures, read from the execution ledger.

Plain functions so the Dagster sensor stays thin and the logic is testable without Dagster:
:func:`scan` looks at events after a cursor and raises an :class:`Alert` when at least ``k``
fallbacks (or ``k`` failed/unknown orders) fall inside the trailing window, and one for every
breaker escalation (towards REDUCING or HALTED). The cursor remembers the last event each alert
covered, so a burst alerts once, not on every sensor tick. :func:`post_webhook` delivers an
alert and never raises (an alerting path that can crash is worse than none).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from sqlalchemy import and_, select

from qgap_assets.execution.audit import FALLBACK, FINAL, Bind, iso, transaction
from qgap_assets.execution.reasons import Trigger
from qgap_assets.execution.records import execution_breaker_events, execution_order_events
from qgap_assets.ledger.hashing import sha256_hex

WEBHOOK_ENV = "QGAP_ALERT_WEBHOOK_URL"
KINDS = ("fallback", "failure", "breaker")
DE_ESCALATIONS = (Trigger.COOLDOWN.value, Trigger.MANUAL_RESET.value)


@dataclass(frozen=True)
class AlertConfig:
    """``k`` events within ``window_s`` seconds make an alert."""

    k: int = 3
    window_s: float = 900.0

    def __post_init__(self) -> None:
        if self.k < 1 or self.window_s <= 0:
            raise ValueError(f"alert config: need k >= 1 and window_s > 0, got {self}")


@dataclass(frozen=True)
class Alert:
    kind: str
    count: int
    window_s: float
    first_at: str
    last_at: str
    last_event_id: int
    reasons: dict[str, int]
    client_order_ids: list[str]
    message: str

    @property
    def key(self) -> str:
        """Stable id (Dagster run key): the same alert is never raised twice."""
        return f"execution-{self.kind}-{self.last_event_id}"

    def payload(self) -> dict[str, Any]:
        return {"source": "qgap.execution", **asdict(self)}


@dataclass
class AlertCursor:
    """Last event id already covered, per alert kind."""

    last_ids: dict[str, int] = field(default_factory=lambda: {k: 0 for k in KINDS})

    @classmethod
    def parse(cls, text: str | None) -> AlertCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls({k: int(data.get(k, 0)) for k in KINDS})

    def dumps(self) -> str:
        return json.dumps(self.last_ids, sort_keys=True)


def _order_alert(kind: str, rows: list[Any], config: AlertConfig) -> Alert | None:
    if len(rows) < config.k:
        return None
    reasons: dict[str, int] = {}
    for row in rows:
        code = row.fallback_reason if kind == "fallback" else row.reason_code
        reasons[code or "none"] = reasons.get(code or "none", 0) + 1
    what = "fallbacks LEAN -> Alpaca" if kind == "fallback" else "failed/unknown orders"
    strategies = sorted({row.strategy for row in rows})
    message = (f"qgap execution: {len(rows)} {what} within {config.window_s:g}s "
               f"(threshold {config.k}); reasons {reasons}; strategies {strategies}")
    return Alert(kind, len(rows), config.window_s, rows[0].created_at, rows[-1].created_at,
                 rows[-1].id, reasons, [row.client_order_id for row in rows], message)


def scan(bind: Bind, cursor: AlertCursor, config: AlertConfig, now: datetime
         ) -> tuple[list[Alert], AlertCursor]:
    """Alerts for events after ``cursor`` within the window ending at ``now``."""
    e, b = execution_order_events, execution_breaker_events
    since = iso(now - timedelta(seconds=config.window_s))
    alerts: list[Alert] = []
    new = AlertCursor(dict(cursor.last_ids))
    with transaction(bind) as conn:
        for kind, condition in (
                ("fallback", e.c.kind == FALLBACK),
                ("failure", and_(e.c.kind == FINAL, e.c.status.in_(("failed", "unknown"))))):
            rows = conn.execute(select(e).where(and_(condition, e.c.id > cursor.last_ids[kind],
                                                     e.c.created_at >= since))
                                .order_by(e.c.id)).all()
            alert = _order_alert(kind, rows, config)
            if alert is not None:
                alerts.append(alert)
                new.last_ids[kind] = alert.last_event_id
        trips = conn.execute(select(b).where(and_(b.c.id > cursor.last_ids["breaker"],
                                                  b.c.created_at >= since,
                                                  b.c.trigger.notin_(DE_ESCALATIONS)))
                             .order_by(b.c.id)).all()
    for row in trips:
        alerts.append(Alert(
            "breaker", 1, config.window_s, row.created_at, row.created_at, row.id,
            {row.trigger: 1}, [],
            f"qgap execution: {row.scope} breaker {row.scope_key!r} {row.from_state} -> "
            f"{row.to_state} ({row.trigger})"))
        new.last_ids["breaker"] = row.id
    return alerts, new


def post_webhook(url: str, alert: Alert, timeout_s: float = 5.0) -> str:
    """POST the alert as JSON; returns a short outcome (``"HTTP 200"``, ``"error: ..."``)."""
    body = alert.payload()
    headers = {"Content-Type": "application/json",
               "X-Qgap-Alert-Id": sha256_hex(alert.key)[:16]}
    try:
        response = requests.post(url, json=body, headers=headers, timeout=timeout_s)
    except requests.RequestException as exc:
        return f"error: {type(exc).__name__}"
    return f"HTTP {response.status_code}"
