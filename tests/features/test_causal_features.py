"""Truncation parity (Hypothesis) and plain-Python oracles for the first feature set."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.features.funding import funding_settlements, funding_zscore
from perpflow.features.open_interest import oi_change
from perpflow.features.sweeps import sweeps
from perpflow.features.swings import confirmed_swings
from perpflow.features.volatility import atr, realised_vol
from tests.conftest import random_candles
from tests.features.parity import assert_truncation_parity

cuts = st.integers(min_value=1, max_value=399)
seeds = st.integers(min_value=0, max_value=10_000)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, cut=cuts, left=st.integers(1, 8), right=st.integers(1, 8))
def test_swings_truncation_parity(seed, cut, left, right):
    df = random_candles(400, seed=seed)
    assert_truncation_parity(lambda d: confirmed_swings(d, left=left, right=right), df, cut)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, cut=cuts)
def test_sweeps_truncation_parity(seed, cut):
    df = random_candles(400, seed=seed)

    def fn(d):
        return sweeps(d, confirmed_swings(d, left=3, right=2), atr(d, period=14))

    assert_truncation_parity(fn, df, cut)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, cut=cuts)
def test_volatility_truncation_parity(seed, cut):
    df = random_candles(400, seed=seed)
    assert_truncation_parity(lambda d: atr(d, period=14), df, cut)
    assert_truncation_parity(lambda d: realised_vol(d["close"], window=6), df, cut)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, cut=st.integers(1, 199))
def test_funding_and_oi_truncation_parity(seed, cut):
    rng = np.random.default_rng(seed)
    s = pd.DataFrame({"x": rng.normal(0.0001, 0.0002, 200)})
    assert_truncation_parity(lambda d: funding_zscore(d["x"], lookback=30), s, cut)
    oi = pd.DataFrame({"x": rng.uniform(100, 200, 200)})
    assert_truncation_parity(lambda d: oi_change(d["x"], periods=12), oi, cut)


def _oracle_swings(high, low, left, right):
    """Plain-Python reference: loop over confirmation rows; a window with NaN confirms nothing."""
    import math

    def ok(vals):
        return not any(math.isnan(v) for v in vals)

    n = len(high)
    sh, sl = [np.nan] * n, [np.nan] * n
    last_h = last_l = np.nan
    for t in range(n):
        i = t - right
        if i - left >= 0:
            lh = max(high[i - left : i])
            rh = max(high[i + 1 : t + 1])
            if ok(high[i - left : t + 1]) and high[i] > lh and high[i] >= rh:
                last_h = high[i]
            ll = min(low[i - left : i])
            rl = min(low[i + 1 : t + 1])
            if ok(low[i - left : t + 1]) and low[i] < ll and low[i] <= rl:
                last_l = low[i]
        sh[t], sl[t] = last_h, last_l
    return np.array(sh), np.array(sl)


def test_swings_match_plain_python_oracle_with_nan_and_flat_bars():
    df = random_candles(300, seed=3)
    df.loc[50:55, ["high", "low"]] = 100.0  # flat stretch: equal highs are not swings on the left
    df.loc[120, ["high", "low"]] = np.nan  # a NaN candle
    df.loc[200:210, "volume"] = 0.0
    got = confirmed_swings(df, left=4, right=3)
    sh, sl = _oracle_swings(df["high"].tolist(), df["low"].tolist(), 4, 3)
    np.testing.assert_allclose(got["swing_high"], sh, equal_nan=True)
    np.testing.assert_allclose(got["swing_low"], sl, equal_nan=True)


def test_swing_appears_only_after_right_bars_close():
    high = [1, 2, 3, 10, 3, 2, 1, 1, 1]
    df = pd.DataFrame({"high": high, "low": [0.5] * 9})
    out = confirmed_swings(df, left=3, right=3)
    # bar 3 is the swing; it is confirmed at the close of bar 6, not before
    assert out["swing_high"].iloc[:6].isna().all()
    assert out["swing_high"].iloc[6] == 10
    assert out["swing_high_age"].iloc[6] == 3


def test_sweep_of_swing_low_closes_back_inside():
    low = [10, 9, 8, 5, 8, 9, 10, 10, 10, 4.5, 9, 4]
    close = [11, 10, 9, 6, 9, 10, 11, 11, 11, 6.0, 10, 4.2]
    high = [c + 1 for c in close]
    df = pd.DataFrame({"high": high, "low": low, "close": close})
    sw = confirmed_swings(df, left=3, right=3)
    out = sweeps(df, sw, pd.Series(1.0, index=df.index))
    # row 9: wick to 4.5 below the confirmed swing low 5, close 6 back above: a sweep
    assert bool(out["sweep_low"].iloc[9]) and out["sweep_low_level"].iloc[9] == 5
    assert out["sweep_low_depth_atr"].iloc[9] == 0.5
    # row 11 trades below again, but the level was already taken at row 9
    assert not out["sweep_low"].iloc[11]
    assert out["sweep_low"].sum() == 1


def test_funding_settlements_read_legacy_and_new_layouts():
    dates = pd.date_range("2025-01-01", periods=4, freq="8h", tz="UTC")
    legacy = pd.DataFrame({"date": dates, "open": [1e-4, 2e-4, 1e-4, -1e-4], "high": 0.0})
    new = pd.DataFrame({"date": dates, "funding_rate": [1e-4, 2e-4, 1e-4, -1e-4]})
    assert funding_settlements(legacy).equals(funding_settlements(new))
    assert funding_settlements(None).empty


def test_funding_zscore_oracle():
    rng = np.random.default_rng(1)
    x = pd.Series(rng.normal(0, 1, 60))
    z = funding_zscore(x, lookback=10)
    for t in range(9, 60):
        w = x.iloc[t - 9 : t + 1]
        assert abs(z.iloc[t] - (x.iloc[t] - w.mean()) / w.std()) < 1e-9
