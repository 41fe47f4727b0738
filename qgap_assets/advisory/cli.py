"""`qgap advisory ...`: show a strategy's advisory stage, change it (approved, one step up at a
time, any step down), and record an independent challenge review. Every change is a ledger row;
a refused change writes nothing and exits 1 naming the rule."""

from __future__ import annotations

import argparse
import json
from typing import Any

from qgap_assets.advisory.models import Stage
from qgap_assets.advisory.stages import ChallengeReview, StageTransition
from qgap_assets.advisory.store import (current_stage, record_challenge_review, stage_history,
                                        transition_stage)


def _engine():  # type: ignore[no-untyped-def]
    from qgap_assets.ledger import db

    engine = db.make_engine()
    db.ensure_schema(engine)
    return engine


def _show(args: argparse.Namespace) -> int:
    engine = _engine()
    history = [e.model_dump(mode="json") for e in stage_history(engine, args.strategy)]
    out = {"strategy": args.strategy, "stage": current_stage(engine, args.strategy).value,
           "history": history}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{args.strategy}: {out['stage']}")
        for e in history:
            print(f"  #{e['seq']} {e['from_stage']} -> {e['to_stage']} by {e['approver']} "
                  f"at {e['created_at']}: {e['reason']}")
    return 0


def _set(args: argparse.Namespace) -> int:
    event = transition_stage(_engine(), StageTransition(
        strategy=args.strategy, to_stage=Stage(args.stage), approver=args.by,
        reason=args.reason, candidate_key=args.candidate))
    print(f"{args.strategy}: {event.from_stage.value} -> {event.to_stage.value} (event {event.event_id})")
    return 0


def _challenge(args: argparse.Namespace) -> int:
    review = ChallengeReview(strategy=args.strategy, candidate_key=args.candidate,
                             reviewer=args.reviewer,
                             candidate_approvers=tuple(a for a in args.approvers.split(",") if a),
                             findings=tuple(args.finding),
                             outcome="objection" if args.objection else "cleared")
    review_id = record_challenge_review(_engine(), review)
    print(f"challenge review {review_id} recorded ({review.outcome})")
    return 0


def add_advisory_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("advisory", help="LLM advisory stages and challenge reviews")
    sub = p.add_subparsers(dest="advisory_command", required=True)
    q = sub.add_parser("stage", help="a strategy's current stage and its history")
    q.add_argument("strategy")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_show)
    q = sub.add_parser("set-stage", help="approved stage change (one step up, or any step down)")
    q.add_argument("strategy")
    q.add_argument("stage", choices=[s.value for s in Stage])
    q.add_argument("--by", required=True, help="approver")
    q.add_argument("--reason", default="")
    q.add_argument("--candidate", help="candidate key (required to raise the stage)")
    q.set_defaults(func=_set)
    q = sub.add_parser("challenge", help="record an independent challenge review of a candidate")
    q.add_argument("strategy")
    q.add_argument("candidate")
    q.add_argument("--reviewer", required=True)
    q.add_argument("--approvers", default="", help="comma-separated approvers of the candidate")
    q.add_argument("--finding", action="append", default=[], help="a finding (repeatable)")
    q.add_argument("--objection", action="store_true", help="the review objects")
    q.set_defaults(func=_challenge)
    return p
