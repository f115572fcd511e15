"""Order-book support for sweep entries: recorded books gate entries by imbalance and voids, a
stale or missing book blocks them (fail closed), the gate is causal, and cross-venue columns."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from perpflow.config import load_perpflow_config
from perpflow.data.store import write_events
from perpflow.features.orderbook import cross_venue
from perpflow.strategy.book_signals import book_on_candles
from tests.features.parity import assert_truncation_parity

ON = load_perpflow_config({"perpflow": {"filters": {"book": {
    "enabled": True, "min_imbalance": 0.1, "max_void_bps": 5, "max_staleness_seconds": 30}}}})  # fmt: skip
DATES = pd.Series(pd.date_range("2026-03-02 13:00", periods=6, freq="5min", tz="UTC"))


def _store(tmp_path, *, bid_size: float, gap_at: int | None = None, until_candle: int = 6,
           exchange: str = "binance", symbol: str = "BTCUSDT", shift_bps: float = 0.0,
           frozen_at: pd.Timestamp | None = None):  # fmt: skip
    """Books every 10 s: 25 levels a side 1 bp apart; bids `bid_size`, asks 1; optionally a
    50 bps hole in the bids from level `gap_at` on; nothing after candle `until_candle`; with
    `frozen_at`, no change after that time (sampled on, `ts_event` stays at the last change)."""
    ts = pd.date_range(DATES[0], DATES[0] + pd.Timedelta(minutes=5 * until_candle), freq="10s",
                       tz="UTC", inclusive="left")  # fmt: skip
    changed = ts if frozen_at is None else ts.where(ts <= frozen_at, ts[ts <= frozen_at][-1])
    rows = {"exchange": exchange, "symbol": symbol, "ts_event": changed, "ts_recv": ts, "nonce": 1}
    mid = 100 * (1 + shift_bps / 1e4)
    for i in range(25):
        hole = 0.005 if gap_at is not None and i >= gap_at else 0.0
        rows[f"bid_px_{i}"] = mid * (1 - 0.0001 * (i + 1) - hole)
        rows[f"bid_sz_{i}"] = bid_size
        rows[f"ask_px_{i}"] = mid * (1 + 0.0001 * (i + 1))
        rows[f"ask_sz_{i}"] = 1.0
    write_events(tmp_path, "book", pd.DataFrame(rows), time_col="ts_recv")
    return tmp_path


def _gate(root, cfg=ON, dates=DATES):
    return book_on_candles(dates.to_frame("date"), pair="BTC/USDT:USDT", cfg=cfg, timeframe="5m",
                           root=root, symbol="BTCUSDT")  # fmt: skip


def test_bid_heavy_book_supports_longs_not_shorts(tmp_path):
    g = _gate(_store(tmp_path, bid_size=3.0))
    assert g["ok_book_long"].all() and not g["ok_book_short"].any()
    assert np.allclose(g["book_imb_10_last"], 0.5) and (g["book_snapshots"] == 30).all()


def test_void_below_blocks_longs(tmp_path):
    g = _gate(_store(tmp_path, bid_size=3.0, gap_at=5))
    assert (g["book_void_bid_bps_max"] > 40).all() and not g["ok_book_long"].any()


def test_stale_or_missing_books_block(tmp_path, caplog):
    g = _gate(_store(tmp_path, bid_size=3.0, until_candle=3))
    assert g["ok_book_long"].tolist() == [True] * 3 + [False] * 3, "no book after candle 3"
    with caplog.at_level(logging.WARNING):
        none = _gate(tmp_path / "nothing")
    assert not none["ok_book_long"].any() and "no recorded books" in caplog.text
    off = _gate(tmp_path / "nothing", cfg=load_perpflow_config({}))
    assert off["ok_book_long"].all() and off["book_imb_10_last"].isna().all()


def test_a_frozen_feed_sampled_on_is_stale(tmp_path):
    """The feed froze at 13:12 but books kept being sampled every 10 s (what the recorder stored
    before it recorded stale feeds): a book's age runs from its last change, so the gate closes
    for every candle whose close is more than 30 s after it."""
    g = _gate(_store(tmp_path, bid_size=3.0, frozen_at=DATES[0] + pd.Timedelta(minutes=12)))
    assert (g["book_snapshots"] == 30).all(), "snapshots kept coming"
    assert g["ok_book_long"].tolist() == [True, True] + [False] * 4
    assert g["book_fresh"].tolist() == [True, True] + [False] * 4


def test_book_gate_truncation_parity(tmp_path):
    root = _store(tmp_path, bid_size=2.0, until_candle=5)
    for cut in (1, 3, 5):
        assert_truncation_parity(
            lambda d: _gate(root, dates=d["date"]), DATES.to_frame("date"), cut
        )


def test_cross_venue_columns():
    a = pd.DataFrame({"book_imb_10_last": [0.2], "mid": [100.05], "book_depth_bid_last": [3.0],
                      "book_depth_ask_last": [1.0]})  # fmt: skip
    b = pd.DataFrame({"book_imb_10_last": [-0.1], "mid": [100.0], "book_depth_bid_last": [1.0],
                      "book_depth_ask_last": [1.0]})  # fmt: skip
    x = cross_venue(a, b).iloc[0]
    assert np.isclose(x["xv_imb_diff"], 0.3) and np.isclose(x["xv_mid_bps"], 5.0)
    assert x["xv_depth_ratio"] == 2.0


def _cross(**kw):
    book = {"enabled": True, "min_imbalance": 0.1, "max_void_bps": 5, "max_staleness_seconds": 30,
            "cross_exchange": "bybit", "max_mid_gap_bps": 10, **kw}  # fmt: skip
    return load_perpflow_config({"perpflow": {"filters": {"book": book}}})


def test_cross_venue_divergence_gates_entries(tmp_path, caplog):
    root = _store(tmp_path, bid_size=3.0)
    with caplog.at_level(logging.WARNING):
        missing = _gate(root, cfg=_cross())
    assert not missing["ok_book_long"].any(), "no second venue recorded: blocked, not ignored"
    assert "no recorded bybit books for BTCUSDT" in caplog.text
    _store(
        root, bid_size=1.0, exchange="bybit", shift_bps=3.0, until_candle=4
    )  # balanced, mid 3 bps higher
    g = _gate(root, cfg=_cross())
    assert np.allclose(g["xv_imb_diff"].iloc[:4], 0.5) and np.allclose(
        g["xv_imb_other"].iloc[:4], 0.0
    )
    assert np.allclose(g["xv_mid_bps"].iloc[:4], (1 / 1.0003 - 1) * 1e4)
    assert np.allclose(g["xv_depth_ratio"].iloc[:4], 2.0)
    assert g["ok_book_long"].tolist() == [True] * 4 + [False] * 2, "bybit stale after candle 4"
    assert not _gate(root, cfg=_cross(max_mid_gap_bps=2))["ok_book_long"].any(), "mids 3 bps apart"
    assert not _gate(root, cfg=_cross(cross_agreement=True))["ok_book_long"].any(), "bybit neutral"
    for cut in (1, 3, 5):
        assert_truncation_parity(
            lambda d: _gate(root, cfg=_cross(), dates=d["date"]), DATES.to_frame("date"), cut
        )


def test_venue_symbols():
    from perpflow.strategy.book_signals import venue_symbol

    assert venue_symbol("BTCUSDT", "okx") == "BTC-USDT-SWAP"
    assert venue_symbol("BTCUSDT", "bybit") == venue_symbol("BTCUSDT", "binance") == "BTCUSDT"


def test_recorded_trades_give_cancel_to_trade(tmp_path):
    root = _store(tmp_path, bid_size=3.0)
    ts = pd.date_range(DATES[0] + pd.Timedelta("5s"), periods=60, freq="30s", tz="UTC")
    write_events(root, "trades", pd.DataFrame({
        "exchange": "binance", "symbol": "BTCUSDT", "ts_event": ts, "ts_recv": ts,
        "id": [str(i) for i in range(60)], "side": "sell", "price": 99.99, "amount": 0.5,
    }), time_col="ts_recv")  # fmt: skip
    g = _gate(root)
    # sizes never change in this book, so nothing was cancelled: ratio 0 wherever trades printed
    assert (g["book_cancel_to_trade"] == 0).all()
    assert "book_ctt_pre_open" in g.columns
