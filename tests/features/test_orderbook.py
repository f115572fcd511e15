"""Order-book and order-flow features: synthetic books with known answers, Hypothesis invariants,
per-candle truncation parity, the real Binance and Bybit captures, and equality with Freqtrade's
own order-flow columns on real trades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.features import _book_kernel
from perpflow.features.orderbook import (
    Book,
    book_from_wide,
    capture_sessions,
    per_candle,
    snapshot_features,
    trade_flow_between,
    utc_ns,
)
from perpflow.features.orderflow import candle_flow
from tests.conftest import shared_data_dir
from tests.features.parity import assert_truncation_parity

DERIVED = "raw/cryptofeed_sample_data/derived"


def _book(bids: list[list[tuple[float, float]]], asks: list[list[tuple[float, float]]],
          start: str = "2026-01-01 00:00:00") -> Book:  # fmt: skip
    n, levels = len(bids), max(len(b) for b in bids + asks)

    def arr(rows, i):
        a = np.full((n, levels), np.nan)
        for r, row in enumerate(rows):
            a[r, : len(row)] = [lv[i] for lv in row]
        return a

    ts = utc_ns(pd.date_range(start, periods=n, freq="1s", tz="UTC"))
    return Book(ts, arr(bids, 0), arr(bids, 1), arr(asks, 0), arr(asks, 1))


def test_known_answers_on_a_hand_made_book():
    # bids 3 @ 99.9, 1 @ 99.8, 1 @ 99.0 (a 0.8 gap below); asks 1 @ 100.1, 1 @ 100.2, 10 @ 100.3
    book = _book([[(99.9, 3), (99.8, 1), (99.0, 1)]], [[(100.1, 1), (100.2, 1), (100.3, 10)]])
    f = snapshot_features(book).iloc[0]
    assert f["imb_10"] == pytest.approx((5 - 12) / 17)
    micro = (100.1 * 3 + 99.9 * 1) / 4
    assert f["micro_dev_bps"] == pytest.approx((micro - 100.0) / 100.0 * 1e4)
    assert f["vw_spread_bps"] == pytest.approx(
        ((100.1 + 100.2 + 1003) / 12 - (299.7 + 99.8 + 99) / 5) / 100 * 1e4
    )
    assert f["void_bid_bps"] == pytest.approx(80.0) and f["void_ask_bps"] == pytest.approx(10.0)
    assert f["wall_ask"] == pytest.approx(10 / 4) and f["wall_ask_bps"] == pytest.approx(30.0)
    assert f["breadth_bid"] == 0 and f["breadth_ask"] == 0  # best levels are 10 bps away (> 2 bps)
    wide = snapshot_features(book, breadth_bps=25).iloc[0]
    assert wide["breadth_bid"] == 2 and wide["breadth_ask"] == 2
    assert f["depth_bid"] == 5 and f["depth_ask"] == 12


def test_weighted_imbalance_discounts_far_levels():
    near_bid = _book([[(99.99, 1), (90.0, 100)]], [[(100.01, 1)]])
    f = snapshot_features(near_bid, decay_bps=5).iloc[0]
    assert f["imb_10"] > 0.9 and abs(f["imb_w"]) < 0.05, "the far bid wall barely counts"


def test_cancels_trades_and_refills():
    # t0: best bid 100 x 5; t1: best bid 100 x 5 again after 3 sold into it (refill: iceberg);
    # t2: 2 @ 99 vanished without any trade (cancel)
    bids = [[(100, 5), (99, 2)], [(100, 5), (99, 2)], [(100, 5), (99, 0.0)]]
    asks = [[(101, 1)], [(101, 1)], [(101, 1)]]
    book = _book(bids, asks)
    trades = pd.DataFrame({"ts": [pd.Timestamp("2026-01-01 00:00:00.5", tz="UTC")],
                           "side": ["Sell"], "amount": [3.0], "price": [100.0]})  # fmt: skip
    f = trade_flow_between(book, trades)
    assert np.isnan(f["traded_bid"].iloc[0])
    assert f["traded_bid"].tolist()[1:] == [3.0, 0.0] and f["traded_ask"].tolist()[1:] == [0.0, 0.0]
    assert f["refill_bid"].tolist() == [0, 1, 0]
    assert f["cancel_bid"].iloc[1] == 0 and f["cancel_bid"].iloc[2] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="buy or sell"):
        trade_flow_between(book, trades.assign(side="b"))


levels = st.lists(st.tuples(st.floats(0.01, 50), st.floats(0.001, 100)), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(bids=levels, asks=levels)
def test_imbalance_bounds_and_depth_sums(bids, asks):
    b = sorted([(100 - d, s) for d, s in bids], reverse=True)
    a = sorted([(100 + d, s) for d, s in asks])
    f = snapshot_features(_book([b], [a])).iloc[0]
    for col in ("imb_10", "imb_25", "imb_w"):
        assert -1 <= f[col] <= 1, col
    assert f["depth_bid"] == pytest.approx(sum(s for _, s in b[:25]))
    assert f["depth_ask"] == pytest.approx(sum(s for _, s in a[:25]))
    assert f["vw_spread_bps"] >= 0
    assert f["void_bid_bps"] >= 0 if len(b) > 1 else np.isnan(f["void_bid_bps"])


def _random_book(n: int, seed: int) -> tuple[Book, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    mid = 100 + np.cumsum(rng.normal(0, 0.01, n))
    steps = np.arange(1, 26) * 0.01
    bid_px = np.round(mid[:, None] - steps, 2)
    ask_px = np.round(mid[:, None] + steps, 2)
    ts = pd.date_range("2026-03-02 13:00", periods=n, freq="250ms", tz="UTC")
    book = Book(utc_ns(ts), bid_px, rng.gamma(2, 1, (n, 25)), ask_px, rng.gamma(2, 1, (n, 25)))
    trades = pd.DataFrame({"ts": ts[rng.integers(0, n, n // 2)] + pd.Timedelta("100ms"),
                           "side": rng.choice(["buy", "sell"], n // 2),
                           "amount": rng.gamma(1, 1, n // 2), "price": 100.0})  # fmt: skip
    return book, trades


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), cut=st.integers(1, 7))
def test_per_candle_book_features_truncation_parity(seed, cut):
    book, trades = _random_book(2400, seed)  # 10 minutes of 250 ms snapshots
    dates = pd.Series(pd.date_range("2026-03-02 13:00", periods=10, freq="1min", tz="UTC"))

    def fn(d: pd.DataFrame) -> pd.DataFrame:
        end = d["date"].iloc[-1] + pd.Timedelta("1min")
        keep = book.ts < utc_ns([end])[0]
        b = Book(*(x[keep] for x in (book.ts, book.bid_px, book.bid_sz, book.ask_px, book.ask_sz)))
        t = trades[trades["ts"] < end]
        snaps = pd.concat(
            [snapshot_features(b), trade_flow_between(b, t).drop(columns="ts")], axis=1
        )
        return per_candle(snaps, d["date"], "1min")

    assert_truncation_parity(fn, dates.to_frame("date"), cut)


@pytest.mark.parametrize(
    "name,symbol",
    [
        ("bybit_linear_l2_top20_2026-08-09", "BTCUSDT"),
        ("binance_usdm_l2_top20_2021-07-22", "SUSHIUSDT"),
    ],
)
def test_real_captured_books(name, symbol, monkeypatch):
    raw = pd.read_parquet(shared_data_dir(DERIVED) / f"{name}.parquet")
    rows = raw[raw["symbol"] == symbol]
    sessions = capture_sessions(rows)
    if len(sessions) > 1:  # the Bybit file holds two captures of BTCUSDT: never merged
        with pytest.raises(ValueError, match="captures in one frame"):
            book_from_wide(rows)
    book = book_from_wide(sessions[0])
    f = snapshot_features(book)
    assert len(f) == len(sessions[0]) > 100
    assert f[["imb_10", "imb_25", "imb_w"]].abs().le(1).all().all()
    assert (f["vw_spread_bps"] > 0).all() and (f["micro_dev_bps"].abs() < 50).all()
    assert f["depth_bid"].gt(0).all() and f["depth_ask"].gt(0).all()
    dates = pd.Series(pd.date_range(f["ts"].min().floor("10s"), f["ts"].max(), freq="10s"))
    agg = per_candle(f, dates, "10s")
    assert agg["book_snapshots"].sum() == len(f)
    # blocks of 7 rows (row-to-row columns across every block edge) give the one-block answer
    monkeypatch.setattr(_book_kernel, "_BLOCK", 7)
    pd.testing.assert_frame_equal(snapshot_features(book), f)
    # causal: the first k snapshots alone give the first k rows
    for k in (1, 7, 8, 100):
        head = Book(*(a[:k] for a in (book.ts, book.bid_px, book.bid_sz, book.ask_px, book.ask_sz)))
        pd.testing.assert_frame_equal(snapshot_features(head), f.iloc[:k])


def test_order_flow_equals_freqtrade_on_real_trades():
    from freqtrade.data.converter.orderflow import populate_dataframe_with_trades

    path = (
        shared_data_dir("raw/freqtrade_testdata_orderflow")
        / "ETH_USDT_USDT-trades-2023-02-02.feather"
    )
    trades = pd.read_feather(path)
    trades["date"] = pd.to_datetime(trades["timestamp"], unit="ms", utc=True)
    dates = pd.date_range(trades["date"].min().floor("1min"), trades["date"].max(), freq="1min")
    candles = pd.DataFrame({"date": dates, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                            "volume": 1.0})  # fmt: skip
    cfg = {"timeframe": "1m", "orderflow": {"max_candles": 10_000, "scale": 0.5,
           "imbalance_ratio": 3, "imbalance_volume": 0, "stacked_imbalance_range": 3, "cache_size": 10}}  # fmt: skip
    ft, _ = populate_dataframe_with_trades(None, cfg, candles.copy(), trades.copy())
    ours = candle_flow(candles["date"], trades, "1m")
    for col in ("bid", "ask", "delta", "max_delta", "min_delta", "total_trades"):
        np.testing.assert_allclose(ours[col], ft[col].astype(float), rtol=1e-9, err_msg=col)
    assert ours["cum_delta"].iloc[-1] == pytest.approx(ft["delta"].sum())


def test_order_flow_known_answers_and_parity():
    trades = pd.DataFrame({
        "date": pd.to_datetime(["2026-01-01 00:00:10", "2026-01-01 00:00:20", "2026-01-01 00:00:30",
                                "2026-01-01 00:02:05"], utc=True),
        "side": ["buy", "sell", "sell", "buy"], "amount": [2.0, 5.0, 1.0, 4.0],
    })  # fmt: skip
    dates = pd.Series(pd.date_range("2026-01-01", periods=4, freq="1min", tz="UTC"))
    f = candle_flow(dates, trades, "1m")
    assert f["delta"].iloc[0] == -4 and f["max_delta"].iloc[0] == 2 and f["min_delta"].iloc[0] == -4
    assert np.isnan(f["delta"].iloc[1]) and f["cum_delta"].tolist() == [-4, -4, 0, 0]
    assert f["aggressor_imbalance"].iloc[0] == pytest.approx(-4 / 8)

    def fn(d):
        return candle_flow(
            d["date"], trades[trades["date"] < d["date"].iloc[-1] + pd.Timedelta("1min")], "1m"
        )

    for cut in (1, 2, 3):
        assert_truncation_parity(fn, dates.to_frame("date"), cut)


def test_pre_open_cancel_to_trade_reading_and_parity():
    from perpflow.features.orderbook import pre_open_cancel_to_trade

    # winter: London opens 08:00 UTC; 5m candles 07:00..09:00
    dates = pd.Series(pd.date_range("2026-01-15 07:00", periods=25, freq="5min", tz="UTC"))
    n = len(dates)
    agg = pd.DataFrame({"book_cancel_bid_sum": np.ones(n), "book_cancel_ask_sum": np.ones(n),
                        "book_traded_bid_sum": np.ones(n), "book_traded_ask_sum": np.zeros(n)})  # fmt: skip
    window = (dates >= "2026-01-15 07:30") & (dates < "2026-01-15 08:00")
    agg.loc[window, "book_cancel_bid_sum"] = 5.0  # heavy cancelling in the 30 min before the open
    r = pre_open_cancel_to_trade(agg, dates)
    first = int(np.flatnonzero(dates == pd.Timestamp("2026-01-15 08:00", tz="UTC"))[0])
    assert r.iloc[:first].isna().all(), "unknown until the window's last candle has closed"
    assert r.iloc[first] == pytest.approx((5 + 1) / 1) and r.iloc[first:].nunique() == 1

    def fn(d):
        return pre_open_cancel_to_trade(agg.iloc[: len(d)], d["date"]).to_frame()

    for cut in (5, 12, 13, 20):
        assert_truncation_parity(fn, dates.to_frame("date"), cut)
