"""What a strategy asks the router for, and the deterministic id that makes it idempotent."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from qgap_assets.errors import InputValidationError
from qgap_assets.execution.adapters.base import ORDER_TYPES, SIDES, TIMES_IN_FORCE, OrderRequest
from qgap_assets.ledger.hashing import canonical_json, sha256_hex

CLIENT_ORDER_ID_PREFIX = "qg-"


def client_order_id(strategy: str, candidate: str, run_id: str, symbol: str, sequence: int) -> str:
    """``qg-`` + 40 hex of sha256 over (strategy, candidate, run, symbol, sequence).

    Deterministic, so re-running a cycle asks for the same order again instead of a new one,
    and short enough for every venue (Alpaca allows 128 characters). The inputs are in the
    ``execution_orders`` row, so the id can always be explained.
    """
    key = canonical_json(["qgap-order-v1", strategy, candidate, run_id, symbol, int(sequence)])
    return CLIENT_ORDER_ID_PREFIX + sha256_hex(key)[:40]


@dataclass(frozen=True)
class OrderIntent:
    """One order a strategy wants, plus the position context the breakers need.

    ``position_qty`` (signed, current position in ``symbol`` for this strategy and account) is
    not part of the order's identity; it decides whether the order reduces risk, which is all a
    REDUCING breaker lets through.
    """

    strategy: str
    candidate: str
    run_id: str
    symbol: str
    sequence: int
    side: str
    qty: float
    order_type: str = "market"
    limit_price: float | None = None
    time_in_force: str = "day"
    account: str | None = None
    position_qty: float = 0.0

    def validate(self) -> None:
        """InputValidationError naming the field: a malformed intent is a caller bug."""
        for name in ("strategy", "candidate", "run_id", "symbol"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputValidationError(f"order intent: field {name!r} must be a non-empty "
                                           f"string, got {value!r}")
        if not isinstance(self.sequence, int) or self.sequence < 0:
            raise InputValidationError(f"order intent: field 'sequence' must be an int >= 0, "
                                       f"got {self.sequence!r}")
        if self.side not in SIDES:
            raise InputValidationError(f"order intent: field 'side' must be one of {SIDES}, "
                                       f"got {self.side!r}")
        if not isinstance(self.qty, (int, float)) or not self.qty > 0:
            raise InputValidationError(f"order intent: field 'qty' must be > 0, got {self.qty!r}")
        if self.order_type not in ORDER_TYPES:
            raise InputValidationError(f"order intent: field 'order_type' must be one of "
                                       f"{ORDER_TYPES}, got {self.order_type!r}")
        if (self.order_type == "limit") != (self.limit_price is not None):
            raise InputValidationError("order intent: field 'limit_price' is required for limit "
                                       "orders and forbidden for market orders")
        if self.limit_price is not None and not self.limit_price > 0:
            raise InputValidationError(f"order intent: field 'limit_price' must be > 0, got "
                                       f"{self.limit_price!r}")
        if self.time_in_force not in TIMES_IN_FORCE:
            raise InputValidationError(f"order intent: field 'time_in_force' must be one of "
                                       f"{TIMES_IN_FORCE}, got {self.time_in_force!r}")

    @property
    def client_order_id(self) -> str:
        return client_order_id(self.strategy, self.candidate, self.run_id, self.symbol,
                               self.sequence)

    @property
    def risk_reducing(self) -> bool:
        """True when the order only shrinks the existing position (never flips or grows it)."""
        if self.side == "sell":
            return self.position_qty > 0 and self.qty <= self.position_qty
        return self.position_qty < 0 and self.qty <= -self.position_qty

    def identity(self, account: str) -> dict[str, Any]:
        """The fields that define the order (hashed; a different order under the same id is a
        conflict). Position context is excluded on purpose."""
        fields = asdict(self)
        fields.pop("position_qty")
        fields["account"] = account
        fields["qty"] = float(self.qty)
        return fields

    def request(self) -> OrderRequest:
        return OrderRequest(client_order_id=self.client_order_id, symbol=self.symbol,
                            side=self.side, qty=float(self.qty), order_type=self.order_type,
                            limit_price=self.limit_price, time_in_force=self.time_in_force)
