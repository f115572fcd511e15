"""Request parameters checked as Binance checks them, with its errors: -1100 illegal characters
(not a number, a malformed symbol), -1101 duplicate parameter, -1102 missing, -1111 precision,
-1130 invalid value (out of range, not one of the allowed), -1120 interval, -1023 start after
end. `public_query` checks every parameter of the market-data endpoints against `PUBLIC` before
an endpoint runs; the private endpoints parse theirs with the helpers below.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from perpflow.venue.errors import BinanceError, bad_value, invalid_interval, missing_param
from perpflow.venue.series import INTERVAL_MS

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
SYMBOL_RE = re.compile(r"^[A-Z0-9\-_.]{1,20}$")  # Binance's legal range for `symbol`
LONG_RE = re.compile(r"^[0-9]{1,20}$")  # ... for ids, times and counts
DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")  # ... for prices and quantities
INT64_MAX = 2**63 - 1
WEEK_MS = 7 * 86_400_000
OI_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
CONTRACT_TYPES = ("PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER")


def illegal(name: str, legal: re.Pattern) -> BinanceError:
    return BinanceError(
        -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal.pattern}'."
    )


def single_values(query) -> dict[str, str]:
    """A query's parameters as a dict; -1101 if one is sent twice (`query` is a multidict or
    a list of pairs)."""
    items = list(query.items()) if hasattr(query, "items") else list(query)
    out = dict(items)
    if len(out) != len(items):
        raise BinanceError(-1101, "Duplicate values for a parameter detected.")
    return out


def _long(name: str, v: str) -> int:
    if not LONG_RE.match(v):
        raise illegal(name, LONG_RE)
    n = int(v)
    if n > INT64_MAX:
        raise bad_value(name)
    return n


def _limit(hi: int) -> Callable[[str, str], None]:
    def check(name: str, v: str) -> None:
        if not 1 <= _long(name, v) <= hi:
            raise bad_value(name, f"Valid range: 1 to {hi}.")

    return check


def _one_of(
    choices, error: Callable[[str], BinanceError] = bad_value
) -> Callable[[str, str], None]:
    def check(name: str, v: str) -> None:
        if v not in choices:
            raise error(name)

    return check


def _symbol(name: str, v: str) -> None:
    if not SYMBOL_RE.match(v):
        raise illegal(name, SYMBOL_RE)


_INTERVAL = _one_of(INTERVAL_MS, lambda name: invalid_interval())
_WINDOW = {"startTime": _long, "endTime": _long}
_KLINES = ({"symbol": _symbol, "pair": _symbol, "interval": _INTERVAL, "limit": _limit(1500),
            "contractType": _one_of(CONTRACT_TYPES), **_WINDOW}, ("interval",))  # fmt: skip
_SYMBOL_ONLY = ({"symbol": _symbol}, ())
# path -> ({parameter: check}, required parameters); a symbol an endpoint needs is required by
# the endpoint itself (-1102), an unknown one is -1121 there
PUBLIC: dict[str, tuple[dict, tuple]] = {
    "/fapi/v1/klines": _KLINES, "/fapi/v1/continuousKlines": _KLINES,
    "/fapi/v1/markPriceKlines": _KLINES, "/fapi/v1/indexPriceKlines": _KLINES,
    "/fapi/v1/premiumIndexKlines": _KLINES,
    "/fapi/v1/fundingRate": ({"symbol": _symbol, "limit": _limit(1000), **_WINDOW}, ()),
    "/futures/data/openInterestHist": ({"symbol": _symbol, "period": _one_of(OI_PERIODS),
                                        "limit": _limit(500), **_WINDOW}, ("symbol", "period")),
    "/fapi/v1/openInterest": ({"symbol": _symbol}, ("symbol",)),
    "/fapi/v1/depth": ({"symbol": _symbol, "limit": _one_of(tuple(map(str, DEPTH_LIMITS)))},
                       ("symbol",)),
    "/fapi/v1/aggTrades": ({"symbol": _symbol, "fromId": _long, "limit": _limit(1000), **_WINDOW},
                           ("symbol",)),
    "/fapi/v1/premiumIndex": _SYMBOL_ONLY, "/fapi/v1/ticker/24hr": _SYMBOL_ONLY,
    "/fapi/v1/ticker/price": _SYMBOL_ONLY, "/fapi/v2/ticker/price": _SYMBOL_ONLY,
    "/fapi/v1/ticker/bookTicker": _SYMBOL_ONLY,
}  # fmt: skip


def public_query(path: str, query) -> dict[str, str]:
    """The parameters of a market-data request once each has passed Binance's checks for
    `path` (types, ranges, enums, required, start <= end); unknown parameters are ignored, as
    Binance ignores them on these endpoints. Empty values count as not sent."""
    q = single_values(query)
    checks, required = PUBLIC.get(path, ({}, ()))
    for name in required:
        if not q.get(name):
            raise missing_param(name)
    for name, check in checks.items():
        v = q.get(name)
        if v:
            check(name, v)
    start, end = q.get("startTime"), q.get("endTime")
    if "startTime" in checks and start and end and int(start) > int(end):
        raise BinanceError(-1023, "Start time is greater than end time.")
    return q


def req(q: dict, name: str) -> str:
    v = q.get(name)
    if v is None or v == "":
        raise missing_param(name)
    return v


def opt_int(q: dict, name: str) -> int | None:
    """An optional non-negative integer parameter (ids, times, counts): -1100 if it is not
    one, -1130 beyond int64."""
    v = q.get(name)
    if v is None or v == "":
        return None
    return _long(name, str(v))


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
    m = DECIMAL_RE.match(raw)
    if m is None:
        raise illegal(name, DECIMAL_RE)
    frac = (m.group(2) or ".")[1:].rstrip("0")
    if len(frac) > dp:
        raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
    return float(raw)


def limit(q: dict, default: int, maximum: int) -> int:
    """`limit` in [1, maximum] (else -1130, as Binance's futures API answers), or `default`."""
    v = opt_int(q, "limit")
    if v is None:
        return default
    if not 1 <= v <= maximum:
        raise bad_value("limit", f"Valid range: 1 to {maximum}.")
    return v


def window(q: dict, now_ms: int) -> tuple[int, int]:
    """[startTime, endTime] of a history query; neither given: the last 7 days (Binance); only a
    start: from it to now. -1023 if the start is after the end."""
    start, end = opt_int(q, "startTime"), opt_int(q, "endTime")
    if start is not None and end is not None and start > end:
        raise BinanceError(-1023, "Start time is greater than end time.")
    if start is None and end is None:
        return now_ms - WEEK_MS, now_ms
    if start is None:
        return end - WEEK_MS, end
    return start, end if end is not None else now_ms


def on_grid(value: float, step: float) -> bool:
    n = value / step
    return abs(n - round(n)) < 1e-6
