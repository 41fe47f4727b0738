"""AdvisoryService end to end on SQLite and PostgreSQL, with the fake OpenAI-compatible server."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from qgap_assets.advisory import (AdvisoryBounds, AdvisoryService, CandidateEvidence,
                                  ChallengeReview, ControlState, GateResult,
                                  OpenAICompatibleAdvisor, PaperRun, RuleBasedReviewer, Stage,
                                  StageTransition, TradingIntent, evaluate_control_validation,
                                  record_challenge_review, record_control_validation,
                                  transition_stage)
from qgap_assets.advisory.records import ADVISORY_TABLES, advisory_calls
from qgap_assets.ledger import db
from qgap_assets.ledger.hashing import canonical_json
from qgap_assets.ledger.models import metadata
from qgap_assets_tests.fakes.llm_server import FakeLLMServer, Scripted, running_llm_server

SECRET = "sk-qgap-test-DO-NOT-LEDGER-7f3a"
EVIDENCE = CandidateEvidence(
    candidate_key="cand-1", strategy="intraday-tsmom", manifest={"symbols": ["AAPL", "MSFT", "SPY"]},
    gate_results=(GateResult(name="dsr", passed=True, value=0.97, threshold=0.95),),
    funnel={"signals": 400, "decisions": 120, "trades": 80},
    recent_paper_runs=(PaperRun(pnl=12.0, fills=20, errors=0),))
INTENT = TradingIntent(position_scale=1.0, threshold=0.5, enabled_symbols=("AAPL", "MSFT", "SPY"))
BOUNDS = AdvisoryBounds(min_scale=0.5, max_threshold_multiplier=1.5, max_disabled_symbols=1)
AGGRESSIVE = {"verdict": "caution", "rationale": "cut everything",
              "adjustments": [{"kind": "position_scale", "value": 0.1},
                              {"kind": "threshold", "value": 3.0},
                              {"kind": "disable_symbol", "symbol": "SPY"},
                              {"kind": "disable_symbol", "symbol": "AAPL"}]}
SIGNALS = {"AAPL": [0.2, 0.9, -0.7, 0.4], "MSFT": [-0.6, 0.55, 0.1, -0.9], "SPY": [0.8, -0.8, 0.3, 0.6]}


def toy_paper_lane(intent: TradingIntent) -> list[dict]:
    """A stand-in for the paper lane's decision step: orders are a pure function of the intent."""
    orders = []
    for symbol in intent.enabled_symbols:
        for t, s in enumerate(SIGNALS[symbol]):
            if abs(s) > intent.threshold:
                orders.append({"t": t, "symbol": symbol, "qty": round(100 * s * intent.position_scale)})
    return orders


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with running_llm_server() as fake:
        yield fake


def _service(engine: Engine, llm: FakeLLMServer, timeout: float = 2.0) -> AdvisoryService:
    advisor = OpenAICompatibleAdvisor(base_url=llm.base_url, model="fake-model", api_key=SECRET,
                                      timeout_seconds=timeout)
    return AdvisoryService(engine, advisor, bounds=BOUNDS)


def _calls(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(advisory_calls)
                                                       .order_by(advisory_calls.c.created_at))]


def _climb(engine: Engine, to: Stage) -> None:
    """Walk the ledger up to ``to`` the only way allowed, recording each prerequisite."""
    runs = [PaperRun(pnl=1.0, fills=10, errors=0)] * 5
    for stage in (Stage.PAPER_REVIEW, Stage.PAPER_BOUNDED, Stage.LIVE_ADVISORY)[:to.rank]:
        if stage is Stage.PAPER_BOUNDED:
            record_control_validation(engine, evaluate_control_validation(
                EVIDENCE.strategy, EVIDENCE.candidate_key, runs, runs))
        if stage is Stage.LIVE_ADVISORY:
            record_challenge_review(engine, ChallengeReview(
                strategy=EVIDENCE.strategy, candidate_key=EVIDENCE.candidate_key, reviewer="rita",
                candidate_approvers=("alice", "bob"), findings=("bounds are tight",),
                outcome="cleared"))
        transition_stage(engine, StageTransition(strategy=EVIDENCE.strategy, to_stage=stage,
                                                 approver="carol", candidate_key="cand-1"))


