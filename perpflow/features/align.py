"""As-of alignment of slower or external series onto candles, by the time values became knowable.

A candle that opens at t is analysed at its close, t + timeframe. A series value stamped s is
knowable at s + `available_after`. The candle gets the last value knowable at or before its
close; values older than `max_staleness` at that moment are NaN, so a stale input fails closed.
"""

from __future__ import annotations

import pandas as pd


def asof_to_candles(
    candle_dates: pd.Series,
    series: pd.DataFrame,
    *,
    timeframe: pd.Timedelta,
    available_after: pd.Timedelta,
    max_staleness: pd.Timedelta,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """Join `series` (a `date` column plus values) onto candles by knowable time.

    Reads series rows with `date + available_after <= candle close` only. Returns a frame with
    the candles' index, the requested value columns and `available_at` (when the joined value
    became knowable). An empty series yields all-NaN columns (same columns either way).
    """
    columns = columns or [c for c in series.columns if c != "date"]
    close_time = (pd.to_datetime(candle_dates, utc=True) + timeframe).astype("datetime64[ns, UTC]")
    left = pd.DataFrame({"close_time": close_time.array}, index=candle_dates.index)
    if series is None or series.empty:
        empty = pd.DataFrame({c: float("nan") for c in columns}, index=candle_dates.index)
        empty["available_at"] = pd.NaT
        return empty
    right = series[["date", *columns]].copy()
    right["available_at"] = (pd.to_datetime(right["date"], utc=True) + available_after).astype(
        "datetime64[ns, UTC]"
    )
    right = right.drop(columns="date").sort_values("available_at")
    merged = pd.merge_asof(
        left.reset_index(drop=True),
        right,
        left_on="close_time",
        right_on="available_at",
        direction="backward",
    )
    stale = (merged["close_time"] - merged["available_at"]) > max_staleness
    for col in columns:
        merged[col] = merged[col].mask(stale)
    merged["available_at"] = merged["available_at"].mask(stale)
    merged.index = candle_dates.index
    return merged[[*columns, "available_at"]]
