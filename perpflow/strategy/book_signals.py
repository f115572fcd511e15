"""Order-book support for LiquiditySweep's sweep entries, from books recorded in the event store.

Reads `book` records (`perpflow record`) of the pair, turns them into per-candle features
(`perpflow.features.orderbook`; a snapshot counts for the candle in which it was received, so a
candle's row is knowable at its close) and the gates `ok_book_long` / `ok_book_short`. When the
filter is off the gates pass and the columns are NaN; when it is on, a candle without a fresh
book blocks sweep entries (fail closed, logged once per pair).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.config import PerpflowConfig
from perpflow.data.store import read_new_parts
from perpflow.features.orderbook import (
    book_from_wide,
    per_candle,
    pre_open_cancel_to_trade,
    snapshot_features,
    trade_flow_between,
)
from perpflow.strategy.failclosed import warn_once

logger = logging.getLogger(__name__)

BOOK_COLUMNS = ("book_imb_10_last", "book_imb_w_mean", "book_void_bid_bps_max",
                "book_void_ask_bps_max", "book_snapshots", "book_cancel_to_trade",
                "book_ctt_pre_open", "book_fresh", "ok_book_long", "ok_book_short")  # fmt: skip
VALUE_COLUMNS = BOOK_COLUMNS[:7]


def load_books(root: Path | None, exchange: str, symbol: str, since: pd.Timestamp) -> pd.DataFrame:
    """Recorded snapshots of one symbol from `since`'s day on (empty frame if none), without
    those taken inside a recorded gap (a snapshot sampled just before the recorder learnt that a
    diff was missed may already be on disk; the gap record marks it untrustworthy)."""
    if root is None or not Path(root).exists():
        return pd.DataFrame()
    books = read_new_parts(root, "book", exchange=exchange, symbol=symbol, since=since)
    if books.empty:
        return pd.DataFrame()
    gaps = read_new_parts(root, "book_gaps", exchange=exchange, symbol=symbol, since=since)
    if len(gaps):
        t = books["ts_recv"].to_numpy()
        bad = np.zeros(len(books), dtype=bool)
        for start, end in zip(gaps["ts_event"].to_numpy(), gaps["ts_recv"].to_numpy(), strict=True):
            bad |= (t >= start) & (t <= end)
        books = books[~bad]
    return books


def _recorded_trades(root: Path, exchange: str, symbol: str, since) -> pd.DataFrame | None:
    """Recorded public trades (`perpflow record`) as ts, side, amount, price; None if none."""
    t = read_new_parts(root, "trades", exchange=exchange, symbol=symbol, since=since)
    if t.empty:
        return None
    return pd.DataFrame({"ts": t["ts_recv"], "side": t["side"], "amount": t["amount"], "price": t["price"]})


def book_on_candles(df: pd.DataFrame, *, pair: str, cfg: PerpflowConfig, timeframe: str,
                    root: Path | None, symbol: str) -> pd.DataFrame:  # fmt: skip
    """`BOOK_COLUMNS` for the candles of `df` (index kept)."""
    b = cfg.filters.book
    out = pd.DataFrame(np.nan, index=df.index, columns=list(BOOK_COLUMNS))
    if not b.enabled:
        out["ok_book_long"] = out["ok_book_short"] = True
        return out
    rows = load_books(root, b.exchange, symbol, df["date"].min())
    if rows.empty:
        warn_once(logger, pair, "book", f"no recorded books for {symbol} in {root}: sweep entries "
                  "blocked (record with `perpflow record`, or set perpflow.filters.book.enabled=false)")  # fmt: skip
        out["ok_book_long"] = out["ok_book_short"] = False
        return out
    snaps = rows.sort_values("ts_recv", kind="stable").rename(columns={"ts_recv": "ts"})
    book = book_from_wide(snaps.drop(columns=["symbol"]))
    feats = snapshot_features(book)
    trades = _recorded_trades(root, b.exchange, symbol, df["date"].min())
    if trades is not None:  # cancels and refills need the trades between snapshots
        feats = pd.concat([feats, trade_flow_between(book, trades).drop(columns="ts")], axis=1)
    agg = per_candle(feats, df["date"], timeframe)
    if "book_cancel_to_trade" in agg:
        agg["book_ctt_pre_open"] = pre_open_cancel_to_trade(agg, df["date"]).to_numpy()
    close = pd.to_datetime(df["date"], utc=True) + pd.Timedelta(timeframe)
    age = (close - pd.to_datetime(agg["book_last_ts"], utc=True)).dt.total_seconds()
    fresh = age <= b.max_staleness_seconds
    for col in VALUE_COLUMNS:
        if col in agg:
            out[col] = agg[col].to_numpy()
    out["book_fresh"] = fresh.to_numpy()
    imb = out["book_imb_10_last"]
    out["ok_book_long"] = (fresh & (imb >= b.min_imbalance) & (out["book_void_bid_bps_max"] <= b.max_void_bps)).to_numpy()
    out["ok_book_short"] = (fresh & (-imb >= b.min_imbalance) & (out["book_void_ask_bps_max"] <= b.max_void_bps)).to_numpy()
    if not fresh.any():
        warn_once(logger, pair, "book_stale", f"recorded books for {symbol} are older than "
                  f"{b.max_staleness_seconds:.0f} s at every candle close: sweep entries blocked")  # fmt: skip
    return out
