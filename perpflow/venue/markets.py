"""The versioned markets snapshot (Binance USDT-M exchangeInfo) and symbol/file-name mapping."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path

import pandas as pd

SNAPSHOT = Path(__file__).with_name("markets_binance_usdm.json")


@cache
def load_snapshot() -> dict:
    """The parsed snapshot file (cached; callers must not mutate it)."""
    return json.loads(SNAPSHOT.read_text())


def exchange_info(server_time_ms: int, extra_symbols: list[dict] | None = None) -> dict:
    """A `/fapi/v1/exchangeInfo` body with `serverTime` set (and `extra_symbols` appended)."""
    info = copy.deepcopy(load_snapshot()["exchangeInfo"])
    info["serverTime"] = server_time_ms
    info["symbols"] += copy.deepcopy(extra_symbols or [])
    return info


def symbol_specs() -> dict[str, dict]:
    """exchangeInfo symbol entries by symbol id (e.g. `BTCUSDT`)."""
    return {s["symbol"]: s for s in load_snapshot()["exchangeInfo"]["symbols"]}


def max_leverage(symbol: str) -> float:
    """Largest leverage of the symbol's first tier (from the snapshot)."""
    return float(load_snapshot()["perpflow_max_leverage"][symbol])


def filter_value(symbol: str, filter_type: str, key: str) -> str:
    """A filter field of a symbol, e.g. `filter_value("BTCUSDT", "PRICE_FILTER", "tickSize")`."""
    for f in symbol_specs()[symbol.partition("_")[0]]["filters"]:  # a quarterly: its perp's
        if f["filterType"] == filter_type:
            return f[key]
    raise KeyError(f"{symbol} has no {filter_type}.{key}")


def file_prefix(symbol: str) -> str:
    """Freqtrade's futures file prefix for a symbol id: `BTCUSDT` -> `BTC_USDT_USDT`, and for a
    dated contract `BTCUSDT_260626` -> `BTC_USDT_USDT-260626` (Freqtrade's name for the pair
    `BTC/USDT:USDT-260626`)."""
    perp, _, yymmdd = symbol.partition("_")
    spec = symbol_specs()[perp]
    base = f"{spec['baseAsset']}_{spec['quoteAsset']}_{spec['marginAsset']}"
    return f"{base}-{yymmdd}" if yymmdd else base


_DATED_RE = re.compile(r"^([A-Z0-9]+)_([A-Z]+)_([A-Z]+)-(\d{6})-\d+[mhdw]-futures\.feather$")
DELIVERY_HOUR = 8  # Binance delivers quarterlies at 08:00 UTC


def dated_specs(futures_dir: Path) -> dict[str, dict]:
    """exchangeInfo entries for the dated (quarterly) contracts stored in `futures_dir`: the
    perpetual's spec with `BTCUSDT_260626`-style symbol, `contractType` and `deliveryDate`."""
    by_prefix = {file_prefix(sym): sym for sym in symbol_specs()}
    out: dict[str, dict] = {}
    for p in sorted(Path(futures_dir).glob("*-*-*-futures.feather")):
        m = _DATED_RE.match(p.name)
        if not m or f"{m[1]}_{m[2]}_{m[3]}" not in by_prefix:
            continue
        perp = by_prefix[f"{m[1]}_{m[2]}_{m[3]}"]
        symbol = f"{perp}_{m[4]}"
        if symbol in out:
            continue
        spec = copy.deepcopy(symbol_specs()[perp])
        expiry = pd.Timestamp(f"20{m[4]}", tz="UTC") + pd.Timedelta(hours=DELIVERY_HOUR)
        spec.update(symbol=symbol, pair=perp, contractType="CURRENT_QUARTER",
                    deliveryDate=int(expiry.value // 1_000_000))  # fmt: skip
        out[symbol] = spec
    return out
