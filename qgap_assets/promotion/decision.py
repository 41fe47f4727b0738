"""The promotion decision: a pure function of gate results and the policy.

Promote if and only if every required gate passed; otherwise deny with ordered reasons: the
failed gates in gate order (integrity gates first), each contributing every failing sub-check's
reason code. Data sufficiency, reproducibility, fold stability and risk are always required,
whatever ``required`` a caller passes. No I/O here: the service around it ledgers every attempt,
granted or denied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qgap_assets.promotion.gates import MANDATORY, REQUIRED, GateResult


@dataclass(frozen=True)
class Decision:
    decision: Literal["promote", "deny"]
    reasons: tuple[str, ...]


def gate_reasons(gate: GateResult) -> list[str]:
    """The reason codes a failed gate contributes (all failing sub-checks, in check order)."""
    codes = [str(c) for c in gate.details.get("reason_codes", []) or []]
    return codes or [gate.reason_code or f"{gate.name}_failed"]


def decide(gates: tuple[GateResult, ...], required: frozenset[str] = REQUIRED) -> Decision:
    required = frozenset(required) | MANDATORY
    names = {g.name for g in gates}
    reasons = [f"gate_missing:{m}" for m in sorted(required - names)]
    for g in gates:
        if g.name in required and not g.passed:
            reasons += [r for r in gate_reasons(g) if r not in reasons]
    return Decision("deny" if reasons else "promote", tuple(reasons))
