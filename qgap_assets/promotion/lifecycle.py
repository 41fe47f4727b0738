"""The candidate lifecycle: which promotion steps are legal, and what evidence each step needs.

Pure functions over frozen records: nothing here reads a clock it was not given (except the
documented default of :func:`record_approval`), touches a database or calls a broker. A ledger
(written elsewhere) appends the :class:`LifecycleEvent` values and :class:`TransitionResult`
outcomes; replaying them through :func:`transition` must reproduce every state, which is why the
evidence a guard looks at travels in :class:`TransitionContext` instead of being fetched.

States and legal transitions (anything else is refused with ``illegal_transition``)::

    candidate       --promote-------> paper_candidate   research gates passed
    paper_candidate --start_canary--> paper             the paper canary starts
    paper           --canary_passed-> live_candidate    N consecutive clean canary runs
    live_candidate  --go_live-------> live              2 distinct approvals, ramp at stage 1
    live            --drop_back-----> paper             kill switch / regression drop-back
    paper_candidate, paper,
    live_candidate, live --rollback-> rolled_back       critical regression
    every state but retired --retire-> retired          terminal

``rolled_back`` is not terminal only so that it can be retired; a rolled-back strategy comes
back, if ever, as a new candidate with a new id, so its audit trail never merges with the old one.
The only way into ``live`` is ``go_live`` from ``live_candidate``, the only way into
``live_candidate`` is ``canary_passed`` from ``paper``: no event sequence reaches live without a
paper canary and two distinct approvers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

from qgap_assets.errors import InputValidationError
from qgap_assets.ledger.hashing import utc_now_iso
from qgap_assets.promotion.stats import anytime_valid_mean_lower_bound

__all__ = [
    "State",
    "EventKind",
    "Reason",
    "Regression",
    "CanaryOutcome",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "CRITICAL_REGRESSIONS",
    "RAMP_STAGES",
    "REQUIRED_APPROVALS",
    "DEFAULT_CANARY_RUNS_REQUIRED",
    "DEFAULT_RAMP_RUNS_REQUIRED",
    "Approval",
    "ApprovalResult",
    "LifecycleEvent",
    "TransitionContext",
    "TransitionResult",
    "RampStep",
    "Fill",
    "CanaryObservation",
    "SimulatorExpectation",
    "CanaryEnvelope",
    "CanaryRunVerdict",
    "transition",
    "apply_events",
    "record_approval",
    "approvals_satisfied",
    "distinct_approvers",
    "next_ramp_stage",
    "evaluate_canary_run",
    "canary_outcome",
]


class State(StrEnum):
    CANDIDATE = "candidate"
    PAPER_CANDIDATE = "paper_candidate"
    PAPER = "paper"
    LIVE_CANDIDATE = "live_candidate"
    LIVE = "live"
    ROLLED_BACK = "rolled_back"
    RETIRED = "retired"


class EventKind(StrEnum):
    PROMOTE = "promote"
    START_CANARY = "start_canary"
    CANARY_PASSED = "canary_passed"
    GO_LIVE = "go_live"
    DROP_BACK = "drop_back"
    ROLLBACK = "rollback"
    RETIRE = "retire"


class Reason(StrEnum):
    """Reason codes of transitions, approvals and ramp steps (the audit-trail vocabulary)."""

    OK = "ok"
    ILLEGAL_TRANSITION = "illegal_transition"
    GATES_NOT_PASSED = "gates_not_passed"
    CANARY_NOT_PASSED = "canary_not_passed"
    INSUFFICIENT_APPROVALS = "insufficient_approvals"
    RAMP_NOT_AT_FIRST_STAGE = "ramp_not_at_first_stage"
    DUPLICATE_APPROVER = "duplicate_approver"
    EMPTY_APPROVER = "empty_approver"
    RAMP_ADVANCED = "ramp_advanced"
    RAMP_RUNS_PENDING = "ramp_runs_pending"
    RAMP_AT_FULL_CAPITAL = "ramp_at_full_capital"


REASON_MEANINGS: Mapping[Reason, str] = MappingProxyType({
    Reason.OK: "the transition / approval was applied",
    Reason.ILLEGAL_TRANSITION: "no edge from the current state for this event (names from/to)",
    Reason.GATES_NOT_PASSED: "promote needs context.gates_passed (the research gates' verdict)",
    Reason.CANARY_NOT_PASSED: "canary_passed needs canary_outcome(...) == promote_live_candidate",
    Reason.INSUFFICIENT_APPROVALS: "go_live needs REQUIRED_APPROVALS distinct approvers",
    Reason.RAMP_NOT_AT_FIRST_STAGE: "go_live must start at ramp stage index 0 (10% capital)",
    Reason.DUPLICATE_APPROVER: "this approver already approved (casefolded, stripped)",
    Reason.EMPTY_APPROVER: "an approval must name its approver",
    Reason.RAMP_ADVANCED: "enough clean runs in this stage: capital moves to the next stage",
    Reason.RAMP_RUNS_PENDING: "not yet enough clean runs in this stage",
    Reason.RAMP_AT_FULL_CAPITAL: "already at the last stage (100%)",
})


class Regression(StrEnum):
    """What a canary run can find wrong (reason codes of :class:`CanaryRunVerdict`)."""

    PAPER_BACKTEST_MISMATCH = "paper_backtest_mismatch"
    DRAWDOWN_BREACH = "drawdown_breach"
    FILL_RATE_COLLAPSE = "fill_rate_collapse"
    ERROR_RATE_EXCEEDED = "error_rate_exceeded"
    PNL_BELOW_CONFIDENCE_BOUND = "pnl_below_confidence_bound"


# Critical: the strategy itself is wrong or unsafe -> roll back at once. A mismatch means the
# traded code is not the tested code; a drawdown breach is a risk-limit breach; the PnL test is
# anytime-valid, so it fires on a real shortfall with false-alarm probability <= alpha.
# Fill-rate collapse and error rate are usually operational (broker/data outage): the run is not
# clean (it does not count towards promotion) but alone it does not condemn the strategy.
CRITICAL_REGRESSIONS: frozenset[Regression] = frozenset({
    Regression.PAPER_BACKTEST_MISMATCH,
    Regression.DRAWDOWN_BREACH,
    Regression.PNL_BELOW_CONFIDENCE_BOUND,
})


class CanaryOutcome(StrEnum):
    CONTINUE = "continue"
    PROMOTE_LIVE_CANDIDATE = "promote_live_candidate"
    ROLLBACK = "rollback"


TERMINAL_STATES: frozenset[State] = frozenset({State.RETIRED})

_ROLLBACK_SOURCES = (State.PAPER_CANDIDATE, State.PAPER, State.LIVE_CANDIDATE, State.LIVE)

TRANSITIONS: Mapping[tuple[State, EventKind], State] = MappingProxyType({
    (State.CANDIDATE, EventKind.PROMOTE): State.PAPER_CANDIDATE,
    (State.PAPER_CANDIDATE, EventKind.START_CANARY): State.PAPER,
    (State.PAPER, EventKind.CANARY_PASSED): State.LIVE_CANDIDATE,
    (State.LIVE_CANDIDATE, EventKind.GO_LIVE): State.LIVE,
    (State.LIVE, EventKind.DROP_BACK): State.PAPER,
    **{(s, EventKind.ROLLBACK): State.ROLLED_BACK for s in _ROLLBACK_SOURCES},
    **{(s, EventKind.RETIRE): State.RETIRED for s in State if s not in TERMINAL_STATES},
})

# Each event has exactly one target state; used to name "to" in illegal_transition messages.
_EVENT_TARGET: Mapping[EventKind, State] = MappingProxyType(
    {kind: to for (_, kind), to in TRANSITIONS.items()})

RAMP_STAGES: tuple[float, ...] = (0.10, 0.25, 0.50, 1.00)
REQUIRED_APPROVALS = 2
DEFAULT_CANARY_RUNS_REQUIRED = 5
DEFAULT_RAMP_RUNS_REQUIRED = 5
DEFAULT_MAX_DEGRADED_RUNS = 3


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise InputValidationError(message)


def _finite(value: float, name: str) -> None:
    _require(isinstance(value, (int, float)) and math.isfinite(value),
             f"{name}: rule 'finite number' broken, got {value!r}")


def _count(value: int, name: str) -> None:
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
             f"{name}: rule 'integer >= 0' broken, got {value!r}")


# --------------------------------------------------------------------------------------------
# approvals
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Approval:
    """One human sign-off for going live. ``approved_at`` is an ISO-8601 UTC string."""

    approver: str
    approved_at: str
    note: str = ""

    @property
    def approver_key(self) -> str:
        """Identity used for distinctness: stripped and casefolded, so 'Alice' == 'alice '."""
        return self.approver.strip().casefold()


@dataclass(frozen=True)
class ApprovalResult:
    """Outcome of :func:`record_approval`; on refusal ``approvals`` is the input unchanged."""

    ok: bool
    approvals: tuple[Approval, ...]
    reason_code: Reason
    detail: str


def distinct_approvers(approvals: Iterable[Approval]) -> frozenset[str]:
    """The set of distinct non-empty approver keys (see :attr:`Approval.approver_key`)."""
    return frozenset(a.approver_key for a in approvals if a.approver_key)


def record_approval(
    approvals: tuple[Approval, ...],
    by: str,
    *,
    at: str | None = None,
    note: str = "",
) -> ApprovalResult:
    """Append an approval by ``by`` unless that person already approved.

    Refuses an empty name (``empty_approver``) and a second approval by the same person
    (``duplicate_approver``, compared stripped and casefolded): two approvals only mean
    something if two people looked. ``at`` defaults to now (UTC ISO-8601); pass it explicitly
    when replaying a ledger.
    """
    key = by.strip().casefold()
    if not key:
        return ApprovalResult(False, approvals, Reason.EMPTY_APPROVER,
                              "empty_approver: approver name is empty")
    if key in distinct_approvers(approvals):
        return ApprovalResult(False, approvals, Reason.DUPLICATE_APPROVER,
                              f"duplicate_approver: {by.strip()!r} has already approved")
    new = Approval(approver=by.strip(), approved_at=at if at is not None else utc_now_iso(),
                   note=note)
    return ApprovalResult(True, approvals + (new,), Reason.OK, f"approval by {by.strip()!r}")


def approvals_satisfied(approvals: Iterable[Approval], required: int = REQUIRED_APPROVALS) -> bool:
    """True when at least ``required`` **distinct** people approved.

    Counts distinct approver keys, not records, so a tuple built by hand with the same person
    twice (bypassing :func:`record_approval`) still does not pass.
    """
    _require(isinstance(required, int) and required >= 1,
             f"required: rule 'integer >= 1' broken, got {required!r}")
    return len(distinct_approvers(approvals)) >= required


# --------------------------------------------------------------------------------------------
# capital ramp
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RampStep:
    """Where the capital ramp stands after :func:`next_ramp_stage`."""

    stage_index: int
    capital_fraction: float
    advanced: bool
    reason_code: Reason


def next_ramp_stage(
    current_stage_index: int,
    clean_runs_in_stage: int,
    runs_required: int = DEFAULT_RAMP_RUNS_REQUIRED,
) -> RampStep:
    """Advance the live capital ramp (``RAMP_STAGES`` = 10%, 25%, 50%, 100%) one stage once
    ``runs_required`` clean runs were made at the current stage.

    One stage at a time, never skipping: each step doubles-ish the capital at risk, and a strategy
    must show it behaves at each size (slippage and fill rates change with size). The caller
    resets ``clean_runs_in_stage`` to 0 after an advance, and drops back to paper on a
    regression (``drop_back``) rather than stepping the ramp down.
    """
    _require(isinstance(current_stage_index, int) and not isinstance(current_stage_index, bool)
             and 0 <= current_stage_index < len(RAMP_STAGES),
             f"current_stage_index: rule '0 <= index < {len(RAMP_STAGES)}' broken, "
             f"got {current_stage_index!r}")
    _count(clean_runs_in_stage, "clean_runs_in_stage")
    _require(isinstance(runs_required, int) and runs_required >= 1,
             f"runs_required: rule 'integer >= 1' broken, got {runs_required!r}")
    last = len(RAMP_STAGES) - 1
    if current_stage_index == last:
        return RampStep(last, RAMP_STAGES[last], False, Reason.RAMP_AT_FULL_CAPITAL)
    if clean_runs_in_stage >= runs_required:
        nxt = current_stage_index + 1
        return RampStep(nxt, RAMP_STAGES[nxt], True, Reason.RAMP_ADVANCED)
    return RampStep(current_stage_index, RAMP_STAGES[current_stage_index], False,
                    Reason.RAMP_RUNS_PENDING)


# --------------------------------------------------------------------------------------------
# canary evaluation
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fill:
    """One execution: signed quantity (buy > 0) at ``price``."""

    order_id: str
    quantity: float
    price: float

    def __post_init__(self) -> None:
        _require(bool(self.order_id), "order_id: rule 'non-empty' broken")
        _finite(self.quantity, f"fill {self.order_id!r} quantity")
        _finite(self.price, f"fill {self.order_id!r} price")


@dataclass(frozen=True)
class CanaryObservation:
    """What one paper (or live-ramp) run actually did.

    ``max_drawdown`` is a positive fraction of run capital (0.03 = 3%). ``requests``/``errors``
    count broker/API calls; ``orders_submitted``/``orders_filled`` count orders.
    """

    run_id: str
    fills: tuple[Fill, ...]
    pnl: float
    max_drawdown: float
    orders_submitted: int
    orders_filled: int
    requests: int
    errors: int

    def __post_init__(self) -> None:
        _finite(self.pnl, "pnl")
        _finite(self.max_drawdown, "max_drawdown")
        _require(self.max_drawdown >= 0.0,
                 f"max_drawdown: rule '>= 0 (a positive fraction)' broken, got {self.max_drawdown}")
        for name in ("orders_submitted", "orders_filled", "requests", "errors"):
            _count(getattr(self, name), name)
        _require(self.orders_filled <= self.orders_submitted,
                 f"orders_filled: rule '<= orders_submitted' broken "
                 f"({self.orders_filled} > {self.orders_submitted})")
        _require(self.errors <= self.requests,
                 f"errors: rule '<= requests' broken ({self.errors} > {self.requests})")

    @property
    def fill_rate(self) -> float:
        """Filled / submitted orders; 1.0 when nothing was submitted (nothing failed to fill)."""
        return self.orders_filled / self.orders_submitted if self.orders_submitted else 1.0

    @property
    def error_rate(self) -> float:
        """Errors / requests; 0.0 when no request was made."""
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class SimulatorExpectation:
    """What the backtest simulator produces when replayed on the run's own market data and
    orders: the paper run must match it (the code that trades is the code that was tested)."""

    fills: tuple[Fill, ...]
    pnl: float

    def __post_init__(self) -> None:
        _finite(self.pnl, "expected pnl")


@dataclass(frozen=True)
class CanaryEnvelope:
    """Limits a canary run must stay within.

    ``expected_pnl_per_run`` is the backtest's mean PnL per run and ``pnl_sigma_per_run`` a
    conservative sub-Gaussian scale of per-run PnL (e.g. the backtest's per-run PnL standard
    deviation times a safety factor); ``alpha`` is the false-alarm budget of the PnL test over the
    whole canary, however many runs are looked at.
    """

    max_drawdown: float
    min_fill_rate: float
    max_error_rate: float
    expected_pnl_per_run: float
    pnl_sigma_per_run: float
    alpha: float = 0.05
    mismatch_tolerance: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("max_drawdown", "min_fill_rate", "max_error_rate", "expected_pnl_per_run",
                     "pnl_sigma_per_run", "alpha", "mismatch_tolerance"):
            _finite(getattr(self, name), name)
        _require(self.max_drawdown >= 0.0, "max_drawdown: rule '>= 0' broken")
        _require(0.0 <= self.min_fill_rate <= 1.0, "min_fill_rate: rule 'in [0, 1]' broken")
        _require(0.0 <= self.max_error_rate <= 1.0, "max_error_rate: rule 'in [0, 1]' broken")
        _require(self.pnl_sigma_per_run > 0.0, "pnl_sigma_per_run: rule '> 0' broken")
        _require(0.0 < self.alpha < 1.0, "alpha: rule '0 < alpha < 1' broken")
        _require(self.mismatch_tolerance >= 0.0, "mismatch_tolerance: rule '>= 0' broken")


@dataclass(frozen=True)
class CanaryRunVerdict:
    """Verdict on one run. ``regressions`` are reason codes (a tuple, so the record stays
    hashable and frozen); ``details`` say which values broke which rule; ``pnl_upper_bound`` is
    the anytime-valid upper confidence bound on the mean per-run PnL so far (audit trail)."""

    run_id: str
    clean: bool
    regressions: tuple[Regression, ...]
    details: tuple[str, ...] = ()
    pnl_upper_bound: float = math.inf

    @property
    def critical(self) -> bool:
        return any(r in CRITICAL_REGRESSIONS for r in self.regressions)


def _aggregate_fills(fills: Sequence[Fill]) -> dict[str, tuple[float, float]]:
    """order_id -> (net signed quantity, average price weighted by |quantity|).

    Aggregating per order makes the comparison independent of how a venue split an order into
    partial fills, while any difference in what was bought or at what price still shows.
    """
    qty: dict[str, float] = {}
    absq: dict[str, float] = {}
    notional: dict[str, float] = {}
    for f in fills:
        qty[f.order_id] = qty.get(f.order_id, 0.0) + f.quantity
        absq[f.order_id] = absq.get(f.order_id, 0.0) + abs(f.quantity)
        notional[f.order_id] = notional.get(f.order_id, 0.0) + abs(f.quantity) * f.price
    return {k: (qty[k], notional[k] / absq[k] if absq[k] else 0.0) for k in qty}


def _mismatches(observed: CanaryObservation, expected: SimulatorExpectation,
                tol: float) -> list[str]:
    out: list[str] = []
    obs, exp = _aggregate_fills(observed.fills), _aggregate_fills(expected.fills)
    for oid in sorted(set(obs) - set(exp)):
        out.append(f"order {oid!r} filled in paper but not in the simulator")
    for oid in sorted(set(exp) - set(obs)):
        out.append(f"order {oid!r} filled in the simulator but not in paper")
    for oid in sorted(set(obs) & set(exp)):
        (oq, op), (eq, ep) = obs[oid], exp[oid]
        if abs(oq - eq) > tol:
            out.append(f"order {oid!r} quantity {oq!r} vs simulator {eq!r}")
        if abs(op - ep) > tol:
            out.append(f"order {oid!r} average price {op!r} vs simulator {ep!r}")
    if abs(observed.pnl - expected.pnl) > tol:
        out.append(f"pnl {observed.pnl!r} vs simulator {expected.pnl!r}")
    return out


def evaluate_canary_run(
    observed: CanaryObservation,
    expected: SimulatorExpectation,
    envelope: CanaryEnvelope,
    *,
    previous_run_pnls: Sequence[float] = (),
) -> CanaryRunVerdict:
    """Check one canary run against the simulator and the envelope.

    Rules (each adds its reason code):

    * ``paper_backtest_mismatch`` — per-order net quantity or average price, or the run PnL,
      differs from the simulator replay by more than ``envelope.mismatch_tolerance`` (1e-6), or
      an order filled on one side only.
    * ``drawdown_breach`` — ``observed.max_drawdown > envelope.max_drawdown``.
    * ``fill_rate_collapse`` — ``observed.fill_rate < envelope.min_fill_rate``.
    * ``error_rate_exceeded`` — ``observed.error_rate > envelope.max_error_rate``.
    * ``pnl_below_confidence_bound`` — the backtest's ``expected_pnl_per_run`` lies above the
      anytime-valid upper confidence bound on the mean per-run paper PnL, computed over
      ``previous_run_pnls`` (this canary's earlier runs, oldest first) plus this run. The bound
      is :func:`qgap_assets.promotion.stats.anytime_valid_mean_lower_bound` applied to −PnL with
      σ = ``pnl_sigma_per_run``: it may be re-checked after every run and, if the strategy really
      earns its backtest mean, fires over the whole canary with probability <= ``alpha``. A
      fixed-n normal interval re-checked each run (the origin system's rule) would fire far more
      often and roll back good strategies.
    """
    tol = envelope.mismatch_tolerance
    regressions: list[Regression] = []
    details: list[str] = []

    mism = _mismatches(observed, expected, tol)
    if mism:
        regressions.append(Regression.PAPER_BACKTEST_MISMATCH)
        details.extend(f"paper_backtest_mismatch: {m}" for m in mism)
    if observed.max_drawdown > envelope.max_drawdown:
        regressions.append(Regression.DRAWDOWN_BREACH)
        details.append(f"drawdown_breach: max_drawdown {observed.max_drawdown!r} > "
                       f"envelope {envelope.max_drawdown!r}")
    if observed.fill_rate < envelope.min_fill_rate:
        regressions.append(Regression.FILL_RATE_COLLAPSE)
        details.append(f"fill_rate_collapse: fill_rate {observed.fill_rate!r} "
                       f"({observed.orders_filled}/{observed.orders_submitted}) < floor "
                       f"{envelope.min_fill_rate!r}")
    if observed.error_rate > envelope.max_error_rate:
        regressions.append(Regression.ERROR_RATE_EXCEEDED)
        details.append(f"error_rate_exceeded: error_rate {observed.error_rate!r} "
                       f"({observed.errors}/{observed.requests}) > max "
                       f"{envelope.max_error_rate!r}")

    pnls = [float(p) for p in previous_run_pnls] + [observed.pnl]
    for i, p in enumerate(pnls[:-1]):
        _finite(p, f"previous_run_pnls[{i}]")
    upper = -anytime_valid_mean_lower_bound([-p for p in pnls], envelope.alpha,
                                            sigma_bound=envelope.pnl_sigma_per_run)
    if upper < envelope.expected_pnl_per_run:
        regressions.append(Regression.PNL_BELOW_CONFIDENCE_BOUND)
        details.append(f"pnl_below_confidence_bound: anytime-valid upper bound {upper!r} on mean "
                       f"PnL over {len(pnls)} runs < expected {envelope.expected_pnl_per_run!r}")
    return CanaryRunVerdict(run_id=observed.run_id, clean=not regressions,
                            regressions=tuple(regressions), details=tuple(details),
                            pnl_upper_bound=upper)


def canary_outcome(
    verdicts: Sequence[CanaryRunVerdict],
    n_required: int = DEFAULT_CANARY_RUNS_REQUIRED,
    *,
    max_degraded_runs: int = DEFAULT_MAX_DEGRADED_RUNS,
) -> CanaryOutcome:
    """Decide the canary from its run verdicts (oldest first).

    * ``rollback`` if any run had a critical regression (see ``CRITICAL_REGRESSIONS``), or more
      than ``max_degraded_runs`` runs were not clean (an operationally broken strategy must not
      sit in paper forever);
    * ``promote_live_candidate`` if the last ``n_required`` runs are all clean — consecutive,
      so a degraded run restarts the count and the evidence is recent;
    * ``continue`` otherwise.
    """
    _require(isinstance(n_required, int) and n_required >= 1,
             f"n_required: rule 'integer >= 1' broken, got {n_required!r}")
    _count(max_degraded_runs, "max_degraded_runs")
    if any(v.critical for v in verdicts):
        return CanaryOutcome.ROLLBACK
    if sum(1 for v in verdicts if not v.clean) > max_degraded_runs:
        return CanaryOutcome.ROLLBACK
    tail = verdicts[-n_required:]
    if len(tail) == n_required and all(v.clean for v in tail):
        return CanaryOutcome.PROMOTE_LIVE_CANDIDATE
    return CanaryOutcome.CONTINUE


# --------------------------------------------------------------------------------------------
# transitions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LifecycleEvent:
    """An event as the ledger appends it: what was asked, by whom, when (ISO-8601 UTC)."""

    kind: EventKind
    candidate_id: str
    actor: str
    at: str
    detail: str = ""

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", EventKind(self.kind))
        except ValueError:
            raise InputValidationError(
                f"kind: rule 'one of {[k.value for k in EventKind]}' broken, got {self.kind!r}"
            ) from None
        _require(bool(self.candidate_id), "candidate_id: rule 'non-empty' broken")


@dataclass(frozen=True)
class TransitionContext:
    """The evidence the guards look at, supplied by the caller and ledgered with the event.

    * ``gates_passed`` — the research gates' verdict (DSR, PBO, ...) for ``promote``;
    * ``canary_verdicts`` / ``canary_runs_required`` — for ``canary_passed``, which needs
      :func:`canary_outcome` to say ``promote_live_candidate``;
    * ``approvals`` / ``ramp_stage_index`` — for ``go_live``: REQUIRED_APPROVALS distinct
      approvers and the ramp at its first stage (index 0, 10% capital).
    """

    gates_passed: bool = False
    canary_verdicts: tuple[CanaryRunVerdict, ...] = ()
    canary_runs_required: int = DEFAULT_CANARY_RUNS_REQUIRED
    approvals: tuple[Approval, ...] = ()
    ramp_stage_index: int | None = None

    def __post_init__(self) -> None:
        _require(isinstance(self.canary_runs_required, int) and self.canary_runs_required >= 1,
                 f"canary_runs_required: rule 'integer >= 1' broken, "
                 f"got {self.canary_runs_required!r}")
        _require(self.ramp_stage_index is None
                 or (isinstance(self.ramp_stage_index, int)
                     and 0 <= self.ramp_stage_index < len(RAMP_STAGES)),
                 f"ramp_stage_index: rule 'None or 0 <= index < {len(RAMP_STAGES)}' broken, "
                 f"got {self.ramp_stage_index!r}")


@dataclass(frozen=True)
class TransitionResult:
    """Outcome of :func:`transition`. When ``ok`` is False, ``new_state == from_state``."""

    ok: bool
    new_state: State
    reason_code: Reason
    from_state: State
    event: EventKind
    detail: str = ""


def _guard(frm: State, kind: EventKind, ctx: TransitionContext) -> tuple[Reason, str] | None:
    """The refusal (reason, detail) of a structurally legal transition, or None to allow it."""
    if kind is EventKind.PROMOTE and not ctx.gates_passed:
        return Reason.GATES_NOT_PASSED, "promote refused: research gates have not passed"
    if kind is EventKind.CANARY_PASSED:
        outcome = canary_outcome(ctx.canary_verdicts, ctx.canary_runs_required)
        if outcome is not CanaryOutcome.PROMOTE_LIVE_CANDIDATE:
            return (Reason.CANARY_NOT_PASSED,
                    f"canary_passed refused: canary outcome is {outcome.value!r} over "
                    f"{len(ctx.canary_verdicts)} runs ({ctx.canary_runs_required} consecutive "
                    "clean runs required)")
    if kind is EventKind.GO_LIVE:
        who = sorted(distinct_approvers(ctx.approvals))
        if not approvals_satisfied(ctx.approvals, REQUIRED_APPROVALS):
            return (Reason.INSUFFICIENT_APPROVALS,
                    f"go_live refused: {len(who)} distinct approver(s) {who}, "
                    f"{REQUIRED_APPROVALS} required")
        if ctx.ramp_stage_index != 0:
            return (Reason.RAMP_NOT_AT_FIRST_STAGE,
                    f"go_live refused: ramp_stage_index is {ctx.ramp_stage_index!r}, must be 0 "
                    f"({RAMP_STAGES[0]:.0%} capital)")
    return None


def transition(
    current_state: State | str,
    event: LifecycleEvent | EventKind | str,
    context: TransitionContext | None = None,
) -> TransitionResult:
    """Apply ``event`` to ``current_state``; refuse (``ok=False``, state unchanged) when the edge
    does not exist (``illegal_transition``, naming from and to) or its guard fails.

    Never raises for an illegal request — a refusal is a fact the ledger records — but does raise
    :class:`InputValidationError` for an unknown state or event name.
    """
    try:
        frm = State(current_state)
    except ValueError:
        raise InputValidationError(
            f"current_state: rule 'one of {[s.value for s in State]}' broken, "
            f"got {current_state!r}") from None
    kind_raw = event.kind if isinstance(event, LifecycleEvent) else event
    try:
        kind = EventKind(kind_raw)
    except ValueError:
        raise InputValidationError(
            f"event: rule 'one of {[k.value for k in EventKind]}' broken, got {kind_raw!r}"
        ) from None
    ctx = context if context is not None else TransitionContext()

    to = TRANSITIONS.get((frm, kind))
    if to is None:
        target = _EVENT_TARGET[kind]
        return TransitionResult(
            False, frm, Reason.ILLEGAL_TRANSITION, frm, kind,
            f"illegal_transition: {frm.value} -> {target.value} (event {kind.value}) "
            "is not allowed")
    refusal = _guard(frm, kind, ctx)
    if refusal is not None:
        reason, detail = refusal
        return TransitionResult(False, frm, reason, frm, kind, detail)
    return TransitionResult(True, to, Reason.OK, frm, kind,
                            f"{frm.value} -> {to.value} (event {kind.value})")


def apply_events(
    steps: Iterable[tuple[LifecycleEvent | EventKind | str, TransitionContext | None]],
    initial: State | str = State.CANDIDATE,
) -> tuple[State, tuple[TransitionResult, ...]]:
    """Fold :func:`transition` over ``(event, context)`` pairs (e.g. a ledger replay).

    Refused events are kept in the results and leave the state unchanged, exactly as when they
    were first applied, so a replay reproduces the ledger's recorded outcomes one for one.
    """
    state = State(initial)
    results: list[TransitionResult] = []
    for ev, ctx in steps:
        res = transition(state, ev, ctx)
        results.append(res)
        state = res.new_state
    return state, tuple(results)
