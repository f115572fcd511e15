"""Open-interest measures on candle-aligned OI (Freqtrade's `open_interest` candle type)."""

from __future__ import annotations

import numpy as np
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


def oi_regime_warmup(periods: int, window: int) -> int:
    """OI rows `oi_regime` reads for its z-scores at t: `window` changes over `periods` rows each."""
    return periods + window


OI_REGIMES = {
    0: "neutral",
    1: "trend participation (OI up, price up)",
    2: "trapped longs / new shorts (OI up, price down)",
    3: "short covering (OI down, price up)",
    4: "long liquidation (OI down, price down)",
}


def oi_regime(close: pd.Series, oi: pd.Series, *, periods: int = 12, window: int = 288,
              threshold: float = 1.0) -> pd.DataFrame:  # fmt: skip
    """OI change vs price change, each relative to its own rolling volatility.

    Both changes over `periods` rows are divided by the rolling std of that change over
    `window` rows; a move counts when |z| >= `threshold`. Regime codes are in `OI_REGIMES`
    (0 when either side is quiet or unknown). Returns `oi_delta` (absolute change), `oi_z`,
    `price_z` and `oi_regime`. Reads rows <= t.
    """
    d_oi = oi_change(oi, periods=periods)
    d_px = close.astype("float64").pct_change(periods, fill_method=None)
    z_oi = d_oi / d_oi.rolling(window, min_periods=window).std()
    z_px = d_px / d_px.rolling(window, min_periods=window).std()
    up_oi, dn_oi = z_oi >= threshold, z_oi <= -threshold
    up_px, dn_px = z_px >= threshold, z_px <= -threshold
    regime = np.select(
        [up_oi & up_px, up_oi & dn_px, dn_oi & up_px, dn_oi & dn_px], [1, 2, 3, 4], default=0
    )
    return pd.DataFrame(
        {"oi_delta": oi.diff(periods), "oi_z": z_oi, "price_z": z_px,
         "oi_regime": regime.astype("int8")},
        index=close.index,
    )  # fmt: skip
