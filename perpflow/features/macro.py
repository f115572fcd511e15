"""Macro event calendar (US CPI, FOMC decisions, NFP) and the entry blackout around events.

The shipped calendar `macro_calendar.csv` (CALENDAR_VERSION) lists events from 2023 on with their
scheduled time in New York local time; it was compiled from the Federal Reserve's and the BLS's
published schedules (including 2025's shutdown-delayed releases) and should be checked against
the official sources before trading live. Supply your own file with the same columns
(`event,date,time_ny,importance`) through `perpflow.filters.macro.calendar_file`.

Events are scheduled in advance, so knowing an event's time before it happens is not
look-ahead. A calendar that ends before the data does is reported, and (strict mode) blocks
entries where it has no knowledge instead of treating the gap as "no events".
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

CALENDAR_VERSION = "2026.11.1"
SHIPPED = Path(__file__).with_name("macro_calendar.csv")
IMPORTANCE = ("high", "medium", "low")
COVER_DAYS = 31  # the last event covers this many days after it (monthly releases)
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
logger = logging.getLogger(__name__)


def _fail(path: Path, row: int, what: str) -> ValueError:
    return ValueError(f"{path.name} row {row}: {what}; fix the row or remove it")


def _validate(raw: pd.DataFrame, path: Path) -> None:
    missing = {"event", "date", "time_ny", "importance"} - set(raw.columns)
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {sorted(missing)}; "
                         "expected event,date,time_ny,importance")  # fmt: skip
    for i, r in enumerate(raw.itertuples(index=False), start=2):  # small file: rows are events
        if not str(r.event).strip() or str(r.event) == "nan":
            raise _fail(path, i, "empty event name")
        if pd.isna(pd.to_datetime(r.date, format="%Y-%m-%d", errors="coerce")):
            raise _fail(path, i, f"date {r.date!r} is not YYYY-MM-DD")
        if not _TIME.match(str(r.time_ny)):
            raise _fail(path, i, f"time_ny {r.time_ny!r} is not HH:MM (New York time)")
        if r.importance not in IMPORTANCE:
            raise _fail(path, i, f"importance {r.importance!r} not in {IMPORTANCE}")
    dup = raw.duplicated(["event", "date"], keep="first").to_numpy()
    if dup.any():
        raise _fail(path, int(np.flatnonzero(dup)[0]) + 2, "duplicate (event, date)")


def load_calendar(path: Path | None = None) -> pd.DataFrame:
    """Validated calendar: `event`, `importance`, `time_utc` (tz-aware, DST aware), sorted."""
    path = Path(path) if path else SHIPPED
    if not path.exists():
        raise FileNotFoundError(f"macro calendar {path} does not exist")
    raw = pd.read_csv(path, dtype=str)
    _validate(raw, path)
    local = pd.to_datetime(raw["date"] + " " + raw["time_ny"], format="%Y-%m-%d %H:%M")
    utc = local.dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    out = pd.DataFrame({"event": raw["event"], "importance": raw["importance"], "time_utc": utc})
    return out.sort_values("time_utc").reset_index(drop=True)


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
