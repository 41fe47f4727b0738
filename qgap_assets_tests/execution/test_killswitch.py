"""Kill switches: the whole precedence matrix, scoping, cancellation of open orders, the CLI."""

from __future__ import annotations

import argparse
import itertools
import json

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from qgap_assets.errors import InputValidationError
from qgap_assets.execution.adapters import (AlpacaAdapter, LeanAdapter, SimulatedAdapter,
                                            fixed_price)
from qgap_assets.execution.cli import add_kill_parser
from qgap_assets.execution.killswitch import (LEVELS, blocking_kill, clear_kill, kill_status,
                                              set_kill)
from qgap_assets.execution.policy import RoutingPolicy, parse_policy
from qgap_assets.execution.records import execution_kill_events, execution_order_events
from qgap_assets.execution.router import Router
from qgap_assets_tests.execution.conftest import (API_KEY, POLICY_DOC, QUIET_BREAKERS, SECRET,
                                                  StepClock, intent)
from qgap_assets_tests.fakes.alpaca_server import FakeAlpaca
from qgap_assets_tests.fakes.lean_server import FakeLean

KEYS = {"global": None, "account": "acct-A", "strategy": "tsmom", "symbol": "SIM"}
ORDER_SCOPE = {"account": "acct-A", "strategy": "tsmom", "symbol": "SIM"}


def _level(engine: Engine, **scope: str) -> str | None:
    state = blocking_kill(engine, **{**ORDER_SCOPE, **scope})
    return state.level if state else None


def test_precedence_matrix(engine: Engine, policy: RoutingPolicy, clock: StepClock) -> None:
    """Every combination of the four levels: the highest one set blocks (and is the reason),
    clearing any lower level never lifts it, and only clearing it (and those below) does."""
    router = Router(engine, policy, {"simulated": SimulatedAdapter(fixed_price(50.0))},
                    account="acct-A", breaker_config=QUIET_BREAKERS, clock=clock)
    for n, combo in enumerate(itertools.product([False, True], repeat=len(LEVELS))):
        on = [level for level, flag in zip(LEVELS, combo) if flag]
        for level in on:
            set_kill(engine, level, KEYS[level], f"matrix {n}", "tester", clock=clock)
        expected = on[0] if on else None
        assert _level(engine) == expected, combo
        result = router.route(intent("SIM", sequence=n))
        if expected is None:
            assert (result.status, result.reason_code) == ("filled", None)
        else:
            assert (result.status, result.reason_code) == ("refused", f"kill_{expected}")
        # an order outside every named scope is stopped by the global switch only
        assert _level(engine, account="acct-B", strategy="other", symbol="SPY") == (
            "global" if "global" in on else None)
        # clearing lower levels (set or not) never re-enables what the highest one stopped
        for level in LEVELS[LEVELS.index(expected) + 1:] if expected else ():
            cleared = clear_kill(engine, level, KEYS[level], "try to re-enable", "tester",
                                 clock=clock)
            assert (cleared is not None) == (level in on)
            assert _level(engine) == expected
        if expected is not None:
            clear_kill(engine, expected, KEYS[expected], "done", "tester", clock=clock)
        assert _level(engine) is None and kill_status(engine) == []


@pytest.mark.parametrize("level, key", [("account", "acct-A"), ("strategy", "tsmom"),
                                        ("symbol", "SIM")])
def test_each_level_covers_exactly_its_scope(engine: Engine, level: str, key: str) -> None:
    set_kill(engine, level, key, "scope test", "tester")
    for account, strategy, symbol in itertools.product(("acct-A", "acct-B"), ("tsmom", "other"),
                                                       ("SIM", "SPY")):
        covered = {"account": account, "strategy": strategy, "symbol": symbol}[level] == key
        blocked = blocking_kill(engine, account=account, strategy=strategy, symbol=symbol)
        assert (blocked is not None) == covered


def test_switch_history_is_kept_and_validated(engine: Engine) -> None:
    set_kill(engine, "symbol", "SPY", "first", "alice")
    set_kill(engine, "symbol", "SPY", "again, louder", "bob")
    assert clear_kill(engine, "symbol", "SPY", "fixed", "carol") is not None
    assert clear_kill(engine, "symbol", "SPY", "twice", "carol") is None  # nothing written
    with engine.connect() as conn:
        rows = conn.execute(select(execution_kill_events).order_by(execution_kill_events.c.id))
        assert [(r.action, r.actor, r.reason) for r in rows] == [
            ("set", "alice", "first"), ("set", "bob", "again, louder"), ("clear", "carol", "fixed")]
    with pytest.raises(InputValidationError, match="needs a key"):
        set_kill(engine, "strategy", None, "no key", "x")
    with pytest.raises(InputValidationError, match="level must be one of"):
        set_kill(engine, "desk", "x", "bad level", "x")
    with pytest.raises(InputValidationError, match="reason is required"):
        set_kill(engine, "global", None, " ", "x")


