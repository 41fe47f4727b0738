"""AdvisoryService: ask the advisor, bound the answer, ledger everything, never block a lane.

One call = one ``advisory_calls`` row: effective stage, lane, backend and model, prompt hash,
evidence hash, raw response hash, parsed advice, the intent before and after, what was applied,
clamped and refused (with reason codes), the control state, latency and the error code.

Errors pass through in every stage: an advisor that times out, answers 5xx, malformed JSON or
out-of-schema advice leaves the intent exactly as it was, and the error is ledgered. If the
ledger itself cannot be read or written the lane also proceeds unchanged (error code
``advisory_ledger_unavailable``): advice that could not be recorded is never applied.

The effective stage is the lowest of the strategy's ledgered stage, the ``stage`` the caller
passes and the service's ``stage_ceiling`` (a deployment-wide cap): configuration can lower
the stage, only an approved ledger transition can raise it.
"""

from __future__ import annotations

import logging
import time

from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from qgap_assets.advisory import store
from qgap_assets.advisory.backends import (Advisor, AdvisorError, AdvisorErrorCode, build_prompt,
                                           parse_advice)
from qgap_assets.advisory.models import (Advice, AdvisoryBounds, AppliedAdvice, CandidateEvidence,
                                         ControlState, Lane, Stage, TradingIntent)
from qgap_assets.advisory.policy import apply_advice
from qgap_assets.advisory.records import advisory_calls
from qgap_assets.ledger.hashing import hash_obj, sha256_hex, utc_now_iso

log = logging.getLogger(__name__)

LEDGER_UNAVAILABLE = "advisory_ledger_unavailable"


class AdvisoryOutcome(BaseModel):
    """What one advisory call produced; ``result.intent_after`` is what the lane should use."""

    model_config = ConfigDict(frozen=True)
    call_id: str | None
    strategy: str
    candidate_key: str
    stage: Stage
    lane: Lane
    backend: str
    model: str
    advice: Advice | None
    error_code: str | None
    prompt_sha256: str
    response_sha256: str | None
    latency_ms: float
    result: AppliedAdvice

    @property
    def intent_after(self) -> TradingIntent:
        return self.result.intent_after


def _min_stage(*stages: Stage | None) -> Stage:
    return min((Stage(s) for s in stages if s is not None), key=lambda s: s.rank)


class AdvisoryService:
    def __init__(self, engine: Engine, advisor: Advisor,
                 bounds: AdvisoryBounds = AdvisoryBounds(),
                 stage_ceiling: Stage = Stage.LIVE_ADVISORY) -> None:
        self.engine = engine
        self.advisor = advisor
        self.bounds = bounds
        self.stage_ceiling = Stage(stage_ceiling)

    def advise(self, evidence: CandidateEvidence, stage: Stage | None = None, lane: Lane = "paper",
               intent: TradingIntent = TradingIntent(), controls: ControlState = ControlState(),
               paper_run_id: str | None = None) -> AdvisoryOutcome:
        """Advise on ``evidence`` for ``lane`` and return the bounded result (see module doc)."""
        prompt = build_prompt(evidence, self.bounds)
        passthrough = apply_advice(Stage.SHADOW, intent, None, self.bounds, lane, controls)
        base = dict(strategy=evidence.strategy, candidate_key=evidence.candidate_key, lane=lane,
                    backend=self.advisor.backend, model=self.advisor.model,
                    prompt_sha256=prompt.sha256)
        try:
            ledger_stage = store.current_stage(self.engine, evidence.strategy)
            prereqs = store.prerequisites(self.engine, evidence.strategy, evidence.candidate_key)
        except SQLAlchemyError as exc:
            log.warning("advisory ledger unreadable (%s); lane proceeds without advice",
                        type(exc).__name__)
            return AdvisoryOutcome(call_id=None, stage=Stage.SHADOW, advice=None,
                                   error_code=LEDGER_UNAVAILABLE, response_sha256=None,
                                   latency_ms=0.0, result=passthrough, **base)
        effective = _min_stage(ledger_stage, stage, self.stage_ceiling)

        advice: Advice | None = None
        error: AdvisorError | None = None
        response_sha256: str | None = None
        started = time.perf_counter()
        try:
            reply = self.advisor.complete(prompt)
            response_sha256 = reply.sha256
            advice = parse_advice(reply.content)
        except AdvisorError as exc:
            error = exc
            if exc.raw is not None:
                response_sha256 = sha256_hex(exc.raw)
        except Exception as exc:  # noqa: BLE001 - no advisor failure may block a lane
            error = AdvisorError(AdvisorErrorCode.INTERNAL, f"advisor raised {type(exc).__name__}")
        latency_ms = (time.perf_counter() - started) * 1000.0

        result = apply_advice(effective, intent, advice, self.bounds, lane, controls, prereqs)
        outcome = AdvisoryOutcome(call_id=store.new_id(), stage=effective, advice=advice,
                                  error_code=error.code.value if error else None,
                                  response_sha256=response_sha256, latency_ms=latency_ms,
                                  result=result, **base)
        try:
            self._ledger(outcome, evidence, controls, paper_run_id, error)
        except SQLAlchemyError as exc:
            log.warning("advisory call could not be ledgered (%s); advice not applied",
                        type(exc).__name__)
            return outcome.model_copy(update={"call_id": None, "error_code": LEDGER_UNAVAILABLE,
                                              "result": passthrough.model_copy(
                                                  update={"stage": effective})})
        return outcome

    def _ledger(self, outcome: AdvisoryOutcome, evidence: CandidateEvidence,
                controls: ControlState, paper_run_id: str | None,
                error: AdvisorError | None) -> None:
        r = outcome.result
        with self.engine.begin() as conn:
            conn.execute(advisory_calls.insert().values(
                call_id=outcome.call_id, created_at=utc_now_iso(), strategy=outcome.strategy,
                candidate_key=outcome.candidate_key, stage=outcome.stage.value, lane=outcome.lane,
                paper_run_id=paper_run_id, backend=outcome.backend, model=outcome.model,
                prompt_sha256=outcome.prompt_sha256,
                evidence_sha256=hash_obj(evidence.model_dump(mode="json")),
                response_sha256=outcome.response_sha256,
                verdict=outcome.advice.verdict.value if outcome.advice else None,
                advice_json=store.dump(outcome.advice) if outcome.advice else None,
                intent_before_json=store.dump(r.intent_before),
                intent_after_json=store.dump(r.intent_after),
                counterfactual_intent_json=(store.dump(r.counterfactual_intent)
                                            if r.counterfactual_intent else None),
                applied_json=store.dump([a.model_dump(mode="json") for a in r.applied]),
                clamped_json=store.dump([c.model_dump(mode="json") for c in r.clamped]),
                refused_json=store.dump([x.model_dump(mode="json") for x in r.refused]),
                controls_json=store.dump(controls), latency_ms=outcome.latency_ms,
                error_code=outcome.error_code, error_detail=str(error) if error else None))
