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


@njit(cache=True, nogil=True, inline="always")
def signal_of(r, theta):
    """The one decision rule both engines share: +1 above theta, -1 below -theta, else 0."""
    if r > theta:
        return 1.0
    if r < -theta:
        return -1.0
    return 0.0


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
        sig = signal_of(r, theta)
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


# ---------------------------------------------------------------------------------------------
# The realistic engine (see ``execution_model.py`` for the rules). Same decision rule
# (``signal_of``), plus spread, slippage buckets, participation cap with partial fills, time in
# force, latency, fees with a per-order minimum, a per-session order limit and stale-data drops.
# Columns of its per-(param, session) stats array:
(R_PNL, R_FILLS, R_SIGNALS, R_DECISIONS, R_BELOW, R_HOLD, R_NO_NEXT, R_WARMUP, R_FLATTENS,
 R_ORDERS, R_FULL, R_PARTIAL, R_CAPPED, R_IOC_CANCEL, R_SESSION_END_CANCEL, R_REPLACED,
 R_STALE, R_RISK_BLOCK, R_FEES, R_SPREAD_COST, R_SLIP_COST, R_SHARES, R_NOTIONAL) = range(23)
N_RSTATS = 23


@njit(cache=True, nogil=True, inline="always")
def _slip_rate(aq, vol, edges, slip):
    part = aq / vol if vol > 0.0 else np.inf
    for b in range(edges.shape[0]):
        if part <= edges[b]:
            return slip[b]
    return slip[edges.shape[0]]


@njit(cache=True, nogil=True)
def _real_session(open_, close, volume, half, stale, feat, s, e, theta, shares, fee_rate, fee_ps,
                  min_fee, cap, ioc, k, max_orders, edges, slip, st,
                  d_idx, d_tgt, nd, f_idx, f_qty, f_px, f_kind, nf):
    """One session [s, e) for one parameter point; returns the new (decision, fill) record counts.

    Order of events at bar i: the working order fills at the OPEN of i, then the decision is
    taken at the CLOSE of i. At the session end a working remainder is cancelled and any
    position is flattened at the last close.
    """
    n = e - s
    record = d_idx.shape[0] > 0
    position = 0.0
    target = 0.0
    rem = 0.0
    arrive = 0
    order_fee = 0.0
    order_filled = 0.0
    orders = 0
    pnl = 0.0
    for j in range(n):
        i = s + j
        if rem != 0.0 and i >= arrive:
            want = abs(rem)
            side = 1.0 if rem > 0.0 else -1.0
            aq = want
            if cap != np.inf:
                limit = np.floor(cap * volume[i])
                if limit < want:
                    aq = limit
                    st[R_CAPPED] += 1.0
            if aq > 0.0:
                sr = _slip_rate(aq, volume[i], edges, slip)
                base = open_[i]
                px = base * (1.0 + side * (half[i] + sr))
                q = side * aq
                fee = fee_rate * aq * px + fee_ps * aq
                pnl += -q * px - fee
                order_fee += fee
                order_filled += aq
                position += q
                rem -= q
                st[R_FILLS] += 1.0
                st[R_FEES] += fee
                st[R_SPREAD_COST] += aq * base * half[i]
                st[R_SLIP_COST] += aq * base * sr
                st[R_SHARES] += aq
                st[R_NOTIONAL] += aq * px
                if rem == 0.0:
                    st[R_FULL] += 1.0
                else:
                    st[R_PARTIAL] += 1.0
                if record and nf < f_idx.shape[0]:
                    f_idx[nf] = i
                    f_qty[nf] = q
                    f_px[nf] = px
                    f_kind[nf] = 0
                    nf += 1
            if rem != 0.0 and ioc:
                st[R_IOC_CANCEL] += 1.0
                rem = 0.0
            if rem == 0.0 and order_filled > 0.0 and order_fee < min_fee:
                pnl -= min_fee - order_fee
                st[R_FEES] += min_fee - order_fee
                order_fee = min_fee
        r = feat[i]
        if r != r:
            st[R_WARMUP] += 1.0
            continue
        if stale[i] != 0:
            st[R_STALE] += 1.0
            continue
        sig = signal_of(r, theta)
        if j > n - 2 - k:
            if sig != 0.0:
                st[R_NO_NEXT] += 1.0
            else:
                st[R_BELOW] += 1.0
            continue
        if sig == 0.0:
            st[R_BELOW] += 1.0
            continue
        st[R_SIGNALS] += 1.0
        if sig == target:
            st[R_HOLD] += 1.0
            continue
        if max_orders > 0 and orders >= max_orders:
            st[R_RISK_BLOCK] += 1.0
            continue
        st[R_DECISIONS] += 1.0
        target = sig
        if record and nd < d_idx.shape[0]:
            d_idx[nd] = i
            d_tgt[nd] = target
            nd += 1
        if rem != 0.0:
            st[R_REPLACED] += 1.0
            if order_filled > 0.0 and order_fee < min_fee:
                pnl -= min_fee - order_fee
                st[R_FEES] += min_fee - order_fee
        rem = target * shares - position
        arrive = i + 1 + k
        order_fee = 0.0
        order_filled = 0.0
        orders += 1
        st[R_ORDERS] += 1.0
    if rem != 0.0:
        st[R_SESSION_END_CANCEL] += 1.0
        if order_filled > 0.0 and order_fee < min_fee:
            pnl -= min_fee - order_fee
            st[R_FEES] += min_fee - order_fee
    if position != 0.0 and n > 0:
        i = e - 1
        q = -position
        aq = abs(q)
        side = 1.0 if q > 0.0 else -1.0
        sr = _slip_rate(aq, volume[i], edges, slip)
        base = close[i]
        px = base * (1.0 + side * (half[i] + sr))
        fee = fee_rate * aq * px + fee_ps * aq
        if fee < min_fee:
            fee = min_fee
        pnl += -q * px - fee
        st[R_FILLS] += 1.0
        st[R_FULL] += 1.0
        st[R_FLATTENS] += 1.0
        st[R_ORDERS] += 1.0
        st[R_FEES] += fee
        st[R_SPREAD_COST] += aq * base * half[i]
        st[R_SLIP_COST] += aq * base * sr
        st[R_SHARES] += aq
        st[R_NOTIONAL] += aq * px
        if record and nf < f_idx.shape[0]:
            f_idx[nf] = i
            f_qty[nf] = q
            f_px[nf] = px
            f_kind[nf] = 1
            nf += 1
    st[R_PNL] += pnl
    return nd, nf


