"""Whatever an advisor returns, no stage acts beyond its bounds (property tests, pure)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qgap_assets.advisory import (STAGE_ORDER, Advice, AdvisorError, AdvisoryBounds, ControlState,
                                  ReasonCode, Stage, StagePrerequisites, TradingIntent,
                                  apply_advice, parse_advice)
from qgap_assets.advisory.models import RECORD_ONLY_STAGES

SYMBOLS = ["AAPL", "MSFT", "SPY", "QQQ", "TSLA"]

adversarial_numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.sampled_from([50, 0, -1, 1, 0.0, 1.0, 1e-12, 0.999999, 1.000001, 1e308, -0.0]),
    st.integers(min_value=-100, max_value=100),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "0.5", None, True, [0.5], {"v": 1}]),
)
adjustment_payloads = st.one_of(
    st.fixed_dictionaries({"kind": st.just("position_scale"), "value": adversarial_numbers}),
    st.fixed_dictionaries({"kind": st.just("threshold"), "value": adversarial_numbers}),
    st.fixed_dictionaries({"kind": st.just("disable_symbol"),
                           "symbol": st.sampled_from(SYMBOLS + ["IBM", "", "aapl", "X" * 40])}),
    st.fixed_dictionaries({"kind": st.sampled_from(["enable_symbol", "leverage", "position_scale"]),
                           "value": adversarial_numbers, "symbol": st.sampled_from(SYMBOLS)}),
)
finite_numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-100, max_value=100),
    st.sampled_from([50, 0, -1, 1, 1e-12, 0.999999, 1.000001, 1e308, -0.0]))
# Well-formed advice with adversarial values: the schema accepts it, so the policy must bound it.
wellformed_payloads = st.builds(
    lambda verdict, scale, threshold, symbols: {
        "verdict": verdict, "rationale": "because",
        "adjustments": ([{"kind": "position_scale", "value": scale}] if scale is not None else [])
        + ([{"kind": "threshold", "value": threshold}] if threshold is not None else [])
        + [{"kind": "disable_symbol", "symbol": s} for s in symbols]},
    st.sampled_from(["endorse", "caution", "veto_recommendation"]),
    st.none() | finite_numbers, st.none() | finite_numbers,
    st.lists(st.sampled_from(SYMBOLS + ["IBM"]), max_size=5, unique=True))
adversarial_payloads = st.fixed_dictionaries(
    {"verdict": st.sampled_from(["endorse", "caution", "veto_recommendation", "approve", ""]),
     "rationale": st.text(max_size=40) | st.just("x" * 2001),
     "adjustments": st.lists(adjustment_payloads, max_size=6)},
    optional={"extra": st.just(1)})
advice_payloads = st.one_of(wellformed_payloads, adversarial_payloads)
intents = st.builds(
    TradingIntent,
    position_scale=st.floats(min_value=0, max_value=10, allow_nan=False),
    threshold=st.floats(min_value=0, max_value=10, allow_nan=False),
    enabled_symbols=st.lists(st.sampled_from(SYMBOLS), max_size=5, unique=True).map(tuple))
bounds_st = st.builds(AdvisoryBounds,
                      min_scale=st.floats(min_value=0, max_value=1),
                      max_threshold_multiplier=st.floats(min_value=1, max_value=5),
                      max_disabled_symbols=st.integers(min_value=0, max_value=3))
controls_st = st.builds(ControlState, halted=st.booleans(), reducing_only=st.booleans())
prereqs_st = st.builds(StagePrerequisites, control_validation_passed=st.booleans(),
                       challenge_review_recorded=st.booleans())


def may_act(stage: Stage, lane: str, controls: ControlState, pre: StagePrerequisites) -> bool:
    """The specification, written independently of the implementation's gate."""
    if controls.halted or not pre.control_validation_passed:
        return False
    if stage is Stage.PAPER_BOUNDED:
        return lane == "paper"
    if stage is Stage.LIVE_ADVISORY:
        return lane == "paper" or pre.challenge_review_recorded
    return False


def assert_within_bounds(before: TradingIntent, after: TradingIntent, bounds: AdvisoryBounds) -> None:
    assert before.position_scale * bounds.min_scale <= after.position_scale <= before.position_scale
    assert before.threshold <= after.threshold <= before.threshold * bounds.max_threshold_multiplier
    assert set(after.enabled_symbols) <= set(before.enabled_symbols)
    assert len(before.enabled_symbols) - len(after.enabled_symbols) <= bounds.max_disabled_symbols
    assert all(math.isfinite(x) for x in (after.position_scale, after.threshold))


@settings(max_examples=300, deadline=None)
@given(payload=advice_payloads, intent=intents, bounds=bounds_st, controls=controls_st,
       pre=prereqs_st)
def test_no_stage_acts_beyond_its_bounds(payload: dict, intent: TradingIntent,
                                         bounds: AdvisoryBounds, controls: ControlState,
                                         pre: StagePrerequisites) -> None:
    try:
        advice: Advice | None = parse_advice(json.dumps(payload))
    except AdvisorError:
        advice = None  # the schema refused it: the service passes through
    for stage in STAGE_ORDER:
        for lane in ("paper", "live"):
            result = apply_advice(stage, intent, advice, bounds, lane, controls, pre)
            if stage in RECORD_ONLY_STAGES or advice is None or not may_act(stage, lane, controls,
                                                                            pre):
                assert result.intent_after is intent  # bit-for-bit: the very same object
                assert not result.applied and not result.clamped
                if advice is not None:
                    assert len(result.refused) == len(advice.adjustments)
            else:
                assert_within_bounds(intent, result.intent_after, bounds)
                assert len(result.applied) + len(result.refused) == len(advice.adjustments)
            if result.counterfactual_intent is not None:
                assert stage in RECORD_ONLY_STAGES
                assert_within_bounds(intent, result.counterfactual_intent, bounds)


