"""``qgap promote``, ``qgap decisions``, ``qgap approve``: argparse builders for the main CLI.

``add_promotion_parsers(subparsers)`` adds the three commands; each stores its handler as
``func``. Refusals by the lifecycle rules are ledgered and exit 1 (``PromotionRefused``); bad
input exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

from qgap_assets.ledger.artifacts import ArtifactStore


def _engine_and_store() -> tuple[Engine, ArtifactStore]:
    from qgap_assets.ledger import db

    engine = db.make_engine()
    db.ensure_schema(engine)
    return engine, ArtifactStore(db.qgap_home() / "artifacts")


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _policy(path: str | None):  # type: ignore[no-untyped-def]
    from qgap_assets.promotion.policy import GatePolicy, load_gate_policy

    return load_gate_policy(path) if path else GatePolicy()


def strategy_kill_check(engine: Engine) -> Callable[[str], str | None]:
    """``kill_check`` for live runs: the execution kill switch (global, account ``default`` or
    strategy level) that covers the strategy, as a reason; symbol-level switches only block
    their symbol's orders and do not drop the strategy back. Lives here, at the top layer,
    because the promotion core does not import execution."""
    from qgap_assets.execution import blocking_kill

    def check(strategy: str) -> str | None:
        kill = blocking_kill(engine, account="default", strategy=strategy, symbol="")
        return None if kill is None else f"{kill.level} kill switch {kill.scope_key}: {kill.reason}"

    return check


# -- promote ---------------------------------------------------------------------------------------
def cmd_promote_attempt(args: argparse.Namespace) -> int:
    from qgap_assets.config import load_config
    from qgap_assets.cycle import run_cycle
    from qgap_assets.data.bars import read_bars
    from qgap_assets.ledger.db import qgap_home
    from qgap_assets.ledger.repository import Ledger
    from qgap_assets.promotion import service

    cfg = load_config(args.config)
    if args.bars:
        read_bars(args.bars)  # bad bars exit 2 before anything is written
    engine, store = _engine_and_store()
    outcome = run_cycle(cfg, args.bars, Ledger(engine), qgap_home())
    report = service.record_attempt(engine, store, outcome.attempt_id)
    state = service.status(engine, outcome.candidate_key).state.value
    out = {"decision": outcome.decision, "reasons": list(outcome.reasons),
           "candidate_key": outcome.candidate_key, "run_id": outcome.run_id,
           "attempt_id": outcome.attempt_id, "params": outcome.params, "state": state,
           "artifact_kind": report and report["artifact_kind"],
           "artifact": report and report["artifact_path"],
           "gate_policy_hash": report and report["gate_policy_hash"],
           "gates": [{k: v for k, v in g.as_dict().items() if k != "details"} for g in outcome.gates]}
    if args.json:
        _emit(out)
        return 0
    print(f"promotion attempt {outcome.attempt_id} (run {outcome.run_id})")
    print(f"  candidate : {outcome.candidate_key[:16]}  params {outcome.params}")
    print(f"  decision  : {outcome.decision.upper()}")
    print(f"  reasons   : {', '.join(outcome.reasons) or '-'}")
    for g in out["gates"]:
        value = "n/a" if g["value"] is None else f"{g['value']:.6g}"
        print(f"    {'PASS' if g['passed'] else 'FAIL'} {g['name']:<22} value {value:>12}  "
              f"threshold {g['threshold']!s:>8}  {g['reason_code'] or ''}")
    print(f"  {out['artifact_kind'] or 'artifact'} : {out['artifact'] or '-'}")
    print(f"  state     : {state}")
    return 0


def cmd_promote_canary(args: argparse.Namespace) -> int:
    from qgap_assets.promotion import lifecycle as lc
    from qgap_assets.promotion import service

    engine, store = _engine_and_store()
    key = service.resolve_candidate(engine, args.candidate)
    policy = _policy(args.policy)
    if service.status(engine, key).state is lc.State.PAPER_CANDIDATE:
        service.start_canary(engine, key, args.by or service.SYSTEM_ACTOR)
    runs = args.runs or policy.lifecycle.canary_runs
    results = []
    for _ in range(runs):
        r = service.canary_run(engine, store, key, policy, kill_check=strategy_kill_check(engine))
        results.append({"run": r.seq, "phase": r.phase, "session": r.session,
                        "clean": r.verdict.clean,
                        "regressions": [x.value for x in r.verdict.regressions],
                        "action": r.action, "state": r.state.value,
                        "capital_fraction": r.capital_fraction, "rollback_to": r.rollback_to})
        if not args.json:
            print(f"canary run {r.seq} ({r.phase}, session {r.session}): "
                  f"{'clean' if r.verdict.clean else ','.join(results[-1]['regressions'])}"
                  f" -> {r.action}, state {r.state.value}"
                  + (f", capital {r.capital_fraction:.0%}" if r.capital_fraction else "")
                  + (f", rolled back to {r.rollback_to or 'no previous champion'}"
                     if r.action == "rollback" else ""))
        if r.state not in (lc.State.PAPER, lc.State.LIVE):
            break
    if args.json:
        _emit({"candidate_key": key, "runs": results, "state": service.status(engine, key).state})
    return 0


def cmd_promote_status(args: argparse.Namespace) -> int:
    from qgap_assets.promotion import service

    engine, _ = _engine_and_store()
    key = service.resolve_candidate(engine, args.candidate)
    st = service.status(engine, key)
    evs = service.events(engine, key)
    if args.json:
        _emit({**asdict(st), "events": evs, "approvals": [asdict(a) for a in
                                                          service.approvals(engine, key)]})
        return 0
    print(f"candidate {key}: {st.state.value}"
          + (f" (ramp stage {st.ramp_stage_index})" if st.ramp_stage_index is not None else ""))
    for e in evs:
        print(f"  {e['seq']:>3} {e['created_at'][:19]} {e['kind']:<14} {e['from_state']:>15} -> "
              f"{e['to_state']:<15} {'ok' if e['ok'] else 'REFUSED'} {e['reason_code']} "
              f"by {e['actor']}")
    return 0


def cmd_promote_move(args: argparse.Namespace) -> int:
    from qgap_assets.promotion import service

    engine, _ = _engine_and_store()
    key = service.resolve_candidate(engine, args.candidate)
    fn = {"drop-back": service.drop_back, "retire": service.retire}[args.promote_action]
    res = fn(engine, key, args.by, args.reason)
    print(f"candidate {key[:16]}: {res.from_state.value} -> {res.new_state.value}")
    return 0


# -- decisions / approve ---------------------------------------------------------------------------
def cmd_decisions(args: argparse.Namespace) -> int:
    from qgap_assets.promotion import service

    engine, store = _engine_and_store()
    service.sync_attempts(engine, store)
    if args.states:
        rows = [{"candidate": s.candidate_key[:16], "state": s.state.value, "events": s.seq,
                 "ramp_stage": s.ramp_stage_index, "manifest": (s.manifest_sha256 or "")[:16]}
                for s in service.candidates(engine)]
    else:
        rows = [{"created_at": r["created_at"][:19], "candidate": r["candidate_key"][:16],
                 "decision": r["decision"], "reasons": ",".join(r["reasons"]) or "-",
                 "policy": r["gate_policy_version"], "artifact": r["artifact_kind"],
                 "artifact_sha256": r["artifact_sha256"][:16], "attempt_id": r["attempt_id"]}
                for r in service.decision_reports(engine, args.candidate, args.denied)]
    if args.json:
        _emit(rows)
        return 0
    if not rows:
        print("no promotion decisions recorded")
        return 0
    from qgap_assets.cli import _print_table

    _print_table(rows, list(rows[0]))
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from qgap_assets.promotion import service

    engine, _ = _engine_and_store()
    key = service.resolve_candidate(engine, args.candidate)
    result, live = service.approve(engine, key, args.by, args.note)
    print(f"approved {key[:16]} by {args.by.strip()} "
          f"({len(result.approvals)} distinct approver(s))")
    if live is not None:
        print(f"candidate {key[:16]}: {live.from_state.value} -> {live.new_state.value} "
              "at 10% capital")
    return 0


def add_promotion_parsers(subparsers: Any) -> None:
    """Add ``promote {attempt,canary,status,drop-back,retire}``, ``decisions``, ``approve``."""
    p = subparsers.add_parser("promote", help="promotion attempts and the candidate lifecycle")
    actions = p.add_subparsers(dest="promote_action", required=True)
    q = actions.add_parser("attempt", help="run one cycle and ledger the promotion attempt "
                                           "(manifest on grant, denial report on deny)")
    q.add_argument("--bars")
    q.add_argument("--config")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_promote_attempt)
    q = actions.add_parser("canary", help="paper canary runs (live-ramp runs once live)")
    q.add_argument("candidate", help="candidate key or a unique prefix")
    q.add_argument("--runs", type=int, default=None, help="default: the policy's canary_runs")
    q.add_argument("--policy", help="gate policy file (lifecycle section); default built-in")
    q.add_argument("--by", default=None)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_promote_canary)
    q = actions.add_parser("status", help="a candidate's state and lifecycle events")
    q.add_argument("candidate")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_promote_status)
    for name, text in (("drop-back", "live -> paper (kill switch, regression, by hand)"),
                       ("retire", "retire a candidate (terminal)")):
        q = actions.add_parser(name, help=text)
        q.add_argument("candidate")
        q.add_argument("--reason", required=True)
        q.add_argument("--by", required=True)
        q.set_defaults(func=cmd_promote_move)

    p = subparsers.add_parser("decisions", help="ledgered promotion decisions (granted and denied)")
    p.add_argument("--candidate", default=None, help="candidate key prefix")
    p.add_argument("--denied", action="store_true")
    p.add_argument("--states", action="store_true", help="candidates and lifecycle states")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_decisions)

    p = subparsers.add_parser("approve", help="approve a live candidate (two distinct approvers "
                                              "take it live at 10% capital)")
    p.add_argument("candidate")
    p.add_argument("--by", required=True)
    p.add_argument("--note", default="")
    p.set_defaults(func=cmd_approve)
