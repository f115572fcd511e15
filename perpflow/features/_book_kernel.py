"""The fused per-snapshot order-book kernel behind `orderbook.snapshot_features` (numba).

Written by hand: no library computes these book columns (imbalances, microprice, size-weighted
spread, voids, walls, breadth, depth drops) from L2 snapshot arrays. It is fused: one pass over
the rows that reads each of a row's levels once per side and writes every column, instead of the
~40 (rows x levels) NumPy temporaries the vectorised version made and re-read (issue 19: 0.7 M
snapshots/s there against a memory ceiling of ~35 M/s). The one step outside that pass is the
exp of the distance-weighted imbalance: per block of 8,192 rows a numba loop writes each level's
exponent and NumPy's SIMD `np.exp` (the one the NumPy version used) turns them into weights the
row pass reads; numba's `math.exp` is a libm call per value (50 a snapshot) and was 3/4 of the
kernel's time inside the pass.

Semantics are those of the NumPy reference kept in tests/features/book_reference.py, which the
kernel is tested against: a missing level has a NaN price and its size counts 0 (sizes go through
`np.nan_to_num`), a side with fewer than two levels has no void (NaN), a wall is the largest level
over the mean size of the levels that have a size, depth and imbalances read the top 10 / 25
levels (or all the book has), and the row-to-row columns are NaN on the first row.

Rows are cut into runs of whole blocks, one per thread (`PERPFLOW_BOOK_THREADS`, default the
CPUs the process may use, at most 8): the passes release the GIL, so a year of snapshots in a
backtest uses every core; each run's first row-to-row columns are linked after the threads join.

Imported lazily by `snapshot_features` (importing numba costs ~1 s here) and compiled on the
first call; `cache=True` stores the machine code in `__pycache__` beside this file, or in the
user's cache dir (`~/.cache/numba`) when that is not writable (numba's own fallback;
`NUMBA_CACHE_DIR` overrides both), so later processes (every Freqtrade backtest or dry-run
start) load it instead of compiling. If no cache dir is writable the kernel still runs,
compiled once per process, and a warning says so.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from perpflow.features._jit import jit as _jit

_BIG = float(np.finfo(np.float64).max)  # np.nan_to_num's stand-in for +inf
# float columns of `snapshot_columns`' first output, in row order
FLOAT_COLUMNS = ("imb_10", "imb_25", "imb_w", "micro_dev_bps", "vw_spread_bps", "depth_bid",
                 "depth_ask", "depth_delta", "void_bid_bps", "wall_bid", "wall_bid_bps", "cliff_bid",
                 "void_ask_bps", "wall_ask", "wall_ask_bps", "cliff_ask", "mid")  # fmt: skip
INT_COLUMNS = ("breadth_bid", "breadth_ask")
_BLOCK = 8_192  # rows per np.exp call: Python's share is small, the 3 MB of weights stay in L3


@_jit
def _finite(x, nan):
    """`np.nan_to_num(x, nan=nan)` for one value: NaN -> `nan`, +-inf -> +-largest float."""
    if abs(x) <= _BIG:  # finite: the common case, one test
        return x
    if x != x:
        return nan
    return _BIG if x > 0 else -_BIG


@_jit
def _clip0(x):
    """`np.clip(x, 0, None)` for one value (NaN stays NaN)."""
    return 0.0 if x < 0 else x


@_jit
def _imb(b, a):
    """(b - a) / (b + a) where the total is positive, else NaN."""
    tot = b + a
    return (b - a) / tot if tot > 0 else np.nan


@_jit
def _side(px, sz, w, o, i, mid, bps, sign, breadth_bps):
    """One side of row `i` in one pass over its levels, its exp weights at `w[o:]`: (top-25 depth,
    top-10 size, top-10 price x size, weighted size, widest gap in bps (-inf if none), wall, wall
    bps, breadth). `sign` is -1 for bids (distance from mid = mid - price), +1 for asks."""
    depth = top10 = pv10 = weighted = total = 0.0
    void, big, big_px, prev = -np.inf, -np.inf, np.nan, np.nan
    have, breadth = px.shape[1], 0
    for j in range(px.shape[1]):
        p, raw = px[i, j], sz[i, j]
        if abs(raw) <= _BIG:  # a finite size, the common case
            s = raw
        else:  # NaN counts 0 and is not a level with a size; +-inf as np.nan_to_num
            s = _finite(raw, 0.0)
            have -= raw != raw
        total += s
        if j < 25:
            depth += s
        if j < 10:
            top10 += s
            ps = p * s
            if ps == ps:  # np.nansum: a level without a price adds nothing
                pv10 += ps
        weighted += s * w[np.uint64(o + j)]  # unsigned: no negative-index wrap test
        breadth += abs((sign * (p - mid)) * bps) <= breadth_bps
        if s > big:  # the first largest level, as argmax
            big, big_px = s, p
        gap = abs(p - prev) * bps
        if gap > void:  # NaN gaps (a missing level, or j = 0) never count
            void = gap
        prev = p
    wall = big / (total / have)
    wall_bps = sign * (big_px - mid) / mid * 1e4
    return depth, top10, pv10, weighted, void, wall, wall_bps, breadth


@_jit
def _exponents(bp, ap, s, e, decay_bps, mids, x):
    """For rows s..e-1: their mids into `mids[s:e]` and -distance / decay of their bid then ask
    levels into `x`, row after row (NaN distance, no level -> -inf -> weight 0)."""
    lb, m = bp.shape[1], bp.shape[1] + ap.shape[1]
    for i in range(s, e):
        mid = (bp[i, 0] + ap[i, 0]) / 2
        bps = 1e4 / mid
        mids[i] = mid
        for j in range(lb):
            x[(i - s) * m + j] = _finite((mid - bp[i, j]) * bps, np.inf) / -decay_bps
        for j in range(ap.shape[1]):
            x[(i - s) * m + lb + j] = _finite((ap[i, j] - mid) * bps, np.inf) / -decay_bps


@_jit
def _row(bp, bs, ap, as_, i, first, breadth_bps, w, o, f, k):
    """Every column of row `i` into `f[:, i]` and `k[:, i]` (mid already in `f[16, i]`); the
    row-to-row columns read row i-1's depths from `f` (NaN on row `first`)."""
    mid = f[16, i]
    bps = 1e4 / mid
    ob = o + bp.shape[1]  # the ask weights follow the bid weights
    db, b10, pvb, sb, vb, wall_b, wall_b_bps, k[0, i] = _side(bp, bs, w, o, i, mid, bps, -1.0, breadth_bps)  # fmt: skip
    da, a10, pva, sa, va, wall_a, wall_a_bps, k[1, i] = _side(ap, as_, w, ob, i, mid, bps, 1.0, breadth_bps)  # fmt: skip
    b0, a0 = _finite(bs[i, 0], 0.0), _finite(as_[i, 0], 0.0)
    micro = (ap[i, 0] * b0 + bp[i, 0] * a0) / (b0 + a0)
    f[0, i], f[1, i], f[2, i] = _imb(b10, a10), _imb(db, da), _imb(sb, sa)
    f[3, i] = (micro - mid) / mid * 1e4
    f[4, i] = (pva / a10 - pvb / b10) / mid * 1e4
    f[5, i], f[6, i] = db, da
    f[8, i], f[9, i], f[10, i] = np.nan if np.isinf(vb) else vb, wall_b, wall_b_bps
    f[12, i], f[13, i], f[14, i] = np.nan if np.isinf(va) else va, wall_a, wall_a_bps
    _link(f, i, first)


