"""Small, fast cycle configs shared by the tests."""

from __future__ import annotations

from qgap_assets.config import CycleConfig, Sufficiency, SyntheticMarket, WalkForward


def small_config(edge: float = 1.0, **overrides: object) -> CycleConfig:
    base = CycleConfig(synthetic=SyntheticMarket(symbols=20, days=60, seed=7, edge=edge),
                       walk_forward=WalkForward(folds=5),
                       sufficiency=Sufficiency(min_signals=10, min_decisions=10, min_trades=10))
    return base.model_copy(update=overrides)
