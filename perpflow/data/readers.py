"""Readers of perpflow's event store for strategies, reports and the CLI.

Each returns the declared records (`perpflow.data.schemas`) of one exchange and symbol, or, for
the feature functions, a documented view of them: `book_snapshots` and `store_prints` name the
time a value became knowable `ts` (a snapshot's sampling time, a print's exchange time), the one
rename between the store and the features, done here and nowhere else. A live bot calls these
every candle: they read only part files written since the last call (`read_new_parts`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.config import PerpflowConfig
from perpflow.data.coverage import read_coverage
from perpflow.data.schemas import schema_for
from perpflow.data.store import read_new_parts


def exchange_symbol(pair: str) -> str:
    """Freqtrade futures pair -> exchange id (`BTC/USDT:USDT` -> `BTCUSDT`)."""
    base, rest = pair.split("/", 1)
    return base + rest.split(":", 1)[0]


def venue_symbol(symbol: str, exchange: str) -> str:
    """The recorder's symbol (ccxt market id) on `exchange` for a Binance-style id (BTCUSDT):
    OKX names perpetuals BTC-USDT-SWAP; Binance and Bybit use BTCUSDT."""
    if exchange == "okx":
        for quote in ("USDT", "USDC", "USD"):
            if symbol.endswith(quote):
                return f"{symbol[: -len(quote)]}-{quote}-SWAP"
    return symbol


def store_root(cfg: PerpflowConfig, datadir: str | Path | None) -> Path | None:
    """The event store the liquidation filter reads (config, else `<datadir>/store`)."""
    if cfg.filters.liquidations.store:
        return Path(cfg.filters.liquidations.store)
    return Path(datadir) / "store" if datadir else None


def load_books(root: Path | None, exchange: str, symbol: str, since: pd.Timestamp) -> pd.DataFrame:
    """Recorded `book` records of one symbol from `since`'s day on (empty frame if none), without
    those taken inside a recorded gap (a snapshot sampled just before the recorder learnt that a
    diff was missed may already be on disk; the gap record marks it untrustworthy)."""
    if root is None or not Path(root).exists():
        return schema_for("book").empty()
    books = read_new_parts(root, "book", exchange=exchange, symbol=symbol, since=since)
    if books.empty:
        return books
    gaps = read_new_parts(root, "book_gaps", exchange=exchange, symbol=symbol, since=since)
    if len(gaps):
        t = books["ts_recv"].to_numpy()
        bad = np.zeros(len(books), dtype=bool)
        for start, end in zip(gaps["ts_event"].to_numpy(), gaps["ts_recv"].to_numpy(), strict=True):
            bad |= (t >= start) & (t <= end)
        books = books[~bad]
    return books


def book_snapshots(root: Path | None, exchange: str, symbol: str, *, since: pd.Timestamp | None = None,
                   until: pd.Timestamp | None = None) -> pd.DataFrame:  # fmt: skip
    """`load_books` as the order-book features read it: `ts` (the sampling time), `ts_event`
    (the exchange time of the book's last change) and the level columns, in time order, up to
    `until` if given."""
    since = since if since is not None else pd.Timestamp(0, tz="UTC")
    books = load_books(root, exchange, symbol, since)
    out = books.rename(columns={"ts_recv": "ts"})
    out = out.sort_values("ts", kind="stable").reset_index(drop=True)
    return out[out["ts"] <= pd.Timestamp(until)] if until is not None else out


def recorded_trades(root: Path, exchange: str, symbol: str, since) -> pd.DataFrame | None:
    """Recorded public trades as `ts` (receive time), side, amount, price; None if none."""
    t = read_new_parts(root, "trades", exchange=exchange, symbol=symbol, since=since)
    if t.empty:
        return None
    return pd.DataFrame(
        {"ts": t["ts_recv"], "side": t["side"], "amount": t["amount"], "price": t["price"]}
    )


def store_prints(root: Path, kind: str, exchange: str, symbol: str) -> pd.DataFrame | None:
    """Stored `trades` or `liquidations` of one symbol as prints to draw: `ts` (exchange time),
    side, price, `amount` (base units: a liquidation's `qty`); None if none."""
    f = read_new_parts(root, kind, exchange=exchange, symbol=symbol, since=None)
    if f.empty:
        return None
    amount = f["qty"] if kind == "liquidations" else f["amount"]
    return pd.DataFrame(
        {"ts": f["ts_event"], "side": f["side"], "price": f["price"], "amount": amount}
    )


def load_liquidations(root: Path | None, exchange: str, symbol: str,
                      since: pd.Timestamp) -> tuple[pd.DataFrame, np.ndarray]:  # fmt: skip
    """Stored `liquidations` records of one symbol from `since`'s day on, and the [start, end] ms
    spans when that symbol's liquidations were captured (its own coverage and the exchange's
    all-market stream's, minus recorded gaps)."""
    if root is None or not Path(root).exists():
        return schema_for("liquidations").empty(), np.empty((0, 2), dtype="int64")
    events = read_new_parts(root, "liquidations", exchange=exchange, symbol=symbol, since=since)
    return events, read_coverage(root, "liquidation", exchange, symbol)
