"""The macro event calendar file (US CPI, FOMC decisions, NFP): read and validated here, used by
`perpflow.features.macro` (which does no file I/O).

The shipped calendar `macro_calendar.csv` (CALENDAR_VERSION) lists events from 2023 on with their
scheduled time in New York local time; it was compiled from the Federal Reserve's and the BLS's
published schedules (including 2025's shutdown-delayed releases) and should be checked against
the official sources before trading live. Supply your own file with the same columns
(`event,date,time_ny,importance`) through `perpflow.filters.macro.calendar_file`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

CALENDAR_VERSION = "2026.11.1"
SHIPPED = Path(__file__).with_name("macro_calendar.csv")
IMPORTANCE = ("high", "medium", "low")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


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
