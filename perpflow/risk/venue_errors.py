"""What an exchange error means for the bot: a rate limit, an order the exchange rejected, a
request whose outcome is unknown, or an exchange fault.

Robust to both ways ccxt reports Binance USDT-M errors. Against Binance's own hosts ccxt's
`binance.get_exceptions_by_url` applies its futures code map (-2019 `InsufficientFunds`, -4131
`OperationRejected`, -4164 `InvalidOrder`, ...); against any other URL (the local exchange on
http://127.0.0.1, a proxy) only the common map applies and those codes arrive as a plain
`ExchangeError` (Freqtrade: `TemporaryError`). No ccxt option or URL form changes that (the
futures map needs `https://fapi.<hostname>/`, `https://demo-fapi...` or the testnet host), so
the Binance code in the message (`{"code":-2019,"msg":...}`) decides first and the exception
class is the fallback. Pure: reads exceptions, imports ccxt only for its classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ccxt

RATE_LIMIT, REJECT, UNKNOWN, FAULT = "rate_limit", "reject", "unknown_status", "fault"
RATE_LIMIT_CODES = {-1003: "too many requests", -1015: "too many orders"}
UNKNOWN_CODES = {-1007: "execution status unknown (the request may have been applied)"}
# Binance USDT-M codes that refuse one order for a reason of its own (margin, filters, price
# band, position rules): the exchange works, so they never pause entries.
REJECT_CODES = {
    -2010: "order rejected", -2019: "margin is insufficient", -2021: "stop would trigger at once",
    -2022: "reduce-only order rejected", -2027: "exceeds the maximum position at this leverage",
    -4003: "quantity <= 0", -4004: "quantity below the minimum", -4005: "quantity above the maximum",
    -4014: "price off the tick grid", -4016: "limit price above the mark band",
    -4023: "quantity off the step grid", -4024: "limit price below the mark band",
    -4116: "client order id already used", -4131: "best price outside the PERCENT_PRICE band",
    -4164: "notional below the minimum", -5022: "post-only order would take",
}  # fmt: skip
_CODE = re.compile(r'"code"\s*:\s*"?(-\d+)')
_STATUS = re.compile(r"\b(418|429|5\d\d)\b")
_RATE_LIMIT_CLASSES = {"DDoSProtection", "DDosProtection", "RateLimitExceeded"}  # ccxt, Freqtrade
_REJECT_CLASSES = (ccxt.InsufficientFunds, ccxt.InvalidOrder, ccxt.OperationRejected)


@dataclass(frozen=True)
class ExchangeFault:
    """One classified error: `kind` (rate_limit, reject, unknown_status, fault), the Binance
    `code` when the answer carried one, a short `reason`, and `retry_after_s` for rate limits."""

    kind: str
    code: int | None
    reason: str
    retry_after_s: float | None = None


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception it was raised from (Freqtrade wraps ccxt's)."""
    out: list[BaseException] = []
    while exc is not None and exc not in out:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def binance_code(text: str) -> int | None:
    """The Binance error code in an answer body or an exception message, or None."""
    m = _CODE.search(text or "")
    return int(m.group(1)) if m else None


def retry_after(headers) -> float | None:
    """Seconds of an HTTP `Retry-After` header (case-insensitive mapping), or None."""
    if not headers:
        return None
    value = next((v for k, v in dict(headers).items() if str(k).lower() == "retry-after"), None)
    try:
        return max(float(value), 0.0) if value is not None else None
    except (TypeError, ValueError):
        return None


def classify(exc: BaseException, headers=None) -> ExchangeFault:
    """What `exc` (ccxt's, or Freqtrade's wrapping it) means; `headers` are the answer's HTTP
    headers when known (for Retry-After)."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain)
    code = binance_code(text)
    names = {type(e).__name__ for e in chain}
    if code in RATE_LIMIT_CODES or names & _RATE_LIMIT_CLASSES:
        status = _STATUS.search(text)
        what = RATE_LIMIT_CODES.get(code, "rate limited")
        label = " ".join(x for x in (f"HTTP {status.group(1)}" if status else "",
                                     f"{code}" if code else "") if x)  # fmt: skip
        return ExchangeFault(RATE_LIMIT, code, f"{label or 'rate limit'}: {what}",
                             retry_after(headers))  # fmt: skip
    if code in REJECT_CODES:
        return ExchangeFault(REJECT, code, f"{code} {REJECT_CODES[code]}")
    if code in UNKNOWN_CODES or any(isinstance(e, ccxt.RequestTimeout) for e in chain):
        return ExchangeFault(UNKNOWN, code, f"{code or 'timeout'} {UNKNOWN_CODES[-1007]}")
    if any(isinstance(e, _REJECT_CLASSES) for e in chain):
        return ExchangeFault(REJECT, code, f"{code or ''} {_name(chain)}".strip())
    status = _STATUS.search(text)
    label = f"{code}" if code is not None else (f"HTTP {status.group(1)}" if status else "")
    return ExchangeFault(FAULT, code, f"{label} {_name(chain)}".strip())


def _name(chain: list[BaseException]) -> str:
    """ccxt's class of the error, with the root cause when it says more (a refused connection)."""
    ccxt_name = next((type(e).__name__ for e in chain if isinstance(e, ccxt.BaseError)), None)
    root = type(chain[-1]).__name__
    if ccxt_name is None or root == ccxt_name or root == "HTTPError":
        return ccxt_name or root
    return f"{ccxt_name} ({root})"
