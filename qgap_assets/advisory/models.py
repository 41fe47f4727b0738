"""Plain values the advisory core consumes and produces.

The advisor sits beside the promotion engine and the execution router, which are built
independently; so everything here is a frozen pydantic model of plain values (no engine, no
router object), and the only thing that can change what a lane does is :func:`~qgap_assets.
advisory.policy.apply_advice`, which reads these values and nothing else.

``Advice`` is the schema an advisor's answer must satisfy *exactly* (``extra='forbid'``, strict
finite floats, a closed set of adjustment kinds): anything else is an advisor error, never a
best-effort guess at what a model meant.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_FROZEN = ConfigDict(frozen=True, extra="forbid")

StrictFinite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
"""A JSON number that is finite; strings such as ``"0.5"`` or ``"NaN"`` and booleans are refused."""

Symbol = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9./\-]{0,15}$")]  # SPY, BRK.B, BTC/USD
MAX_RATIONALE_CHARS = 2000
MAX_ADJUSTMENTS = 16


class Stage(StrEnum):
    """The four advisory stages, in the only order they may be climbed (one step at a time)."""

    SHADOW = "shadow"
    PAPER_REVIEW = "paper_review"
    PAPER_BOUNDED = "paper_bounded"
    LIVE_ADVISORY = "live_advisory"

    @property
    def rank(self) -> int:
        return STAGE_ORDER.index(self)


STAGE_ORDER: tuple[Stage, ...] = (Stage.SHADOW, Stage.PAPER_REVIEW, Stage.PAPER_BOUNDED,
                                  Stage.LIVE_ADVISORY)
RECORD_ONLY_STAGES = frozenset({Stage.SHADOW, Stage.PAPER_REVIEW})
"""Stages whose advice is recorded (and, in paper_review, attached to paper runs) but never applied."""

Lane = Literal["paper", "live"]


class Verdict(StrEnum):
    ENDORSE = "endorse"
    CAUTION = "caution"
    VETO_RECOMMENDATION = "veto_recommendation"


class ReasonCode(StrEnum):
    """Why an adjustment was refused or clamped (recorded per adjustment in the ledger)."""

    STAGE_RECORD_ONLY = "stage_record_only"            # shadow / paper_review never apply
    LANE_NOT_PERMITTED = "lane_not_permitted"          # paper_bounded advice in the live lane
    CONTROL_VALIDATION_MISSING = "control_validation_missing"
    CHALLENGE_REVIEW_MISSING = "challenge_review_missing"
    CONTROL_HALTED = "control_halted"                  # kill switch / breakers halted the lane
    RISK_INCREASING = "risk_increasing"                # scale > 1, threshold multiplier < 1
    VALUE_OUT_OF_DOMAIN = "value_out_of_domain"        # negative scale, threshold multiplier <= 0
    SYMBOL_NOT_ENABLED = "symbol_not_enabled"          # disabling what the lane does not trade
    DISABLE_CAP_EXCEEDED = "disable_cap_exceeded"
    CLAMPED_TO_MIN_SCALE = "clamped_to_min_scale"
    CLAMPED_TO_MAX_THRESHOLD_MULTIPLIER = "clamped_to_max_threshold_multiplier"


# --------------------------------------------------------------------------- evidence (input)

class GateResult(BaseModel):
    model_config = _FROZEN
    name: str
    passed: bool
    value: float | None = None
    threshold: float | None = None
    reason_code: str | None = None


class PaperRun(BaseModel):
    model_config = _FROZEN
    pnl: float = Field(allow_inf_nan=False)  # a NaN would compare as "not worse" everywhere
    fills: int = Field(ge=0)
    errors: int = Field(ge=0)


class CandidateEvidence(BaseModel):
    """What the advisor may look at: the candidate's manifest, gates, funnel and paper runs."""

    model_config = _FROZEN
    candidate_key: str = Field(min_length=1, max_length=64)
    strategy: str = Field(min_length=1, max_length=128)
    manifest: dict[str, Any] | None = None
    gate_results: tuple[GateResult, ...] = ()
    funnel: dict[str, int] = Field(default_factory=dict)
    recent_paper_runs: tuple[PaperRun, ...] = ()


# --------------------------------------------------------------------------- advice (advisor output)

