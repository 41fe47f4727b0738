"""``qgap kill ...`` and ``qgap breaker ...``: argparse sub-parser builders for the main CLI.

Each builder takes the main parser's ``add_subparsers()`` object and stores its handler as
``func`` (``args.func(args) -> int``). Errors are raised as ``QgapError`` subclasses, which the
main CLI maps to exit codes (bad level/key/reason: ``InputValidationError`` -> 2).
"""

from __future__ import annotations

import argparse
import getpass
import json
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine

from qgap_assets.execution.audit import utc_now
from qgap_assets.execution.breakers import SCOPES, breaker_status, reset_breaker
from qgap_assets.execution.killswitch import (GLOBAL_KEY, LEVELS, clear_kill, kill_status,
                                              set_kill)


def _database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", default=None,
                        help="ledger database (default: QGAP_DATABASE_URL or the embedded SQLite)")


def _engine(url: str | None) -> Engine:
    from qgap_assets.ledger import db

    engine = db.make_engine(url)
    db.ensure_schema(engine)
    return engine


def add_kill_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``kill {set,clear,status}``.

    ``set`` also cancels the open orders the switch covers, through adapters configured from the
    environment (``QGAP_LEAN_RUNNER_URL``, ``ALPACA_API_KEY``/``ALPACA_SECRET_KEY``);
    ``--no-cancel`` skips that.
    """
    kill = subparsers.add_parser(
        "kill", help="set, clear or show execution kill switches",
        description="Kill switches: global > account > strategy > symbol. A set switch refuses "
                    "new orders and cancels open ones; clearing a lower level never lifts a "
                    "higher one.")
    actions = kill.add_subparsers(dest="kill_action", required=True)
    for action in ("set", "clear"):
        p = actions.add_parser(action, help=f"{action} a kill switch")
        p.add_argument("level", choices=LEVELS)
        p.add_argument("key", nargs="?", default=None,
                       help="account / strategy / symbol name (none for global)")
        p.add_argument("--reason", required=True, help="why (recorded in the ledger)")
        p.add_argument("--by", default=None, help="who (default: the OS user)")
        _database_option(p)
        if action == "set":
            p.add_argument("--no-cancel", action="store_true",
                           help="do not cancel the open orders the switch covers")
    status = actions.add_parser("status", help="show the kill switches")
    status.add_argument("--all", action="store_true", help="include cleared switches")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    _database_option(status)
    kill.set_defaults(func=run_kill_command)
    return kill


def run_kill_command(args: argparse.Namespace) -> int:
    """Execute a parsed ``qgap kill ...``; prints to stdout, returns the exit code."""
    engine = _engine(args.database_url)
    try:
        if args.kill_action == "status":
            states = kill_status(engine, include_cleared=args.all)
            if args.json:
                print(json.dumps([asdict(s) for s in states], indent=2))
                return 0
            if not states:
                print("no kill switch is on")
            for s in states:
                print(f"{s.level:8} {s.scope_key:20} {'ON ' if s.active else 'off'} "
                      f"since {s.since} by {s.actor}: {s.reason}")
            return 0
        by = args.by or getpass.getuser()
        key = args.key or GLOBAL_KEY
        if args.kill_action == "clear":
            cleared = clear_kill(engine, args.level, args.key, args.reason, by)
            print(f"cleared {args.level} {key}" if cleared
                  else f"{args.level} {key} was not on; nothing written")
            for s in kill_status(engine):
                if LEVELS.index(s.level) < LEVELS.index(args.level):
                    print(f"note: {s.level} {s.scope_key} is still on and takes precedence")
            return 0
        state = set_kill(engine, args.level, args.key, args.reason, by)
        print(f"set {state.level} {state.scope_key}: {state.reason}")
        if not args.no_cancel:
            from qgap_assets.execution.router import Router

            for result in Router.for_cancellation(engine).enforce_kill_switches():
                print(f"cancel {result.client_order_id} via {result.route_used}: {result.status}"
                      + (f" ({result.reason_code})" if result.reason_code else ""))
        return 0
    finally:
        engine.dispose()


def add_breaker_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``breaker {status,reset}`` (manual reset of a circuit breaker to ACTIVE)."""
    breaker = subparsers.add_parser("breaker", help="show or reset execution circuit breakers")
    actions = breaker.add_subparsers(dest="breaker_action", required=True)
    status = actions.add_parser("status", help="breakers that have ever moved")
    status.add_argument("--json", action="store_true")
    _database_option(status)
    reset = actions.add_parser("reset", help="reset a breaker to ACTIVE (ledgered)")
    reset.add_argument("scope", choices=SCOPES)
    reset.add_argument("key", help="adapter name (lean, alpaca, simulated) or strategy name")
    reset.add_argument("--reason", required=True)
    reset.add_argument("--by", default=None)
    _database_option(reset)
    breaker.set_defaults(func=run_breaker_command)
    return breaker


def run_breaker_command(args: argparse.Namespace) -> int:
    engine = _engine(args.database_url)
    try:
        if args.breaker_action == "status":
            states = breaker_status(engine)
            if args.json:
                print(json.dumps([asdict(s) for s in states], indent=2))
            for s in states if not args.json else ():
                print(f"{s.scope:8} {s.scope_key:20} {s.state.value:8} since {s.since} "
                      f"({s.trigger})")
            return 0
        state = reset_breaker(engine, args.scope, args.key, args.by or getpass.getuser(),
                              args.reason, utc_now())
        print(f"{state.scope} {state.scope_key}: {state.state.value}")
        return 0
    finally:
        engine.dispose()
