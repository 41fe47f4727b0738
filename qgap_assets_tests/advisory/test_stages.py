"""Stage machine: one approved step up at a time, prerequisites, and the ledger that holds it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from qgap_assets.advisory import (STAGE_ORDER, ChallengeReview, PaperRun, Stage, StageTransition,
                                  StageTransitionRefused, TransitionCode, check_transition,
                                  current_stage, evaluate_control_validation,
                                  record_challenge_review, record_control_validation, stage_history,
                                  transition_stage)
from qgap_assets.advisory.stages import TransitionEvidence
from qgap_assets.errors import InputValidationError

GOOD_REVIEW = ChallengeReview(strategy="s", candidate_key="c1", reviewer="rita",
                              candidate_approvers=("alice", "bob"),
                              findings=("sizing is conservative",), outcome="cleared")
FULL = TransitionEvidence(control_validation_id="v1", control_validation_passed=True,
                          challenge_review_id="r1", challenge_review=GOOD_REVIEW)

requests_st = st.builds(
    StageTransition, strategy=st.just("s"), to_stage=st.sampled_from(STAGE_ORDER),
    approver=st.sampled_from(["alice", "", "  ", "rita", "Rita ", "carol"]),
    candidate_key=st.sampled_from([None, "c1"]))
evidence_st = st.sampled_from([
    TransitionEvidence(), FULL,
    TransitionEvidence(control_validation_id="v1", control_validation_passed=False),
    TransitionEvidence(control_validation_id="v1", control_validation_passed=True),
    FULL.model_copy(update={"challenge_review": GOOD_REVIEW.model_copy(
        update={"reviewer": "Alice"})}),
    FULL.model_copy(update={"challenge_review": GOOD_REVIEW.model_copy(update={"findings": ()})}),
    FULL.model_copy(update={"challenge_review": GOOD_REVIEW.model_copy(
        update={"outcome": "objection"})}),
])


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(requests_st, evidence_st), max_size=12))
def test_stages_can_never_be_skipped(steps: list[tuple[StageTransition, TransitionEvidence]]) -> None:
    current = Stage.SHADOW
    for request, evidence in steps:
        codes = check_transition(current, request, evidence)
        if codes:
            continue
        target = request.to_stage
        assert request.approver.strip()
        assert target != current
        assert target.rank < current.rank or target.rank == current.rank + 1
        if target.rank > current.rank and target in (Stage.PAPER_BOUNDED, Stage.LIVE_ADVISORY):
            assert evidence.control_validation_passed and request.candidate_key
        if target.rank > current.rank and target is Stage.LIVE_ADVISORY:
            review = evidence.challenge_review
            assert review is not None and review.findings and review.outcome == "cleared"
            names = {a.casefold() for a in review.candidate_approvers} | {
                request.approver.strip().casefold()}
            assert review.reviewer.strip().casefold() not in names
        current = target


@pytest.mark.parametrize("current, to, evidence, approver, expected", [
    (Stage.SHADOW, Stage.PAPER_BOUNDED, FULL, "alice", [TransitionCode.STAGE_SKIP_REFUSED]),
    (Stage.SHADOW, Stage.LIVE_ADVISORY, FULL, "alice", [TransitionCode.STAGE_SKIP_REFUSED]),
    (Stage.SHADOW, Stage.SHADOW, FULL, "alice", [TransitionCode.STAGE_UNCHANGED]),
    (Stage.SHADOW, Stage.PAPER_REVIEW, FULL, " ", [TransitionCode.APPROVER_MISSING]),
    (Stage.PAPER_REVIEW, Stage.PAPER_BOUNDED, TransitionEvidence(), "alice",
     [TransitionCode.CONTROL_VALIDATION_MISSING]),
    (Stage.PAPER_BOUNDED, Stage.LIVE_ADVISORY,
     TransitionEvidence(control_validation_id="v", control_validation_passed=True), "alice",
     [TransitionCode.CHALLENGE_REVIEW_MISSING]),
    (Stage.PAPER_BOUNDED, Stage.LIVE_ADVISORY, FULL, "Rita",
     [TransitionCode.CHALLENGE_REVIEWER_NOT_INDEPENDENT]),
    (Stage.LIVE_ADVISORY, Stage.SHADOW, TransitionEvidence(), "alice", []),
])
def test_transition_codes(current: Stage, to: Stage, evidence: TransitionEvidence, approver: str,
                          expected: list[TransitionCode]) -> None:
    request = StageTransition(strategy="s", to_stage=to, approver=approver, candidate_key="c1")
    assert check_transition(current, request, evidence) == expected


def _up(engine: Engine, to: Stage, approver: str = "alice") -> None:
    transition_stage(engine, StageTransition(strategy="s", to_stage=to, approver=approver,
                                             candidate_key="c1", reason="test"))


def test_ledgered_climb_needs_each_prerequisite_in_order(engine: Engine) -> None:
    assert current_stage(engine, "s") is Stage.SHADOW
    with pytest.raises(StageTransitionRefused, match="stage_skip_refused"):
        _up(engine, Stage.PAPER_BOUNDED)
    _up(engine, Stage.PAPER_REVIEW)
    with pytest.raises(StageTransitionRefused, match="control_validation_missing"):
        _up(engine, Stage.PAPER_BOUNDED)

    runs = [PaperRun(pnl=1.0, fills=5, errors=0)] * 3
    failed = evaluate_control_validation("s", "c1", runs[:2], runs)  # too few runs
    record_control_validation(engine, failed)
    with pytest.raises(StageTransitionRefused, match="control_validation_missing"):
        _up(engine, Stage.PAPER_BOUNDED)
    record_control_validation(engine, evaluate_control_validation("s", "c1", runs * 2, runs * 2))
    _up(engine, Stage.PAPER_BOUNDED)

    with pytest.raises(StageTransitionRefused, match="challenge_review_missing"):
        _up(engine, Stage.LIVE_ADVISORY)
    with pytest.raises(InputValidationError, match="challenge_reviewer_not_independent"):
        record_challenge_review(engine, GOOD_REVIEW.model_copy(update={"reviewer": "bob"}))
    with pytest.raises(InputValidationError, match="challenge_findings_empty"):
        record_challenge_review(engine, GOOD_REVIEW.model_copy(update={"findings": (" ",)}))
    record_challenge_review(engine, GOOD_REVIEW)
    with pytest.raises(StageTransitionRefused, match="challenge_reviewer_not_independent"):
        _up(engine, Stage.LIVE_ADVISORY, approver="rita")  # the reviewer cannot also approve
    _up(engine, Stage.LIVE_ADVISORY, approver="carol")
    assert current_stage(engine, "s") is Stage.LIVE_ADVISORY

    _up(engine, Stage.SHADOW, approver="carol")  # stepping down is always allowed
    history = stage_history(engine, "s")
    assert [(e.seq, e.from_stage, e.to_stage) for e in history] == [
        (1, Stage.SHADOW, Stage.PAPER_REVIEW), (2, Stage.PAPER_REVIEW, Stage.PAPER_BOUNDED),
        (3, Stage.PAPER_BOUNDED, Stage.LIVE_ADVISORY), (4, Stage.LIVE_ADVISORY, Stage.SHADOW)]
    assert history[2].prerequisites["challenge_review_id"]
    assert current_stage(engine, "s") is Stage.SHADOW
    assert current_stage(engine, "other") is Stage.SHADOW


def test_a_stale_writer_cannot_append_a_second_step(engine: Engine) -> None:
    """Two writers who read the same stage: the unique (strategy, seq) refuses the second."""
    from qgap_assets.advisory.records import advisory_stage_events
    _up(engine, Stage.PAPER_REVIEW)
    row = dict(event_id="x" * 32, strategy="s", seq=1, from_stage="shadow", to_stage="paper_review",
               candidate_key="c1", approver="eve", reason="", prerequisites_json="{}",
               created_at="2026-01-01T00:00:00+00:00")
    with pytest.raises(DBAPIError):
        with engine.begin() as conn:
            conn.execute(advisory_stage_events.insert().values(**row))
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text("UPDATE advisory_stage_events SET to_stage = 'live_advisory'"))
    assert current_stage(engine, "s") is Stage.PAPER_REVIEW
