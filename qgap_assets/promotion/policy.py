"""The versioned promotion policy: every gate threshold and every lifecycle setting in one file.

``GatePolicy`` is a strict pydantic model (unknown keys are errors), embedded in the cycle
config as ``gates`` and loadable on its own from a JSON/YAML policy file
(:func:`load_gate_policy`). Its canonical JSON hash (:func:`policy_hash`) is recorded with every
promotion attempt (``research_runs.gate_policy_hash``, the decision report and the manifest), so
an attempt can always be re-judged under exactly the policy that judged it. Change ``version``
whenever a threshold's *meaning* changes.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from qgap_assets.ledger.hashing import hash_obj
from qgap_assets.settings_files import load_model

__all__ = ["GatePolicy", "LifecyclePolicy", "load_gate_policy", "policy_hash"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LifecyclePolicy(_Strict):
    """Canary, approvals and capital ramp (see ``promotion.lifecycle``)."""

    canary_runs: int = Field(5, ge=1, description="consecutive clean paper runs -> live_candidate")
    ramp_runs: int = Field(5, ge=1, description="clean live runs per capital-ramp stage")
    max_degraded_runs: int = Field(3, ge=0)
    canary_max_drawdown: float = Field(0.05, gt=0, description="per-run drawdown / capital")
    canary_min_fill_rate: float = Field(0.95, ge=0, le=1)
    canary_max_error_rate: float = Field(0.05, ge=0, le=1)
    canary_pnl_sigma_factor: float = Field(2.0, gt=0, description="safety factor on the "
                                           "backtest's per-run PnL standard deviation")
    canary_alpha: float = Field(0.05, gt=0, lt=1)


class GatePolicy(_Strict):
    """Thresholds of the promotion gates. Versioned: change ``version`` when semantics change."""

    version: str = "gates-v2"
    # publication window: passing evidence must persist before it is acted upon
    min_cycles: int = Field(1, ge=1, description="consecutive cycles with passing evidence")
    min_sessions: int = Field(0, ge=0, description="market sessions those cycles must span")
    min_oos_sharpe: float = 0.5
    # fold stability
    min_positive_fold_share: float = Field(0.6, ge=0, le=1)
    min_worst_fold_sharpe: float = -1.0
    # std of annualised fold Sharpes; a 10-session fold's annualised Sharpe has a sampling std
    # of about sqrt(252/10) = 5 even when the true Sharpe is constant: 15 = 3 sampling sigmas
    max_fold_sharpe_dispersion: float = Field(15.0, gt=0)
    # risk (fractions of capital = notional of one share of every symbol)
    max_drawdown_share: float = Field(0.05, gt=0)
    max_worst_day_loss_share: float = Field(0.02, gt=0)
    max_gross_exposure: float = Field(1.0, gt=0)
    max_daily_turnover: float = Field(50.0, gt=0)
    # cost robustness, confidence envelope, PSR / DSR, PBO
    min_cost_x2_pnl: float = 0.0
    confidence_level: float = Field(0.95, gt=0.5, lt=1.0)
    min_confidence_lower_bound: float = 0.0
    min_psr: float = Field(0.95, ge=0, le=1)
    min_dsr: float = Field(0.90, ge=0, le=1)
    max_pbo: float = Field(0.5, ge=0, le=1)
    lifecycle: LifecyclePolicy = LifecyclePolicy()


def policy_hash(policy: GatePolicy) -> str:
    """sha256 of the policy's canonical JSON (``ledger.hashing``), as recorded with attempts."""
    return hash_obj(policy.model_dump(mode="json"))


def load_gate_policy(path: str | Path) -> GatePolicy:
    """Read a gate-policy file (JSON or YAML); unknown keys and bad values exit 2."""
    return load_model(GatePolicy, path, "gate policy")