def _open_orders(engine: Engine, lean: LeanAdapter, alpaca: AlpacaAdapter, clock: StepClock,
                 fake_lean: FakeLean, fake_alpaca: FakeAlpaca) -> Router:
    fake_lean.behavior["SPY"] = fake_alpaca.behavior["QQQ"] = "accept"
    router = Router(engine, parse_policy(POLICY_DOC), {"lean": lean, "alpaca": alpaca},
                    account="acct-A", breaker_config=QUIET_BREAKERS, clock=clock)
    assert router.route(intent("SPY")).status == "accepted"
    assert router.route(intent("QQQ")).status == "accepted"
    assert router.route(intent("QQQ", strategy="other")).status == "accepted"
    return router


def test_kill_cancels_the_open_orders_it_covers(engine: Engine, lean: LeanAdapter,
                                                alpaca: AlpacaAdapter, clock: StepClock,
                                                fake_lean: FakeLean,
                                                fake_alpaca: FakeAlpaca) -> None:
    router = _open_orders(engine, lean, alpaca, clock, fake_lean, fake_alpaca)
    set_kill(engine, "strategy", "tsmom", "drawdown", "ops", clock=clock)
    results = router.enforce_kill_switches()
    assert sorted((r.route_used, r.status, r.reason_code) for r in results) == [
        ("alpaca", "canceled", "kill_strategy"), ("lean", "canceled", "kill_strategy")]
    assert [o["status"] for o in fake_lean.orders.values()] == ["canceled"]
    assert sorted(o["status"] for o in fake_alpaca.orders.values()) == ["accepted", "canceled"]
    assert router.enforce_kill_switches() == []  # nothing open is covered any more
    assert router.route(intent("SPY", sequence=1)).reason_code == "kill_strategy"
    with engine.connect() as conn:
        cancels = conn.execute(select(execution_order_events).where(
            execution_order_events.c.kind == "cancel")).all()
    assert sorted(r.reason_code for r in cancels) == ["kill_strategy", "kill_strategy"]


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="qgap")
    add_kill_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return int(args.func(args))


def test_cli_set_status_clear(db_url: str, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QGAP_LEAN_RUNNER_URL", "ALPACA_API_KEY", "ALPACA_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    db = ("--database-url", db_url)
    assert _cli("kill", "set", "global", "--reason", "market halt", "--by", "ops", *db) == 0
    assert _cli("kill", "set", "symbol", "SPY", "--reason", "bad prints", "--no-cancel", *db) == 0
    assert _cli("kill", "status", "--json", *db) == 0
    out = capsys.readouterr().out
    status = json.loads(out[out.index("["):])
    assert [(s["level"], s["scope_key"], s["active"]) for s in status] == [
        ("global", "*", True), ("symbol", "SPY", True)]
    assert _cli("kill", "clear", "symbol", "SPY", "--reason", "ok", *db) == 0
    out = capsys.readouterr().out
    assert "cleared symbol SPY" in out and "note: global * is still on" in out
    assert _cli("kill", "clear", "symbol", "SPY", "--reason", "again", *db) == 0
    assert "was not on" in capsys.readouterr().out
    with pytest.raises(InputValidationError, match="needs a key"):
        _cli("kill", "set", "strategy", "--reason", "x", *db)


def test_cli_set_cancels_through_env_configured_adapters(
        engine: Engine, db_url: str, lean: LeanAdapter, alpaca: AlpacaAdapter, clock: StepClock,
        fake_lean: FakeLean, fake_alpaca: FakeAlpaca, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _open_orders(engine, lean, alpaca, clock, fake_lean, fake_alpaca)
    monkeypatch.setenv("QGAP_LEAN_RUNNER_URL", fake_lean.url)
    monkeypatch.setenv("ALPACA_API_KEY", API_KEY)
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET)
    monkeypatch.setenv("ALPACA_BASE_URL", fake_alpaca.url)
    assert _cli("kill", "set", "account", "acct-A", "--reason", "wind down",
                "--database-url", db_url) == 0
    out = capsys.readouterr().out
    assert out.count(": canceled (kill_account)") == 3
    assert {o["status"] for o in fake_alpaca.orders.values()} == {"canceled"}
    assert SECRET not in out
