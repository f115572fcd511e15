"""Event labels for sweeps and liquidation clusters (read rows after t by design)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpflow.labels.barriers import first_touch
from perpflow.labels.horizons import LIQUIDATION_HORIZON, SWEEP_HORIZON


def sweep_outcome(df: pd.DataFrame, atr: pd.Series, *, sweep_low: pd.Series, sweep_high: pd.Series,
                  k_atr: float = 2.0, m_atr: float = 2.0, horizon: int = SWEEP_HORIZON) -> pd.DataFrame:  # fmt: skip
    """After a sweep candle: `sweep_reversal` 1 when price first moves `k_atr` ATR back into the
    range (up after a swept low, down after a swept high), 0 when it first continues `m_atr` ATR
    through it, NaN when neither happens within `horizon` or data ends."""
    lows = sweep_low.fillna(False).to_numpy()
    highs = sweep_high.fillna(False).to_numpy() & ~lows
    ev = np.flatnonzero(lows | highs)
    close, a = df["close"].to_numpy(), atr.to_numpy()
    is_low = lows[ev]  # a swept low: the reversal is up (a long's view)
    up = np.where(is_low, close[ev] + k_atr * a[ev], close[ev] + m_atr * a[ev])
    dn = np.where(is_low, close[ev] - m_atr * a[ev], close[ev] - k_atr * a[ev])
    hit, bars = first_touch(df["high"].to_numpy(), df["low"].to_numpy(), ev, up, dn, horizon,
                            long=is_low)  # fmt: skip
    reversal = np.where(hit == 0, np.nan, np.where(is_low, hit == 1, hit == -1).astype("float64"))
    out = pd.DataFrame({"sweep_reversal": np.nan, "sweep_bars": np.nan}, index=df.index)
    out.iloc[ev, 0] = reversal
    out.iloc[ev, 1] = np.where(hit == 0, np.nan, bars)
    return out


def liquidation_move(df: pd.DataFrame, atr: pd.Series, cluster: pd.Series, *, k_atr: float = 1.5,
                     horizon: int = LIQUIDATION_HORIZON) -> pd.DataFrame:  # fmt: skip
    """The brief's label: did price move >= `k_atr` ATR (either way, from the cluster candle's
    close) within `horizon` candles after a liquidation cluster? `liq_move` 1/0 (NaN where the
    data ends first) and `liq_move_dir` (+1 up first, -1 down first, 0 none)."""
    ev = np.flatnonzero(cluster.fillna(False).to_numpy())
    close, a = df["close"].to_numpy(), atr.to_numpy()
    hit, _ = first_touch(df["high"].to_numpy(), df["low"].to_numpy(), ev, close[ev] + k_atr * a[ev],
                         close[ev] - k_atr * a[ev], horizon, long=np.ones(len(ev), bool))  # fmt: skip
    moved = (hit != 0).astype("float64")
    moved[(ev + horizon >= len(close)) & (hit == 0)] = np.nan
    out = pd.DataFrame({"liq_move": np.nan, "liq_move_dir": np.nan}, index=df.index)
    out.iloc[ev, 0] = moved
    out.iloc[ev, 1] = hit
    return out
