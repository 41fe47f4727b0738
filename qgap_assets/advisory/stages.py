"""The stage machine: one approved step up at a time, any step down, prerequisites checked.

Pure rules (:func:`check_transition`) kept apart from the ledger (``store``) so that property
tests can throw arbitrary request sequences at them. The ledger re-runs exactly these rules
inside the transaction that appends the event.

Climbing is ``shadow -> paper_review -> paper_bounded -> live_advisory``, never skipping:
each stage produces the evidence the next one needs (paper_review's counterfactual intents
feed the control validation that paper_bounded requires; paper_bounded's applied advice is
what an independent challenge reviews before live_advisory). Stepping down to any lower stage
is always allowed (it only ever removes advice), but still needs a named approver.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qgap_assets.advisory.models import STAGE_ORDER, Stage
from qgap_assets.errors import QgapError

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class TransitionCode(StrEnum):
    """Why a stage transition was refused."""

    STAGE_UNCHANGED = "stage_unchanged"
    STAGE_SKIP_REFUSED = "stage_skip_refused"
    APPROVER_MISSING = "approver_missing"
    CANDIDATE_MISSING = "candidate_missing"
    CONTROL_VALIDATION_MISSING = "control_validation_missing"
    CHALLENGE_REVIEW_MISSING = "challenge_review_missing"
    CHALLENGE_REVIEWER_NOT_INDEPENDENT = "challenge_reviewer_not_independent"
    CHALLENGE_FINDINGS_EMPTY = "challenge_findings_empty"
    CHALLENGE_REVIEW_OBJECTION = "challenge_review_objection"
    CONCURRENT_TRANSITION = "concurrent_transition"


class StageTransitionRefused(QgapError):
    """A stage change broke a rule; ``codes`` says which (nothing was written)."""

    def __init__(self, strategy: str, current: Stage, to_stage: Stage,
                 codes: list[TransitionCode]) -> None:
        super().__init__(f"advisory stage transition {current.value} -> {to_stage.value} for "
                         f"strategy {strategy!r} refused: {', '.join(c.value for c in codes)}")
        self.codes = codes


def _person(name: str) -> str:
    return " ".join(name.split()).casefold()


class StageTransition(BaseModel):
    """A request to move one strategy's advisory stage (raising it names the candidate)."""

    model_config = _FROZEN
    strategy: str = Field(min_length=1, max_length=128)
    to_stage: Stage
    approver: str = Field(max_length=128)
    reason: str = ""
    candidate_key: str | None = Field(default=None, max_length=64)


class ChallengeReview(BaseModel):
    """An independent challenge of a candidate before live advisory.

    ``candidate_approvers`` are the people who approved the candidate's promotion (from the
    promotion engine); the reviewer must be none of them, so the same judgement is not counted
    twice, and must write down findings.
    """

    model_config = _FROZEN
    strategy: str = Field(min_length=1, max_length=128)
    candidate_key: str = Field(min_length=1, max_length=64)
    reviewer: str = Field(max_length=128)
    candidate_approvers: tuple[str, ...]
    findings: tuple[str, ...]
    outcome: Literal["cleared", "objection"]

    @field_validator("findings")
    @classmethod
    def _strip_findings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(f.strip() for f in value if f.strip())

    def problems(self, also_not: str | None = None) -> list[TransitionCode]:
        """What makes this review unusable as the live prerequisite (empty when usable)."""
        codes: list[TransitionCode] = []
        excluded = {_person(a) for a in self.candidate_approvers}
        if also_not:
            excluded.add(_person(also_not))
        if not _person(self.reviewer) or _person(self.reviewer) in excluded:
            codes.append(TransitionCode.CHALLENGE_REVIEWER_NOT_INDEPENDENT)
        if not any(f.strip() for f in self.findings):
            codes.append(TransitionCode.CHALLENGE_FINDINGS_EMPTY)
        if self.outcome != "cleared":
            codes.append(TransitionCode.CHALLENGE_REVIEW_OBJECTION)
        return codes


class TransitionEvidence(BaseModel):
    """What the ledger holds for the request's candidate when the transition is checked."""

    model_config = _FROZEN
    control_validation_id: str | None = None
    control_validation_passed: bool = False
    challenge_review_id: str | None = None
    challenge_review: ChallengeReview | None = None


def check_transition(current: Stage, request: StageTransition,
                     evidence: TransitionEvidence = TransitionEvidence()) -> list[TransitionCode]:
    """Every rule the request breaks (empty list: the transition may be appended)."""
    codes: list[TransitionCode] = []
    target = Stage(request.to_stage)
    if not request.approver.strip():
        codes.append(TransitionCode.APPROVER_MISSING)
    if target == current:
        codes.append(TransitionCode.STAGE_UNCHANGED)
        return codes
    if target.rank < current.rank:
        return codes  # stepping down only removes advice
    if target.rank != current.rank + 1:
        codes.append(TransitionCode.STAGE_SKIP_REFUSED)
        return codes
    if target in (Stage.PAPER_BOUNDED, Stage.LIVE_ADVISORY):
        if not request.candidate_key:
            codes.append(TransitionCode.CANDIDATE_MISSING)
        if not (evidence.control_validation_id and evidence.control_validation_passed):
            codes.append(TransitionCode.CONTROL_VALIDATION_MISSING)
    if target is Stage.LIVE_ADVISORY:
        review = evidence.challenge_review
        if review is None or not evidence.challenge_review_id:
            codes.append(TransitionCode.CHALLENGE_REVIEW_MISSING)
        else:
            codes.extend(review.problems(also_not=request.approver))
    return codes


def next_stage_up(stage: Stage) -> Stage | None:
    i = stage.rank
    return STAGE_ORDER[i + 1] if i + 1 < len(STAGE_ORDER) else None
