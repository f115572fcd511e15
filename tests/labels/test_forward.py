"""Forward outcomes on a hand-built frame with known answers, and against a plain loop."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.labels.forward import forward_outcomes, forward_path_bps, horizon_candles

H = {"a": pd.Timedelta(minutes=10), "b": pd.Timedelta(minutes=15)}  # 2 and 3 candles of 5m


def _frame() -> pd.DataFrame:
    close = np.array([100.0, 101.0, 99.0, 102.0, 104.0, 103.0])
    high = close + np.array([0.5, 1.0, 0.5, 2.0, 0.5, 0.5])
    low = close - np.array([0.5, 0.5, 3.0, 0.5, 0.5, 0.5])
    dates = pd.date_range("2025-01-01", periods=6, freq="5min", tz="UTC")
    return pd.DataFrame({"date": dates, "open": close, "high": high, "low": low, "close": close})


def test_horizon_candles_and_too_short():
    assert horizon_candles("5m") == {"15m": 3, "1h": 12, "4h": 48, "1d": 288}
    assert horizon_candles("1h", {"x": pd.Timedelta(hours=4)}) == {"x": 4}
    with pytest.raises(ValueError, match="shorter than one 1h candle"):
        horizon_candles("1h")


def test_known_answers_long_short_fees_and_end():
    df = _frame()
    atr = np.full(6, 2.0)
    out = forward_outcomes(df, atr, rows=np.array([0, 0, 3, 4]), direction=np.array([1, -1, 0, 1]),
                           fee=0.0005, horizons=H)  # fmt: skip
    # row 0, long, 2 candles: close 100 -> 99; highs 102, 99.5; lows 100.5, 96
    assert out["ret_bps_a"].iloc[0] == pytest.approx(-100.0)
    assert out["net_bps_a"].iloc[0] == pytest.approx(-110.0)  # 0.05% on entry and on exit
    assert out["ret_atr_a"].iloc[0] == pytest.approx(-0.5)
    assert out["mfe_atr_a"].iloc[0] == pytest.approx(1.0)  # high 102 - 100
    assert out["mae_atr_a"].iloc[0] == pytest.approx(2.0)  # 100 - low 96
    assert out["cont_a"].iloc[0] == 0.0
    # the same event read as a down move: signs and excursions flip
    assert out["ret_bps_a"].iloc[1] == pytest.approx(100.0)
    assert out["net_bps_a"].iloc[1] == pytest.approx(90.0)
    assert out["mfe_atr_a"].iloc[1] == pytest.approx(2.0)
    assert out["mae_atr_a"].iloc[1] == pytest.approx(1.0)
    assert out["cont_a"].iloc[1] == 1.0
    # row 3, no direction (a long), 2 candles: 102 -> 103
    assert out["ret_bps_a"].iloc[2] == pytest.approx(1e4 / 102)
    # horizons running past the data end are NaN, every outcome
    assert out.iloc[2][[c for c in out if c.endswith("_b")]].isna().all()
    assert out.iloc[3].isna().all()


def test_matches_a_plain_loop_on_random_candles():
    rng = np.random.default_rng(3)
    n = 300
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    high, low = close * (1 + rng.random(n) * 0.01), close * (1 - rng.random(n) * 0.01)
    df = pd.DataFrame({"close": close, "high": high, "low": low})
    atr = pd.Series(rng.random(n) + 0.5)
    rows = rng.choice(n, 50, replace=False)
    d = rng.choice([-1, 0, 1], 50)
    out = forward_outcomes(df, atr, rows=rows, direction=d, fee=0.001, timeframe="5m")
    for i, (t, s) in enumerate(zip(rows, np.where(d < 0, -1, 1), strict=True)):
        for name, k in horizon_candles("5m").items():
            if t + k >= n:
                assert np.isnan(out[f"ret_bps_{name}"].iloc[i])
                continue
            ret = s * (close[t + k] - close[t])
            fav = (
                high[t + 1 : t + k + 1].max() - close[t]
                if s > 0
                else close[t] - low[t + 1 : t + k + 1].min()
            )
            assert out[f"ret_bps_{name}"].iloc[i] == pytest.approx(ret / close[t] * 1e4)
            assert out[f"net_bps_{name}"].iloc[i] == pytest.approx(ret / close[t] * 1e4 - 20)
            assert out[f"mfe_atr_{name}"].iloc[i] == pytest.approx(fav / atr[t])


def test_forward_path():
    close = np.array([100.0, 110.0, 90.0])
    p = forward_path_bps(close, np.array([0, 1]), np.array([0, 1, 2]))
    np.testing.assert_allclose(p[0], [0, 1000, -1000])
    assert p[1, 0] == 0 and np.isnan(p[1, 2])
