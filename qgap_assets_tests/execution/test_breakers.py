"""Circuit breakers ACTIVE -> REDUCING -> HALTED: triggers, gating, cool-down, reset, ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from qgap_assets.execution.adapters import (AlpacaAdapter, LeanAdapter, OrderRequest,
                                            SimulatedAdapter)
from qgap_assets.execution.breakers import (ADAPTER, STRATEGY, BreakerConfig, TradingState,
                                            breaker_state, evaluate, record_pnl, reset_breaker)
from qgap_assets.execution.policy import RoutingPolicy
from qgap_assets.execution.records import execution_breaker_events
from qgap_assets.execution.router import Router
from qgap_assets_tests.execution.conftest import StepClock, intent
from qgap_assets_tests.fakes import Reply
from qgap_assets_tests.fakes.alpaca_server import FakeAlpaca
from qgap_assets_tests.fakes.lean_server import FakeLean

OFF: dict[str, Any] = dict(consecutive_failures_reducing=None, consecutive_failures_halted=None,
                           fallback_rate_reducing=None, fallback_rate_halted=None,
                           reject_rate_reducing=None, reject_rate_halted=None)
FAILURES = BreakerConfig(**{**OFF, "consecutive_failures_reducing": 2,
                            "consecutive_failures_halted": 3, "cooldown_s": 60})
DOWN = Reply(503, json={"error": "down"})


def transitions(engine: Engine) -> list[tuple[str, str, str, str, str]]:
    b = execution_breaker_events
    with engine.connect() as conn:
        rows = conn.execute(select(b).order_by(b.c.id)).all()
    return [(r.scope, r.scope_key, r.from_state, r.to_state, r.trigger) for r in rows]


def reducing_sell(sequence: int, symbol: str = "IWM") -> Any:
    """Sells 5 out of a long position of 10: risk-reducing."""
    return intent(symbol, sequence=sequence, side="sell", qty=5, position_qty=10)


def test_consecutive_failures_reduce_then_halt(engine: Engine, policy: RoutingPolicy,
                                               lean: LeanAdapter, clock: StepClock,
                                               fake_lean: FakeLean) -> None:
    router = Router(engine, policy, {"lean": lean}, breaker_config=FAILURES, clock=clock)
    fake_lean.script("POST", "/v1/orders", *[DOWN] * 10)
    assert router.route(intent("IWM", 0)).reason_code == "lean_http_5xx"
    assert router.route(intent("IWM", 1)).reason_code == "lean_http_5xx"
    assert breaker_state(engine, STRATEGY, "tsmom").state is TradingState.REDUCING
    assert breaker_state(engine, ADAPTER, "lean").state is TradingState.REDUCING

    adds_risk = router.route(intent("IWM", 2))  # REDUCING: only risk-reducing orders pass
    assert (adds_risk.status, adds_risk.reason_code) == ("refused", "strategy_reducing")
    assert len(fake_lean.calls("POST")) == 2
    assert router.route(reducing_sell(3)).reason_code == "lean_http_5xx"  # let through, failed
    assert breaker_state(engine, STRATEGY, "tsmom").state is TradingState.HALTED
    halted = router.route(reducing_sell(4))
    assert (halted.status, halted.reason_code) == ("refused", "strategy_halted")
    assert len(fake_lean.calls("POST")) == 3
    assert transitions(engine) == [
        ("strategy", "tsmom", "ACTIVE", "REDUCING", "consecutive_failures"),
        ("adapter", "lean", "ACTIVE", "REDUCING", "consecutive_failures"),
        ("strategy", "tsmom", "REDUCING", "HALTED", "consecutive_failures"),
        ("adapter", "lean", "REDUCING", "HALTED", "consecutive_failures"),
    ]


def test_a_tripped_adapter_is_skipped_for_the_fallback(engine: Engine, policy: RoutingPolicy,
                                                       lean: LeanAdapter, alpaca: AlpacaAdapter,
                                                       clock: StepClock, fake_lean: FakeLean,
                                                       fake_alpaca: FakeAlpaca) -> None:
    router = Router(engine, policy, {"lean": lean, "alpaca": alpaca}, breaker_config=FAILURES,
                    clock=clock)
    fake_lean.script("POST", "/v1/orders", *[DOWN] * 10)
    for seq in (0, 1):
        assert router.route(intent("SPY", seq)).fallback_reason == "lean_http_5xx"
    reducing = router.route(intent("SPY", 2))
    assert (reducing.route_used, reducing.fallback_reason) == ("alpaca_fallback", "lean_reducing")
    assert router.route(reducing_sell(3, "SPY")).fallback_reason == "lean_http_5xx"
    halted = router.route(intent("SPY", 4))
    assert (halted.route_used, halted.fallback_reason) == ("alpaca_fallback", "lean_halted")
    assert len(fake_lean.calls("POST")) == 3 and len(fake_alpaca.orders) == 5
    assert breaker_state(engine, STRATEGY, "tsmom").state is TradingState.ACTIVE  # all placed


def test_cooldown_steps_down_one_level_at_a_time_and_reset(engine: Engine, policy: RoutingPolicy,
                                                           lean: LeanAdapter, clock: StepClock,
                                                           fake_lean: FakeLean) -> None:
    router = Router(engine, policy, {"lean": lean}, breaker_config=FAILURES, clock=clock)
    fake_lean.script("POST", "/v1/orders", *[DOWN] * 3)
    for seq in range(3):
        router.route(reducing_sell(seq))
    assert breaker_state(engine, STRATEGY, "tsmom").state is TradingState.HALTED

    clock.advance(30)  # still cooling down
    assert evaluate(engine, STRATEGY, "tsmom", FAILURES, clock()).state is TradingState.HALTED
    clock.advance(31)
    assert evaluate(engine, STRATEGY, "tsmom", FAILURES, clock()).state is TradingState.REDUCING
    assert router.route(intent("IWM", 10)).reason_code == "strategy_reducing"
    assert router.route(reducing_sell(11)).status == "filled"  # LEAN healthy again
    clock.advance(61)
    assert evaluate(engine, STRATEGY, "tsmom", FAILURES, clock()).state is TradingState.ACTIVE

    reset = reset_breaker(engine, ADAPTER, "lean", "ops", "runner restarted", clock())
    assert reset.state is TradingState.ACTIVE and reset.trigger == "manual_reset"
    steps = transitions(engine)
    assert [t[2:] for t in steps if t[0] == "strategy"][-2:] == [
        ("HALTED", "REDUCING", "cooldown"), ("REDUCING", "ACTIVE", "cooldown")]
    # the adapter cooled down to REDUCING when the risk-reducing order reached it
    assert [t[2:] for t in steps if t[0] == "adapter"][-2:] == [
        ("HALTED", "REDUCING", "cooldown"), ("REDUCING", "ACTIVE", "manual_reset")]
    assert evaluate(engine, ADAPTER, "lean", FAILURES, clock()).state is TradingState.ACTIVE


def test_reject_rate(engine: Engine, policy: RoutingPolicy, clock: StepClock) -> None:
    config = BreakerConfig(**{**OFF, "window_orders": 4, "min_orders": 4,
                              "reject_rate_reducing": 0.5, "reject_rate_halted": 0.75})
    no_liquidity = SimulatedAdapter(lambda order: (50.0, 0.0))
    router = Router(engine, policy, {"simulated": no_liquidity}, breaker_config=config,
                    clock=clock)
    for seq in range(3):
        assert router.route(intent("SIM", seq)).reason_code == "simulated_rejected"
    assert breaker_state(engine, STRATEGY, "tsmom").state is TradingState.ACTIVE  # < min_orders
    router.route(intent("SIM", 3))
    assert [t[1:] for t in transitions(engine)] == [
        ("tsmom", "ACTIVE", "HALTED", "reject_rate"),
        ("simulated", "ACTIVE", "HALTED", "reject_rate")]


def test_fallback_rate(engine: Engine, policy: RoutingPolicy, lean: LeanAdapter,
                       alpaca: AlpacaAdapter, clock: StepClock, fake_lean: FakeLean) -> None:
    config = BreakerConfig(**{**OFF, "window_orders": 3, "min_orders": 3,
                              "fallback_rate_reducing": 0.5, "fallback_rate_halted": 0.9})
    router = Router(engine, policy, {"lean": lean, "alpaca": alpaca}, breaker_config=config,
                    clock=clock)
    fake_lean.script("POST", "/v1/orders", *[DOWN] * 3)
    for seq in range(3):
        assert router.route(intent("SPY", seq)).route_used == "alpaca_fallback"
    assert [t[1:] for t in transitions(engine)] == [
        ("tsmom", "ACTIVE", "HALTED", "fallback_rate"),
        ("lean", "ACTIVE", "HALTED", "fallback_rate")]


def test_daily_loss_holds_until_the_pnl_recovers(engine: Engine, clock: StepClock) -> None:
    config = BreakerConfig(**{**OFF, "daily_loss_reducing": 500.0, "daily_loss_halted": 1000.0,
                              "cooldown_s": 60})
    today = clock.now.date().isoformat()

    def step() -> TradingState:
        return evaluate(engine, STRATEGY, "tsmom", config, clock()).state

    record_pnl(engine, "tsmom", today, -600.0, clock())
    assert step() is TradingState.REDUCING
    record_pnl(engine, "tsmom", today, -1200.0, clock())
    assert step() is TradingState.HALTED
    clock.advance(3600)
    assert step() is TradingState.HALTED  # a cool-down does not forgive a loss
    record_pnl(engine, "tsmom", today, -700.0, clock())
    clock.advance(61)
    assert step() is TradingState.REDUCING
    clock.advance(61)
    assert step() is TradingState.REDUCING  # still beyond the REDUCING limit
    clock.advance(86400)  # a new session date has no loss yet
    assert step() is TradingState.ACTIVE
    assert [t[4] for t in transitions(engine)] == [
        "daily_loss", "daily_loss", "cooldown", "cooldown"]


def test_transitions_form_a_chain(engine: Engine, policy: RoutingPolicy, lean: LeanAdapter,
                                  clock: StepClock, fake_lean: FakeLean) -> None:
    """Each breaker's from_state is the previous to_state: the ledger is its full history."""
    router = Router(engine, policy, {"lean": lean}, breaker_config=FAILURES, clock=clock)
    fake_lean.script("POST", "/v1/orders", *[DOWN] * 4)
    for seq in range(4):
        router.route(reducing_sell(seq))
        clock.advance(61)
        evaluate(engine, STRATEGY, "tsmom", FAILURES, clock())
    last: dict[tuple[str, str], str] = {}
    for scope, key, from_state, to_state, _ in transitions(engine):
        assert from_state == last.get((scope, key), "ACTIVE") and from_state != to_state
        last[(scope, key)] = to_state
    assert len(transitions(engine)) >= 4


def test_simulated_adapter_is_deterministic() -> None:
    adapter = SimulatedAdapter(lambda order: (42.0, order.qty / 2))
    order = OrderRequest("qg-s", "SIM", "buy", 4.0)
    first, second = adapter.submit(order), adapter.submit(order)
    assert first == second and first.order is not None
    assert (first.order.status, first.order.filled_qty) == ("partially_filled", 2.0)
    assert adapter.cancel("qg-s").order.status == "canceled"  # type: ignore[union-attr]
