"""Classic context: moving averages, Bollinger squeeze (TA-Lib), Fibonacci levels of the last
confirmed swing leg. Reads rows <= t."""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

FIB_RATIOS = (0.382, 0.5, 0.618)


def classic_context(
    df: pd.DataFrame,
    swings: pd.DataFrame,
    *,
    fast: int = 50,
    slow: int = 200,
    bb_period: int = 20,
    bb_dev: float = 2.0,
    squeeze_lookback: int = 288,
    squeeze_pct: float = 0.2,
) -> pd.DataFrame:
    """EMAs, Bollinger band width and squeeze flag, and Fibonacci retracements.

    `bb_squeeze` is True when the band width is in the lowest `squeeze_pct` of the trailing
    `squeeze_lookback` candles. Fibonacci levels retrace the leg between the last confirmed swing
    high and low (from `confirmed_swings`): for an up leg (low before high) level r is
    high - r x (high - low); for a down leg low + r x (high - low). `fib_pos` is where the close
    sits in the leg (0 at the low, 1 at the high).
    """
    close = df["close"].to_numpy(dtype="float64")
    upper, mid, lower = talib.BBANDS(close, timeperiod=bb_period, nbdevup=bb_dev, nbdevdn=bb_dev)
    width = pd.Series((upper - lower) / np.where(mid > 0, mid, np.nan), index=df.index)
    rank = width.rolling(squeeze_lookback, min_periods=squeeze_lookback).rank(pct=True)
    out = {
        f"ema_{fast}": talib.EMA(close, timeperiod=fast),
        f"ema_{slow}": talib.EMA(close, timeperiod=slow),
        "bb_width": width.to_numpy(),
        "bb_squeeze": (rank <= squeeze_pct).to_numpy(),
    }
    hi, lo = swings["swing_high"].to_numpy(), swings["swing_low"].to_numpy()
    up_leg = (swings["swing_high_age"] < swings["swing_low_age"]).to_numpy()  # high is newer
    rng = hi - lo
    for r in FIB_RATIOS:
        out[f"fib_{int(r * 1000)}"] = np.where(up_leg, hi - r * rng, lo + r * rng)
    out["fib_pos"] = (close - lo) / np.where(rng > 0, rng, np.nan)
    return pd.DataFrame(out, index=df.index)
