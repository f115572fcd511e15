"""Request parameter parsing with Binance's errors (-1102 missing, -1130 invalid, -1111
precision) for the private endpoints."""

from __future__ import annotations

import re

from perpflow.venue.errors import BinanceError, bad_value, missing_param

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
WEEK_MS = 7 * 86_400_000


def req(q: dict, name: str) -> str:
    v = q.get(name)
    if v is None or v == "":
        raise missing_param(name)
    return v


def opt_int(q: dict, name: str) -> int | None:
    v = q.get(name)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise bad_value(name) from None


def flag(q: dict, name: str) -> bool:
    v = str(q.get(name, "false")).lower()
    if v not in ("true", "false"):
        raise bad_value(name)
    return v == "true"


def decimal(q: dict, name: str, dp: int, required: bool = True) -> float | None:
    """A decimal parameter with at most `dp` decimals (else -1111)."""
    raw = q.get(name)
    if raw is None or raw == "":
        if required:
            raise missing_param(name)
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.") from None
    frac = raw.split(".", 1)[1].rstrip("0") if "." in raw else ""
    if len(frac) > dp:
        raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
    return value


def limit(q: dict, default: int, maximum: int) -> int:
    v = opt_int(q, "limit")
    if v is None:
        return default
    if v < 1:
        raise bad_value("limit")
    return min(v, maximum)


def window(q: dict, now_ms: int) -> tuple[int, int]:
    """[startTime, endTime] of a history query; neither given: the last 7 days (Binance); only a
    start: from it to now."""
    start, end = opt_int(q, "startTime"), opt_int(q, "endTime")
    if start is None and end is None:
        return now_ms - WEEK_MS, now_ms
    if start is None:
        return end - WEEK_MS, end
    return start, end if end is not None else now_ms


def on_grid(value: float, step: float) -> bool:
    n = value / step
    return abs(n - round(n)) < 1e-6
