"""The markets the local exchange serves: contract specs by symbol and symbol/file-name mapping.

Specs come from, in order of precedence:
1. the user markets file `<datadir>/venue_markets.json` (`perpflow venue markets import`:
   real specs from a ccxt markets dump or a Binance exchangeInfo body);
2. the versioned snapshot shipped with perpflow (`markets_binance_usdm.json`, six perpetuals);
3. for a perpetual stored in the data dir that neither knows, a spec derived from its data
   (`perpflow.venue.spec_derive`), logged with every value assumed.
Dated (quarterly) contracts stored in the data dir take their perpetual's spec.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path

import pandas as pd

from perpflow.venue.spec_derive import derive_spec, stored_perpetuals
from perpflow.venue.user_markets import USER_MARKETS, read_user_markets

logger = logging.getLogger(__name__)

SNAPSHOT = Path(__file__).with_name("markets_binance_usdm.json")
_DATED_RE = re.compile(r"^([A-Z0-9]+)_([A-Z0-9]+)_([A-Z0-9]+)-(\d{6})-\d+[mhdw]-futures\.feather$")
DELIVERY_HOUR = 8  # Binance delivers quarterlies at 08:00 UTC


@cache
def load_snapshot() -> dict:
    """The parsed snapshot file (cached; callers must not mutate it)."""
    return json.loads(SNAPSHOT.read_text())


def spec_filter(spec: dict, filter_type: str, key: str) -> str:
    """A filter field of an exchangeInfo entry, e.g. `spec_filter(s, "LOT_SIZE", "stepSize")`."""
    for f in spec["filters"]:
        if f["filterType"] == filter_type:
            return f[key]
    raise KeyError(f"{spec['symbol']} has no {filter_type}.{key}")


def _prefix(spec: dict) -> str:
    return f"{spec['baseAsset']}_{spec['quoteAsset']}_{spec['marginAsset']}"


def _dated_specs(futures_dir: Path, perps: dict[str, dict]) -> dict[str, dict]:
    """exchangeInfo entries for the dated (quarterly) contracts stored in `futures_dir`: the
    perpetual's spec with `BTCUSDT_260626`-style symbol, `contractType` and `deliveryDate`."""
    by_prefix = {_prefix(spec): sym for sym, spec in perps.items()}
    out: dict[str, dict] = {}
    for p in sorted(Path(futures_dir).glob("*-*-*-futures.feather")):
        m = _DATED_RE.match(p.name)
        if not m or f"{m[1]}_{m[2]}_{m[3]}" not in by_prefix:
            continue
        perp = by_prefix[f"{m[1]}_{m[2]}_{m[3]}"]
        symbol = f"{perp}_{m[4]}"
        if symbol in out:
            continue
        spec = copy.deepcopy(perps[perp])
        expiry = pd.Timestamp(f"20{m[4]}", tz="UTC") + pd.Timedelta(hours=DELIVERY_HOUR)
        spec.update(symbol=symbol, pair=perp, contractType="CURRENT_QUARTER",
                    deliveryDate=int(expiry.value // 1_000_000))  # fmt: skip
        out[symbol] = spec
    return out


class MarketBook(Mapping[str, dict]):
    """Every market a venue serves: exchangeInfo entries by symbol id (`BTCUSDT`,
    `BTCUSDT_260626`), read-only. `sources[symbol]` says where a perpetual's spec came from
    ("imported", "snapshot" or "derived"), `derived[symbol]` what was assumed for it, `dated`
    holds the dated contracts. Build one per data dir with `MarketBook.load(datadir)`."""

    def __init__(self, perps: dict[str, dict], sources: dict[str, str], dated: dict[str, dict],
                 derived: dict[str, dict[str, str]] | None = None):  # fmt: skip
        self._perps = perps
        self.sources = sources
        self.dated = dated
        self.derived = derived or {}
        self._all = {**perps, **dated}

    @classmethod
    def load(cls, datadir: Path) -> MarketBook:
        """The markets of a venue over `datadir`: imported, snapshot and derived perpetuals
        (see the module doc) and the dated contracts in `<datadir>/futures`."""
        datadir = Path(datadir)
        perps = {s["symbol"]: s for s in load_snapshot()["exchangeInfo"]["symbols"]}
        sources = dict.fromkeys(perps, "snapshot")
        user = read_user_markets(datadir)
        if user:
            over = sorted(e["symbol"] for e in user if e["symbol"] in perps)
            logger.info("%d markets from %s%s", len(user), datadir / USER_MARKETS,
                        f" (replacing the snapshot's {', '.join(over)})" if over else "")  # fmt: skip
        for e in user:
            perps[e["symbol"]] = e
            sources[e["symbol"]] = "imported"
        futures = datadir / "futures"
        known = {_prefix(s) for s in perps.values()}
        derived = {}
        for prefix, path in stored_perpetuals(futures).items() if futures.is_dir() else ():
            if prefix in known:
                continue
            spec, assumed = derive_spec(prefix, path)
            if spec["symbol"] in perps:  # an id clash, e.g. data of another margin asset
                logger.warning("%s: symbol %s is already served as %s; not serving its data",
                               path, spec["symbol"], _prefix(perps[spec["symbol"]]))  # fmt: skip
                continue
            perps[spec["symbol"]], sources[spec["symbol"]] = spec, "derived"
            derived[spec["symbol"]] = assumed
            _warn_derived(spec, assumed, path, datadir)
        dated = _dated_specs(futures, perps) if futures.is_dir() else {}
        return cls(perps, sources, dated, derived)

    @classmethod
    def snapshot(cls) -> MarketBook:
        """The shipped snapshot's six perpetuals alone (no data dir)."""
        perps = {s["symbol"]: s for s in load_snapshot()["exchangeInfo"]["symbols"]}
        return cls(perps, dict.fromkeys(perps, "snapshot"), {})

    # --- Mapping -------------------------------------------------------------------------
    def __getitem__(self, symbol: str) -> dict:
        return self._all[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    # --- lookups -------------------------------------------------------------------------
    def perpetual(self, symbol: str) -> dict:
        """The perpetual's entry for a symbol (a quarterly `BTCUSDT_260626`: its perp's)."""
        return self._perps[symbol.partition("_")[0]]

    def filter_value(self, symbol: str, filter_type: str, key: str) -> str:
        """A filter field, e.g. `filter_value("BTCUSDT", "PRICE_FILTER", "tickSize")`."""
        return spec_filter(self.perpetual(symbol), filter_type, key)

    def file_prefix(self, symbol: str) -> str:
        """Freqtrade's futures file prefix for a symbol id: `BTCUSDT` -> `BTC_USDT_USDT`, and for
        a dated contract `BTCUSDT_260626` -> `BTC_USDT_USDT-260626` (Freqtrade's name for the
        pair `BTC/USDT:USDT-260626`)."""
        yymmdd = symbol.partition("_")[2]
        base = _prefix(self.perpetual(symbol))
        return f"{base}-{yymmdd}" if yymmdd else base

    def max_leverage(self, symbol: str) -> float | None:
        """Largest leverage of the symbol's first tier, where the snapshot knows it (None
        otherwise: the caller's own cap applies; Freqtrade reads its bundled tiers)."""
        v = load_snapshot()["perpflow_max_leverage"].get(symbol.partition("_")[0])
        return None if v is None else float(v)

    def maint_margin_rate(self, symbol: str) -> float | None:
        """First-tier maintenance margin rate, where the snapshot knows it (else None)."""
        v = load_snapshot()["perpflow_maint_margin_rate"].get(symbol.partition("_")[0])
        return None if v is None else float(v)

    def exchange_info(self, server_time_ms: int) -> dict:
        """A `/fapi/v1/exchangeInfo` body listing every market, `serverTime` set."""
        info = {k: v for k, v in load_snapshot()["exchangeInfo"].items() if k != "symbols"}
        info = copy.deepcopy(info)
        info["serverTime"] = server_time_ms
        info["symbols"] = copy.deepcopy(list(self._all.values()))
        return info


def _warn_derived(spec: dict, assumed: dict[str, str], path: Path, datadir: Path) -> None:
    pair = f"{spec['baseAsset']}/{spec['quoteAsset']}:{spec['marginAsset']}"
    logger.warning(
        "%s (%s): no contract spec in perpflow's snapshot or %s; serving one DERIVED from %s, "
        "assuming %s. Import the real spec with `perpflow venue markets import` (see README).",
        pair, spec["symbol"], Path(datadir) / USER_MARKETS, path.name,
        "; ".join(f"{k} {v}" for k, v in assumed.items()),
    )  # fmt: skip
