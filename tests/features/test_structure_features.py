"""Pools, pool sweeps, follow-through, FVGs, volume profile, regime, classic context, sessions:
truncation parity (Hypothesis) and plain-Python oracles on small frames with NaN, gaps and zero
volume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.features.classic import classic_context
from perpflow.features.fvg import fair_value_gaps
from perpflow.features.pools import liquidity_pools
from perpflow.features.regime import volatility_regime
from perpflow.features.sessions import ny_session_block, session_context
from perpflow.features.sweeps import (
    FOLLOW_CONTINUATION,
    FOLLOW_PENDING,
    FOLLOW_REVERSAL,
    follow_through,
    pool_sweeps,
)
from perpflow.features.swings import confirmed_swings
from perpflow.features.volatility import atr
from perpflow.features.volume_profile import anchored_poc, anchored_value_area, rolling_profile
from tests.conftest import random_candles
from tests.features.parity import assert_truncation_parity

seeds = st.integers(0, 10_000)
cuts = st.integers(1, 599)


def _messy(seed: int, n: int = 600) -> pd.DataFrame:
    """Random candles with a NaN candle, a zero-volume stretch and a time gap."""
    df = random_candles(n, seed=seed)
    df.loc[n // 3, ["open", "high", "low", "close"]] = np.nan
    df.loc[n // 2 : n // 2 + 10, "volume"] = 0.0
    df = df.drop(index=range(2 * n // 3, 2 * n // 3 + 5)).reset_index(drop=True)
    return df


def _all_features(d: pd.DataFrame) -> pd.DataFrame:
    a = atr(d, period=14)
    sw = confirmed_swings(d, left=3, right=3)
    pools = liquidity_pools(d, left=3, right=3, lags=8, max_age=200)
    ps = pool_sweeps(d, pools, a)
    ft = follow_through(
        d["close"], ps["pool_sweep_high"], ps["pool_sweep_high_level"], a, high=True
    )
    parts = [
        pools, ps, ft.rename("ft"), fair_value_gaps(d, a), rolling_profile(d, a, window=48, step=6),
        volatility_regime(d, lookback=100), classic_context(d, sw, squeeze_lookback=50),
        session_context(d["date"]), anchored_poc(d, ny_session_block(d["date"]), a),
        anchored_value_area(d, ny_session_block(d["date"]), step=3, max_window=96),
    ]  # fmt: skip
    return pd.concat(parts, axis=1)


@settings(max_examples=20, deadline=None)
@given(seed=seeds, cut=cuts)
def test_every_structure_feature_has_truncation_parity(seed, cut):
    df = _messy(seed)
    assert_truncation_parity(_all_features, df, min(cut, len(df) - 1))


def test_pools_find_equal_highs_and_vanish_when_taken():
    # three highs at 100 within 0.1% separated by pullbacks, then a candle through them
    highs = [
        95,
        96,
        100,
        96,
        95,
        94,
        95,
        99.95,
        95,
        94,
        95,
        96,
        100.05,
        96,
        95,
        94,
        93,
        94,
        95,
        101,
    ]
    df = pd.DataFrame({"high": highs, "low": [h - 2 for h in highs], "volume": 1.0})
    p = liquidity_pools(df, left=2, right=2, lags=8, max_age=100)
    row = 18  # after the third high (bar 12) is confirmed at bar 14
    assert p["pool_high_touches"].iloc[row] == 3
    assert p["pool_high_level"].iloc[row] == pytest.approx(100.05)
    assert bool(p["buy_side_pool"].iloc[row])
    assert p["pool_high_volume"].iloc[row] == 3.0
    assert np.isnan(p["pool_high_level"].iloc[19]) and p["pool_high_touches"].iloc[19] == 0


def test_fvg_oracle_and_mitigation():
    df = random_candles(300, seed=4)
    a = atr(df, period=14)
    f = fair_value_gaps(df, a)
    high, low = df["high"].tolist(), df["low"].tolist()
    last_top = last_bottom = None
    min_low = None
    for t in range(len(df)):  # plain-Python reference for the bullish side
        if t >= 2 and low[t] > high[t - 2]:
            last_top, last_bottom, min_low = low[t], high[t - 2], low[t]
        elif last_top is not None:
            min_low = min(min_low, low[t])
        if last_top is None:
            assert np.isnan(f["fvg_bull_top"].iloc[t])
            continue
        filled = min(max((last_top - min_low) / (last_top - last_bottom), 0), 1)
        assert f["fvg_bull_top"].iloc[t] == pytest.approx(last_top)
        assert f["fvg_bull_filled"].iloc[t] == pytest.approx(filled)


def test_volume_profile_oracle():
    df = random_candles(200, seed=8)
    a = atr(df, period=14)
    window, step, bins = 48, 6, 12
    vp = rolling_profile(df, a, window=window, step=step, bins=bins)
    for e in range(window - 1, 200, step):  # plain reference: numpy histogram of one window
        w = df.iloc[e - window + 1 : e + 1]
        price = ((w["high"] + w["low"] + w["close"]) / 3).to_numpy()
        lo, hi = w["low"].min(), w["high"].max()
        b = np.clip(((price - lo) / (hi - lo) * bins).astype(int), 0, bins - 1)
        hist = np.bincount(b, weights=w["volume"], minlength=bins)
        poc = lo + (hist.argmax() + 0.5) * (hi - lo) / bins
        for r in range(e, min(e + step, 200)):
            assert vp["vp_poc"].iloc[r] == pytest.approx(poc)
        assert vp["vp_val"].iloc[e] <= poc <= vp["vp_vah"].iloc[e]
    assert vp["vp_poc"].iloc[: window - 1].isna().all()


def test_follow_through_first_barrier_wins():
    close = pd.Series([100, 99, 101, 103, 95, 100, 100.0])
    flag = pd.Series([False, True, False, False, False, False, False])
    level = pd.Series([np.nan, 100, np.nan, np.nan, np.nan, np.nan, np.nan])
    a = pd.Series(1.0, index=close.index)
    st_ = follow_through(close, flag, level, a, high=True, k_cont=2.0, k_rev=3.0, horizon=4)
    # row 1 sweep -> pending; row 3 close 103 >= 100 + 2 -> continuation, stays (first wins)
    assert st_.tolist()[:6] == [0, FOLLOW_PENDING, FOLLOW_PENDING, FOLLOW_CONTINUATION,
                                FOLLOW_CONTINUATION, FOLLOW_CONTINUATION]  # fmt: skip
    assert st_.iloc[6] == 0  # older than the horizon
    st2 = follow_through(close, flag, level, a, high=True, k_cont=5.0, k_rev=3.0, horizon=10)
    assert st2.iloc[4] == FOLLOW_REVERSAL


def test_regime_oracle():
    df = random_candles(400, seed=2)
    r = volatility_regime(df, window=6, lookback=50)
    lr = np.log(df["close"]).diff()
    for t in (60, 200, 399):
        rv = lr.iloc[t - 5 : t + 1].std()
        assert r["rv"].iloc[t] == pytest.approx(rv)
        past = r["rv"].iloc[t - 49 : t + 1]
        assert r["rv_pct"].iloc[t] == pytest.approx((past <= r["rv"].iloc[t]).mean())


def test_session_context_encodings():
    dates = pd.Series(
        pd.to_datetime(["2025-07-15 08:00", "2025-01-15 07:30", "2025-01-15 14:45"], utc=True)
    )
    s = session_context(dates)
    # 08:00 London is 07:00 UTC in summer (BST), 08:00 UTC in winter
    summer = session_context(pd.Series(pd.to_datetime(["2025-07-15 07:30"], utc=True)))
    winter = session_context(pd.Series(pd.to_datetime(["2025-01-15 08:30"], utc=True)))
    assert bool(summer["london_open"].iloc[0]) and bool(winter["london_open"].iloc[0])
    # 09:30 New York is 14:30 UTC in winter
    assert bool(s["ny_open"].iloc[2])
    assert np.allclose(s["tod_sin"] ** 2 + s["tod_cos"] ** 2, 1.0)


def test_anchored_poc_oracle():
    import math

    df = random_candles(400, seed=14)
    df.loc[100:105, "volume"] = 0.0
    blk = ny_session_block(df["date"])
    got = anchored_poc(df, blk, atr(df, period=14))
    step = math.log1p(0.001)
    group = (blk != blk.shift()).cumsum()
    for _, rows in df.groupby(group):  # plain reference; ties go to the latest bin to reach max
        first_open, hist, best_bin, best = rows["open"].iloc[0], {}, None, -1.0
        for r, row in rows.iterrows():
            price = (row["high"] + row["low"] + row["close"]) / 3
            b = math.floor(math.log(price / first_open) / step)
            hist[b] = hist.get(b, 0.0) + row["volume"]
            if hist[b] >= best:
                best_bin, best = b, hist[b]
            want = first_open * math.exp((best_bin + 0.5) * step)
            assert got["session_poc"].iloc[r] == pytest.approx(want, rel=1e-12)


def test_anchored_value_area_matches_a_direct_profile():
    df = random_candles(600, seed=15)
    blk = ny_session_block(df["date"])
    got = anchored_value_area(df, blk, step=3, bins=12, max_window=96)
    group = (blk != blk.shift()).cumsum()
    checked = 0
    for _, rows in df.groupby(group):
        idx = rows.index.to_numpy()
        for k in range(2, len(idx), 3):  # recomputation rows: 3rd, 6th, ... candle of the session
            e = idx[k]
            w = df.loc[idx[max(0, k - 95)] : e]
            lo, hi = w["low"].min(), w["high"].max()
            price = ((w["high"] + w["low"] + w["close"]) / 3).to_numpy()
            b = np.clip(((price - lo) / (hi - lo) * 12).astype(int), 0, 11)
            hist = np.bincount(b, weights=w["volume"], minlength=12)
            order = np.argsort(-hist, kind="stable")
            cum = np.cumsum(hist[order]) - hist[order]
            inside = order[cum < 0.7 * hist.sum()]
            width = (hi - lo) / 12
            assert got["session_vah"].loc[e] == pytest.approx(lo + (inside.max() + 1) * width)
            assert got["session_val"].loc[e] == pytest.approx(lo + inside.min() * width)
            checked += 1
        assert got["session_vah"].loc[idx[:2]].isna().all()  # before the first recomputation
    assert checked > 50
