"""Derivatives analytics: funding interval/carry/prediction, OI regime, liquidation features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.features.funding import (
    expected_carry,
    funding_interval_hours,
    funding_settlements,
    predicted_funding,
)
from perpflow.features.liquidations import liquidation_features
from perpflow.features.open_interest import oi_regime
from tests.conftest import random_candles, shared_data_dir
from tests.features.parity import assert_truncation_parity


def test_funding_interval_detected_on_real_binance_and_bybit():
    for venue in ("binance", "bybit"):
        raw = pd.read_feather(
            shared_data_dir(venue) / "futures" / "BTC_USDT_USDT-1h-funding_rate.feather"
        )
        hours = funding_interval_hours(funding_settlements(raw)).dropna()
        assert hours.mode().iloc[0] == 8.0, venue
        assert set(hours.unique()) <= {1.0, 2.0, 4.0, 8.0, 16.0, 24.0}, venue


def test_carry_signs_and_scale():
    c = expected_carry(pd.Series([0.0001, -0.0002]), pd.Series([8.0, 4.0]), horizon_hours=24)
    assert c["carry_long"].tolist() == pytest.approx([-0.0003, 0.0012])
    assert (c["carry_short"] == -c["carry_long"]).all()


def test_predicted_funding_follows_binance_formula():
    dates = pd.date_range("2025-01-01", periods=16, freq="1h", tz="UTC")
    prem = pd.DataFrame({"date": dates, "close": [0.0002] * 8 + [0.002] * 8})
    f = predicted_funding(prem)
    assert f.iloc[7] == pytest.approx(0.0001)  # |P - I| < 0.05%: the interest rate
    assert f.iloc[15] == pytest.approx(0.002 - 0.0005)  # clamp(I - P) = -0.05%


def test_oi_regime_quadrants():
    n = 400
    close = pd.Series(100 + np.sin(np.arange(n) / 7.0))
    oi = pd.Series(1000 + 20 * np.cos(np.arange(n) / 5.0))
    r = oi_regime(close, oi, periods=3, window=50, threshold=0.5)
    up_px = r["price_z"] >= 0.5
    up_oi = r["oi_z"] >= 0.5
    assert (r.loc[up_px & up_oi, "oi_regime"] == 1).all()
    assert (r.loc[(r["price_z"] <= -0.5) & up_oi, "oi_regime"] == 2).all()
    assert set(r["oi_regime"].unique()) >= {0, 1, 2, 3, 4}


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 1000), cut=st.integers(1, 399))
def test_oi_regime_and_liquidations_truncation_parity(seed, cut):
    df = random_candles(400, seed=seed)
    rng = np.random.default_rng(seed)
    df["oi"] = 1e4 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    assert_truncation_parity(
        lambda d: oi_regime(d["close"], d["oi"], periods=6, window=50), df, cut
    )
    t = df["date"].iloc[0] + pd.to_timedelta(np.sort(rng.uniform(0, 400 * 300, 150)), unit="s")
    ev = pd.DataFrame({"ts_event": t, "side": rng.choice(["buy", "sell"], 150),
                       "price": 100.0, "notional": rng.gamma(2, 500, 150)})  # fmt: skip
    assert_truncation_parity(lambda d: liquidation_features(d["date"], ev, lookback=20), df, cut)


def test_liquidation_features_oracle():
    dates = pd.Series(pd.date_range("2025-01-01", periods=6, freq="5min", tz="UTC"))
    ev = pd.DataFrame({
        "ts_event": pd.to_datetime(["2025-01-01 00:01", "2025-01-01 00:04", "2025-01-01 00:16",
                                    "2025-01-01 00:17"], utc=True),
        "side": ["sell", "buy", "sell", "sell"], "price": [100.0, 101.0, 90.0, 92.0],
        "notional": [10.0, 5.0, 100.0, 300.0],
    })  # fmt: skip
    f = liquidation_features(dates, ev, lookback=3, pct=0.9)
    assert f["liq_long_notional"].tolist() == [10, 0, 0, 400, 0, 0]
    assert f["liq_short_notional"].tolist() == [5, 0, 0, 0, 0, 0]
    assert f["liq_cluster"].tolist() == [False, False, False, True, False, False]
    assert f["liq_wall"].iloc[3] == pytest.approx((90 * 100 + 92 * 300) / 400)
    assert f["liq_bars_since_cluster"].tolist()[3:] == [0, 1, 2]


@pytest.mark.parametrize("cut", [120, 250])
def test_oi_regime_on_real_binance_oi(cut):
    """The one real BTC OI day (Binance metrics, 288 x 5m): every regime code is valid, the
    regime is defined once the z window fills, and it is causal on real data."""
    raw = pd.read_feather(
        shared_data_dir("binance_oi_sample") / "futures" / "BTC_USDT_USDT-5m-open_interest.feather"
    )
    oi = raw["open_interest_amount"].astype("float64")
    price = raw["open_interest_value"] / oi
    r = oi_regime(price, oi, periods=6, window=48)
    known = r["oi_z"].notna() & r["price_z"].notna()
    assert known.sum() > 200 and set(r.loc[known, "oi_regime"]) <= {0, 1, 2, 3, 4}
    assert (r.loc[~known, "oi_regime"] == 0).all()
    assert (r.loc[known, "oi_regime"] != 0).any()
    df = pd.DataFrame({"price": price, "oi": oi})
    assert_truncation_parity(
        lambda d: oi_regime(d["price"], d["oi"], periods=6, window=48), df, cut
    )
