"""Volatility regime and breadth stability.

Realised volatility: rolling standard deviation of 1-candle log returns over `window` candles
(6 x 5m = 30 minutes by default) and its percentile within the trailing `lookback` candles.
Breadth stability: variation of top-of-book liquidity when the store has recorded books (issue
5); until then a volume proxy, the coefficient of variation of volume over `breadth_window`.
Reads rows <= t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def regime_warmup(window: int, lookback: int) -> int:
    """Candles `volatility_regime` reads for `rv_pct` at t: `lookback` realised vols ranked, the
    oldest of them from `window` returns (window + 1 closes): window + lookback."""
    return window + lookback


def volatility_regime(
    df: pd.DataFrame,
    *,
    window: int = 6,
    lookback: int = 2016,
    min_pct: float = 0.3,
    breadth_window: int = 12,
    max_breadth_cv: float = 1.0,
) -> pd.DataFrame:
    """`rv`, `rv_pct` (0..1, share of the trailing lookback at or below today's rv),
    `volatile` (rv_pct >= min_pct), `breadth_cv` and `breadth_stable` (cv <= max_breadth_cv)."""
    log_ret = np.log(df["close"].astype("float64")).diff()
    rv = log_ret.rolling(window, min_periods=window).std()
    pct = rv.rolling(lookback, min_periods=lookback).rank(pct=True)
    vol = df["volume"].astype("float64")
    roll = vol.rolling(breadth_window, min_periods=breadth_window)
    mean = roll.mean()
    cv = roll.std() / mean.where(mean > 0)
    return pd.DataFrame(
        {
            "rv": rv,
            "rv_pct": pct,
            "volatile": (pct >= min_pct).to_numpy(),
            "breadth_cv": cv,
            "breadth_stable": (cv <= max_breadth_cv).to_numpy(),
        },
        index=df.index,
    )
