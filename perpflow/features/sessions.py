"""Trading sessions in New York time (DST aware), from candle open times.

The three blocks from the brief, in America/New_York local time: `ny_open` 13:00-16:00,
`ny_close` 16:00-21:00 and `asia_london` 00:00-07:00. Their UTC hours move when the US
switches between EST and EDT. Reads only the timestamp of row t.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

NY_TZ = "America/New_York"
_NY = ZoneInfo(NY_TZ)
SESSION_BLOCKS: dict[str, tuple[int, int]] = {
    "ny_open": (13, 16),
    "ny_close": (16, 21),
    "asia_london": (0, 7),
}
SESSION_CODES: dict[str, int] = {name: i + 1 for i, name in enumerate(SESSION_BLOCKS)}
SESSION_NAMES: dict[int, str] = {0: "other", **{code: name for name, code in SESSION_CODES.items()}}


def session_warmup(timeframe: str) -> int:
    """Candles of `timeframe` covering the longest stretch between session boundaries (a block or
    the gap between two) plus the hour a daylight-saving change adds: features anchored at the
    current block's start (session POC and value area) have then seen that start."""
    edges = sorted({h for block in SESSION_BLOCKS.values() for h in block})
    gaps = [b - a for a, b in zip(edges, [*edges[1:], edges[0] + 24], strict=True)]
    return -(-pd.Timedelta(hours=max(gaps) + 1) // pd.Timedelta(timeframe))


def session_name_at(when: datetime) -> str:
    """The block name of one aware datetime ('other' outside the blocks): `ny_session_block` for
    a single time, without pandas (a callback's cost, not a column's)."""
    hour = when.astimezone(_NY).hour
    for name, (start, end) in SESSION_BLOCKS.items():
        if start <= hour < end:
            return name
    return SESSION_NAMES[0]


def ny_session_block(dates: pd.Series) -> pd.Series:
    """Session code per candle: 0 outside the blocks, else `SESSION_CODES[name]`."""
    local = pd.to_datetime(dates, utc=True).dt.tz_convert(NY_TZ)
    hour = local.dt.hour
    code = pd.Series(0, index=dates.index, dtype="int8")
    for name, (start, end) in SESSION_BLOCKS.items():
        code = code.mask((hour >= start) & (hour < end), SESSION_CODES[name])
    return code.rename("session_block")


def in_sessions(block: pd.Series, allowed: list[str] | tuple[str, ...]) -> pd.Series:
    """True where the session code is one of the `allowed` block names."""
    unknown = set(allowed) - set(SESSION_CODES)
    if unknown:
        raise ValueError(f"unknown session block(s) {sorted(unknown)}; use {list(SESSION_CODES)}")
    return block.isin([SESSION_CODES[a] for a in allowed])


LONDON_TZ = "Europe/London"


def session_context(dates: pd.Series) -> pd.DataFrame:
    """Session block, London (08:00 London) and New York (09:30 New York) open windows and
    cyclical time encodings (New York local time of day and day of week). Reads row t's time."""
    utc = pd.to_datetime(dates, utc=True)
    ny = utc.dt.tz_convert(NY_TZ)
    ldn = utc.dt.tz_convert(LONDON_TZ)
    ny_min = ny.dt.hour * 60 + ny.dt.minute
    ldn_min = ldn.dt.hour * 60 + ldn.dt.minute
    day_frac = ny_min / 1440.0
    week_frac = (ny.dt.day_of_week + day_frac) / 7.0
    return pd.DataFrame(
        {
            "session_block": ny_session_block(dates).to_numpy(),
            "london_open": ((ldn_min >= 8 * 60) & (ldn_min < 9 * 60)).to_numpy(),
            "ny_open": ((ny_min >= 9 * 60 + 30) & (ny_min < 10 * 60 + 30)).to_numpy(),
            "tod_sin": np.sin(2 * np.pi * day_frac).to_numpy(),
            "tod_cos": np.cos(2 * np.pi * day_frac).to_numpy(),
            "dow_sin": np.sin(2 * np.pi * week_frac).to_numpy(),
            "dow_cos": np.cos(2 * np.pi * week_frac).to_numpy(),
        },
        index=dates.index,
    )


HANDOFF_OPENS = ((LONDON_TZ, 8 * 60), (NY_TZ, 9 * 60 + 30))  # London 08:00, New York 09:30


def handoff_window(dates: pd.Series, *, before_minutes: int = 60,
                   after_minutes: int = 90) -> pd.Series:  # fmt: skip
    """True within [open - before, open + after) of the London (08:00 London time) or New York
    (09:30 New York time) open, daylight saving included. Reads row t's time only."""
    utc = pd.to_datetime(dates, utc=True)
    inside = np.zeros(len(utc), dtype=bool)
    for tz, open_min in HANDOFF_OPENS:
        local = utc.dt.tz_convert(tz)
        d = ((local.dt.hour * 60 + local.dt.minute - open_min) % 1440).to_numpy()
        inside |= (d < after_minutes) | (d >= 1440 - before_minutes)
    return pd.Series(inside, index=dates.index, name="handoff")
