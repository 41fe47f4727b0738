"""The promotion decision: a pure function of gate results and the policy.

Promote if and only if every required gate passed; otherwise deny with the failed gates' reason
codes in gate order (integrity gates first). No I/O here: the service around it ledgers every
attempt, granted or denied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qgap_assets.promotion.gates import REQUIRED, GateResult


@dataclass(frozen=True)
class Decision:
    decision: Literal["promote", "deny"]
    reasons: tuple[str, ...]


def decide(gates: tuple[GateResult, ...], required: frozenset[str] = REQUIRED) -> Decision:
    names = {g.name for g in gates}
    missing = sorted(required - names)
    reasons = [f"gate_missing:{m}" for m in missing]
    reasons += [g.reason_code or f"{g.name}_failed" for g in gates if g.name in required and not g.passed]
    return Decision("deny" if reasons else "promote", tuple(reasons))
