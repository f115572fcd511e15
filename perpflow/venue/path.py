"""The price path the matching engine walks: stored finest candles as prints.

A completed candle prints open -> high/low -> low/high -> close (high first when it closed down,
as `Venue.agg_trades` orders them) at 0, 1/4, 1/2 and the end of its span, each with a quarter of
its volume. The forming candle (replay mode) prints only what the venue's klines have revealed so
far (`candles._make_partial`): a new revealed high or low, then the revealed close, all at "now";
the cursor remembers the revealed extremes so the next catch-up prints only what is new. So a
price has traded once the klines show it, and the engine never runs ahead of what clients see.

Vectorised over the completed candles (NumPy column stacking); only the first and last candle of
a span are handled one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perpflow.venue.series import Table


@dataclass
class Cursor:
    """Where a symbol's path was last processed (stored ms) and what of the candle forming then
    had been revealed (its open time, high, low and volume; candle -1 = none pending)."""

    t: int
    candle: int = -1
    hi: float = 0.0
    lo: float = 0.0
    vol: float = 0.0


@dataclass
class Path:
    t: np.ndarray  # stored ms, nondecreasing
    p: np.ndarray  # contract price
    v: np.ndarray  # volume traded at the print

    def __len__(self) -> int:
        return len(self.t)


EMPTY = Path(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))


def _revealed(o, h, low, c, v, frac):
    """(high, low, close, volume) of a candle `frac` of the way through (as `_make_partial`)."""
    if frac >= 1.0:
        return h, low, c, v
    cp = o + (c - o) * frac
    return (
        max(o, cp) + (h - max(o, c)) * frac,
        min(o, cp) - (min(o, c) - low) * frac,
        cp,
        v * frac,
    )


def _candle_prints(row, tf: int, start: Cursor | None, s0: int, s1: int):
    """Prints of one candle between stored s0 (exclusive) and s1; `start` is the revealed state
    when the candle was already partly processed. Returns (prints, new cursor state or None)."""
    ts, o, h, low, c, v = row
    done = s1 >= ts + tf
    rh, rl, rc, rv = _revealed(o, h, low, c, v, 1.0 if done else (s1 - ts) / tf)
    if start is None:
        hi_seen = lo_seen = o
        vol_seen = 0.0
        prints = [(ts, o)] if ts > s0 else []
    else:
        hi_seen, lo_seen, vol_seen = start.hi, start.lo, start.vol
        prints = []
    at = (ts + tf // 4, ts + tf // 2) if done else (s1, s1)
    high, low_ = (rh, rh > hi_seen), (rl, rl < lo_seen)
    ext = (high, low_) if c < o else (low_, high)  # closed down: the high printed first
    ext = [(at[0], *ext[0]), (at[1], *ext[1])]
    prints += [(max(t, s0 + 1), p) for t, p, new in ext if new]
    prints.append((ts + tf - 1 if done else s1, rc))
    vol = max(rv - vol_seen, 0.0) / len(prints)
    state = None if done else Cursor(s1, int(ts), max(hi_seen, rh), min(lo_seen, rl), rv)
    return [(t, p, vol) for t, p in prints], state


def build_path(table: Table, cur: Cursor, s1: int) -> tuple[Path, Cursor]:
    """Prints after `cur` up to stored time `s1` (inclusive), and the cursor after them."""
    if s1 <= cur.t or len(table.ts) == 0:
        return EMPTY, cur
    tf = table.tf_ms
    ts = table.ts
    i0 = int(np.searchsorted(ts, cur.t - tf + 1, "left"))  # candle containing cur.t, or after
    i1 = int(np.searchsorted(ts, s1, "right"))
    if i0 >= i1:
        return EMPTY, Cursor(s1)
    o, h, low, c, v = (table.cols[k] for k in ("open", "high", "low", "close", "volume"))

    def row(k):
        return int(ts[k]), o[k], h[k], low[k], c[k], v[k]

    head, state = [], None
    first_start = cur if cur.candle == int(ts[i0]) else None
    k = i0
    if first_start is not None or ts[i0] <= cur.t or ts[i0] + tf > s1:
        head, state = _candle_prints(row(i0), tf, first_start, cur.t, s1)
        k = i0 + 1
    last = i1
    tail = []
    if k < i1 and ts[i1 - 1] + tf > s1:  # the forming candle
        tail, state = _candle_prints(row(i1 - 1), tf, None, cur.t, s1)
        last = i1 - 1
    mid_t = mid_p = mid_v = np.zeros(0)
    if k < last:
        sl = slice(k, last)
        down = c[sl] < o[sl]
        e1 = np.where(down, h[sl], low[sl])
        e2 = np.where(down, low[sl], h[sl])
        offs = np.array([0, tf // 4, tf // 2, tf - 1], dtype=np.int64)
        mid_t = (ts[sl][:, None] + offs).ravel()
        mid_p = np.column_stack([o[sl], e1, e2, c[sl]]).ravel()
        mid_v = np.repeat(v[sl] / 4, 4)
    parts_t = [np.array([x[0] for x in head], np.int64), mid_t.astype(np.int64),
               np.array([x[0] for x in tail], np.int64)]  # fmt: skip
    parts_p = [np.array([x[1] for x in head]), mid_p, np.array([x[1] for x in tail])]
    parts_v = [np.array([x[2] for x in head]), mid_v, np.array([x[2] for x in tail])]
    path = Path(np.concatenate(parts_t), np.concatenate(parts_p).astype(float),
                np.concatenate(parts_v).astype(float))  # fmt: skip
    return path, state if state is not None else Cursor(s1)


def cursor_after(table: Table, cur: Cursor, s1: int) -> tuple[bool, Cursor]:
    """(whether `build_path(table, cur, s1)` has prints, the cursor it returns), without building
    the prints: for a catch-up in which nothing can fill, trigger or settle."""
    if s1 <= cur.t or len(table.ts) == 0:
        return False, cur
    tf, ts = table.tf_ms, table.ts
    i0 = int(ts.searchsorted(cur.t - tf + 1, "left"))
    i1 = int(ts.searchsorted(s1, "right"))
    if i0 >= i1:
        return False, Cursor(s1)
    f = i1 - 1
    if ts[f] + tf <= s1:  # no candle forming at s1
        return True, Cursor(s1)
    o, h, low, c, v = (table.cols[k] for k in ("open", "high", "low", "close", "volume"))
    start = cur if cur.candle == int(ts[f]) else None
    _, state = _candle_prints((int(ts[f]), o[f], h[f], low[f], c[f], v[f]), tf, start, cur.t, s1)
    return True, state


def initial_cursor(table: Table, s: int) -> Cursor:
    """A cursor at stored time `s` that has seen what the forming candle revealed by then."""
    k = int(np.searchsorted(table.ts, s, "right")) - 1
    if k < 0 or s >= table.ts[k] + table.tf_ms:
        return Cursor(s)
    o, h, low, c, v = (float(table.cols[n][k]) for n in ("open", "high", "low", "close", "volume"))
    rh, rl, _, rv = _revealed(o, h, low, c, v, (s - table.ts[k]) / table.tf_ms)
    return Cursor(s, int(table.ts[k]), rh, rl, rv)


def mark_basis(futures: Table, mark: Table | None) -> tuple[np.ndarray, np.ndarray]:
    """(close times, mark/last - 1) of each stored mark candle: the engine's mark price at a print
    is the print times (1 + the basis of the last mark candle closed by then)."""
    if mark is None or len(mark.ts) == 0 or len(futures.ts) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    done = mark.ts + mark.tf_ms
    idx = np.clip(np.searchsorted(futures.ts, done - 1, "right") - 1, 0, len(futures.ts) - 1)
    basis = mark.cols["close"] / futures.cols["close"][idx] - 1.0
    return done, np.where(np.isfinite(basis), basis, 0.0)


def marks(t: np.ndarray, p: np.ndarray, basis: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Mark prices at stored times `t` for contract prices `p`."""
    done, b = basis
    if len(done) == 0:
        return p.copy()
    j = np.searchsorted(done, t, "right") - 1
    return p * (1.0 + np.where(j >= 0, b[np.clip(j, 0, None)], 0.0))
