"""Control validation: advised paper runs against unadvised control runs, before advice may act.

paper_bounded (and so live_advisory) requires a recorded, passed validation for the candidate.
The advised arm runs the counterfactual intents that paper_review recorded; the control arm is
the unchanged lane. Advice passes only if, over at least ``min_runs`` runs per arm, it caused no
more errors, did not lower mean P&L beyond a tolerance, and did not deepen the worst run: bounded
advice is meant to reduce risk, so evidence of the opposite keeps it out of the lane.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from qgap_assets.advisory.models import PaperRun

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ValidationCode(StrEnum):
    INSUFFICIENT_RUNS = "insufficient_runs"
    ADVISED_MORE_ERRORS = "advised_more_errors"
    ADVISED_PNL_SHORTFALL = "advised_pnl_shortfall"
    ADVISED_WORSE_TAIL = "advised_worse_tail"


class ControlCriteria(BaseModel):
    model_config = _FROZEN
    min_runs: int = Field(default=5, ge=1)
    max_mean_pnl_shortfall: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    max_worst_run_shortfall: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)


class ControlValidation(BaseModel):
    model_config = _FROZEN
    strategy: str = Field(min_length=1, max_length=128)
    candidate_key: str = Field(min_length=1, max_length=64)
    criteria: ControlCriteria
    advised_runs: tuple[PaperRun, ...]
    control_runs: tuple[PaperRun, ...]
    passed: bool
    reason_codes: tuple[ValidationCode, ...]
    metrics: dict[str, float]


def _mean(runs: tuple[PaperRun, ...]) -> float:
    return sum(r.pnl for r in runs) / len(runs) if runs else 0.0


def evaluate_control_validation(strategy: str, candidate_key: str,
                                advised_runs: list[PaperRun] | tuple[PaperRun, ...],
                                control_runs: list[PaperRun] | tuple[PaperRun, ...],
                                criteria: ControlCriteria = ControlCriteria()) -> ControlValidation:
    """Compare the arms (pure; ``store.record_control_validation`` ledgers the result)."""
    advised, control = tuple(advised_runs), tuple(control_runs)
    codes: list[ValidationCode] = []
    metrics = {
        "advised_mean_pnl": _mean(advised), "control_mean_pnl": _mean(control),
        "advised_worst_pnl": min((r.pnl for r in advised), default=0.0),
        "control_worst_pnl": min((r.pnl for r in control), default=0.0),
        "advised_errors": float(sum(r.errors for r in advised)),
        "control_errors": float(sum(r.errors for r in control)),
    }
    if min(len(advised), len(control)) < criteria.min_runs:
        codes.append(ValidationCode.INSUFFICIENT_RUNS)
    if metrics["advised_errors"] > metrics["control_errors"]:
        codes.append(ValidationCode.ADVISED_MORE_ERRORS)
    if metrics["advised_mean_pnl"] < metrics["control_mean_pnl"] - criteria.max_mean_pnl_shortfall:
        codes.append(ValidationCode.ADVISED_PNL_SHORTFALL)
    if metrics["advised_worst_pnl"] < metrics["control_worst_pnl"] - criteria.max_worst_run_shortfall:
        codes.append(ValidationCode.ADVISED_WORSE_TAIL)
    return ControlValidation(strategy=strategy, candidate_key=candidate_key, criteria=criteria,
                             advised_runs=advised, control_runs=control, passed=not codes,
                             reason_codes=tuple(codes), metrics=metrics)
