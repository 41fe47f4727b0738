"""Both backends against the same schema; the HTTP one against a local OpenAI-compatible fake."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from qgap_assets.advisory import (AdvisorError, AdvisoryBounds, CandidateEvidence, GateResult,
                                  OpenAICompatibleAdvisor, PaperRun, RuleBasedReviewer, Verdict,
                                  build_prompt, parse_advice)
from qgap_assets_tests.fakes.llm_server import FakeLLMServer, Scripted, running_llm_server

EVIDENCE = CandidateEvidence(
    candidate_key="cand-1", strategy="intraday-tsmom", manifest={"symbols": ["AAPL", "SPY"]},
    gate_results=(GateResult(name="dsr", passed=True, value=0.97, threshold=0.95),),
    funnel={"signals": 400, "decisions": 120, "trades": 80},
    recent_paper_runs=(PaperRun(pnl=12.0, fills=20, errors=0), PaperRun(pnl=-3.0, fills=18,
                                                                         errors=0)))
GOOD = {"verdict": "caution", "rationale": "thin liquidity in SPY afternoons",
        "adjustments": [{"kind": "position_scale", "value": 0.8},
                        {"kind": "disable_symbol", "symbol": "SPY"}]}


@pytest.fixture
def llm() -> Iterator[FakeLLMServer]:
    with running_llm_server() as fake:
        yield fake


def _client(llm: FakeLLMServer, timeout: float = 2.0) -> OpenAICompatibleAdvisor:
    return OpenAICompatibleAdvisor(base_url=llm.base_url, model="fake-model",
                                   api_key="sk-test-secret", timeout_seconds=timeout)


def test_good_answer_is_parsed_and_the_request_is_openai_shaped(llm: FakeLLMServer) -> None:
    llm.queue(Scripted.advice(GOOD))
    prompt = build_prompt(EVIDENCE, AdvisoryBounds())
    reply = _client(llm).complete(prompt)
    advice = parse_advice(reply.content)
    assert advice.verdict is Verdict.CAUTION and len(advice.adjustments) == 2
    (req,) = llm.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["Authorization"] == "Bearer sk-test-secret"
    assert req.body["model"] == "fake-model"
    assert req.body["response_format"] == {"type": "json_object"}
    assert req.body["messages"] == list(prompt.messages)
    assert "sk-test-secret" not in repr(_client(llm))


@pytest.mark.parametrize("reply, code", [
    (Scripted(content="{not json"), "advisor_malformed_json"),
    (Scripted(content='```json\n{"verdict": "endorse"}\n```'), "advisor_malformed_json"),
    (Scripted(content='{"verdict": "endorse", "rationale": "x", "adjustments": '
                      '[{"kind": "position_scale", "value": NaN}]}'), "advisor_malformed_json"),
    (Scripted.advice({**GOOD, "adjustments": [{"kind": "position_scale", "value": "NaN"}]}),
     "advisor_schema_invalid"),
    (Scripted.advice({**GOOD, "adjustments": [{"kind": "leverage", "value": 3}]}),
     "advisor_schema_invalid"),
    (Scripted.advice({**GOOD, "confidence": 0.9}), "advisor_schema_invalid"),
    (Scripted.advice({**GOOD, "verdict": "approve"}), "advisor_schema_invalid"),
    (Scripted(status=503, raw_body=b'{"error": "overloaded"}'), "advisor_http_5xx"),
    (Scripted(status=429, raw_body=b'{"error": "rate limited"}'), "advisor_http_4xx"),
    (Scripted(raw_body=b'{"choices": []}'), "advisor_bad_response"),
    (Scripted(raw_body=b"<html>gateway</html>"), "advisor_bad_response"),
    (Scripted.advice(GOOD, delay_seconds=1.0), "advisor_timeout"),
])
def test_bad_answers_are_coded_errors(llm: FakeLLMServer, reply: Scripted, code: str) -> None:
    llm.queue(reply)
    with pytest.raises(AdvisorError) as info:
        parse_advice(_client(llm, timeout=0.2).complete(build_prompt(EVIDENCE, AdvisoryBounds()))
                     .content)
    assert info.value.code.value == code
    assert "sk-test-secret" not in str(info.value)


def test_out_of_bounds_adjustments_pass_the_schema_and_are_left_to_the_policy(
        llm: FakeLLMServer) -> None:
    llm.queue(Scripted.advice({**GOOD, "adjustments": [{"kind": "position_scale", "value": 50},
                                                       {"kind": "threshold", "value": -2}]}))
    advice = parse_advice(_client(llm).complete(build_prompt(EVIDENCE, AdvisoryBounds())).content)
    assert [a.value for a in advice.adjustments] == [50.0, -2.0]


def test_unreachable_server() -> None:
    with running_llm_server() as fake:
        url = fake.base_url
    advisor = OpenAICompatibleAdvisor(base_url=url, model="m", timeout_seconds=1.0)
    with pytest.raises(AdvisorError) as info:
        advisor.complete(build_prompt(EVIDENCE, AdvisoryBounds()))
    assert info.value.code.value == "advisor_unreachable"


def test_from_env_reads_url_model_and_key(monkeypatch: pytest.MonkeyPatch, llm: FakeLLMServer) -> None:
    monkeypatch.setenv("QGAP_LLM_BASE_URL", llm.base_url)
    monkeypatch.setenv("QGAP_LLM_MODEL", "env-model")
    monkeypatch.setenv("QGAP_LLM_API_KEY", "sk-from-env")
    llm.queue(Scripted.advice(GOOD))
    OpenAICompatibleAdvisor.from_env().complete(build_prompt(EVIDENCE, AdvisoryBounds()))
    assert llm.requests[0].body["model"] == "env-model"
    assert llm.requests[0].headers["Authorization"] == "Bearer sk-from-env"


@pytest.mark.parametrize("evidence, verdict, has_adjustments", [
    (EVIDENCE, Verdict.ENDORSE, False),
    (EVIDENCE.model_copy(update={"gate_results": (GateResult(name="pbo", passed=False, value=0.6,
                                                              threshold=0.5,
                                                              reason_code="pbo_too_high"),)}),
     Verdict.VETO_RECOMMENDATION, True),
    (EVIDENCE.model_copy(update={"recent_paper_runs": (PaperRun(pnl=-5, fills=20, errors=0),)}),
     Verdict.CAUTION, True),
    (EVIDENCE.model_copy(update={"funnel": {"trades": 3}}), Verdict.CAUTION, True),
    (EVIDENCE.model_copy(update={"recent_paper_runs": ()}), Verdict.CAUTION, True),
])
def test_rule_based_reviewer_is_deterministic_and_risk_reducing(
        evidence: CandidateEvidence, verdict: Verdict, has_adjustments: bool) -> None:
    reviewer = RuleBasedReviewer()
    prompt = build_prompt(evidence, AdvisoryBounds())
    first, second = reviewer.complete(prompt), reviewer.complete(prompt)
    assert first == second
    advice = parse_advice(first.content)
    assert advice.verdict is verdict
    assert bool(advice.adjustments) is has_adjustments
    for adj in advice.adjustments:
        assert (adj.value <= 1) if adj.kind == "position_scale" else (adj.value >= 1)
    assert json.loads(first.content)["verdict"] == verdict.value
