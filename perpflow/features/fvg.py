"""Fair value gaps: three-candle imbalances, known at the close of the third candle.

Bullish FVG at candle t: low[t] > high[t-2] (the gap is [high[t-2], low[t]]); bearish: high[t] <
low[t-2]. The latest gap of each direction is tracked forward causally: `filled` is the share of
the gap traded back into since it formed (0 untouched, 1 fully mitigated). Reads rows <= t.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _track(n, start_rows, top, bottom, extreme, *, bull: bool) -> dict[str, np.ndarray]:
    """Carry the latest gap forward and measure how much of it later candles filled."""
    gid = np.zeros(n, dtype="int64")
    gid[start_rows] = 1
    gid = np.cumsum(gid)
    t = np.full(n, np.nan)
    b = np.full(n, np.nan)
    origin = np.full(n, np.nan)
    t[start_rows], b[start_rows], origin[start_rows] = top, bottom, start_rows
    t, b, origin = (pd.Series(x).ffill().to_numpy() for x in (t, b, origin))
    s = pd.Series(extreme).groupby(gid)
    # the forming candle's own extreme is the gap edge, so it fills nothing
    reach = s.cummin().to_numpy() if bull else s.cummax().to_numpy()
    size = t - b
    filled = (t - reach) / size if bull else (reach - b) / size
    filled = np.clip(filled, 0.0, 1.0)
    return {"top": t, "bottom": b, "filled": np.where(gid > 0, filled, np.nan), "origin": origin}


def fair_value_gaps(df: pd.DataFrame, atr: pd.Series, *, min_size_atr: float = 0.0) -> pd.DataFrame:
    """Latest bullish and bearish FVG per candle: `fvg_bull_top/bottom/size_atr/filled/age`.

    Gaps smaller than `min_size_atr` ATR are ignored. Columns are NaN before the first gap.
    """
    high = df["high"].to_numpy(dtype="float64")
    low = df["low"].to_numpy(dtype="float64")
    a = atr.to_numpy(dtype="float64")
    n = len(df)
    out: dict[str, np.ndarray] = {}
    h2 = np.r_[np.nan, np.nan, high[:-2]] if n >= 2 else np.full(n, np.nan)
    l2 = np.r_[np.nan, np.nan, low[:-2]] if n >= 2 else np.full(n, np.nan)
    h2, l2 = h2[:n], l2[:n]
    idx = np.arange(n, dtype="float64")
    for name, bull in (("bull", True), ("bear", False)):
        top, bottom = (low, h2) if bull else (l2, high)
        gap = top - bottom
        ok = gap > 0
        if min_size_atr > 0:
            ok &= gap >= min_size_atr * a  # NaN ATR (warm-up) compares False: no gap
        rows = np.flatnonzero(ok)
        tr = _track(n, rows, top[rows], bottom[rows], low if bull else high, bull=bull)
        out[f"fvg_{name}_top"] = tr["top"]
        out[f"fvg_{name}_bottom"] = tr["bottom"]
        out[f"fvg_{name}_size_atr"] = (tr["top"] - tr["bottom"]) / np.where(a > 0, a, np.nan)
        out[f"fvg_{name}_filled"] = tr["filled"]
        out[f"fvg_{name}_age"] = idx - tr["origin"]
    return pd.DataFrame(out, index=df.index)
