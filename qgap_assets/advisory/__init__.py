"""Bounded LLM advisory (Workstream E): a side input that may only ever reduce risk.

An advisor (the deterministic :class:`RuleBasedReviewer` offline, or an OpenAI-compatible
chat API) reads a candidate's evidence and answers with schema-checked :class:`Advice`.
:func:`apply_advice` decides what, if anything, that advice may change, by stage
(shadow -> paper_review -> paper_bounded -> live_advisory, climbed one approved step at a time),
and :class:`AdvisoryService` ledgers every call. Nothing here imports the promotion engine or the
router: they hand in plain values (evidence, intent, control state). See the README's "Advisory" section.
"""

from qgap_assets.advisory.backends import (Advisor, AdvisorError, AdvisorErrorCode,
                                           OpenAICompatibleAdvisor, Prompt, RawReply,
                                           RuleBasedReviewer, build_prompt, parse_advice)
from qgap_assets.advisory.models import (STAGE_ORDER, Advice, AdvisoryBounds, AppliedAdvice,
                                         CandidateEvidence, ControlState, GateResult, Lane,
                                         PaperRun, ReasonCode, Stage, StagePrerequisites,
                                         TradingIntent, Verdict)
from qgap_assets.advisory.policy import apply_advice
from qgap_assets.advisory.service import AdvisoryOutcome, AdvisoryService
from qgap_assets.advisory.stages import (ChallengeReview, StageTransition, StageTransitionRefused,
                                         TransitionCode, check_transition)
from qgap_assets.advisory.store import (current_stage, record_challenge_review,
                                        record_control_validation, stage_history, transition_stage)
from qgap_assets.advisory.validation import (ControlCriteria, ControlValidation, ValidationCode,
                                             evaluate_control_validation)

__all__ = [
    "STAGE_ORDER", "Advice", "Advisor", "AdvisorError", "AdvisorErrorCode", "AdvisoryBounds",
    "AdvisoryOutcome", "AdvisoryService", "AppliedAdvice", "CandidateEvidence", "ChallengeReview",
    "ControlCriteria", "ControlState", "ControlValidation", "GateResult", "Lane",
    "OpenAICompatibleAdvisor", "PaperRun", "Prompt", "RawReply", "ReasonCode", "RuleBasedReviewer",
    "Stage", "StagePrerequisites", "StageTransition", "StageTransitionRefused", "TradingIntent",
    "TransitionCode", "ValidationCode", "Verdict", "apply_advice", "build_prompt",
    "check_transition", "current_stage", "evaluate_control_validation", "parse_advice",
    "record_challenge_review", "record_control_validation", "stage_history", "transition_stage",
]
