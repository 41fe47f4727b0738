"""The one place advice can change what a lane does, and the bounds it can never cross.

:func:`apply_advice` is pure: the same stage, intent, advice, bounds, lane, controls and
prerequisites always give the same result, so property tests can exhaust it and the ledger can
replay it. Its guarantees, whatever an advisor returns:

* ``shadow`` and ``paper_review`` return the very same intent object (bit-for-bit unchanged);
* ``paper_bounded`` acts only in the paper lane, ``live_advisory`` in paper and live, and both
  only with a passed control validation (live also with a recorded challenge review);
* a halted lane (kill switch, breakers) takes no advice at all: controls always win;
* what is applied only reduces risk and stays within :class:`AdvisoryBounds`: position scale is
  multiplied by a factor in ``[min_scale, 1]``, the threshold by one in
  ``[1, max_threshold_multiplier]``, and at most ``max_disabled_symbols`` enabled symbols are
  disabled. Out-of-range requests in the risk-reducing direction are clamped; requests toward
  more risk or outside the domain are refused. Nothing is ever enabled.
"""

from __future__ import annotations

from qgap_assets.advisory.models import (RECORD_ONLY_STAGES, Advice, AdvisoryBounds, AppliedAdvice,
                                         AppliedChange, ClampedChange, ControlState,
                                         DisableSymbolAdjustment, Lane, PositionScaleAdjustment,
                                         ReasonCode, RefusedChange, Stage, StagePrerequisites,
                                         ThresholdAdjustment, TradingIntent)


def _gate(stage: Stage, lane: Lane, controls: ControlState,
          prerequisites: StagePrerequisites) -> ReasonCode | None:
    """The reason nothing may be applied at all, or None when bounded application may proceed."""
    if stage in RECORD_ONLY_STAGES:
        return ReasonCode.STAGE_RECORD_ONLY
    if controls.halted:
        return ReasonCode.CONTROL_HALTED
    if stage is Stage.PAPER_BOUNDED and lane != "paper":
        return ReasonCode.LANE_NOT_PERMITTED
    if lane not in ("paper", "live"):
        return ReasonCode.LANE_NOT_PERMITTED
    if not prerequisites.control_validation_passed:
        return ReasonCode.CONTROL_VALIDATION_MISSING
    if lane == "live" and not prerequisites.challenge_review_recorded:
        return ReasonCode.CHALLENGE_REVIEW_MISSING
    return None


def _refuse_all(advice: Advice, reason: ReasonCode) -> tuple[RefusedChange, ...]:
    return tuple(RefusedChange(kind=a.kind, symbol=getattr(a, "symbol", None),
                               requested=getattr(a, "value", None), reason_code=reason)
                 for a in advice.adjustments)


def _bounded(intent: TradingIntent, advice: Advice, bounds: AdvisoryBounds
             ) -> tuple[TradingIntent, list[AppliedChange], list[ClampedChange], list[RefusedChange]]:
    """Apply every adjustment within bounds (the caller has already decided it may act)."""
    applied: list[AppliedChange] = []
    clamped: list[ClampedChange] = []
    refused: list[RefusedChange] = []
    scale, threshold = intent.position_scale, intent.threshold
    enabled = list(intent.enabled_symbols)
    disabled = 0
    for adj in advice.adjustments:
        if isinstance(adj, PositionScaleAdjustment):
            v = adj.value
            if v < 0:
                refused.append(RefusedChange(kind=adj.kind, requested=v,
                                             reason_code=ReasonCode.VALUE_OUT_OF_DOMAIN))
                continue
            if v > 1:
                refused.append(RefusedChange(kind=adj.kind, requested=v,
                                             reason_code=ReasonCode.RISK_INCREASING))
                continue
            factor = v
            if v < bounds.min_scale:
                factor = bounds.min_scale
                clamped.append(ClampedChange(kind=adj.kind, requested=v, applied=factor,
                                             reason_code=ReasonCode.CLAMPED_TO_MIN_SCALE))
            scale = intent.position_scale * factor
            applied.append(AppliedChange(kind=adj.kind, requested=v, applied=factor))
        elif isinstance(adj, ThresholdAdjustment):
            v = adj.value
            if v <= 0:
                refused.append(RefusedChange(kind=adj.kind, requested=v,
                                             reason_code=ReasonCode.VALUE_OUT_OF_DOMAIN))
                continue
            if v < 1:
                refused.append(RefusedChange(kind=adj.kind, requested=v,
                                             reason_code=ReasonCode.RISK_INCREASING))
                continue
            factor = v
            if v > bounds.max_threshold_multiplier:
                factor = bounds.max_threshold_multiplier
                clamped.append(ClampedChange(
                    kind=adj.kind, requested=v, applied=factor,
                    reason_code=ReasonCode.CLAMPED_TO_MAX_THRESHOLD_MULTIPLIER))
            threshold = intent.threshold * factor
            applied.append(AppliedChange(kind=adj.kind, requested=v, applied=factor))
        elif isinstance(adj, DisableSymbolAdjustment):
            if adj.symbol not in enabled:
                refused.append(RefusedChange(kind=adj.kind, symbol=adj.symbol,
                                             reason_code=ReasonCode.SYMBOL_NOT_ENABLED))
                continue
            if disabled >= bounds.max_disabled_symbols:
                refused.append(RefusedChange(kind=adj.kind, symbol=adj.symbol,
                                             reason_code=ReasonCode.DISABLE_CAP_EXCEEDED))
                continue
            enabled.remove(adj.symbol)
            disabled += 1
            applied.append(AppliedChange(kind=adj.kind, symbol=adj.symbol))
        else:  # pragma: no cover - the schema admits no other kind
            raise TypeError(f"unknown adjustment {adj!r}")
    after = TradingIntent(position_scale=scale, threshold=threshold, enabled_symbols=tuple(enabled))
    return after, applied, clamped, refused


def apply_advice(stage: Stage, intent: TradingIntent, advice: Advice | None, bounds: AdvisoryBounds,
                 lane: Lane, controls: ControlState,
                 prerequisites: StagePrerequisites = StagePrerequisites()) -> AppliedAdvice:
    """Apply ``advice`` to ``intent`` as far as ``stage`` allows (see module docstring).

    ``advice=None`` (the advisor failed) is the pass-through: the intent comes back untouched
    in every stage, because an advisor error must never block or alter a lane.
    """
    stage = Stage(stage)
    if advice is None:
        return AppliedAdvice(stage=stage, lane=lane, intent_before=intent, intent_after=intent)
    reason = _gate(stage, lane, controls, prerequisites)
    if reason is None:
        after, applied, clamped, refused = _bounded(intent, advice, bounds)
        # Keep the caller's object when nothing moved, so "unchanged" is also "identical".
        return AppliedAdvice(stage=stage, lane=lane, intent_before=intent,
                             intent_after=intent if after == intent else after,
                             applied=tuple(applied), clamped=tuple(clamped), refused=tuple(refused))
    counterfactual = None
    if stage in RECORD_ONLY_STAGES and not controls.halted:
        counterfactual = _bounded(intent, advice, bounds)[0]
    return AppliedAdvice(stage=stage, lane=lane, intent_before=intent, intent_after=intent,
                         refused=_refuse_all(advice, reason), counterfactual_intent=counterfactual)