def test_shadow_leaves_the_paper_lane_bit_for_bit_and_ledgers_the_call(
        engine: Engine, llm: FakeLLMServer) -> None:
    baseline = canonical_json(toy_paper_lane(INTENT))
    llm.queue(Scripted.advice(AGGRESSIVE))
    outcome = _service(engine, llm).advise(EVIDENCE, lane="paper", intent=INTENT,
                                           controls=ControlState())
    assert outcome.stage is Stage.SHADOW and outcome.advice is not None
    assert outcome.intent_after is INTENT
    assert canonical_json(toy_paper_lane(outcome.intent_after)).encode() == baseline.encode()
    # ... while recording what paper_bounded would have done, for the control arm
    assert outcome.result.counterfactual_intent == TradingIntent(
        position_scale=0.5, threshold=0.75, enabled_symbols=("AAPL", "MSFT"))

    (row,) = _calls(engine)
    assert row["call_id"] == outcome.call_id and row["stage"] == "shadow"
    assert row["model"] == "fake-model" and row["backend"] == "openai"
    assert row["prompt_sha256"] == outcome.prompt_sha256 and len(row["response_sha256"]) == 64
    assert json.loads(row["advice_json"])["verdict"] == "caution"
    assert json.loads(row["intent_after_json"]) == json.loads(row["intent_before_json"])
    assert {r["reason_code"] for r in json.loads(row["refused_json"])} == {"stage_record_only"}
    assert json.loads(row["applied_json"]) == [] and row["error_code"] is None
    assert row["latency_ms"] >= 0


@pytest.mark.parametrize("reply, code", [
    (Scripted.advice(AGGRESSIVE, delay_seconds=1.0), "advisor_timeout"),
    (Scripted(status=502, raw_body=b"bad gateway"), "advisor_http_5xx"),
    (Scripted(content="{oops"), "advisor_malformed_json"),
    (Scripted.advice({**AGGRESSIVE, "adjustments": [{"kind": "position_scale", "value": "0.5"}]}),
     "advisor_schema_invalid"),
])
def test_advisor_errors_pass_through_in_paper_review(engine: Engine, llm: FakeLLMServer,
                                                     reply: Scripted, code: str) -> None:
    _climb(engine, Stage.PAPER_REVIEW)
    llm.queue(reply)
    outcome = _service(engine, llm, timeout=0.2).advise(
        EVIDENCE, lane="paper", intent=INTENT, controls=ControlState(), paper_run_id="paper-42")
    assert outcome.stage is Stage.PAPER_REVIEW
    assert outcome.error_code == code and outcome.advice is None
    assert outcome.intent_after is INTENT
    (row,) = _calls(engine)
    assert row["error_code"] == code and row["paper_run_id"] == "paper-42"
    assert row["advice_json"] is None and row["stage"] == "paper_review"


