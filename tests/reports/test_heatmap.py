"""`perpflow heatmap`: the liquidity grid keeps every unit of resting size, and the command draws
the real Bybit capture (PNG + interactive HTML) without merging its two BTCUSDT captures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.cli import main
from perpflow.features.orderbook import Book, utc_ns
from perpflow.reports.heatmap import liquidity_grid
from tests.conftest import shared_data_dir


def _wide(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mid = 100 + np.cumsum(rng.normal(0, 0.01, n))
    cols = {"ts": pd.date_range("2026-01-01", periods=n, freq="100ms", tz="UTC"), "symbol": "XUSDT"}
    for i in range(10):
        cols[f"bid_px_{i}"], cols[f"bid_sz_{i}"] = mid - 0.01 * (i + 1), rng.gamma(2, 1, n)
        cols[f"ask_px_{i}"], cols[f"ask_sz_{i}"] = mid + 0.01 * (i + 1), rng.gamma(2, 1, n)
    return pd.DataFrame(cols)


def test_grid_keeps_all_resting_size():
    w = _wide()
    book = Book(utc_ns(w["ts"]), *(w[[f"{s}_{k}_{i}" for i in range(10)]].to_numpy()
                                   for s, k in (("bid", "px"), ("bid", "sz"), ("ask", "px"), ("ask", "sz"))))  # fmt: skip
    g = liquidity_grid(book, time_bins=40, price_bins=30)
    total = w[[c for c in w.columns if "_sz_" in c]].sum(axis=1).to_numpy()
    per_bin = pd.Series(total).groupby(np.arange(len(total)) // 10).mean().to_numpy()
    np.testing.assert_allclose(np.nansum(g["size"], axis=1), per_bin, rtol=1e-9)


def test_heatmap_command_on_synthetic_book(tmp_path, capsys):
    _wide().to_parquet(tmp_path / "book.parquet")
    trades = pd.DataFrame({"ts": pd.date_range("2026-01-01 00:00:05", periods=20, freq="1s", tz="UTC"),
                           "side": ["buy", "sell"] * 10, "price": 100.0, "amount": 1.0})  # fmt: skip
    trades.to_csv(tmp_path / "trades.csv", index=False)
    events = pd.DataFrame({"ts": ["2026-01-01 00:00:20+00:00"], "text": ["test event"]})
    events.to_csv(tmp_path / "events.csv", index=False)
    assert main(["heatmap", "--book", str(tmp_path / "book.parquet"), "--symbol", "XUSDT",
                 "--trades", str(tmp_path / "trades.csv"), "--events", str(tmp_path / "events.csv"),
                 "--out", str(tmp_path / "out")]) == 0  # fmt: skip
    assert (tmp_path / "out" / "heatmap_XUSDT.png").stat().st_size > 20_000
    assert "plotly" in (tmp_path / "out" / "heatmap_XUSDT.html").read_text()[:20_000].lower()
    capsys.readouterr()
    assert (
        main(
            [
                "heatmap",
                "--book",
                str(tmp_path / "book.parquet"),
                "--symbol",
                "NOPE",
                "--out",
                str(tmp_path),
            ]
        )
        == 2
    )
    assert "no rows for symbol 'NOPE'" in capsys.readouterr().err


def test_heatmap_of_the_real_bybit_capture(tmp_path, capsys):
    d = shared_data_dir("raw/cryptofeed_sample_data/derived")
    assert main(["heatmap", "--book", str(d / "bybit_linear_l2_top20_2026-08-09.parquet"),
                 "--symbol", "BTCUSDT", "--trades", str(d / "bybit_linear_trades_2026-08-09.csv"),
                 "--time-bins", "120", "--price-bins", "60", "--out", str(tmp_path)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "2 separate captures of BTCUSDT" in out and "414 snapshots" in out
    assert (tmp_path / "heatmap_BTCUSDT.png").stat().st_size > 50_000
    capsys.readouterr()
    assert main(["heatmap", "--book", str(d / "bybit_linear_l2_top20_2026-08-09.parquet"),
                 "--symbol", "BTCUSDT", "--session", "5", "--out", str(tmp_path)]) == 2  # fmt: skip
    assert "--session 0..1" in capsys.readouterr().err


def _labels() -> pd.DataFrame:
    """A `perpflow label`-shaped frame: events of two pairs, 5m candles opening 23:50..00:05."""
    return pd.DataFrame({
        "date": pd.to_datetime(["2025-12-31 23:55", "2025-12-31 23:55", "2025-12-31 23:55",
                                "2025-12-31 23:55", "2025-12-31 23:50"], utc=True),
        "pair": ["X/USDT:USDT"] * 4 + ["Y/USDT:USDT"],
        "event": ["liq_cluster", "liq_cluster", "sweep", "entry", "entry"],
        "liq_move": [1.0, 0.0, np.nan, np.nan, np.nan], "liq_move_dir": [-1.0, 0.0, np.nan, np.nan, np.nan],
        "sweep_reversal": [np.nan, np.nan, 1.0, np.nan, np.nan], "tb_label": [np.nan, np.nan, np.nan, -1.0, 1.0],
    })  # fmt: skip


def test_events_from_labels_say_what_followed():
    from perpflow.reports.heatmap import events_from_labels

    ev = events_from_labels(_labels(), "X/USDT:USDT")
    assert ev["text"].tolist() == ["liq cluster: moved >= 1.5 ATR down", "liq cluster: no 1.5 ATR move",
                                   "sweep: reversed", "entry: stop first"]  # fmt: skip
    assert (ev["ts"] == pd.Timestamp("2026-01-01", tz="UTC")).all(), "marked at the candle's close"
    with pytest.raises(ValueError, match="perpflow label"):
        events_from_labels(pd.DataFrame({"ts": [1]}))


def test_heatmap_of_a_recorded_store_with_label_events(tmp_path, capsys):
    from perpflow.data.store import write_events

    w = _wide(n=3000)  # 5 minutes of 100 ms books around 2026-01-01 00:00
    w["ts"] = w["ts"] - pd.Timedelta("2min")
    rec = w.rename(columns={"ts": "ts_recv"}).assign(exchange="binance", symbol="XUSDT", nonce=1)
    rec["ts_event"] = rec["ts_recv"]
    write_events(tmp_path / "store", "book", rec, time_col="ts_recv")
    trades = pd.DataFrame({"ts_event": pd.date_range("2025-12-31 23:59", periods=30, freq="2s", tz="UTC"),
                           "side": ["buy", "sell"] * 15, "price": 100.0, "amount": 1.0,
                           "exchange": "binance", "symbol": "XUSDT", "id": [str(i) for i in range(30)]})  # fmt: skip
    trades["ts_recv"] = trades["ts_event"]
    write_events(tmp_path / "store", "trades", trades)
    liq = (
        trades.iloc[:3].drop(columns=["amount", "id"]).assign(qty=2.0, notional=200.0)
    )  # the collector's columns
    write_events(tmp_path / "store", "liquidations", liq)
    _labels().to_parquet(tmp_path / "labels.parquet")
    out = tmp_path / "plot"
    assert main(["heatmap", "--book", str(tmp_path / "store"), "--symbol", "XUSDT", "--events",
                 str(tmp_path / "labels.parquet"), "--pair", "X/USDT:USDT", "--out", str(out)]) == 0  # fmt: skip
    assert "3000 snapshots" in capsys.readouterr().out
    assert (out / "heatmap_XUSDT.png").stat().st_size > 10_000
    page = (out / "heatmap_XUSDT.html").read_text()
    assert (
        "liq cluster: moved \\u003e= 1.5 ATR down" in page
        or "liq cluster: moved >= 1.5 ATR down" in page
    )
    assert "entry: target first" not in page, "the other pair's events are left out"
    capsys.readouterr()
    assert (
        main(
            [
                "heatmap",
                "--book",
                str(tmp_path / "store"),
                "--symbol",
                "XUSDT",
                "--exchange",
                "bybit",
            ]
        )
        == 2
    )
    assert "no recorded bybit books" in capsys.readouterr().err


def test_grid_snaps_to_the_tick_and_carries_the_book_between_snapshots():
    w = _wide(
        n=5
    )  # 5 snapshots, levels on a 0.01 tick: coarser than 120 price bins, sparser than 20 time bins
    px = w.filter(regex="_px_").columns
    w[px] = w[px].round(2)
    book = Book(utc_ns(w["ts"]), *(w[[f"{s}_{k}_{i}" for i in range(10)]].to_numpy()
                                   for s, k in (("bid", "px"), ("bid", "sz"), ("ask", "px"), ("ask", "sz"))))  # fmt: skip
    g = liquidity_grid(book, time_bins=20, price_bins=120)
    widths = np.diff(g["p_edges"])
    np.testing.assert_allclose(widths, widths[0])
    assert widths[0] >= 0.0099, "one bin per tick, no empty stripes between ticks"
    assert not np.isnan(g["size"]).all(axis=1).any(), "every time bin shows a book"
    np.testing.assert_allclose(
        np.nansum(g["size"], axis=1)[-1], w.filter(like="_sz_").iloc[-1].sum()
    )
