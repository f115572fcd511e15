"""Order-book support for LiquiditySweep's sweep entries, from books recorded in the event store.

Reads `book` records (`perpflow record`) of the pair through `perpflow.data.readers`, turns them into per-candle features
(`perpflow.features.orderbook`; a snapshot counts for the candle in which it was received, so a
candle's row is knowable at its close) and the gates `ok_book_long` / `ok_book_short`. When the
filter is off the gates pass and the columns are NaN; when it is on, a candle without a fresh
book blocks sweep entries (fail closed, logged once per pair). With `cross_exchange` set, the
same features of a second venue's recorded books (Bybit, OKX) give the divergence columns
`xv_imb_diff`, `xv_mid_bps`, `xv_depth_ratio` and `xv_imb_other`, and gate the entries too.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.config import PerpflowConfig
from perpflow.data.readers import book_snapshots, load_books, recorded_trades, venue_symbol  # noqa: F401
from perpflow.features.orderbook import (
    book_from_wide,
    cross_venue,
    per_candle,
    pre_open_cancel_to_trade,
    snapshot_features,
    trade_flow_between,
)
from perpflow.strategy.failclosed import warn_once

logger = logging.getLogger(__name__)

BOOK_COLUMNS = ("book_imb_10_last", "book_imb_w_mean", "book_void_bid_bps_max",
                "book_void_ask_bps_max", "book_snapshots", "book_cancel_to_trade",
                "book_ctt_pre_open", "book_fresh", "xv_imb_diff", "xv_mid_bps", "xv_depth_ratio",
                "xv_imb_other", "ok_book_long", "ok_book_short")  # fmt: skip
VALUE_COLUMNS = BOOK_COLUMNS[:7]


def _venue_candles(root: Path, exchange: str, symbol: str, df: pd.DataFrame, timeframe: str):
    """Per-candle book features of one venue's recorded books (`per_candle` output, plus the
    pre-open cancel-to-trade), or None when nothing is recorded."""
    snaps = book_snapshots(root, exchange, symbol, since=df["date"].min())
    if snaps.empty:
        return None
    book = book_from_wide(snaps.drop(columns=["symbol"]))
    feats = snapshot_features(book)
    trades = recorded_trades(root, exchange, symbol, df["date"].min())
    if trades is not None:  # cancels and refills need the trades between snapshots
        feats = pd.concat([feats, trade_flow_between(book, trades).drop(columns="ts")], axis=1)
    agg = per_candle(feats, df["date"], timeframe)
    agg["book_last_ts"] = _last_change(snaps, df["date"], timeframe)
    if "book_cancel_to_trade" in agg:
        agg["book_ctt_pre_open"] = pre_open_cancel_to_trade(agg, df["date"]).to_numpy()
    return agg


def _last_change(snaps: pd.DataFrame, dates: pd.Series, timeframe: str) -> np.ndarray:
    """Per candle, the exchange time of the last change (`ts_event`) of the books received in it
    (`ts`): a book's age runs from its last change, not from when the recorder sampled it, so a
    frozen feed sampled again and again still ages. NaT for candles with no book."""
    key = pd.to_datetime(snaps["ts"], utc=True).dt.floor(pd.Timedelta(timeframe))
    last = pd.to_datetime(snaps["ts_event"], utc=True).groupby(key).max()
    return last.reindex(pd.DatetimeIndex(pd.to_datetime(dates, utc=True))).to_numpy()


def _fresh(agg: pd.DataFrame, df: pd.DataFrame, timeframe: str, limit: float) -> pd.Series:
    """True where the candle's last recorded book last changed at most `limit` seconds before
    its close (`book_last_ts`: exchange time of the last change)."""
    close = pd.to_datetime(df["date"], utc=True) + pd.Timedelta(timeframe)
    age = (close - pd.to_datetime(agg["book_last_ts"], utc=True)).dt.total_seconds().to_numpy()
    return pd.Series(age <= limit, index=agg.index)


def book_on_candles(df: pd.DataFrame, *, pair: str, cfg: PerpflowConfig, timeframe: str,
                    root: Path | None, symbol: str) -> pd.DataFrame:  # fmt: skip
    """`BOOK_COLUMNS` for the candles of `df` (index kept)."""
    b = cfg.filters.book
    out = pd.DataFrame(np.nan, index=df.index, columns=list(BOOK_COLUMNS))
    if not b.enabled:
        out["ok_book_long"] = out["ok_book_short"] = True
        return out
    agg = _venue_candles(root, b.exchange, symbol, df, timeframe)
    if agg is None:
        warn_once(logger, pair, "book", f"no recorded books for {symbol} in {root}: sweep entries "
                  "blocked (record with `perpflow record`, or set perpflow.filters.book.enabled=false)")  # fmt: skip
        out["ok_book_long"] = out["ok_book_short"] = False
        return out
    fresh = _fresh(agg, df, timeframe, b.max_staleness_seconds)
    for col in VALUE_COLUMNS:
        if col in agg:
            out[col] = agg[col].to_numpy()
    out["book_fresh"] = fresh.to_numpy()
    imb = out["book_imb_10_last"]
    ok_long = (
        fresh.to_numpy()
        & (imb >= b.min_imbalance)
        & (out["book_void_bid_bps_max"] <= b.max_void_bps)
    )
    ok_short = (
        fresh.to_numpy()
        & (-imb >= b.min_imbalance)
        & (out["book_void_ask_bps_max"] <= b.max_void_bps)
    )
    if b.cross_exchange:
        ok_x_long, ok_x_short = _cross_gate(out, agg, df, pair=pair, symbol=symbol, cfg=cfg,
                                            timeframe=timeframe, root=root)  # fmt: skip
        ok_long, ok_short = ok_long & ok_x_long, ok_short & ok_x_short
    out["ok_book_long"], out["ok_book_short"] = ok_long.to_numpy(), ok_short.to_numpy()
    if not fresh.any():
        warn_once(logger, pair, "book_stale", f"recorded books for {symbol} are older than "
                  f"{b.max_staleness_seconds:.0f} s at every candle close: sweep entries blocked")  # fmt: skip
    return out


def _cross_gate(out: pd.DataFrame, agg: pd.DataFrame, df: pd.DataFrame, *, pair: str, symbol: str,
                cfg: PerpflowConfig, timeframe: str, root: Path) -> tuple[pd.Series, pd.Series]:  # fmt: skip
    """Fill the cross-venue columns of `out` from the second venue's recorded books; returns
    its (long, short) gates: that book fresh, the mids within `max_mid_gap_bps`, and with
    `cross_agreement` its imbalance toward the trade too. No second book: blocked, logged once."""
    b = cfg.filters.book
    other = venue_symbol(symbol, b.cross_exchange)
    xagg = _venue_candles(root, b.cross_exchange, other, df, timeframe)
    if xagg is None:
        warn_once(logger, pair, "book_cross", f"no recorded {b.cross_exchange} books for {other} in {root}: "
                  "sweep entries blocked (record them with `perpflow record --exchange "
                  f"{b.cross_exchange}`, or unset perpflow.filters.book.cross_exchange)")  # fmt: skip
        blocked = pd.Series(False, index=out.index)
        return blocked, blocked
    xv = cross_venue(agg, xagg)
    for col in ("xv_imb_diff", "xv_mid_bps", "xv_depth_ratio"):
        out[col] = xv[col].to_numpy()
    x_imb = pd.Series(xagg["book_imb_10_last"].to_numpy(), index=out.index)
    out["xv_imb_other"] = x_imb
    base = pd.Series(
        _fresh(xagg, df, timeframe, b.max_staleness_seconds).to_numpy(), index=out.index
    )
    base &= out["xv_mid_bps"].abs() <= b.max_mid_gap_bps
    if not b.cross_agreement:
        return base, base
    return base & (x_imb >= b.min_imbalance), base & (-x_imb >= b.min_imbalance)
