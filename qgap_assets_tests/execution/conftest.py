"""Fixtures of the execution tests: fake venues on 127.0.0.1, adapters pointed at them, a
stepping clock and a router on a ledger database (SQLite and PostgreSQL).

Databases: ``db_url`` (and so ``engine``) is overridden here with the same contract - a fresh
database at head per test, on SQLite and PostgreSQL - but copied from a template migrated once
per session (a file copy; ``CREATE DATABASE ... TEMPLATE``) instead of running every migration
for every test. Routing tests go further and share one database per module and backend
(``shared_engine``), kept apart by a run id per test (``make_intent``). Tests about global state
(kill switches, breakers, alerts) use a fresh ``engine``; migration tests use ``empty_db_url``.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from qgap_assets.ledger import db

from qgap_assets.execution.adapters import (AlpacaAdapter, LeanAdapter, RetryPolicy,
                                            SimulatedAdapter, fixed_price)
from qgap_assets.execution.breakers import BreakerConfig
from qgap_assets.execution.orders import OrderIntent
from qgap_assets.execution.policy import RoutingPolicy, parse_policy
from qgap_assets.execution.router import Router
from qgap_assets_tests.conftest import PG_SERVER, PgDatabases
from qgap_assets_tests.fakes.alpaca_server import FakeAlpaca
from qgap_assets_tests.fakes.lean_server import FakeLean

API_KEY = "PKQGAPTEST0000000042"
SECRET = "qgap-TEST-secret-5f9c0e7d-never-in-logs"
READ_TIMEOUT_S = 0.2
SLOW_S = 0.6  # a fake that sleeps this long makes the client time out

POLICY_DOC: dict[str, Any] = {
    "version": "test-1",
    "default_adapter": "lean",
    "fallback": {"allowed": True},
    "symbols": {"SPY": {}, "IWM": {"allow_fallback": False}, "QQQ": {"adapter": "alpaca"},
                "SIM": {"adapter": "simulated"}},
}


class StepClock:
    """Deterministic time: every reading is 1 ms after the previous one."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 15, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Sleeps(list):
    """An injected sleeper that records the waits instead of spending them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def retry(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(max_retries=2, default_wait_s=0.01, max_wait_s=0.05, sleep=sleeps)


@pytest.fixture
def fake_alpaca() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(api_key=API_KEY, secret_key=SECRET) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def fake_lean() -> Iterator[FakeLean]:
    with FakeLean() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def alpaca(fake_alpaca: FakeAlpaca, retry: RetryPolicy) -> AlpacaAdapter:
    return AlpacaAdapter(API_KEY, SECRET, url_override=fake_alpaca.url, connect_timeout_s=1.0,
                         read_timeout_s=READ_TIMEOUT_S, retry=retry)


@pytest.fixture
def lean(fake_lean: FakeLean, retry: RetryPolicy) -> LeanAdapter:
    return LeanAdapter(fake_lean.url, connect_timeout_s=1.0, read_timeout_s=READ_TIMEOUT_S,
                       retry=retry)


@pytest.fixture
def policy() -> RoutingPolicy:
    return parse_policy(POLICY_DOC)


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


# Breakers that never trip unless a test asks for it: routing tests stay about routing.
QUIET_BREAKERS = BreakerConfig(consecutive_failures_reducing=None, consecutive_failures_halted=None,
                               fallback_rate_reducing=None, fallback_rate_halted=None,
                               reject_rate_reducing=None, reject_rate_halted=None)


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory,
                       pg_databases: PgDatabases) -> dict[str, str]:
    """A SQLite file and a PostgreSQL database migrated to head once, to copy from."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    db.upgrade(f"sqlite:///{path}")
    name = f"{pg_databases.prefix}_exec_template"
    with pg_databases.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    pg_databases.created.append(name)
    db.upgrade(f"{PG_SERVER}/{name}")  # alembic uses NullPool: no connection is left open
    return {"sqlite": str(path), "postgresql": name}


def _fresh_copy(kind: str, directory: Any, templates: dict[str, str],
                pg_databases: PgDatabases) -> str:
    if kind == "sqlite":
        target = directory / "ledger.db"
        shutil.copyfile(templates["sqlite"], target)
        return f"sqlite:///{target}"
    name = f"{pg_databases.prefix}_exec_{len(pg_databases.created)}"
    with pg_databases.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{templates["postgresql"]}"'))
    pg_databases.created.append(name)
    return f"{PG_SERVER}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any, pg_databases: PgDatabases,
           migrated_templates: dict[str, str]) -> str:
    """A fresh ledger database at head (a copy of the migrated template)."""
    return _fresh_copy(request.param, tmp_path, migrated_templates, pg_databases)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  pg_databases: PgDatabases,
                  migrated_templates: dict[str, str]) -> Iterator[Engine]:
    """One ledger per test module and backend."""
    url = _fresh_copy(request.param, tmp_path_factory.mktemp("shared"), migrated_templates,
                      pg_databases)
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def make_intent(request: pytest.FixtureRequest) -> Callable[..., OrderIntent]:
    """``intent`` with a run id unique to the test, so tests sharing a ledger never collide."""
    run_id = "run-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    return lambda *args, **kwargs: intent(*args, **{"run_id": run_id, **kwargs})


@pytest.fixture
def router(shared_engine: Engine, policy: RoutingPolicy, lean: LeanAdapter, alpaca: AlpacaAdapter,
           clock: StepClock) -> Router:
    return Router(shared_engine, policy, {"lean": lean, "alpaca": alpaca,
                                   "simulated": SimulatedAdapter(fixed_price(50.0))},
                  account="paper", breaker_config=QUIET_BREAKERS, clock=clock)


def intent(symbol: str = "SPY", sequence: int = 0, side: str = "buy", qty: float = 10,
           **kwargs: Any) -> OrderIntent:
    fields: dict[str, Any] = {"strategy": "tsmom", "candidate": "cand-a", "run_id": "run-1"}
    fields.update(kwargs)
    return OrderIntent(symbol=symbol, sequence=sequence, side=side, qty=qty, **fields)
