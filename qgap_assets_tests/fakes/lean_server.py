"""A local LEAN runner speaking the contract in the README's "Execution" section (``/v1``).

``POST /v1/orders`` (idempotent per client order id: the same order again returns the existing
one, 200; a different order under the id, or an id a lookup already answered 404 for, is 409),
``GET``/``DELETE /v1/orders/{client_order_id}``, ``GET /v1/health``. Per-symbol ``behavior``:
``fill`` (default), ``accept``, ``partial``, ``reject`` (422), ``rejected_status`` (201 with an
order whose status is ``rejected``). ``orders`` is the book of orders actually placed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from qgap_assets_tests.fakes import Recorded, Reply, ScriptedHTTPServer

REQUIRED = ("client_order_id", "symbol", "side", "qty", "order_type", "time_in_force")
_KEYS = REQUIRED + ("limit_price",)


class FakeLean(ScriptedHTTPServer):
    def __init__(self, fill_price: float = 100.5) -> None:
        super().__init__()
        self.fill_price = fill_price
        self.behavior: dict[str, str] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.requests_by_id: dict[str, dict[str, Any]] = {}
        self.tombstones: set[str] = set()

    def handle(self, request: Recorded) -> Reply:
        if request.path == "/v1/health" and request.method == "GET":
            return Reply(json={"status": "ok"})
        if request.path == "/v1/orders" and request.method == "POST":
            return self._submit(request.json())
        if request.path.startswith("/v1/orders/"):
            coid = unquote(request.path.rsplit("/", 1)[1])
            order = self.orders.get(coid)
            if order is None:
                self.tombstones.add(coid)  # contract: a 404 forbids that id forever
                return Reply(404, json={"error": "not_found", "message": coid})
            if request.method == "DELETE" and order["status"] in ("accepted", "partially_filled"):
                order["status"] = "canceled"
            return Reply(json=order)
        return Reply(404, json={"error": "no_such_endpoint", "message": request.path})

    def _submit(self, body: Any) -> Reply:
        if not isinstance(body, dict) or any(k not in body for k in REQUIRED):
            return Reply(400, json={"error": "bad_request", "message": f"need {REQUIRED}"})
        coid = body["client_order_id"]
        if coid in self.tombstones:
            return Reply(409, json={"error": "client_order_id_tombstoned", "message": coid})
        if coid in self.orders:
            if self.requests_by_id[coid] != {k: body.get(k) for k in _KEYS}:
                return Reply(409, json={"error": "client_order_id_conflict", "message": coid})
            return Reply(200, json=self.orders[coid])
        behavior = self.behavior.get(body["symbol"], "fill")
        if behavior == "reject":
            return Reply(422, json={"error": "rejected", "message": "risk limit exceeded"})
        qty = float(body["qty"])
        status, filled = {"fill": ("filled", qty), "accept": ("accepted", 0.0),
                          "partial": ("partially_filled", qty / 2),
                          "rejected_status": ("rejected", 0.0)}[behavior]
        order = {"client_order_id": coid, "lean_order_id": str(len(self.orders) + 1),
                 "symbol": body["symbol"], "side": body["side"], "qty": qty, "status": status,
                 "filled_qty": filled, "filled_avg_price": self.fill_price if filled else None,
                 "reason": "risk limit exceeded" if status == "rejected" else None}
        self.orders[coid] = order
        self.requests_by_id[coid] = {k: body.get(k) for k in _KEYS}
        return Reply(201, json=order)
