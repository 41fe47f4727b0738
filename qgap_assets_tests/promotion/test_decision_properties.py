"""Property: for any combination of gate outcomes, promote iff every required gate passed;
never without reproducibility, data sufficiency, fold stability and risk."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from qgap_assets.promotion.decision import decide
from qgap_assets.promotion.gates import GATE_ORDER, MANDATORY, GateResult


def _gate(name: str, passed: bool) -> GateResult:
    return GateResult(name, passed, 1.0, 1.0, None if passed else f"{name}_code", {})


outcomes = st.lists(st.booleans(), min_size=len(GATE_ORDER), max_size=len(GATE_ORDER))


@given(outcomes)
def test_promote_iff_every_required_gate_passed(passed: list[bool]) -> None:
    gates = tuple(_gate(n, p) for n, p in zip(GATE_ORDER, passed))
    d = decide(gates)
    assert (d.decision == "promote") == all(passed)
    # ordered reasons: the failed gates' codes in gate order
    assert list(d.reasons) == [f"{n}_code" for n, p in zip(GATE_ORDER, passed) if not p]


@given(outcomes, st.sets(st.sampled_from(GATE_ORDER)))
def test_mandatory_gates_cannot_be_waived(passed: list[bool], required: set[str]) -> None:
    gates = tuple(_gate(n, p) for n, p in zip(GATE_ORDER, passed))
    d = decide(gates, frozenset(required))
    ok = dict(zip(GATE_ORDER, passed))
    if d.decision == "promote":
        assert all(ok[n] for n in MANDATORY) and all(ok[n] for n in required)
    else:
        assert not all(ok[n] for n in MANDATORY | required)


@given(st.sets(st.sampled_from(GATE_ORDER), min_size=1))
def test_a_missing_required_gate_denies(missing: set[str]) -> None:
    gates = tuple(_gate(n, True) for n in GATE_ORDER if n not in missing)
    d = decide(gates)
    assert d.decision == "deny" and {f"gate_missing:{m}" for m in missing} <= set(d.reasons)


def test_multi_check_gate_contributes_every_failing_code() -> None:
    g = GateResult("risk", False, 0.1, 0.05, "drawdown_exceeds_maximum",
                   {"reason_codes": ["drawdown_exceeds_maximum", "turnover_exceeds_maximum"]})
    others = tuple(_gate(n, True) for n in GATE_ORDER if n != "risk")
    assert decide(others + (g,)).reasons == ("drawdown_exceeds_maximum", "turnover_exceeds_maximum")
