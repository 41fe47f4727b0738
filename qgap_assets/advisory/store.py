"""Reading and appending the advisory ledger (stage events, validations, reviews, calls).

Every write is one INSERT into an append-only table; "current" always means "latest row".
Stage transitions read the current stage and the candidate's prerequisites and append the
event in one transaction, with ``seq = previous + 1`` under a unique ``(strategy, seq)``, so a
concurrent writer who read the same stage fails rather than slipping a second step in.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from qgap_assets.advisory.models import Stage, StagePrerequisites
from qgap_assets.advisory.records import (advisory_challenge_reviews, advisory_control_validations,
                                          advisory_stage_events)
from qgap_assets.advisory.stages import (ChallengeReview, StageTransition, StageTransitionRefused,
                                         TransitionCode, TransitionEvidence, check_transition)
from qgap_assets.advisory.validation import ControlValidation
from qgap_assets.errors import InputValidationError
from qgap_assets.ledger.hashing import canonical_json, utc_now_iso

INITIAL_STAGE = Stage.SHADOW


def new_id() -> str:
    return uuid.uuid4().hex


def dump(model: BaseModel | Any) -> str:
    """Canonical JSON of a model (or plain value), the form every JSON column holds."""
    if isinstance(model, BaseModel):
        model = model.model_dump(mode="json")
    return canonical_json(model)


class StageEvent(BaseModel):
    model_config = ConfigDict(frozen=True)
    event_id: str
    strategy: str
    seq: int
    from_stage: Stage
    to_stage: Stage
    candidate_key: str | None
    approver: str
    reason: str
    prerequisites: dict[str, Any]
    created_at: str


def _latest_event(conn: Connection, strategy: str) -> Any:
    t = advisory_stage_events
    return conn.execute(select(t).where(t.c.strategy == strategy)
                        .order_by(t.c.seq.desc()).limit(1)).first()


def current_stage(engine: Engine, strategy: str) -> Stage:
    """The strategy's stage: its latest stage event, or ``shadow`` when it has none."""
    with engine.connect() as conn:
        row = _latest_event(conn, strategy)
    return Stage(row.to_stage) if row else INITIAL_STAGE


def stage_history(engine: Engine, strategy: str) -> list[StageEvent]:
    t = advisory_stage_events
    with engine.connect() as conn:
        rows = conn.execute(select(t).where(t.c.strategy == strategy).order_by(t.c.seq)).all()
    return [StageEvent(**{**r._mapping, "prerequisites": json.loads(r.prerequisites_json)})
            for r in rows]


def _transition_evidence(conn: Connection, strategy: str,
                         candidate_key: str | None) -> TransitionEvidence:
    if not candidate_key:
        return TransitionEvidence()
    v, c = advisory_control_validations, advisory_challenge_reviews
    val = conn.execute(select(v.c.validation_id, v.c.passed)
                       .where(v.c.strategy == strategy, v.c.candidate_key == candidate_key)
                       .order_by(v.c.created_at.desc(), v.c.validation_id).limit(1)).first()
    rev = conn.execute(select(c).where(c.c.strategy == strategy, c.c.candidate_key == candidate_key)
                       .order_by(c.c.created_at.desc(), c.c.review_id).limit(1)).first()
    review = None
    if rev is not None:
        review = ChallengeReview(strategy=rev.strategy, candidate_key=rev.candidate_key,
                                 reviewer=rev.reviewer,
                                 candidate_approvers=tuple(json.loads(rev.candidate_approvers_json)),
                                 findings=tuple(json.loads(rev.findings_json)), outcome=rev.outcome)
    return TransitionEvidence(
        control_validation_id=val.validation_id if val else None,
        control_validation_passed=bool(val.passed) if val else False,
        challenge_review_id=rev.review_id if rev else None, challenge_review=review)


def prerequisites(engine: Engine, strategy: str, candidate_key: str) -> StagePrerequisites:
    """What :func:`apply_advice` may rely on for this candidate (latest validation and review)."""
    with engine.connect() as conn:
        ev = _transition_evidence(conn, strategy, candidate_key)
    return StagePrerequisites(
        control_validation_passed=bool(ev.control_validation_id and ev.control_validation_passed),
        challenge_review_recorded=bool(ev.challenge_review is not None
                                       and not ev.challenge_review.problems()))


def transition_stage(engine: Engine, request: StageTransition) -> StageEvent:
    """Append an approved stage change or raise :class:`StageTransitionRefused` (nothing written)."""
    with engine.begin() as conn:
        row = _latest_event(conn, request.strategy)
        current = Stage(row.to_stage) if row else INITIAL_STAGE
        evidence = _transition_evidence(conn, request.strategy, request.candidate_key)
        codes = check_transition(current, request, evidence)
        if codes:
            raise StageTransitionRefused(request.strategy, current, request.to_stage, codes)
        event = StageEvent(
            event_id=new_id(), strategy=request.strategy, seq=(row.seq + 1) if row else 1,
            from_stage=current, to_stage=request.to_stage, candidate_key=request.candidate_key,
            approver=request.approver.strip(), reason=request.reason,
            prerequisites={"control_validation_id": evidence.control_validation_id,
                           "challenge_review_id": evidence.challenge_review_id}
            if request.to_stage.rank > current.rank else {},
            created_at=utc_now_iso())
        try:
            conn.execute(advisory_stage_events.insert().values(
                **event.model_dump(mode="json", exclude={"prerequisites"}),
                prerequisites_json=canonical_json(event.prerequisites)))
        except IntegrityError:
            raise StageTransitionRefused(request.strategy, current, request.to_stage,
                                         [TransitionCode.CONCURRENT_TRANSITION]) from None
    return event


def record_control_validation(engine: Engine, validation: ControlValidation) -> str:
    """Ledger a control validation (passed or not); returns its id."""
    validation_id = new_id()
    with engine.begin() as conn:
        conn.execute(advisory_control_validations.insert().values(
            validation_id=validation_id, strategy=validation.strategy,
            candidate_key=validation.candidate_key, n_required=validation.criteria.min_runs,
            n_advised=len(validation.advised_runs), n_control=len(validation.control_runs),
            passed=validation.passed, reason_codes_json=dump(list(validation.reason_codes)),
            metrics_json=dump(validation.metrics), criteria_json=dump(validation.criteria),
            advised_runs_json=dump([r.model_dump(mode="json") for r in validation.advised_runs]),
            control_runs_json=dump([r.model_dump(mode="json") for r in validation.control_runs]),
            created_at=utc_now_iso()))
    return validation_id


def record_challenge_review(engine: Engine, review: ChallengeReview) -> str:
    """Ledger an independent challenge review; refuses (exit 2) one that is not independent
    or has no findings, since it could never count. An ``objection`` is recorded as such."""
    problems = [c for c in review.problems() if c is not TransitionCode.CHALLENGE_REVIEW_OBJECTION]
    if problems:
        raise InputValidationError(
            f"challenge review for candidate {review.candidate_key!r} by {review.reviewer!r} "
            f"refused: {', '.join(c.value for c in problems)} "
            f"(approvers: {', '.join(review.candidate_approvers) or 'none'})")
    review_id = new_id()
    with engine.begin() as conn:
        conn.execute(advisory_challenge_reviews.insert().values(
            review_id=review_id, strategy=review.strategy, candidate_key=review.candidate_key,
            reviewer=review.reviewer.strip(), candidate_approvers_json=dump(
                list(review.candidate_approvers)),
            findings_json=dump(list(review.findings)), outcome=review.outcome,
            created_at=utc_now_iso()))
    return review_id
