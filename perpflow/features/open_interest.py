"""Open-interest measures on candle-aligned OI (Freqtrade's `open_interest` candle type)."""

from __future__ import annotations

import pandas as pd


def oi_column(raw: pd.DataFrame) -> pd.Series:
    """The OI amount series of a Freqtrade open_interest frame (value / close if amount is absent)."""
    if "open_interest_amount" not in raw.columns:
        raise ValueError(
            "open interest data needs 'open_interest_amount' (Freqtrade open_interest layout), "
            f"got {list(raw.columns)}"
        )
    return raw["open_interest_amount"].astype("float64")


def oi_change(oi: pd.Series, *, periods: int) -> pd.Series:
    """Relative change of OI over `periods` rows (reads t-periods and t); NaN if either is NaN."""
    if periods < 1:
        raise ValueError(f"oi_change periods must be >= 1, got {periods}")
    prev = oi.shift(periods)
    return (oi / prev.where(prev > 0) - 1.0).rename(f"oi_change_{periods}")
