"""`perpflow heatmap`: the liquidity grid keeps every unit of resting size, and the command draws
the real Bybit capture (PNG + interactive HTML) without merging its two BTCUSDT captures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.cli import main
from perpflow.features.orderbook import Book, utc_ns
from perpflow.validation.heatmap import liquidity_grid
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


def test_heatmap_command_on_synthetic_book(tmp_path):
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
    with pytest.raises(SystemExit, match="no rows for symbol"):
        main(["heatmap", "--book", str(tmp_path / "book.parquet"), "--symbol", "NOPE", "--out", str(tmp_path)])


def test_heatmap_of_the_real_bybit_capture(tmp_path, capsys):
    d = shared_data_dir("raw/cryptofeed_sample_data/derived")
    assert main(["heatmap", "--book", str(d / "bybit_linear_l2_top20_2026-08-09.parquet"),
                 "--symbol", "BTCUSDT", "--trades", str(d / "bybit_linear_trades_2026-08-09.csv"),
                 "--time-bins", "120", "--price-bins", "60", "--out", str(tmp_path)]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "2 separate captures of BTCUSDT" in out and "414 snapshots" in out
    assert (tmp_path / "heatmap_BTCUSDT.png").stat().st_size > 50_000
    with pytest.raises(SystemExit, match="--session 0..1"):
        main(["heatmap", "--book", str(d / "bybit_linear_l2_top20_2026-08-09.parquet"),
              "--symbol", "BTCUSDT", "--session", "5", "--out", str(tmp_path)])
