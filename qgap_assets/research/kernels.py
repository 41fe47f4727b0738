"""Compiled single-pass kernels of the intraday TSMOM rule (numba, no pandas, no per-bar Python).

The rule, per session (symbol, New York date), bars i = 0..n-1 in time order:
1. decide at the close of bar i for L <= i <= n-2 with the feature r[i] (``features.momentum``);
2. target = +1 if r > theta, -1 if r < -theta (strict), else the previous target; 0 at session start;
3. when target != position, one market order for target - position fills at the OPEN of bar i+1;
4. at the CLOSE of the last bar any position is flattened by one fill;
5. each fill costs cost_bps/1e4 * |qty| * price; a fill's cash is -qty*price - cost.

Funnel counters per (param, session): evaluable bars split into ``below_threshold`` (|r| <= theta),
``signals`` (|r| > theta); signals split into ``hysteresis_hold`` (target unchanged) and
``decisions`` (an order); ``no_next_bar`` counts signals at the last bar (nothing can fill).
``fills`` counts every fill including the flatten; it is the "trades" of the CLI contract.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Columns of the per-(param, session) stats array.
PNL, FILLS, SIGNALS, DECISIONS, BELOW, HOLD, NO_NEXT, WARMUP, FLATTENS = range(9)
N_STATS = 9


@njit(cache=True, nogil=True)
def _run_session(open_, close, feat, s, e, theta, cost_rate, stats, rec_idx, rec_qty, rec_px, nrec):
    """One session [s, e) for one parameter point. Accumulates into ``stats`` (len N_STATS).

    When ``rec_idx`` has room, fills are also recorded (bar index, qty, price); returns the new
    record count.
    """
    n = e - s
    position = 0.0
    target = 0.0
    pnl = 0.0
    for j in range(n):
        i = s + j
        r = feat[i]
        if r != r:  # NaN: window not inside the session yet
            stats[WARMUP] += 1.0
            continue
        if r > theta:
            sig = 1.0
        elif r < -theta:
            sig = -1.0
        else:
            sig = 0.0
        if j == n - 1:
            if sig != 0.0:
                stats[NO_NEXT] += 1.0
            continue
        if sig == 0.0:
            stats[BELOW] += 1.0
            continue
        stats[SIGNALS] += 1.0
        target = sig
        if target == position:
            stats[HOLD] += 1.0
            continue
        stats[DECISIONS] += 1.0
        qty = target - position
        px = open_[i + 1]
        pnl += -qty * px - cost_rate * abs(qty) * px
        stats[FILLS] += 1.0
        if nrec < rec_idx.shape[0]:
            rec_idx[nrec] = i + 1
            rec_qty[nrec] = qty
            rec_px[nrec] = px
            nrec += 1
        position = target
    if position != 0.0 and n > 0:
        qty = -position
        px = close[e - 1]
        pnl += -qty * px - cost_rate * abs(qty) * px
        stats[FILLS] += 1.0
        stats[FLATTENS] += 1.0
        if nrec < rec_idx.shape[0]:
            rec_idx[nrec] = e - 1
            rec_qty[nrec] = qty
            rec_px[nrec] = px
            nrec += 1
    stats[PNL] += pnl
    return nrec


@njit(cache=True, nogil=True)
def grid_session_stats(open_, close, features, offsets, feat_row, thetas, cost_rate):
    """Per-(param, session) stats for a whole grid in one call.

    ``features`` is (n_lookbacks, n_bars); param p uses row ``feat_row[p]`` and ``thetas[p]``.
    Returns float64 array (n_params, n_sessions, N_STATS).
    """
    n_params = thetas.shape[0]
    n_sessions = offsets.shape[0] - 1
    out = np.zeros((n_params, n_sessions, N_STATS))
    empty_i = np.zeros(0, dtype=np.int64)
    empty_f = np.zeros(0, dtype=np.float64)
    for k in range(n_sessions):
        s = offsets[k]
        e = offsets[k + 1]
        for p in range(n_params):
            _run_session(open_, close, features[feat_row[p]], s, e, thetas[p], cost_rate,
                         out[p, k], empty_i, empty_f, empty_f, 0)
    return out


@njit(cache=True, nogil=True)
def session_fills(open_, close, feat, offsets, theta, cost_rate):
    """Every fill of one parameter point: (bar index, qty, price) plus per-session stats."""
    n_sessions = offsets.shape[0] - 1
    cap = 0
    for k in range(n_sessions):
        cap += offsets[k + 1] - offsets[k]
    cap = cap + n_sessions  # at most one fill per bar plus one flatten per session
    rec_idx = np.empty(cap, dtype=np.int64)
    rec_qty = np.empty(cap, dtype=np.float64)
    rec_px = np.empty(cap, dtype=np.float64)
    stats = np.zeros((n_sessions, N_STATS))
    nrec = 0
    for k in range(n_sessions):
        nrec = _run_session(open_, close, feat, offsets[k], offsets[k + 1], theta, cost_rate,
                            stats[k], rec_idx, rec_qty, rec_px, nrec)
    return rec_idx[:nrec], rec_qty[:nrec], rec_px[:nrec], stats
