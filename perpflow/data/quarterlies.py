"""Download dated (quarterly) futures candles with ccxt into Freqtrade's data layout.

Freqtrade's `download-data` only handles the perpetuals a bot can trade, so perpflow fetches the
dated contracts itself (ccxt `fetch_ohlcv`, paged) and stores them with Freqtrade's own feather
data handler: pair `BTC/USDT:USDT-260626` -> `futures/BTC_USDT_USDT-260626-1h-futures.feather`.
Re-running appends new candles; a stored candle is never changed (a different value for a stored
date is an error naming the file and date).

Exchanges list only live contracts: history of delivered contracts is not downloadable this way
(Binance's data.binance.vision monthly kline archives have it).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd
from freqtrade.misc import pair_to_filename

from perpflow.data.files import merge_append_only, pair_file
from perpflow.venue.markets import DELIVERY_HOUR

logger = logging.getLogger(__name__)
PAGE = 1000


def load_quarterlies(datadir: Path, pair: str, timeframe: str) -> dict[pd.Timestamp, pd.DataFrame]:
    """Stored dated contracts of `pair` (`BTC/USDT:USDT` -> `BTC_USDT_USDT-YYMMDD-<tf>-futures`)
    keyed by delivery time (08:00 UTC on the file's date): `date` and `close` columns, the input
    of `perpflow.features.basis.front_basis`."""
    prefix = pair_to_filename(pair)
    pat = re.compile(rf"^{re.escape(prefix)}-(\d{{6}})-{re.escape(timeframe)}-futures\.feather$")
    out = {}
    for p in sorted((Path(datadir) / "futures").glob(f"{prefix}-*-{timeframe}-futures.feather")):
        m = pat.match(p.name)
        if m:
            expiry = pd.Timestamp(f"20{m[1]}", tz="UTC") + pd.Timedelta(hours=DELIVERY_HOUR)
            out[expiry] = pd.read_feather(p, columns=["date", "close"])
    return out


def dated_contracts(exchange, pair: str) -> list[dict]:
    """Listed dated linear futures with the perp's base, quote and settle, by delivery."""
    perp = exchange.market(pair)
    found = [
        m for m in exchange.markets.values()
        if m.get("future") and m.get("linear") and m.get("expiry")
        and (m["base"], m["quote"], m["settle"]) == (perp["base"], perp["quote"], perp["settle"])
    ]  # fmt: skip
    return sorted(found, key=lambda m: m["expiry"])


def fetch_candles(
    exchange, symbol: str, timeframe: str, since_ms: int, until_ms: int
) -> pd.DataFrame:
    """All candles of `symbol` with open time in [since, until), paged forward."""
    step = exchange.parse_timeframe(timeframe) * 1000
    rows, cursor = [], since_ms
    while cursor < until_ms:
        page = exchange.fetch_ohlcv(symbol, timeframe, since=cursor, limit=PAGE)
        page = [r for r in page if r[0] < until_ms]
        if not page:
            break
        rows += page
        cursor = page[-1][0] + step
    df = pd.DataFrame(rows, columns=["date", "open", "high", "low", "close", "volume"])
    df["date"] = pd.to_datetime(df["date"], unit="ms", utc=True)
    return df.drop_duplicates("date").reset_index(drop=True)


def download_quarterlies(exchange, pairs: list[str], timeframe: str, since: pd.Timestamp,
                         datadir: Path, *, until: pd.Timestamp | None = None,
                         progress: bool = False) -> dict[str, int]:  # fmt: skip
    """Fetch every listed dated contract of `pairs` from `since` (or its listing) to `until`
    (or now / delivery) and store it; returns new candles per contract symbol."""
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType
    from tqdm import tqdm

    exchange.load_markets()
    handler = get_datahandler(Path(datadir), "feather")
    (Path(datadir) / "futures").mkdir(parents=True, exist_ok=True)
    until_ms = int((until or pd.Timestamp.now(tz="UTC")).value // 1_000_000)
    todo = [(p, m) for p in pairs for m in dated_contracts(exchange, p)]
    if not todo:
        logger.warning("%s lists no dated futures for %s", exchange.id, ", ".join(pairs))
    written = {}
    for _pair, m in tqdm(todo, desc="quarterlies", unit="contract", disable=not progress):
        start = int(pd.Timestamp(since).value // 1_000_000)
        new = fetch_candles(exchange, m["symbol"], timeframe, start, min(until_ms, m["expiry"]))
        path = pair_file(datadir, m["symbol"], f"{timeframe}-futures")
        old = handler.ohlcv_load(
            m["symbol"],
            timeframe,
            candle_type=CandleType.FUTURES,
            fill_missing=False,
            warn_no_data=False,
        )
        merged = merge_append_only(old, new, path, ["open", "high", "low", "close"])
        written[m["symbol"]] = len(merged) - len(old)
        if written[m["symbol"]]:
            handler.ohlcv_store(m["symbol"], timeframe, merged, candle_type=CandleType.FUTURES)
    return written