def test_bounded_stages_apply_only_within_bounds_and_controls_win(
        engine: Engine, llm: FakeLLMServer) -> None:
    llm.queue(Scripted.advice(AGGRESSIVE))
    service = _service(engine, llm)
    _climb(engine, Stage.PAPER_BOUNDED)
    paper = service.advise(EVIDENCE, lane="paper", intent=INTENT, controls=ControlState())
    assert paper.intent_after == TradingIntent(position_scale=0.5, threshold=0.75,
                                               enabled_symbols=("AAPL", "MSFT"))
    assert [c.reason_code.value for c in paper.result.clamped] == [
        "clamped_to_min_scale", "clamped_to_max_threshold_multiplier"]
    assert [r.reason_code.value for r in paper.result.refused] == ["disable_cap_exceeded"]
    live = service.advise(EVIDENCE, lane="live", intent=INTENT, controls=ControlState())
    assert live.intent_after is INTENT
    assert {r.reason_code.value for r in live.result.refused} == {"lane_not_permitted"}
    # a caller or deployment can lower the stage, never raise it above the ledger
    assert service.advise(EVIDENCE, stage=Stage.SHADOW, lane="paper", intent=INTENT).intent_after \
        is INTENT
    assert service.advise(EVIDENCE, stage=Stage.LIVE_ADVISORY, lane="live",
                          intent=INTENT).stage is Stage.PAPER_BOUNDED

    record_challenge_review(engine, ChallengeReview(
        strategy=EVIDENCE.strategy, candidate_key="cand-1", reviewer="rita",
        candidate_approvers=("alice",), findings=("ok",), outcome="cleared"))
    transition_stage(engine, StageTransition(strategy=EVIDENCE.strategy, to_stage=Stage.LIVE_ADVISORY,
                                             approver="carol", candidate_key="cand-1"))
    live = service.advise(EVIDENCE, lane="live", intent=INTENT, controls=ControlState())
    assert live.stage is Stage.LIVE_ADVISORY and live.intent_after == paper.intent_after
    halted = service.advise(EVIDENCE, lane="live", intent=INTENT,
                            controls=ControlState(halted=True, reasons=("kill_switch",)))
    assert halted.intent_after is INTENT
    assert {r.reason_code.value for r in halted.result.refused} == {"control_halted"}
    rows = _calls(engine)
    assert [r["stage"] for r in rows] == ["paper_bounded", "paper_bounded", "shadow",
                                          "paper_bounded", "live_advisory", "live_advisory"]
    assert json.loads(rows[-1]["controls_json"])["halted"] is True
    # a new candidate of the same strategy has no validation yet: nothing applies to it
    other = service.advise(EVIDENCE.model_copy(update={"candidate_key": "cand-2"}), lane="paper",
                           intent=INTENT)
    assert other.intent_after is INTENT
    assert {r.reason_code.value for r in other.result.refused} == {"control_validation_missing"}


def test_the_api_key_is_never_ledgered_or_logged(engine: Engine, llm: FakeLLMServer,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    service = _service(engine, llm, timeout=0.2)
    for reply in (Scripted.advice(AGGRESSIVE), Scripted(status=500, raw_body=b"x"),
                  Scripted(content="nope"), Scripted.advice(AGGRESSIVE, delay_seconds=1.0)):
        llm.queue(reply)
        service.advise(EVIDENCE, lane="paper", intent=INTENT)
    assert all(r.headers.get("Authorization") == f"Bearer {SECRET}" for r in llm.requests)
    dumped = []
    with engine.connect() as conn:
        for name in ADVISORY_TABLES:
            dumped += [repr(tuple(r)) for r in conn.execute(select(metadata.tables[name]))]
    assert len(dumped) == 4
    assert SECRET not in "\n".join(dumped) and SECRET not in caplog.text
    assert SECRET not in repr(service.advisor)


def test_rules_backend_and_an_unavailable_ledger(engine: Engine, tmp_path: Path) -> None:
    outcome = AdvisoryService(engine, RuleBasedReviewer()).advise(EVIDENCE, intent=INTENT)
    assert outcome.advice is not None and outcome.advice.verdict.value == "endorse"
    assert _calls(engine)[0]["model"] == "qgap-rules-v1"
    # a ledger that cannot be read: the lane proceeds, unadvised
    broken = db.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    lost = AdvisoryService(broken, RuleBasedReviewer()).advise(EVIDENCE, intent=INTENT)
    assert lost.error_code == "advisory_ledger_unavailable" and lost.intent_after is INTENT
    broken.dispose()
