"""Volatility measures (ATR via TA-Lib, realised volatility).

Every function reads only rows up to and including t for its value at t.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import talib

# Start-up effect left on a recursive (Wilder) average once warmed up: its seed's weight falls
# below this share of the value, far below any price precision.
RECURSIVE_TOLERANCE = 1e-8


def atr(df: pd.DataFrame, *, period: int = 14) -> pd.Series:
    """Average true range (Wilder, TA-Lib) of `high`, `low`, `close`; NaN for the warm-up rows."""
    values = talib.ATR(
        df["high"].to_numpy(dtype="float64"),
        df["low"].to_numpy(dtype="float64"),
        df["close"].to_numpy(dtype="float64"),
        timeperiod=period,
    )
    return pd.Series(values, index=df.index, name=f"atr_{period}")


def atr_warmup(period: int, *, tolerance: float = RECURSIVE_TOLERANCE) -> int:
    """Candles `atr` reads for its value at t to be independent of where the frame starts:
    `period` + 1 for the first value (a true range reads the previous close), then the candles
    after which the seed's weight (1 - 1/period)^k in Wilder's recursion is below `tolerance`."""
    settle = math.ceil(math.log(tolerance) / math.log1p(-1.0 / period))
    return period + 1 + settle


def realised_vol(close: pd.Series, *, window: int = 6) -> pd.Series:
    """Rolling standard deviation of log returns over `window` rows (reads t-window..t)."""
    log_ret = np.log(close.astype("float64")).diff()
    return log_ret.rolling(window, min_periods=window).std().rename(f"rv_{window}")
