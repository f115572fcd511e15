"""Fractal swing highs and lows, confirmed only after their right-hand bars close.

A bar i is a swing high when its high is strictly above the `left` highs before it and at
least as high as the `right` highs after it. That can only be known at the close of bar
i + right, so the level appears in the output from row i + right on, never earlier. Open-source
"smart money" swing functions centre the window and read the next bars; this one does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _confirmed(values: np.ndarray, *, left: int, right: int, high: bool) -> np.ndarray:
    """Boolean per row t: the bar at t - right is a confirmed swing (reads rows <= t only)."""
    s = pd.Series(values if high else -values)
    cand = s.shift(right)
    left_best = s.shift(right + 1).rolling(left, min_periods=left).max()
    right_best = s.rolling(right, min_periods=right).max() if right > 0 else cand * np.nan
    ok = (cand > left_best) & ((cand >= right_best) if right > 0 else True)
    return ok.fillna(False).to_numpy(dtype=bool)


def swing_warmup(left: int, right: int) -> int:
    """Candles a swing confirmed at t spans: its `left` bars, the bar and its `right` bars."""
    return left + right + 1


def confirmed_swings(df: pd.DataFrame, *, left: int = 12, right: int = 6) -> pd.DataFrame:
    """Last confirmed swing high/low level and the bars since that swing bar.

    Reads `high` and `low` up to row t. Returns columns `swing_high`, `swing_high_age`,
    `swing_low`, `swing_low_age` (NaN before the first confirmed swing). Age counts bars
    from the swing bar itself, so it is at least `right` when the level first appears.
    """
    if left < 1 or right < 0:
        raise ValueError(f"swings need left >= 1 and right >= 0, got left={left}, right={right}")
    out = {}
    n = len(df)
    idx = np.arange(n, dtype="float64")
    for name, col, is_high in (("swing_high", "high", True), ("swing_low", "low", False)):
        values = df[col].to_numpy(dtype="float64")
        conf = _confirmed(values, left=left, right=right, high=is_high)
        level = np.full(n, np.nan)
        origin = np.full(n, np.nan)
        rows = np.flatnonzero(conf)
        level[rows] = values[rows - right]
        origin[rows] = rows - right
        level_s = pd.Series(level).ffill().to_numpy()
        origin_s = pd.Series(origin).ffill().to_numpy()
        out[name] = level_s
        out[f"{name}_age"] = idx - origin_s
    return pd.DataFrame(out, index=df.index)
