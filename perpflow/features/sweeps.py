"""Sweeps of confirmed swing levels: a wick through the level and a close back inside.

A swing level can be swept once: after the first candle whose high (low) trades through it,
later candles no longer count as sweeps of that level. Everything is computed from rows <= t.
"""

from __future__ import annotations

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
    atr_safe = atr.where(atr > 0)
    return pd.DataFrame(
        {
            "sweep_high": sweep_high.to_numpy(dtype=bool),
            "sweep_low": sweep_low.to_numpy(dtype=bool),
            "sweep_high_level": hi_lvl.where(sweep_high).to_numpy(),
            "sweep_low_level": lo_lvl.where(sweep_low).to_numpy(),
            "sweep_high_depth_atr": ((df["high"] - hi_lvl) / atr_safe).where(sweep_high).to_numpy(),
            "sweep_low_depth_atr": ((lo_lvl - df["low"]) / atr_safe).where(sweep_low).to_numpy(),
        },
        index=df.index,
    ).astype({"sweep_high": bool, "sweep_low": bool})
