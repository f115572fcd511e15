"""Funding-rate analytics over settlement rows (Freqtrade's `funding_rate` candle type).

Funding files hold one row per settlement (8h on Binance, sometimes 4h or 1h). Every function
reads settlements up to and including t.
"""

from __future__ import annotations

import pandas as pd

# Binance USDT-M settles every 8 hours (some symbols every 4 or 1): the longest interval.
MAX_FUNDING_INTERVAL_HOURS = 8


def funding_warmup_hours(lookback: int) -> int:
    """Hours of funding history before a candle's open that its `funding_zscore` reads: the last
    settlement knowable at the candle's close (less than one interval before the open) and the
    `lookback` - 1 before it, at the longest interval."""
    return lookback * MAX_FUNDING_INTERVAL_HOURS


def funding_settlements(raw: pd.DataFrame) -> pd.DataFrame:
    """Normalise a Freqtrade funding frame to `date, funding_rate` settlement rows.

    Accepts the 2026 layout (`funding_rate`) and the legacy OHLCV layout (rate in `open`).
    Freqtrade may hand back hourly rows with 0 between settlements; those are kept only when
    they are real settlements, i.e. rows whose rate is non-zero or fall on the detected interval.
    """
    if raw is None or raw.empty:
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns, UTC]"), "funding_rate": []})
    col = "funding_rate" if "funding_rate" in raw.columns else "open"
    if col not in raw.columns:
        raise ValueError(
            f"funding data has neither 'funding_rate' nor 'open' column (got {list(raw.columns)})"
        )
    out = raw[["date", col]].rename(columns={col: "funding_rate"}).dropna()
    return out.drop_duplicates("date", keep="last").sort_values("date").reset_index(drop=True)


def funding_zscore(rates: pd.Series, *, lookback: int = 90) -> pd.Series:
    """Z-score of each settlement against the previous `lookback` settlements including itself.

    Reads settlements t-lookback+1..t. NaN until the full lookback exists (so a value never
    depends on how much history was loaded) or when the spread is 0.
    """
    if lookback < 3:
        raise ValueError(f"funding z-score lookback must be >= 3 settlements, got {lookback}")
    roll = rates.rolling(lookback, min_periods=lookback)
    std = roll.std()
    return ((rates - roll.mean()) / std.where(std > 0)).rename(f"funding_z_{lookback}")


def funding_interval_hours(settlements: pd.DataFrame) -> pd.Series:
    """Funding interval in force at each settlement (8, 4 or 1 hour: exchanges differ and change
    it), from the gap to the previous settlement. Reads settlements <= t; NaN for the first."""
    gap = settlements["date"].diff().dt.total_seconds() / 3600.0
    return gap.rename("funding_interval_h")


def expected_carry(
    rate: pd.Series, interval_hours: pd.Series, *, horizon_hours: float
) -> pd.DataFrame:
    """Funding expected over a holding horizon if the current rate persists, per unit notional.

    A long pays `rate` each settlement (receives when negative); a short the opposite. Returns
    `carry_long` and `carry_short` as fractions of notional (negative = a cost).
    """
    settlements = horizon_hours / interval_hours.where(interval_hours > 0)
    paid = rate * settlements
    return pd.DataFrame({"carry_long": -paid, "carry_short": paid})


def predicted_funding(
    premium: pd.DataFrame, *, interval_hours: float = 8.0, interest: float = 0.0001,
    clamp: float = 0.0005, cap: float = 0.0075,
) -> pd.Series:  # fmt: skip
    """Binance's predicted rate from premium-index candles (Freqtrade's `premiumIndex` type).

    F = P + clamp(interest - P, +-clamp), with P the mean premium of the current funding
    interval so far (candles `date` in UTC, premium in `open` or `close`). Reads rows <= t.
    """
    col = "close" if "close" in premium.columns else "open"
    interval = pd.to_datetime(premium["date"], utc=True).dt.floor(f"{int(interval_hours)}h")
    p = premium[col].astype("float64").groupby(interval).expanding().mean()
    p = p.reset_index(level=0, drop=True).sort_index()
    rate = p + (interest - p).clip(-clamp, clamp)
    return rate.clip(-cap, cap).rename("funding_predicted")
