"""A local Alpaca trading API (``/v2``) with the real REST shapes, for the real alpaca-py SDK.

Implements what the adapter uses: ``POST /v2/orders``, ``GET /v2/orders:by_client_order_id``,
``GET``/``DELETE /v2/orders/{id}`` and ``GET /v2/account``, with Alpaca's auth headers
(``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY``) checked, its error bodies
(``{"code": 40010001, "message": ...}``) and its order document. Per-symbol ``behavior``:
``fill`` (default), ``accept`` (open, unfilled), ``partial`` (half filled), ``reject`` (403
insufficient buying power). ``orders`` is the book: one entry per order actually placed.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from qgap_assets_tests.fakes import Recorded, Reply, ScriptedHTTPServer

OPEN = {"new", "accepted", "partially_filled", "pending_new"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def _error(status: int, code: int, message: str) -> Reply:
    return Reply(status, json={"code": code, "message": message})


class FakeAlpaca(ScriptedHTTPServer):
    def __init__(self, api_key: str = "PKTESTKEY0000000001", secret_key: str = "fake-secret",
                 fill_price: float = 101.25) -> None:
        super().__init__()
        self.api_key, self.secret_key, self.fill_price = api_key, secret_key, fill_price
        self.behavior: dict[str, str] = {}
        self.orders: dict[str, dict[str, Any]] = {}  # by Alpaca order id

    def by_client_order_id(self, coid: str) -> dict[str, Any] | None:
        return next((o for o in self.orders.values() if o["client_order_id"] == coid), None)

    def handle(self, request: Recorded) -> Reply:
        if (request.headers.get("APCA-API-KEY-ID") != self.api_key
                or request.headers.get("APCA-API-SECRET-KEY") != self.secret_key):
            return _error(401, 40110000, "request is not authorized")
        path, method = request.path, request.method
        if path == "/v2/account" and method == "GET":
            return Reply(json={"id": "0d969814-40d6-4b2b-99ac-2e37427f692f",
                               "account_number": "PA0000000001", "status": "ACTIVE",
                               "currency": "USD", "cash": "100000", "buying_power": "200000"})
        if path == "/v2/orders" and method == "POST":
            return self._submit(request.json())
        if path == "/v2/orders:by_client_order_id" and method == "GET":
            coid = (request.query.get("client_order_id") or [""])[0]
            order = self.by_client_order_id(coid)
            return Reply(json=order) if order else _error(404, 40410000, "order not found")
        if path.startswith("/v2/orders/"):
            order = self.orders.get(path.rsplit("/", 1)[1])
            if order is None:
                return _error(404, 40410000, "order not found")
            if method == "GET":
                return Reply(json=order)
            if method == "DELETE":
                if order["status"] not in OPEN:
                    return _error(422, 42210000, "order is not cancelable")
                order.update(status="canceled", canceled_at=_now(), updated_at=_now())
                return Reply(204)
        return _error(404, 40400000, "endpoint not found")

    def _submit(self, body: dict[str, Any]) -> Reply:
        coid = body.get("client_order_id") or str(uuid.uuid4())
        if self.by_client_order_id(coid) is not None:
            return _error(422, 40010001, "client_order_id must be unique")
        behavior = self.behavior.get(body["symbol"], "fill")
        if behavior == "reject":
            return _error(403, 40310000, "insufficient buying power")
        qty = float(body["qty"])
        filled = {"fill": qty, "accept": 0.0, "partial": qty / 2}[behavior]
        status = {"fill": "filled", "accept": "accepted", "partial": "partially_filled"}[behavior]
        now = _now()
        order = {
            "id": str(uuid.uuid4()), "client_order_id": coid, "created_at": now,
            "updated_at": now, "submitted_at": now, "filled_at": now if filled == qty else None,
            "expired_at": None, "canceled_at": None, "failed_at": None, "replaced_at": None,
            "replaced_by": None, "replaces": None,
            "asset_id": "b0b6dd9d-8b9b-48a9-ba46-b9d54906e415", "symbol": body["symbol"],
            "asset_class": "us_equity", "notional": None, "qty": str(body["qty"]),
            "filled_qty": str(filled),
            "filled_avg_price": str(self.fill_price) if filled else None,
            "order_class": "", "order_type": body["type"], "type": body["type"],
            "side": body["side"], "time_in_force": body["time_in_force"],
            "limit_price": None if body.get("limit_price") is None else str(body["limit_price"]),
            "stop_price": None, "status": status, "extended_hours": False, "legs": None,
            "trail_percent": None, "trail_price": None, "hwm": None,
            "position_intent": "buy_to_open" if body["side"] == "buy" else "sell_to_close",
        }
        self.orders[order["id"]] = order
        return Reply(json=order)
