"""Tests for qgap_assets.promotion.lifecycle (pure state machine, approvals, ramp, canary)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qgap_assets.errors import InputValidationError
from qgap_assets.ledger.hashing import canonical_json
from qgap_assets.promotion.lifecycle import (
    CRITICAL_REGRESSIONS,
    RAMP_STAGES,
    TRANSITIONS,
    Approval,
    CanaryEnvelope,
    CanaryObservation,
    CanaryOutcome,
    CanaryRunVerdict,
    EventKind,
    Fill,
    LifecycleEvent,
    Reason,
    Regression,
    SimulatorExpectation,
    State,
    TransitionContext,
    apply_events,
    approvals_satisfied,
    canary_outcome,
    evaluate_canary_run,
    next_ramp_stage,
    record_approval,
    transition,
)

T0 = "2024-06-03T14:30:00.000000+00:00"

EXPECTED_EDGES = {
    ("candidate", "promote"): "paper_candidate",
    ("paper_candidate", "start_canary"): "paper",
    ("paper", "canary_passed"): "live_candidate",
    ("live_candidate", "go_live"): "live",
    ("live", "drop_back"): "paper",
    ("paper_candidate", "rollback"): "rolled_back",
    ("paper", "rollback"): "rolled_back",
    ("live_candidate", "rollback"): "rolled_back",
    ("live", "rollback"): "rolled_back",
    **{(s, "retire"): "retired" for s in ("candidate", "paper_candidate", "paper",
                                          "live_candidate", "live", "rolled_back")},
}


def clean_verdict(i: int = 0) -> CanaryRunVerdict:
    return CanaryRunVerdict(run_id=f"r{i}", clean=True, regressions=())


def verdict_with(*regs: Regression, i: int = 0) -> CanaryRunVerdict:
    return CanaryRunVerdict(run_id=f"r{i}", clean=False, regressions=tuple(regs))


def two_approvals() -> tuple[Approval, ...]:
    return (Approval("alice", T0), Approval("bob", T0))


FULL_EVIDENCE = TransitionContext(
    gates_passed=True,
    canary_verdicts=tuple(clean_verdict(i) for i in range(5)),
    approvals=two_approvals(),
    ramp_stage_index=0,
)


# ------------------------------------------------------------------ transition table


def test_transition_table_is_exactly_the_specified_edges() -> None:
    assert {(f.value, e.value): t.value for (f, e), t in TRANSITIONS.items()} == EXPECTED_EDGES


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("kind", list(EventKind))
def test_every_state_event_pair_is_allowed_or_refused_as_illegal(state: State,
                                                                 kind: EventKind) -> None:
    res = transition(state, kind, FULL_EVIDENCE)
    target = EXPECTED_EDGES.get((state.value, kind.value))
    if target is None:
        assert not res.ok
        assert res.reason_code == Reason.ILLEGAL_TRANSITION == "illegal_transition"
        assert res.new_state == state
        assert f"{state.value} -> " in res.detail and kind.value in res.detail
    else:
        assert res.ok and res.reason_code == Reason.OK
        assert res.new_state == target


def test_illegal_transition_names_from_and_to() -> None:
    res = transition("candidate", "go_live", FULL_EVIDENCE)
    assert res.detail == "illegal_transition: candidate -> live (event go_live) is not allowed"
    assert transition("retired", "retire").reason_code == Reason.ILLEGAL_TRANSITION


def test_happy_path_from_candidate_to_live_and_drop_back() -> None:
    ev = [LifecycleEvent(k, "cand-1", "ops", T0) for k in (
        EventKind.PROMOTE, EventKind.START_CANARY, EventKind.CANARY_PASSED, EventKind.GO_LIVE,
        EventKind.DROP_BACK, EventKind.ROLLBACK, EventKind.RETIRE)]
    state, results = apply_events((e, FULL_EVIDENCE) for e in ev)
    assert [r.new_state.value for r in results] == [
        "paper_candidate", "paper", "live_candidate", "live", "paper", "rolled_back", "retired"]
    assert state == State.RETIRED and all(r.ok for r in results)


def test_guards_refuse_without_evidence_and_leave_state_unchanged() -> None:
    empty = TransitionContext()
    cases = [
        ("candidate", "promote", Reason.GATES_NOT_PASSED),
        ("paper", "canary_passed", Reason.CANARY_NOT_PASSED),
        ("live_candidate", "go_live", Reason.INSUFFICIENT_APPROVALS),
    ]
    for state, kind, reason in cases:
        res = transition(state, kind, empty)
        assert (res.ok, res.new_state.value, res.reason_code) == (False, state, reason)
    # Same person twice (records built by hand, bypassing record_approval) is one approver.
    same_twice = TransitionContext(approvals=(Approval("alice", T0), Approval(" Alice", T0)),
                                   ramp_stage_index=0)
    assert transition("live_candidate", "go_live", same_twice).reason_code == \
        Reason.INSUFFICIENT_APPROVALS
    wrong_ramp = dataclasses.replace(FULL_EVIDENCE, ramp_stage_index=2)
    assert transition("live_candidate", "go_live", wrong_ramp).reason_code == \
        Reason.RAMP_NOT_AT_FIRST_STAGE
    no_ramp = dataclasses.replace(FULL_EVIDENCE, ramp_stage_index=None)
    assert transition("live_candidate", "go_live", no_ramp).reason_code == \
        Reason.RAMP_NOT_AT_FIRST_STAGE
    # A canary with a critical regression cannot be passed even with 5 clean runs after it.
    bad_canary = dataclasses.replace(FULL_EVIDENCE, canary_verdicts=(
        verdict_with(Regression.DRAWDOWN_BREACH),) + tuple(clean_verdict(i) for i in range(5)))
    assert transition("paper", "canary_passed", bad_canary).reason_code == \
        Reason.CANARY_NOT_PASSED


def test_unknown_names_raise_input_validation_error() -> None:
    with pytest.raises(InputValidationError, match="current_state"):
        transition("limbo", "promote")
    with pytest.raises(InputValidationError, match="event"):
        transition("candidate", "teleport")
    with pytest.raises(InputValidationError, match="kind"):
        LifecycleEvent("teleport", "c", "ops", T0)  # type: ignore[arg-type]


def test_records_serialize_canonically_for_the_ledger() -> None:
    event = LifecycleEvent(EventKind.PROMOTE, "cand-1", "ops", T0, "gates green")
    res = transition("candidate", event, FULL_EVIDENCE)
    text = canonical_json({"event": dataclasses.asdict(event), "result": dataclasses.asdict(res),
                           "context": dataclasses.asdict(FULL_EVIDENCE)})
    assert '"kind":"promote"' in text and '"new_state":"paper_candidate"' in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.ok = False  # type: ignore[misc]


# ------------------------------------------------------------------ hypothesis: safety


approver_names = st.sampled_from(["alice", "Alice ", "bob", "carol", ""])
approvals_st = st.lists(approver_names.map(lambda n: Approval(n, T0)), max_size=3).map(tuple)
verdicts_st = st.lists(
    st.sampled_from([clean_verdict(), verdict_with(Regression.FILL_RATE_COLLAPSE),
                     verdict_with(Regression.PAPER_BACKTEST_MISMATCH)]),
    max_size=7).map(tuple)
# Each piece of evidence is either the passing value or a random (often failing) one, and a step
# is either a random event or None = "the next event on the promotion path from wherever we are",
# so sequences do reach live_candidate and live (a uniform random walk over all events almost
# never gets there, which would leave the safety property vacuous).
contexts_st = st.builds(
    TransitionContext,
    gates_passed=st.booleans(),
    canary_verdicts=st.one_of(st.just(FULL_EVIDENCE.canary_verdicts), verdicts_st),
    canary_runs_required=st.integers(1, 6),
    approvals=st.one_of(st.just(two_approvals()), approvals_st),
    ramp_stage_index=st.one_of(st.just(0), st.none(), st.integers(0, len(RAMP_STAGES) - 1)),
)
NEXT_ON_PATH = {State.CANDIDATE: EventKind.PROMOTE, State.PAPER_CANDIDATE: EventKind.START_CANARY,
                State.PAPER: EventKind.CANARY_PASSED, State.LIVE_CANDIDATE: EventKind.GO_LIVE,
                State.LIVE: EventKind.DROP_BACK}
steps_st = st.lists(st.tuples(st.one_of(st.none(), st.sampled_from(list(EventKind))),
                              contexts_st), max_size=40)


@settings(max_examples=300, deadline=None)
@given(steps_st, st.sampled_from(list(State)))
def test_no_event_sequence_reaches_live_without_paper_and_two_distinct_approvals(
    steps: list[tuple[EventKind | None, TransitionContext]], start: State
) -> None:
    state = start
    visited_paper = start in (State.PAPER, State.LIVE_CANDIDATE, State.LIVE)
    for maybe_kind, ctx in steps:
        kind = maybe_kind if maybe_kind is not None else NEXT_ON_PATH.get(state, EventKind.RETIRE)
        res = transition(state, kind, ctx)
        if not res.ok:
            # Illegal or guarded transitions never change state.
            assert res.new_state == state
        else:
            assert (state, kind) in TRANSITIONS and TRANSITIONS[(state, kind)] == res.new_state
            if res.new_state == State.LIVE and state != State.LIVE:
                assert state == State.LIVE_CANDIDATE
                assert visited_paper
                people = {a.approver.strip().casefold() for a in ctx.approvals} - {""}
                assert len(people) >= 2
                assert ctx.ramp_stage_index == 0
            if res.new_state == State.LIVE_CANDIDATE:
                assert state == State.PAPER
                assert not any(v.critical for v in ctx.canary_verdicts)
        state = res.new_state
        if state == State.PAPER:
            visited_paper = True
        if state == State.RETIRED:
            assert all(not transition(state, k, ctx).ok for k in EventKind)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(State)), st.sampled_from(list(EventKind)), contexts_st)
def test_refused_transitions_never_change_state(state: State, kind: EventKind,
                                                ctx: TransitionContext) -> None:
    res = transition(state, kind, ctx)
    assert res.from_state == state
    if not res.ok:
        assert res.new_state == state and res.reason_code != Reason.OK


# ------------------------------------------------------------------ approvals


def test_record_approval_refuses_the_same_approver_twice() -> None:
    first = record_approval((), "alice", at=T0)
    assert first.ok and [a.approver for a in first.approvals] == ["alice"]
    again = record_approval(first.approvals, " ALICE ", at=T0)
    assert not again.ok and again.reason_code == Reason.DUPLICATE_APPROVER == "duplicate_approver"
    assert again.approvals == first.approvals
    second = record_approval(first.approvals, "bob", at=T0, note="looked at the canary")
    assert second.ok and approvals_satisfied(second.approvals)
    assert not approvals_satisfied(first.approvals)
    assert record_approval((), "  ").reason_code == Reason.EMPTY_APPROVER
    stamped = record_approval((), "carol").approvals[0].approved_at
    assert stamped.endswith("+00:00")


@given(st.lists(approver_names, max_size=8))
def test_approvals_count_distinct_people(names: list[str]) -> None:
    approvals: tuple[Approval, ...] = ()
    for n in names:
        approvals = record_approval(approvals, n, at=T0).approvals
    keys = [a.approver.casefold() for a in approvals]
    assert len(keys) == len(set(keys))
    assert approvals_satisfied(approvals) == (len({n.strip().casefold() for n in names} - {""})
                                              >= 2)


# ------------------------------------------------------------------ ramp


def test_ramp_advances_one_stage_at_a_time() -> None:
    assert RAMP_STAGES == (0.10, 0.25, 0.50, 1.00)
    pending = next_ramp_stage(0, 2, runs_required=3)
    assert (pending.stage_index, pending.capital_fraction, pending.advanced,
            pending.reason_code) == (0, 0.10, False, Reason.RAMP_RUNS_PENDING)
    step = next_ramp_stage(0, 3, runs_required=3)
    assert (step.stage_index, step.capital_fraction, step.advanced) == (1, 0.25, True)
    assert next_ramp_stage(2, 10, runs_required=3).capital_fraction == 1.00
    top = next_ramp_stage(3, 99)
    assert (top.stage_index, top.advanced, top.reason_code) == (3, False,
                                                                Reason.RAMP_AT_FULL_CAPITAL)
    with pytest.raises(InputValidationError, match="current_stage_index"):
        next_ramp_stage(4, 0)
    with pytest.raises(InputValidationError, match="runs_required"):
        next_ramp_stage(0, 0, runs_required=0)


# ------------------------------------------------------------------ canary evaluation


ENVELOPE = CanaryEnvelope(max_drawdown=0.05, min_fill_rate=0.8, max_error_rate=0.02,
                          expected_pnl_per_run=100.0, pnl_sigma_per_run=50.0, alpha=0.05)
FILLS = (Fill("o1", 10.0, 101.25), Fill("o2", -5.0, 99.5))


def observation(**over: object) -> CanaryObservation:
    base: dict[str, object] = dict(run_id="run-1", fills=FILLS, pnl=120.0, max_drawdown=0.01,
                                   orders_submitted=10, orders_filled=10, requests=100, errors=0)
    base.update(over)
    return CanaryObservation(**base)  # type: ignore[arg-type]


SIM = SimulatorExpectation(fills=FILLS, pnl=120.0)


def test_clean_run_is_clean() -> None:
    v = evaluate_canary_run(observation(), SIM, ENVELOPE)
    assert v.clean and v.regressions == () and not v.critical
    assert math.isfinite(v.pnl_upper_bound)


def test_partial_fills_aggregate_per_order() -> None:
    split = (Fill("o1", 4.0, 101.25), Fill("o1", 6.0, 101.25), Fill("o2", -5.0, 99.5))
    assert evaluate_canary_run(observation(fills=split), SIM, ENVELOPE).clean


@pytest.mark.parametrize(
    ("over", "expected_regression", "detail_fragment"),
    [
        ({"pnl": 120.0 + 2e-6}, Regression.PAPER_BACKTEST_MISMATCH, "pnl"),
        ({"fills": (Fill("o1", 10.0, 101.25 + 1e-5), FILLS[1])},
         Regression.PAPER_BACKTEST_MISMATCH, "average price"),
        ({"fills": (Fill("o1", 9.0, 101.25), FILLS[1])}, Regression.PAPER_BACKTEST_MISMATCH,
         "quantity"),
        ({"fills": FILLS[:1]}, Regression.PAPER_BACKTEST_MISMATCH, "not in paper"),
        ({"max_drawdown": 0.0501}, Regression.DRAWDOWN_BREACH, "max_drawdown 0.0501"),
        ({"orders_filled": 7}, Regression.FILL_RATE_COLLAPSE, "7/10"),
        ({"errors": 3}, Regression.ERROR_RATE_EXCEEDED, "3/100"),
    ],
)
def test_each_rule_fires_with_its_reason_code(over: dict[str, object],
                                              expected_regression: Regression,
                                              detail_fragment: str) -> None:
    v = evaluate_canary_run(observation(**over), SIM, ENVELOPE)
    assert not v.clean
    assert v.regressions == (expected_regression,)
    assert any(detail_fragment in d and d.startswith(expected_regression.value)
               for d in v.details)
    assert v.critical == (expected_regression in CRITICAL_REGRESSIONS)


def test_mismatch_within_tolerance_is_clean() -> None:
    v = evaluate_canary_run(observation(pnl=120.0 + 5e-7), SimulatorExpectation(FILLS, 120.0),
                            ENVELOPE)
    assert v.clean


def test_pnl_below_confidence_bound_needs_statistical_evidence() -> None:
    # Hand check: after 1 run at pnl 0 (expected 100, sigma 50) the anytime-valid upper bound is
    # 0 + u(2500)/1 which is far above 100 -> no alarm from one bad run.
    one = evaluate_canary_run(observation(pnl=0.0), SimulatorExpectation(FILLS, 0.0), ENVELOPE)
    assert one.clean and one.pnl_upper_bound > 100.0
    # 30 runs averaging 0 when 100 was expected: the bound falls below 100 -> critical.
    history = [0.0] * 29
    many = evaluate_canary_run(observation(pnl=0.0), SimulatorExpectation(FILLS, 0.0), ENVELOPE,
                               previous_run_pnls=history)
    assert many.regressions == (Regression.PNL_BELOW_CONFIDENCE_BOUND,) and many.critical
    assert many.pnl_upper_bound < 100.0


def test_pnl_rule_false_alarm_rate_is_controlled_when_checked_every_run() -> None:
    # Paper PnL really has the backtest's mean: checking after each of 60 runs must fire in at
    # most alpha of canaries (Monte Carlo, seeded).
    rng = np.random.default_rng(99)
    reps, runs = 300, 60
    fired = 0
    for _ in range(reps):
        pnls = rng.normal(ENVELOPE.expected_pnl_per_run, ENVELOPE.pnl_sigma_per_run, size=runs)
        for k in range(runs):
            v = evaluate_canary_run(observation(pnl=float(pnls[k])),
                                    SimulatorExpectation(FILLS, float(pnls[k])), ENVELOPE,
                                    previous_run_pnls=pnls[:k].tolist())
            if Regression.PNL_BELOW_CONFIDENCE_BOUND in v.regressions:
                fired += 1
                break
    assert fired / reps <= ENVELOPE.alpha + 3 * math.sqrt(0.05 * 0.95 / reps)


def test_observation_and_envelope_validate_inputs() -> None:
    with pytest.raises(InputValidationError, match="orders_filled"):
        observation(orders_filled=11)
    with pytest.raises(InputValidationError, match="errors"):
        observation(errors=101)
    with pytest.raises(InputValidationError, match="max_drawdown"):
        observation(max_drawdown=-0.1)
    with pytest.raises(InputValidationError, match="pnl"):
        observation(pnl=float("nan"))
    with pytest.raises(InputValidationError, match="pnl_sigma_per_run"):
        dataclasses.replace(ENVELOPE, pnl_sigma_per_run=0.0)
    assert observation(orders_submitted=0, orders_filled=0).fill_rate == 1.0
    assert observation(requests=0, errors=0).error_rate == 0.0


# ------------------------------------------------------------------ canary outcome


def test_canary_outcome_rules() -> None:
    clean5 = [clean_verdict(i) for i in range(5)]
    assert canary_outcome(clean5[:4]) == CanaryOutcome.CONTINUE == "continue"
    assert canary_outcome(clean5) == CanaryOutcome.PROMOTE_LIVE_CANDIDATE
    # A degraded (non-critical) run restarts the consecutive count.
    degraded = verdict_with(Regression.ERROR_RATE_EXCEEDED)
    assert canary_outcome(clean5[:4] + [degraded]) == CanaryOutcome.CONTINUE
    assert canary_outcome(clean5[:4] + [degraded] + clean5) == \
        CanaryOutcome.PROMOTE_LIVE_CANDIDATE
    # Too many degraded runs, or any critical regression -> rollback.
    assert canary_outcome([degraded] * 4) == CanaryOutcome.ROLLBACK
    assert canary_outcome([degraded] * 3) == CanaryOutcome.CONTINUE
    for reg in CRITICAL_REGRESSIONS:
        assert canary_outcome(clean5 + [verdict_with(reg)]) == CanaryOutcome.ROLLBACK == \
            "rollback"
    assert canary_outcome([clean_verdict()] * 3, n_required=3) == \
        CanaryOutcome.PROMOTE_LIVE_CANDIDATE
    with pytest.raises(InputValidationError, match="n_required"):
        canary_outcome(clean5, n_required=0)
