"""Sweeps of confirmed swing levels: a wick through the level and a close back inside.

A swing level can be swept once: after the first candle whose high (low) trades through it,
later candles no longer count as sweeps of that level. Everything is computed from rows <= t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _first_breach(extreme: pd.Series, level: pd.Series, *, above: bool) -> pd.Series:
    """True on the first row since `level` last changed whose extreme trades through it."""
    group = (level != level.shift()).cumsum()
    through = (extreme > level) if above else (extreme < level)
    prior = through.astype("int64").groupby(group).cumsum() - through.astype("int64")
    return through & (prior == 0)


def sweeps(df: pd.DataFrame, swings: pd.DataFrame, atr: pd.Series) -> pd.DataFrame:
    """Flag sweeps of the last swing level known before each candle.

    Reads `high`, `low`, `close` of row t and swing levels of row t - 1 (a swing confirmed on
    candle t cannot be swept by candle t). Returns `sweep_high`, `sweep_low` (bool), the swept
    levels `sweep_high_level`, `sweep_low_level` (NaN when no sweep) and the wick depth beyond
    the level in ATR, `sweep_high_depth_atr`, `sweep_low_depth_atr`.
    """
    hi_lvl = swings["swing_high"].shift(1)
    lo_lvl = swings["swing_low"].shift(1)
    hi_first = _first_breach(df["high"], hi_lvl, above=True)
    lo_first = _first_breach(df["low"], lo_lvl, above=False)
    sweep_high = hi_first & (df["close"] < hi_lvl)
    sweep_low = lo_first & (df["close"] > lo_lvl)
    return _sweep_frame(df, atr, "sweep", hi_lvl, lo_lvl, sweep_high, sweep_low)


def _sweep_frame(df, atr, prefix: str, hi, lo, up, dn) -> pd.DataFrame:
    """`<prefix>_high/low` flags, swept levels and wick depths beyond them in ATR."""
    atr_safe = atr.where(atr > 0)
    return pd.DataFrame(
        {
            f"{prefix}_high": up.to_numpy(dtype=bool),
            f"{prefix}_low": dn.to_numpy(dtype=bool),
            f"{prefix}_high_level": hi.where(up).to_numpy(),
            f"{prefix}_low_level": lo.where(dn).to_numpy(),
            f"{prefix}_high_depth_atr": ((df["high"] - hi) / atr_safe).where(up).to_numpy(),
            f"{prefix}_low_depth_atr": ((lo - df["low"]) / atr_safe).where(dn).to_numpy(),
        },
        index=df.index,
    )


def pool_sweeps(df: pd.DataFrame, pools: pd.DataFrame, atr: pd.Series) -> pd.DataFrame:
    """Sweeps of live liquidity pools: wick through the pool level, close back inside.

    Reads the pool levels of row t - 1 (a pool is live there until the candle that trades
    through it) and `high`, `low`, `close` of row t. Returns `pool_sweep_high`, `pool_sweep_low`
    (bool), `pool_sweep_high_level`, `pool_sweep_low_level`, depths in ATR and touches swept.
    """
    hi = pools["pool_high_level"].shift(1)
    lo = pools["pool_low_level"].shift(1)
    up = (df["high"] > hi) & (df["close"] < hi)
    dn = (df["low"] < lo) & (df["close"] > lo)
    out = _sweep_frame(df, atr, "pool_sweep", hi, lo, up, dn)
    touches_hi = pools["pool_high_touches"].shift(1, fill_value=0)
    touches_lo = pools["pool_low_touches"].shift(1, fill_value=0)
    out["pool_sweep_touches"] = np.where(up, touches_hi, np.where(dn, touches_lo, 0)).astype(
        "int64"
    )
    return out


FOLLOW_NONE, FOLLOW_PENDING, FOLLOW_CONTINUATION, FOLLOW_REVERSAL = 0, 1, 2, 3


def follow_through(
    close: pd.Series,
    flag: pd.Series,
    level: pd.Series,
    atr: pd.Series,
    *,
    high: bool,
    k_cont: float = 1.0,
    k_rev: float = 1.5,
    horizon: int = 48,
) -> pd.Series:
    """State of the latest sweep after it: pending, continuation or reversal (first reached).

    Continuation: a close `k_cont` ATR beyond the swept level (the breakout held); reversal: a
    close `k_rev` ATR back inside. ATR is taken at the sweep candle. Reads rows <= t; the state
    of a sweep older than `horizon` bars is NONE. Codes: 0 none, 1 pending, 2 continuation,
    3 reversal.
    """
    n = len(close)
    idx = np.arange(n)
    sweep_row = np.where(flag.to_numpy(dtype=bool), idx, -1)
    last = np.maximum.accumulate(sweep_row)
    has = last >= 0
    safe = np.where(has, last, 0)
    lvl = level.to_numpy(dtype="float64")[safe]
    a = atr.to_numpy(dtype="float64")[safe]
    c = close.to_numpy(dtype="float64")
    sign = 1.0 if high else -1.0
    cont = has & (sign * (c - lvl) >= k_cont * a) & (idx > last)
    rev = has & (sign * (lvl - c) >= k_rev * a) & (idx > last)
    group = pd.Series(last)
    first_cont = pd.Series(np.where(cont, idx, n)).groupby(group).cummin().to_numpy()
    first_rev = pd.Series(np.where(rev, idx, n)).groupby(group).cummin().to_numpy()
    state = np.where(first_cont < first_rev, FOLLOW_CONTINUATION, FOLLOW_PENDING)
    state = np.where(first_rev < first_cont, FOLLOW_REVERSAL, state)
    state = np.where(has & (idx - last <= horizon), state, FOLLOW_NONE)
    return pd.Series(state.astype("int8"), index=close.index)
