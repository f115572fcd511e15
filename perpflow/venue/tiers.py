"""Leverage brackets (Binance's notional tiers) for the local exchange's private API.

Read from Freqtrade's bundled `freqtrade/exchange/binance_leverage_tiers.json` (ccxt-parsed
tiers whose `info` is Binance's own `/fapi/v1/leverageBracket` bracket), so the venue answers
what Freqtrade would load in dry-run. A symbol the file lacks gets one default bracket (the
spec's maintenance margin, leverage 20) and a logged warning.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_LEVERAGE = 20


@cache
def _bundled() -> dict[str, list[dict]]:
    import freqtrade.exchange

    path = Path(freqtrade.exchange.__file__).with_name("binance_leverage_tiers.json")
    return json.loads(path.read_text())


def preload() -> None:
    """Read the bundled tiers now (importing freqtrade.exchange takes a second or two), so the
    first order does not stall the venue's event loop."""
    _bundled()


def unified_symbol(spec: dict) -> str:
    """ccxt's unified symbol of an exchangeInfo entry: `BTC/USDT:USDT`, dated
    `BTC/USDT:USDT-260626`."""
    base = f"{spec['baseAsset']}/{spec['quoteAsset']}:{spec['marginAsset']}"
    _, _, yymmdd = spec["symbol"].partition("_")
    return f"{base}-{yymmdd}" if yymmdd else base


def brackets(spec: dict) -> list[dict]:
    """Binance's brackets for a symbol, best (lowest notional) first (a copy)."""
    return [dict(b) for b in _brackets(unified_symbol(spec), spec["symbol"],
                                       spec.get("maintMarginPercent", "2.5"))]  # fmt: skip


@cache
def _brackets(unified: str, symbol: str, maint_pct: str) -> tuple[dict, ...]:
    tiers = _bundled().get(unified)
    if tiers:
        return tuple(dict(t["info"]) for t in tiers)
    _warn_default(symbol)
    mmr = float(maint_pct) / 100
    return ({"bracket": 1, "initialLeverage": DEFAULT_LEVERAGE, "notionalCap": 5_000_000,
             "notionalFloor": 0, "maintMarginRatio": mmr, "cum": 0.0},)  # fmt: skip


@cache
def _warn_default(symbol: str) -> None:
    logger.warning("%s: not in Freqtrade's binance_leverage_tiers.json; serving one default "
                   "bracket (leverage %d)", symbol, DEFAULT_LEVERAGE)  # fmt: skip


def bracket_for(spec: dict, notional: float) -> dict:
    """The bracket whose [floor, cap) holds `notional` (the last one beyond the caps)."""
    out = _brackets(unified_symbol(spec), spec["symbol"], spec.get("maintMarginPercent", "2.5"))
    for b in out:
        if notional < float(b["notionalCap"]):
            return b
    return out[-1]


def max_leverage(spec: dict) -> int:
    return int(bracket_for(spec, 0.0)["initialLeverage"])


def max_notional(spec: dict, leverage: int) -> float:
    """Largest position notional allowed at `leverage` (Binance's maxNotionalValue)."""
    cap = 0.0
    for b in _brackets(unified_symbol(spec), spec["symbol"], spec.get("maintMarginPercent", "2.5")):
        if int(b["initialLeverage"]) >= leverage:
            cap = float(b["notionalCap"])
    return cap