@njit(cache=True, nogil=True)
def realistic_grid_stats(open_, close, volume, half, stale, features, offsets, feat_row, thetas,
                         shares, fee_rate, fee_ps, min_fee, cap, ioc, k, max_orders, edges, slip):
    """Per-(param, session) realistic stats for a whole grid: (n_params, n_sessions, N_RSTATS)."""
    n_params = thetas.shape[0]
    n_sessions = offsets.shape[0] - 1
    out = np.zeros((n_params, n_sessions, N_RSTATS))
    ei = np.zeros(0, dtype=np.int64)
    ef = np.zeros(0, dtype=np.float64)
    eb = np.zeros(0, dtype=np.int8)
    for ks in range(n_sessions):
        for p in range(n_params):
            _real_session(open_, close, volume, half, stale, features[feat_row[p]], offsets[ks],
                          offsets[ks + 1], thetas[p], shares, fee_rate, fee_ps, min_fee, cap, ioc,
                          k, max_orders, edges, slip, out[p, ks], ei, ef, 0, ei, ef, ef, eb, 0)
    return out


@njit(cache=True, nogil=True)
def realistic_records(open_, close, volume, half, stale, feat, offsets, theta, shares, fee_rate,
                      fee_ps, min_fee, cap, ioc, k, max_orders, edges, slip):
    """Every decision and fill of one parameter point, plus per-session stats."""
    n_sessions = offsets.shape[0] - 1
    n = offsets[n_sessions] if n_sessions > 0 else 0
    d_idx = np.empty(n + 1, dtype=np.int64)
    d_tgt = np.empty(n + 1, dtype=np.float64)
    f_idx = np.empty(n + n_sessions + 1, dtype=np.int64)
    f_qty = np.empty(n + n_sessions + 1, dtype=np.float64)
    f_px = np.empty(n + n_sessions + 1, dtype=np.float64)
    f_kind = np.empty(n + n_sessions + 1, dtype=np.int8)
    stats = np.zeros((n_sessions, N_RSTATS))
    nd = 0
    nf = 0
    for ks in range(n_sessions):
        nd, nf = _real_session(open_, close, volume, half, stale, feat, offsets[ks], offsets[ks + 1],
                               theta, shares, fee_rate, fee_ps, min_fee, cap, ioc, k, max_orders,
                               edges, slip, stats[ks], d_idx, d_tgt, nd, f_idx, f_qty, f_px, f_kind,
                               nf)
    return d_idx[:nd], d_tgt[:nd], f_idx[:nf], f_qty[:nf], f_px[:nf], f_kind[:nf], stats