@settings(max_examples=200, deadline=None)
@given(payload=advice_payloads)
def test_schema_accepts_only_advice(payload: dict) -> None:
    """Out-of-schema answers are errors; what is accepted holds only finite numbers and known kinds."""
    try:
        advice = parse_advice(json.dumps(payload))
    except AdvisorError as exc:
        assert exc.code.value == "advisor_schema_invalid"
        return
    assert advice.verdict.value in {"endorse", "caution", "veto_recommendation"}
    for adj in advice.adjustments:
        assert adj.kind in {"position_scale", "threshold", "disable_symbol"}
        if adj.kind != "disable_symbol":
            assert isinstance(adj.value, float) and math.isfinite(adj.value)


BASE = TradingIntent(position_scale=1.0, threshold=2.0, enabled_symbols=("AAPL", "MSFT", "SPY"))
OK = StagePrerequisites(control_validation_passed=True, challenge_review_recorded=True)
BOUNDS = AdvisoryBounds(min_scale=0.5, max_threshold_multiplier=1.5, max_disabled_symbols=1)


def _advice(*adjustments: dict) -> Advice:
    return parse_advice(json.dumps({"verdict": "caution", "rationale": "r",
                                    "adjustments": list(adjustments)}))


@pytest.mark.parametrize("adjustment, expected", [
    ({"kind": "position_scale", "value": 50}, ReasonCode.RISK_INCREASING),
    ({"kind": "position_scale", "value": -0.5}, ReasonCode.VALUE_OUT_OF_DOMAIN),
    ({"kind": "threshold", "value": 0.5}, ReasonCode.RISK_INCREASING),
    ({"kind": "threshold", "value": 0}, ReasonCode.VALUE_OUT_OF_DOMAIN),
    ({"kind": "disable_symbol", "symbol": "TSLA"}, ReasonCode.SYMBOL_NOT_ENABLED),
])
def test_risk_increasing_or_nonsense_is_refused_with_code(adjustment: dict, expected: ReasonCode) -> None:
    r = apply_advice(Stage.PAPER_BOUNDED, BASE, _advice(adjustment), BOUNDS, "paper",
                     ControlState(), OK)
    assert r.intent_after is BASE and [x.reason_code for x in r.refused] == [expected]


def test_reductions_are_clamped_and_the_disable_count_capped() -> None:
    advice = _advice({"kind": "position_scale", "value": 0.01}, {"kind": "threshold", "value": 9},
                     {"kind": "disable_symbol", "symbol": "AAPL"},
                     {"kind": "disable_symbol", "symbol": "MSFT"})
    r = apply_advice(Stage.LIVE_ADVISORY, BASE, advice, BOUNDS, "live", ControlState(), OK)
    assert r.intent_after == TradingIntent(position_scale=0.5, threshold=3.0,
                                           enabled_symbols=("MSFT", "SPY"))
    assert [c.reason_code for c in r.clamped] == [ReasonCode.CLAMPED_TO_MIN_SCALE,
                                                  ReasonCode.CLAMPED_TO_MAX_THRESHOLD_MULTIPLIER]
    assert [x.reason_code for x in r.refused] == [ReasonCode.DISABLE_CAP_EXCEEDED]


@pytest.mark.parametrize("stage, lane, controls, pre, expected", [
    (Stage.SHADOW, "paper", ControlState(), OK, ReasonCode.STAGE_RECORD_ONLY),
    (Stage.PAPER_REVIEW, "paper", ControlState(), OK, ReasonCode.STAGE_RECORD_ONLY),
    (Stage.PAPER_BOUNDED, "live", ControlState(), OK, ReasonCode.LANE_NOT_PERMITTED),
    (Stage.PAPER_BOUNDED, "paper", ControlState(), StagePrerequisites(),
     ReasonCode.CONTROL_VALIDATION_MISSING),
    (Stage.LIVE_ADVISORY, "live", ControlState(),
     StagePrerequisites(control_validation_passed=True), ReasonCode.CHALLENGE_REVIEW_MISSING),
    (Stage.LIVE_ADVISORY, "live", ControlState(halted=True, reasons=("kill_switch",)), OK,
     ReasonCode.CONTROL_HALTED),
])
def test_stage_lane_and_controls_gate_everything(stage: Stage, lane: str, controls: ControlState,
                                                 pre: StagePrerequisites,
                                                 expected: ReasonCode) -> None:
    r = apply_advice(stage, BASE, _advice({"kind": "position_scale", "value": 0.7}), BOUNDS, lane,
                     controls, pre)
    assert r.intent_after is BASE
    assert [x.reason_code for x in r.refused] == [expected]
    # record-only stages still say what paper_bounded would have done (for control validation)
    if stage in RECORD_ONLY_STAGES:
        assert r.counterfactual_intent == BASE.model_copy(update={"position_scale": 0.7})
