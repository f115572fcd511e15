"""The versioned markets snapshot (Binance USDT-M exchangeInfo) and symbol/file-name mapping."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("markets_binance_usdm.json")


@cache
def load_snapshot() -> dict:
    """The parsed snapshot file (cached; callers must not mutate it)."""
    return json.loads(SNAPSHOT.read_text())


def exchange_info(server_time_ms: int) -> dict:
    """A `/fapi/v1/exchangeInfo` body with `serverTime` set."""
    info = copy.deepcopy(load_snapshot()["exchangeInfo"])
    info["serverTime"] = server_time_ms
    return info


def symbol_specs() -> dict[str, dict]:
    """exchangeInfo symbol entries by symbol id (e.g. `BTCUSDT`)."""
    return {s["symbol"]: s for s in load_snapshot()["exchangeInfo"]["symbols"]}


def max_leverage(symbol: str) -> float:
    """Largest leverage of the symbol's first tier (from the snapshot)."""
    return float(load_snapshot()["perpflow_max_leverage"][symbol])


def filter_value(symbol: str, filter_type: str, key: str) -> str:
    """A filter field of a symbol, e.g. `filter_value("BTCUSDT", "PRICE_FILTER", "tickSize")`."""
    for f in symbol_specs()[symbol]["filters"]:
        if f["filterType"] == filter_type:
            return f[key]
    raise KeyError(f"{symbol} has no {filter_type}.{key}")


def file_prefix(symbol: str) -> str:
    """Freqtrade's futures file prefix for a symbol id: `BTCUSDT` -> `BTC_USDT_USDT`."""
    spec = symbol_specs()[symbol]
    return f"{spec['baseAsset']}_{spec['quoteAsset']}_{spec['marginAsset']}"
