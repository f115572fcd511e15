"""Volatility measures (ATR via TA-Lib, realised volatility).

Every function reads only rows up to and including t for its value at t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib


def atr(df: pd.DataFrame, *, period: int = 14) -> pd.Series:
    """Average true range (Wilder, TA-Lib) of `high`, `low`, `close`; NaN for the warm-up rows."""
    values = talib.ATR(
        df["high"].to_numpy(dtype="float64"),
        df["low"].to_numpy(dtype="float64"),
        df["close"].to_numpy(dtype="float64"),
        timeperiod=period,
    )
    return pd.Series(values, index=df.index, name=f"atr_{period}")


def realised_vol(close: pd.Series, *, window: int = 6) -> pd.Series:
    """Rolling standard deviation of log returns over `window` rows (reads t-window..t)."""
    log_ret = np.log(close.astype("float64")).diff()
    return log_ret.rolling(window, min_periods=window).std().rename(f"rv_{window}")