class PositionScaleAdjustment(BaseModel):
    """Multiply the lane's position scale by ``value`` (risk-reducing only when ``value <= 1``)."""

    model_config = _FROZEN
    kind: Literal["position_scale"]
    value: StrictFinite


class ThresholdAdjustment(BaseModel):
    """Multiply the lane's entry threshold by ``value`` (risk-reducing only when ``value >= 1``)."""

    model_config = _FROZEN
    kind: Literal["threshold"]
    value: StrictFinite


class DisableSymbolAdjustment(BaseModel):
    """Stop trading ``symbol`` (always risk-reducing; the count is capped by the bounds)."""

    model_config = _FROZEN
    kind: Literal["disable_symbol"]
    symbol: Symbol


Adjustment = Annotated[Union[PositionScaleAdjustment, ThresholdAdjustment, DisableSymbolAdjustment],
                       Field(discriminator="kind")]


class Advice(BaseModel):
    """The only shape an advisor may answer with (see module docstring)."""

    model_config = _FROZEN
    verdict: Verdict
    rationale: str = Field(min_length=1, max_length=MAX_RATIONALE_CHARS)
    adjustments: tuple[Adjustment, ...] = Field(default=(), max_length=MAX_ADJUSTMENTS)

    @model_validator(mode="after")
    def _one_per_kind(self) -> "Advice":
        # Two scale (or threshold) values would leave "which one?" to code; two identical
        # symbols would double-count against the cap. Ambiguity is a schema error.
        seen: set[tuple[str, str]] = set()
        for adj in self.adjustments:
            key = (adj.kind, getattr(adj, "symbol", ""))
            if key in seen:
                raise ValueError(f"duplicate adjustment {key[0]}{' ' + key[1] if key[1] else ''}")
            seen.add(key)
        return self


# --------------------------------------------------------------------------- what a lane would do

class TradingIntent(BaseModel):
    """What a lane would do for one strategy, expressed in the only knobs advice can turn."""

    model_config = _FROZEN
    position_scale: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)
    threshold: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)
    enabled_symbols: tuple[Symbol, ...] = ()

    @field_validator("enabled_symbols")
    @classmethod
    def _sorted_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # One canonical order, so equal intents serialize (and hash) identically.
        return tuple(sorted(set(value)))


class AdvisoryBounds(BaseModel):
    """How far applied advice may move a lane: never beyond these, never toward more risk."""

    model_config = _FROZEN
    min_scale: float = Field(default=0.5, ge=0.0, le=1.0)
    max_threshold_multiplier: float = Field(default=1.5, ge=1.0, allow_inf_nan=False)
    max_disabled_symbols: int = Field(default=2, ge=0)


class ControlState(BaseModel):
    """The router's kill switch and breakers at the moment of advice; they always win."""

    model_config = _FROZEN
    halted: bool = False
    reducing_only: bool = False
    reasons: tuple[str, ...] = ()


class StagePrerequisites(BaseModel):
    """What the ledger holds for this strategy/candidate; applying advice re-checks it."""

    model_config = _FROZEN
    control_validation_passed: bool = False
    challenge_review_recorded: bool = False


class AppliedChange(BaseModel):
    model_config = _FROZEN
    kind: str
    symbol: str | None = None
    requested: float | None = None
    applied: float | None = None


class RefusedChange(BaseModel):
    model_config = _FROZEN
    kind: str
    symbol: str | None = None
    requested: float | None = None
    reason_code: ReasonCode


class ClampedChange(BaseModel):
    model_config = _FROZEN
    kind: str
    requested: float
    applied: float
    reason_code: ReasonCode


class AppliedAdvice(BaseModel):
    """The result of :func:`apply_advice`: the intent after advice and an account of every item.

    ``counterfactual_intent`` is what bounded application (paper_bounded's rules) would have made
    of the same advice; it is computed in record-only stages so that control validation can run
    an advised paper arm before any advice is allowed to act. It never feeds the lane.
    """

    model_config = _FROZEN
    stage: Stage
    lane: Lane
    intent_before: TradingIntent
    intent_after: TradingIntent
    applied: tuple[AppliedChange, ...] = ()
    clamped: tuple[ClampedChange, ...] = ()
    refused: tuple[RefusedChange, ...] = ()
    counterfactual_intent: TradingIntent | None = None

    @property
    def changed(self) -> bool:
        return self.intent_after != self.intent_before
