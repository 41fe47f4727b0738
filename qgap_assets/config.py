"""Typed, versioned configuration of one autonomy cycle.

The whole config is one pydantic model; its canonical JSON and hash are recorded with every run,
so a ledger row says exactly which settings produced it. Unknown keys are errors (a typo must not
silently fall back to a default). Files may be JSON or YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from qgap_assets.ledger.hashing import hash_obj
from qgap_assets.settings_files import load_model, validate_model
from qgap_assets.research.execution_model import ExecutionModel
from qgap_assets.promotion.policy import GatePolicy  # noqa: F401 - owned by promotion

CONFIG_VERSION = "1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyntheticMarket(_Strict):
    """Seeded synthetic minute bars; ``edge`` plants intraday momentum (0 = random walk)."""

    symbols: int = Field(20, ge=1, le=5000)
    days: int = Field(60, ge=2, le=2000)
    seed: int = 7
    edge: float = Field(1.0, ge=0.0)
    start: str = "2024-01-02"
    calendar: str = "XNYS"


class StrategyGrid(_Strict):
    """The intraday TSMOM parameter grid searched on every train fold."""

    strategy: str = "intraday-tsmom"
    lookbacks: tuple[int, ...] = (15, 30, 60)
    thresholds: tuple[float, ...] = (0.0005, 0.001, 0.002)
    cost_bps: float = Field(1.0, ge=0.0)
    feature_lag: int = Field(0, ge=0)  # bars between a feature's data and the decision (late TA)

    @model_validator(mode="after")
    def _check(self) -> StrategyGrid:
        if not self.lookbacks or any(lb < 1 for lb in self.lookbacks):
            raise ValueError("lookbacks must be a non-empty list of integers >= 1")
        if not self.thresholds or any(t < 0 for t in self.thresholds):
            raise ValueError("thresholds must be a non-empty list of numbers >= 0")
        return self


class WalkForward(_Strict):
    folds: int = Field(5, ge=1, le=100)
    scheme: Literal["expanding", "rolling"] = "expanding"
    rolling_train_sessions: int = Field(20, ge=1)
    purge_sessions: int = Field(0, ge=0)
    embargo_sessions: int = Field(1, ge=0)


class Sufficiency(_Strict):
    """The data-sufficiency guard (roadmap Workstream B); counts are over all test folds."""

    min_signals: int = Field(100, ge=0)
    min_decisions: int = Field(50, ge=0)
    min_trades: int = Field(50, ge=0)


class CycleConfig(_Strict):
    config_version: str = CONFIG_VERSION
    synthetic: SyntheticMarket = SyntheticMarket()
    grid: StrategyGrid = StrategyGrid()
    walk_forward: WalkForward = WalkForward()
    sufficiency: Sufficiency = Sufficiency()
    gates: GatePolicy = GatePolicy()
    calendar: str = "XNYS"
    execution: ExecutionModel = ExecutionModel()

    def execution_model(self) -> ExecutionModel:
        """The execution model with its fee defaulted to ``grid.cost_bps`` (what is recorded)."""
        return self.execution.resolved(self.grid.cost_bps)

    def canonical(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def hash(self) -> str:
        return hash_obj(self.canonical())


def config_from_dict(data: dict[str, Any], source: str = "config") -> CycleConfig:
    return validate_model(CycleConfig, data, source)


def load_config(path: str | Path | None) -> CycleConfig:
    """Read a JSON or YAML config file; ``None`` gives the embedded default."""
    if path is None:
        return CycleConfig()
    return load_model(CycleConfig, path, "config")