@_jit
def _link(f, i, first):
    """Row `i`'s row-to-row columns (depth delta, cliffs) from its depths and row i-1's in `f`;
    NaN where i is `first` (row 0, or a thread's first row until `_link` runs again after it)."""
    db, da = f[5, i], f[6, i]
    prev_b, prev_a = (f[5, i - 1], f[6, i - 1]) if i > first else (np.nan, np.nan)
    f[7, i] = (db - da) - (prev_b - prev_a)
    f[11, i] = _clip0(1 - db / prev_b)
    f[15, i] = _clip0(1 - da / prev_a)


@_jit
def _rows(bp, bs, ap, as_, s, e, first, breadth_bps, w, f, k):
    """Every column of rows s..e-1 (mids in `f[16]`, exp weights in `w`) into `f` and `k`."""
    m = bp.shape[1] + ap.shape[1]
    for i in range(s, e):
        _row(bp, bs, ap, as_, i, first, breadth_bps, w, (i - s) * m, f, k)


def snapshot_columns(bid_px: np.ndarray, bid_sz: np.ndarray, ask_px: np.ndarray, ask_sz: np.ndarray,
                     decay_bps: float, breadth_bps: float) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Every per-snapshot column of (rows, levels) price/size arrays (taken as C-ordered float64;
    the sides may hold different level counts): float64 (len(FLOAT_COLUMNS), rows) and int64
    (len(INT_COLUMNS), rows) arrays, one column per row of each. Raises if a side has no level."""
    arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in (bid_px, bid_sz, ask_px, ask_sz)]
    names = ("bid_px", "bid_sz", "ask_px", "ask_sz")
    n = len(arrays[0])
    for name, a in zip(names, arrays, strict=True):
        if a.ndim != 2 or len(a) != n:
            raise ValueError(f"book {name} must be a (snapshots, levels) array of {n} rows, "
                             f"got shape {a.shape}")  # fmt: skip
    if arrays[0].shape[1] != arrays[1].shape[1] or arrays[2].shape[1] != arrays[3].shape[1]:
        raise ValueError("book prices and sizes of one side must have the same number of levels")
    if arrays[0].shape[1] == 0 or arrays[2].shape[1] == 0:
        raise ValueError("book has no levels on one side: at least the best bid and ask are needed")
    if not decay_bps > 0:
        raise ValueError(f"decay_bps must be a positive number of bps, got {decay_bps}")
    if not breadth_bps >= 0:
        raise ValueError(f"breadth_bps must be a number of bps >= 0, got {breadth_bps}")
    f = np.empty((len(FLOAT_COLUMNS), n))
    k = np.empty((len(INT_COLUMNS), n), dtype=np.int64)
    spans = _spans(n, threads())
    args = (arrays, float(decay_bps), float(breadth_bps), f, k)
    if len(spans) == 1:
        _fill(*args, *spans[0])
    else:  # the numba passes and np.exp release the GIL: the threads run on separate cores
        workers = [threading.Thread(target=_fill, args=(*args, lo, hi)) for lo, hi in spans[1:]]
        for t in workers:
            t.start()
        _fill(*args, *spans[0])
        for t in workers:
            t.join()
        for lo, _ in spans[1:]:
            _link(f, lo, 0)  # a thread's first row reads the row before it, another's last
    return f, k


def threads() -> int:
    """Threads `snapshot_columns` uses: `PERPFLOW_BOOK_THREADS`, else the CPUs this process may
    run on (at most 8). Raises on a value that is not a whole number >= 1."""
    raw = os.environ.get("PERPFLOW_BOOK_THREADS", "").strip()
    if not raw:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return max(1, min(8, cpus or 1))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"PERPFLOW_BOOK_THREADS must be a whole number >= 1, got {raw!r}")
    return int(raw)


def _spans(n: int, threads: int) -> list[tuple[int, int]]:
    """Rows 0..n-1 cut into at most `threads` runs of whole blocks (one run for one block)."""
    blocks = -(-n // _BLOCK)
    runs = min(threads, blocks)
    if runs <= 1:
        return [(0, n)]
    cuts = [(blocks * r // runs) * _BLOCK for r in range(runs)] + [n]
    return [(lo, min(hi, n)) for lo, hi in zip(cuts, cuts[1:], strict=False)]


def _fill(arrays, decay_bps, breadth_bps, f, k, lo, hi):
    """Rows lo..hi-1 of `f` and `k`, a block of `_BLOCK` rows at a time (exponents, `np.exp`,
    then the row pass); row lo's row-to-row columns are left NaN for the caller's `_link`."""
    w = np.empty(min(_BLOCK, hi - lo) * (arrays[0].shape[1] + arrays[2].shape[1]))
    for s in range(lo, hi, _BLOCK):
        e = min(s + _BLOCK, hi)
        _exponents(arrays[0], arrays[2], s, e, decay_bps, f[16], w)
        with np.errstate(over="ignore"):  # a far crossed level: weight inf, as np.exp gives
            np.exp(w, out=w)
        _rows(*arrays, s, e, lo, breadth_bps, w, f, k)
