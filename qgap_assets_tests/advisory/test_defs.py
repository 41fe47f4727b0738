"""The advice asset beside an evidence asset: materializes with its stage, never fails on errors."""

from __future__ import annotations

import dagster as dg
import pytest

from qgap_assets.advisory import CandidateEvidence, GateResult, PaperRun
from qgap_assets.defs.advisory import AdvisorResource, build_advisory_asset, defs
from qgap_assets_tests.fakes.llm_server import Scripted, running_llm_server

SECRET = "sk-dagster-test-never-shown-91c2"


@dg.asset(key=dg.AssetKey(["promotion", "candidate_evidence"]))
def candidate_evidence() -> list[CandidateEvidence]:
    return [
        CandidateEvidence(candidate_key="good", strategy="tsmom", manifest={"symbols": ["SPY"]},
                          gate_results=(GateResult(name="dsr", passed=True),),
                          funnel={"trades": 50},
                          recent_paper_runs=(PaperRun(pnl=3.0, fills=30, errors=0),)),
        CandidateEvidence(candidate_key="bad", strategy="tsmom",
                          gate_results=(GateResult(name="pbo", passed=False,
                                                   reason_code="pbo_too_high"),)),
    ]


ADVICE = build_advisory_asset(dg.AssetKey(["promotion", "candidate_evidence"]))


def _materialization(result: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    (mat,) = [m for m in result.asset_materializations_for_node("advisory_review")]
    return mat


def test_advice_asset_with_the_rules_backend(db_url: str) -> None:
    result = dg.materialize([candidate_evidence, ADVICE],
                            resources={"advisor": AdvisorResource(database_url=db_url)})
    assert result.success
    value = result.output_for_node("advisory_review")
    assert [(v["candidate_key"], v["advice"]["verdict"]) for v in value] == [
        ("good", "endorse"), ("bad", "veto_recommendation")]
    assert all(v["stage"] == "shadow" and v["call_id"] for v in value)
    meta = _materialization(result).metadata
    assert meta["stage"].value == "shadow" and meta["backend"].value == "rules"
    assert ADVICE.group_names_by_key[dg.AssetKey("advisory_review")] == "advisory"
    assert isinstance(defs.resources["advisor"], AdvisorResource)


def test_advisor_failure_never_fails_the_asset_and_the_key_stays_hidden(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QGAP_LLM_API_KEY", SECRET)
    with running_llm_server() as llm:
        llm.queue(Scripted(status=503, raw_body=b"down"))
        resource = AdvisorResource(backend="openai", base_url=llm.base_url, model="m",
                                   api_key=dg.EnvVar("QGAP_LLM_API_KEY"), database_url=db_url,
                                   timeout_seconds=2.0)
        result = dg.materialize([candidate_evidence, ADVICE], resources={"advisor": resource})
    assert result.success
    assert llm.requests[0].headers["Authorization"] == f"Bearer {SECRET}"
    value = result.output_for_node("advisory_review")
    assert {v["error_code"] for v in value} == {"advisor_http_5xx"}
    meta = _materialization(result).metadata
    assert meta["errors"].value == {"good": "advisor_http_5xx", "bad": "advisor_http_5xx"}
    events = "\n".join(repr(e) for e in result.all_events)
    assert SECRET not in events and SECRET not in repr(value)
