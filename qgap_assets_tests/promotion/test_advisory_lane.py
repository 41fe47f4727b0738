"""The advisory side input of the paper lane (issue 8 wired into the canary of issue 6).

- shadow: advice is ledgered, the paper run is bit-for-bit the unadvised run;
- paper_bounded (after an approved, validated stage climb): the bounded, risk-reducing
  adjustment shapes the run, the simulator expectation follows it exactly (the run stays clean),
  and the run records which advisory call shaped it;
- a kill switch halts advice: nothing is applied.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from qgap_assets.advisory.backends import RuleBasedReviewer
from qgap_assets.advisory.models import PaperRun, Stage
from qgap_assets.advisory.records import advisory_calls
from qgap_assets.advisory.service import AdvisoryService
from qgap_assets.advisory.stages import StageTransition
from qgap_assets.advisory.store import record_control_validation, transition_stage
from qgap_assets.advisory.validation import evaluate_control_validation
from qgap_assets.defs.promotion import advisory_adjuster
from qgap_assets.promotion import service as sv
from qgap_assets_tests.promotion.support import cycle, store


def _paper_candidate(engine: Engine, home: Path) -> str:
    out = cycle(engine, home)
    assert out.decision == "promote", out.reasons
    sv.sync_attempts(engine, store(home))
    sv.start_canary(engine, out.candidate_key)
    return out.candidate_key


def _observed(engine: Engine, key: str) -> list[dict]:
    return [{**r, "observed": json.loads(r["observed_json"])} for r in sv.canary_runs(engine, key)]


def test_shadow_advice_is_recorded_and_changes_nothing(engine: Engine, tmp_path: Path) -> None:
    key = _paper_candidate(engine, tmp_path)
    adjust = advisory_adjuster(AdvisoryService(engine, RuleBasedReviewer()), lambda s: None)
    plain = sv.canary_run(engine, store(tmp_path), key)
    advised = sv.canary_run(engine, store(tmp_path), key, session=plain.session, adjust=adjust)
    first, second = _observed(engine, key)
    assert second["observed"]["advice"]["stage"] == "shadow"
    assert second["observed"]["advice"]["position_scale"] == 1.0
    assert (first["pnl"], first["expected_pnl"], first["observed"]["fills"]) == \
        (second["pnl"], second["expected_pnl"], second["observed"]["fills"])
    assert advised.verdict.clean
    with engine.connect() as conn:
        calls = conn.execute(select(advisory_calls.c.lane, advisory_calls.c.stage)
                             .where(advisory_calls.c.candidate_key == key)).all()
    assert [(c.lane, c.stage) for c in calls] == [("paper", "shadow")]


def _climb_to_paper_bounded(engine: Engine, key: str) -> None:
    strategy = "intraday-tsmom"
    transition_stage(engine, StageTransition(strategy=strategy, to_stage=Stage.PAPER_REVIEW,
                                             approver="alice", candidate_key=key))
    runs = [PaperRun(pnl=1.0, fills=20, errors=0)] * 5
    record_control_validation(engine, evaluate_control_validation(strategy, key, runs, runs))
    transition_stage(engine, StageTransition(strategy=strategy, to_stage=Stage.PAPER_BOUNDED,
                                             approver="alice", candidate_key=key))


def test_paper_bounded_advice_shrinks_the_run_and_stays_exact(engine: Engine, tmp_path: Path) -> None:
    key = _paper_candidate(engine, tmp_path)
    _climb_to_paper_bounded(engine, key)
    # A reviewer that finds the paper evidence too thin cautions with risk-reducing adjustments.
    cautious = RuleBasedReviewer(min_fills=10**9)
    adjust = advisory_adjuster(AdvisoryService(engine, cautious), lambda s: None)
    plain = sv.canary_run(engine, store(tmp_path), key)
    advised = sv.canary_run(engine, store(tmp_path), key, session=plain.session, adjust=adjust)
    first, second = _observed(engine, key)
    advice = second["observed"]["advice"]
    assert advice["stage"] == "paper_bounded" and advice["advice_ref"]
    assert (advice["position_scale"], advice["threshold_multiplier"], advice["disabled_symbols"]) \
        == (0.75, 1.0, [])
    assert advised.verdict.clean, advised.verdict.details    # expectation follows the adjustment
    assert abs(second["expected_pnl"] - 0.75 * first["expected_pnl"]) < 1e-9
    assert abs(second["pnl"] - 0.75 * first["pnl"]) < 1e-9


def test_kill_switch_halts_advice(engine: Engine, tmp_path: Path) -> None:
    key = _paper_candidate(engine, tmp_path)
    _climb_to_paper_bounded(engine, key)
    adjust = advisory_adjuster(AdvisoryService(engine, RuleBasedReviewer(min_fills=10**9)),
                               lambda s: "global kill switch: drill")
    sv.canary_run(engine, store(tmp_path), key, adjust=adjust)
    advice = _observed(engine, key)[0]["observed"]["advice"]
    assert (advice["position_scale"], advice["threshold_multiplier"], advice["disabled_symbols"]) \
        == (1.0, 1.0, [])


def test_control_validation_is_recorded_from_the_record_only_runs(engine: Engine,
                                                                 tmp_path: Path) -> None:
    """In shadow, every paper run also scores what bounded advice would have done (the advised
    arm) beside the unadvised run (the control arm); after N runs the comparison is ledgered,
    and only a passed validation lets the stage climb to paper_bounded."""
    from qgap_assets.advisory.records import advisory_control_validations
    from qgap_assets.advisory.stages import StageTransitionRefused
    from qgap_assets.defs.promotion import record_control_validation_if_due

    key = _paper_candidate(engine, tmp_path)
    adjust = advisory_adjuster(AdvisoryService(engine, RuleBasedReviewer(min_fills=10**9)),
                               lambda s: None)
    recorded = []
    for _ in range(5):
        sv.canary_run(engine, store(tmp_path), key, adjust=adjust)
        recorded.append(record_control_validation_if_due(engine, key, "intraday-tsmom"))
    assert recorded[:4] == [None] * 4 and recorded[4] is not None
    runs = _observed(engine, key)
    for r in runs:   # the cautious counterfactual is a 0.75 scale; the real run was not scaled
        assert r["observed"]["advice"]["position_scale"] == 1.0
        assert abs(r["observed"]["advised_arm"]["pnl"] - 0.75 * r["observed"]["control_arm"]["pnl"]) < 1e-9
    with engine.connect() as conn:
        row = conn.execute(select(advisory_control_validations)).one()
    control_mean = sum(r["observed"]["control_arm"]["pnl"] for r in runs) / 5
    assert bool(row.passed) == (0.75 * control_mean >= control_mean)
    transition_stage(engine, StageTransition(strategy="intraday-tsmom", to_stage=Stage.PAPER_REVIEW,
                                             approver="alice", candidate_key=key))
    request = StageTransition(strategy="intraday-tsmom", to_stage=Stage.PAPER_BOUNDED,
                              approver="alice", candidate_key=key)
    if row.passed:
        assert transition_stage(engine, request).to_stage is Stage.PAPER_BOUNDED
    else:
        try:
            transition_stage(engine, request)
        except StageTransitionRefused as exc:
            assert "control_validation_missing" in str(exc)
        else:
            raise AssertionError("a failed control validation let the stage climb")
