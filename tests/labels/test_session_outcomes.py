"""Known answers for the session outcome labels: end of block, next block, NaN at the edges,
and a plain per-block loop as the oracle for ranges and revisits of the open."""

import numpy as np
import pandas as pd
import pytest

from perpflow.features.sessions import SESSION_CODES, ny_session_block
from perpflow.labels.session_outcomes import session_outcomes
from tests.conftest import random_candles


def _linear(n=48, start="2025-03-03"):
    """Hourly candles whose close is 100 + row (EST: asia_london 05-12 UTC, ny_open 18-21 UTC,
    ny_close 21-02 UTC) and a constant ATR of 2."""
    close = 100.0 + np.arange(n)
    df = pd.DataFrame({"date": pd.date_range(start, periods=n, freq="1h", tz="UTC"),
                       "open": close - 0.5, "high": close + 0.25, "low": close - 0.75,
                       "close": close})  # fmt: skip
    return df, pd.Series(2.0, index=df.index)


def test_end_of_block_and_next_block_from_the_trigger_close():
    df, atr = _linear()
    out = session_outcomes(df, atr, timeframe="1h")
    assert out["block"].iloc[6] == SESSION_CODES["asia_london"]  # 06:00 UTC = 01:00 New York
    # asia_london ends with the 11:00 UTC candle (close 111); the next named block is ny_open,
    # 18:00-20:00 UTC (last close 120)
    assert out["ret_same_atr"].iloc[6] == pytest.approx((111 - 106) / 2)
    assert out["ret_next_atr"].iloc[6] == pytest.approx((120 - 106) / 2)
    assert out["block_pos"].iloc[6] == 1
    # ny_open -> next named is ny_close (21:00-01:00 UTC, last close at row 25)
    assert out["ret_next_atr"].iloc[18] == pytest.approx((125 - 118) / 2)
    # the last candle of a block has nothing after it in the block
    assert np.isnan(out["ret_same_atr"].iloc[11]) and np.isnan(out["revisit_open"].iloc[11])
    # a rising block never trades back to its open
    assert out["revisit_open"].iloc[6] == 0.0


def test_nan_where_the_data_starts_or_ends_inside_a_block():
    df, atr = _linear()
    out = session_outcomes(df, atr, timeframe="1h")
    # rows 0-1 (19:00-20:00 New York) are in a ny_close block whose start the data missed
    assert not out["block_complete"].iloc[:2].any()
    assert out["ret_same_atr"].iloc[:2].isna().all()
    # the data ends at 23:00 UTC on Mar 4, inside the ny_close that started at 21:00 UTC
    last_ny_open = 42  # Mar 4 18:00 UTC
    assert out["ret_same_atr"].iloc[last_ny_open] == pytest.approx((144 - 142) / 2)
    assert np.isnan(out["ret_next_atr"].iloc[last_ny_open])
    assert out["ret_same_atr"].iloc[45:].isna().all()


def test_a_missing_candle_is_a_gap_not_a_shift():
    df, atr = _linear()
    full = session_outcomes(df, atr, timeframe="1h")
    gap = df.drop(index=[8, 11])  # inside asia_london and its last candle
    out = session_outcomes(gap, atr.drop(index=[8, 11]), timeframe="1h")
    assert out["block_pos"].loc[9] == full["block_pos"].loc[9] == 4
    assert out["ret_same_atr"].loc[5:10].isna().all()  # the block's last close is missing
    pd.testing.assert_series_equal(out["ret_same_atr"].loc[18:40], full["ret_same_atr"].loc[18:40])
    off = df.iloc[:3].assign(date=df["date"].iloc[:3] + pd.to_timedelta([0, 0, 30], unit="min"))
    with pytest.raises(ValueError, match="off the 1h grid"):
        session_outcomes(off, atr.iloc[:3], timeframe="1h")


def test_revisit_of_the_block_open_from_either_side():
    df, atr = _linear()
    df.loc[9, "low"] = 104.0  # asia_london opened at 104.5 (row 5): row 9 trades back to it
    out = session_outcomes(df, atr, timeframe="1h")
    assert out["revisit_open"].loc[5:8].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert out["revisit_open"].loc[9:10].tolist() == [0.0, 0.0]


def _oracle(df: pd.DataFrame, lookback: int) -> pd.DataFrame:
    """Plain loop over blocks: range over the trailing median and revisit of the open."""
    code = ny_session_block(df["date"]).to_numpy()
    run = np.cumsum(np.r_[True, code[1:] != code[:-1]]) - 1
    rows = []
    for r in np.unique(run):
        b = df[run == r]
        rows.append({"run": r, "code": code[run == r][0], "range": b.high.max() - b.low.min()})
    runs = pd.DataFrame(rows)
    runs.loc[[0, len(runs) - 1], "range"] = np.nan
    ratio = {}
    for r in runs.itertuples():
        prev = runs[(runs.code == r.code) & (runs.run < r.run)].dropna()["range"].tail(lookback)
        ok = len(prev) >= lookback // 2 and not np.isnan(r.range)
        ratio[r.run] = r.range / prev.median() if ok else np.nan
    revisit = np.full(len(df), np.nan)
    for i in range(len(df)):
        later = np.flatnonzero((run == run[i]) & (np.arange(len(df)) > i))
        if run[i] in (0, run[-1]) or not len(later):
            continue
        o = df.open.to_numpy()[run == run[i]][0]
        up = df.close.iloc[i] >= o
        revisit[i] = float(df.low.iloc[later].min() <= o if up else df.high.iloc[later].max() >= o)
    return pd.DataFrame({"range_x_same": [ratio[r] for r in run], "revisit_open": revisit})


def test_ranges_and_revisits_match_a_plain_loop():
    df = random_candles(24 * 12, seed=3, freq="1h")
    atr = pd.Series(1.0, index=df.index)
    out = session_outcomes(df, atr, timeframe="1h", range_lookback=4)
    want = _oracle(df, 4)
    np.testing.assert_allclose(out["range_x_same"], want["range_x_same"], equal_nan=True)
    np.testing.assert_allclose(out["revisit_open"], want["revisit_open"], equal_nan=True)
    assert out["range_x_same"].notna().sum() > 20
