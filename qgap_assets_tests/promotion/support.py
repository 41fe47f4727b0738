"""Tiny cycles for the promotion tests: 5 symbols x 40 days, well under a second each."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from qgap_assets.config import CycleConfig, StrategyGrid, Sufficiency, SyntheticMarket
from qgap_assets.cycle import CycleOutcome, run_cycle
from qgap_assets.ledger.artifacts import ArtifactStore
from qgap_assets.ledger.repository import Ledger
from qgap_assets.promotion.policy import GatePolicy


def tiny_config(edge: float = 3.0, gates: GatePolicy | None = None,
                grid: StrategyGrid | None = None, seed: int = 3) -> CycleConfig:
    return CycleConfig(synthetic=SyntheticMarket(symbols=5, days=40, seed=seed, edge=edge),
                       sufficiency=Sufficiency(min_signals=10, min_decisions=10, min_trades=10),
                       gates=gates or GatePolicy(), grid=grid or StrategyGrid())


def cycle(engine: Engine, home: Path, cfg: CycleConfig | None = None) -> CycleOutcome:
    return run_cycle(cfg or tiny_config(), None, Ledger(engine), home)


def store(home: Path) -> ArtifactStore:
    return ArtifactStore(home / "artifacts")
