"""The numba volume histograms equal the NumPy version they replaced, to the last bit, on
ordinary and damaged candles (NaN lows, highs, prices and volumes, flat windows, a top-edge
price, windows reaching before the data and anchored windows shorter than `window`)."""

from __future__ import annotations

import numpy as np
import pytest

from perpflow.features.volume_profile import _histograms
from tests.features.profile_reference import reference_histograms


def _candles(n: int, seed: int, damage: bool):
    rng = np.random.default_rng(seed)
    close = 100 + np.cumsum(rng.normal(0, 0.3, n))
    high = close + rng.gamma(1, 0.2, n)
    low = close - rng.gamma(1, 0.2, n)
    volume = rng.gamma(2, 10, n)
    if damage:
        for arr, share in ((low, 0.0003), (high, 0.0003), (close, 0.003), (volume, 0.01)):
            arr[rng.random(n) < share] = np.nan
        flat = rng.integers(0, n - 50)
        high[flat : flat + 40] = low[flat : flat + 40] = close[flat : flat + 40] = 100.0
        close[rng.integers(0, n, 5)] = np.inf
        volume[rng.integers(0, n, 3)] = np.inf
    price = (high + low + close) / 3.0
    price[::97] = high[::97]  # on the top edge of a window's span now and then
    return price, volume, low, high


def _same(got, want):
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)  # NaN == NaN; otherwise bit for bit


@pytest.mark.parametrize("damage", [False, True])
@pytest.mark.parametrize("window,bins", [(288, 24), (20, 7), (1, 3)])
def test_rolling_windows_equal_the_reference(damage, window, bins):
    price, volume, low, high = _candles(3_000, seed=window, damage=damage)
    ends = np.arange(0, 3_000, 5)  # from row 0: early windows reach before the data
    args = (price, volume, low, high, ends, ends - window + 1, window, bins)
    got, want = _histograms(*args), reference_histograms(*args)
    _same(got, want)
    assert np.isnan(got[1][0]) == (window > 1), "a window reaching before the data has no span"
    assert (got[0].sum(axis=1) > 0).mean() > 0.5, "the comparison covered ordinary windows too"


@pytest.mark.parametrize("damage", [False, True])
def test_anchored_windows_equal_the_reference(damage):
    price, volume, low, high = _candles(4_000, seed=9, damage=damage)
    ends = np.arange(5, 4_000, 6)
    first = (ends // 96) * 96  # sessions of 96 rows: windows from the session's first row
    starts = np.maximum(first, ends - 96 + 1)
    args = (price, volume, low, high, ends, starts, 96, 24)
    _same(_histograms(*args), reference_histograms(*args))


def test_no_windows():
    empty = np.array([], dtype=np.int64)
    price, volume, low, high = _candles(10, seed=1, damage=False)
    hist, lo, hi = _histograms(price, volume, low, high, empty, empty, 5, 4)
    assert hist.shape == (0, 4) and len(lo) == len(hi) == 0
