"""Macro event calendar (US CPI, FOMC decisions, NFP) and the entry blackout around events.

Pure functions of a calendar frame (`event`, `importance`, `time_utc`) that the caller reads
with `perpflow.data.macro_calendar.load_calendar` (the shipped file or the user's own).

Events are scheduled in advance, so knowing an event's time before it happens is not
look-ahead. A calendar that ends before the data does is reported, and (strict mode) blocks
entries where it has no knowledge instead of treating the gap as "no events".
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

COVER_DAYS = 31  # the last event covers this many days after it (monthly releases)
logger = logging.getLogger(__name__)


def covered_until(calendar: pd.DataFrame) -> pd.Timestamp:
    """Last instant the calendar speaks for: its last event plus COVER_DAYS."""
    return calendar["time_utc"].max() + pd.Timedelta(days=COVER_DAYS)


def check_coverage(dates: pd.Series, calendar: pd.DataFrame) -> pd.Timestamp | None:
    """Warn when data runs past the calendar; return the first uncovered time (or None)."""
    end = covered_until(calendar)
    last = pd.to_datetime(dates, utc=True).max()
    if pd.isna(last) or last <= end:
        return None
    logger.warning(
        "macro calendar ends %s but data runs to %s: blackouts after that are unknown "
        "(update the calendar file)", calendar["time_utc"].max(), last,
    )  # fmt: skip
    return end


def blackout(
    dates: pd.Series,
    calendar: pd.DataFrame,
    *,
    before_minutes: float = 30,
    after_minutes: float = 60,
    importance: tuple[str, ...] = ("high",),
    strict_coverage: bool = False,
) -> pd.Series:
    """True for candles whose open time lies in [event - before, event + after) of any event
    of the chosen importance; with `strict_coverage`, also past the calendar's coverage."""
    before = pd.Timedelta(minutes=before_minutes)
    after = pd.Timedelta(minutes=after_minutes)
    ev = calendar.loc[calendar["importance"].isin(importance), "time_utc"]
    ev_ns = np.sort(ev.astype("datetime64[ns, UTC]").astype("int64").to_numpy())
    t = pd.to_datetime(dates, utc=True).astype("datetime64[ns, UTC]").astype("int64").to_numpy()
    # the first event at or after t - after: t is inside its window if event - before <= t
    i = np.searchsorted(ev_ns, t - after.value, side="right")
    nxt = np.where(i < len(ev_ns), ev_ns[np.minimum(i, len(ev_ns) - 1)], np.iinfo("int64").max)
    out = (nxt - before.value) <= t
    if strict_coverage:
        out |= t > covered_until(calendar).value
    return pd.Series(out, index=dates.index, name="macro_blackout")
