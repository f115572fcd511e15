"""Calibration from recorded books (synthetic store, real Bybit capture) and the causal
per-candle model inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.execution.calibrate import (
    calibrate,
    model_inputs,
    parquet_captures,
    sample_every,
    snapshot_stats,
)
from perpflow.features.orderbook import book_from_wide
from tests.conftest import random_candles, shared_data_dir
from tests.features.parity import assert_truncation_parity

BYBIT = "raw/cryptofeed_sample_data/derived/bybit_linear_l2_top20_2026-08-09.parquet"


def test_profile_of_synthetic_store(model):
    # demo books: 3 snapshots a minute for 60 minutes, 25 levels 1 bp apart from 0.5 bp
    assert list(model.profiles) == [("BTCUSDT", "ny_open")]
    p = model.profiles[("BTCUSDT", "ny_open")]
    assert p.snapshots == 180 and p.captures == 1
    np.testing.assert_allclose(p.spread_bps, 1.0, rtol=1e-6)
    assert p.reach_bps["ask"] == pytest.approx(24.5, rel=1e-6)
    grid = list(p.grid_bps)
    # every level filled: 50 and 100 bps lie beyond the recorded book (censored, not zero)
    assert np.isnan(p.depth["ask"][:, grid.index(50.0)]).all()
    assert np.isfinite(p.depth["ask"][:, grid.index(20.0)]).all()
    # within 0.25 bps: nothing (half spread 0.5); within 1 bp: only the touch
    assert (p.depth["ask"][:, grid.index(0.25)] == 0).all()
    np.testing.assert_allclose(p.depth["ask"][:, grid.index(1.0)], p.touch["ask"])
    assert (np.diff(p.depth["ask"][1][np.isfinite(p.depth["ask"][1])]) >= 0).all()


def test_shallow_book_is_not_censored():
    """A book with fewer levels than recorded (NaN tail) shows all it has: depth beyond its
    last level is known (no more), not censored."""
    row = {"ts": pd.Timestamp("2026-06-01 18:00", tz="UTC")}
    for i in range(3):
        row |= {f"bid_px_{i}": 99.9 - i * 0.1, f"bid_sz_{i}": 1.0,
                f"ask_px_{i}": 100.1 + i * 0.1, f"ask_sz_{i}": 1.0}  # fmt: skip
    row |= {"bid_px_2": np.nan, "bid_sz_2": np.nan}
    s = snapshot_stats(book_from_wide(pd.DataFrame([row])), grid=(5.0, 50.0))
    np.testing.assert_allclose(s["bid_depth"], [[0.0, 99.9 + 99.8]])  # 2 levels, known
    assert np.isnan(s["ask_depth"][0, 1])  # 3 levels, all filled: beyond them unknown


def test_sample_every_takes_the_book_as_it_stood():
    ts = pd.to_datetime(["2026-01-01 00:00:00.2", "2026-01-01 00:00:00.9", "2026-01-01 00:00:02.5"],
                        utc=True)  # fmt: skip
    rows = pd.DataFrame({"ts": ts, "bid_px_0": [1.0, 2.0, 3.0]})
    out = sample_every(rows, 1.0)
    assert list(out["ts"].dt.strftime("%S")) == ["01", "02"]
    assert list(out["bid_px_0"]) == [2.0, 2.0]


def test_calibrate_real_bybit_capture():
    path = shared_data_dir(BYBIT)
    caps = parquet_captures(path, ["BTCUSDT", "ETHUSDT"])
    assert len(caps) == 4  # the file holds two captures of each; never merged
    m = calibrate(caps, exchange="bybit", cadence_s=1.0)
    # 2026-08-09 21:27 UTC = 17:27 New York (EDT): ny_close
    assert set(m.profiles) == {("BTCUSDT", "ny_close"), ("ETHUSDT", "ny_close")}
    btc = m.profiles[("BTCUSDT", "ny_close")]
    assert btc.captures == 2 and 80 <= btc.snapshots <= 95
    assert 0 < btc.spread_bps[1] < 0.1  # one 0.1 USDT tick at ~65,000
    c = m.cost("BTC/USDT:USDT", "ny_close", "buy", 10_000)
    assert c.source == "profile" and 0 < c.total_bps < 1
    assert c.band_bps[0] <= c.total_bps <= c.band_bps[1]


def _inputs(df):
    return model_inputs(df, "5m", sigma_window="6h", block_window="2D", min_candles=6)


@pytest.mark.parametrize("cut", [150, 700, 1111])
def test_model_inputs_truncation_parity(cut):
    df = random_candles(1300, seed=cut, start="2025-03-07 20:00")  # crosses the DST switch
    df.loc[df.index[40:45], "volume"] = np.nan  # gaps in the data stay gaps
    assert_truncation_parity(_inputs, df, cut)


def test_model_inputs_values():
    df = random_candles(600, seed=3)
    out = _inputs(df)
    assert list(out.columns) == [
        "session_block",
        "ex_sigma_bps_1s",
        "ex_range_bps",
        "ex_quote_volume",
    ]
    # the decision time is the candle's close: 12:55 New York opens no block, 12:55 closes into ny_open
    t = pd.Timestamp("2025-03-01 17:55", tz="UTC")  # 12:55 EST
    assert out.loc[df["date"] == t, "session_block"].item() == "ny_open"
    i = 400
    ret = np.log(df["close"]).diff()
    window = ret[(df["date"] > df["date"][i] - pd.Timedelta("6h")) & (df.index <= i)]
    assert out["ex_sigma_bps_1s"][i] == pytest.approx(window.std() * 1e4 / np.sqrt(300))
    # the block mean is over that block's candles only, as of t
    from perpflow.features.sessions import SESSION_NAMES, ny_session_block

    own = ny_session_block(df["date"]).map(SESSION_NAMES)
    b = out["session_block"][i]
    sel = (own == b) & (df["date"] > df["date"][i] - pd.Timedelta("2D")) & (df.index <= i)
    rng = (df["high"] - df["low"]) / df["close"] * 1e4
    assert out["ex_range_bps"][i] == pytest.approx(rng[sel].mean())
    assert out["ex_quote_volume"][i] == pytest.approx((df["volume"] * df["close"])[sel].mean())
