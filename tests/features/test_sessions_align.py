"""Sessions (DST aware) and the as-of alignment by knowable time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.features.align import asof_to_candles
from perpflow.features.sessions import (
    SESSION_CODES,
    SESSION_NAMES,
    in_sessions,
    ny_session_block,
    session_name_at,
)


def test_ny_blocks_move_in_utc_across_dst():
    # 13:00 New York is 18:00 UTC in winter (EST) and 17:00 UTC in summer (EDT)
    winter = pd.Series(pd.to_datetime(["2025-01-15 18:00", "2025-01-15 17:00"], utc=True))
    summer = pd.Series(pd.to_datetime(["2025-07-15 17:00", "2025-07-15 16:00"], utc=True))
    assert ny_session_block(winter).tolist() == [SESSION_CODES["ny_open"], 0]
    assert ny_session_block(summer).tolist() == [SESSION_CODES["ny_open"], 0]


@settings(max_examples=50, deadline=None)
@given(
    st.datetimes(
        min_value=pd.Timestamp("2023-01-01").to_pydatetime(),
        max_value=pd.Timestamp("2027-12-31").to_pydatetime(),
    )
)
def test_blocks_follow_new_york_local_hour(ts):
    t = pd.Timestamp(ts, tz="UTC")
    code = ny_session_block(pd.Series([t])).iloc[0]
    hour = t.tz_convert("America/New_York").hour
    expected = 1 if 13 <= hour < 16 else 2 if 16 <= hour < 21 else 3 if hour < 7 else 0
    assert code == expected


def test_dst_switch_days_keep_blocks_in_local_time():
    for day in ("2025-03-09", "2025-11-02", "2026-03-08", "2026-11-01"):
        dates = pd.Series(pd.date_range(f"{day} 00:00", periods=48 * 12, freq="5min", tz="UTC"))
        local_hour = dates.dt.tz_convert("America/New_York").dt.hour
        code = ny_session_block(dates)
        assert ((code == 1) == ((local_hour >= 13) & (local_hour < 16))).all()


def test_the_scalar_block_of_one_time_is_the_columns():
    # every 5 minutes of two years, both DST switches of each included: the entry gate's
    # `session_name_at` names the block `ny_session_block` gives the candle
    dates = pd.Series(pd.date_range("2025-01-01", "2026-12-31 23:55", freq="5min", tz="UTC"))
    names = ny_session_block(dates).map(SESSION_NAMES)
    assert [session_name_at(t) for t in dates.dt.to_pydatetime()] == names.tolist()


def test_in_sessions_rejects_unknown_names():
    import pytest

    with pytest.raises(ValueError, match="unknown session"):
        in_sessions(pd.Series([1]), ["london"])


def test_asof_uses_knowable_time_and_staleness():
    candles = pd.Series(pd.date_range("2025-01-01", periods=24, freq="1h", tz="UTC"))
    series = pd.DataFrame(
        {"date": pd.to_datetime(["2025-01-01 00:00", "2025-01-01 08:00"], utc=True), "v": [1, 2]}
    )
    out = asof_to_candles(
        candles, series, timeframe=pd.Timedelta("1h"), available_after=pd.Timedelta("30min"),
        max_staleness=pd.Timedelta("5h"),
    )  # fmt: skip
    # candle 00:00 closes 01:00; value stamped 00:00 knowable 00:30 -> visible
    assert out["v"].iloc[0] == 1
    # candle 07:00 closes 08:00; value stamped 08:00 is knowable only at 08:30 -> still 1, but stale
    assert np.isnan(out["v"].iloc[7])
    assert out["v"].iloc[8] == 2
    assert out["v"].iloc[4] == 1 and np.isnan(out["v"].iloc[5])


def test_asof_empty_series_gives_nan_columns():
    candles = pd.Series(pd.date_range("2025-01-01", periods=3, freq="1h", tz="UTC"))
    empty = pd.DataFrame({"date": pd.Series(dtype="datetime64[ns, UTC]"), "v": []})
    out = asof_to_candles(
        candles, empty, timeframe=pd.Timedelta("1h"), available_after=pd.Timedelta(0),
        max_staleness=pd.Timedelta("1h"),
    )  # fmt: skip
    assert list(out.columns) == ["v", "available_at"] and out["v"].isna().all()


def _merge_asof_reference(candles, series, timeframe, available_after, max_staleness):
    """The `pd.merge_asof` join `asof_to_candles` replaced, for the parity test below."""
    close = (candles + timeframe).astype("datetime64[ns, UTC]")
    right = series.assign(
        available_at=(series["date"] + available_after).astype("datetime64[ns, UTC]")
    )
    right = right.drop(columns="date").sort_values("available_at", kind="stable")
    merged = pd.merge_asof(pd.DataFrame({"close_time": close.array}), right, left_on="close_time",
                           right_on="available_at", direction="backward")  # fmt: skip
    stale = (merged["close_time"] - merged["available_at"]) > max_staleness
    return merged[["v", "w", "available_at"]].mask(stale, axis=0)


@pytest.mark.parametrize("seed", range(6))
def test_asof_equals_merge_asof_on_random_series(seed):
    rng = np.random.default_rng(seed)
    candles = pd.Series(pd.date_range("2025-01-01", periods=500, freq="5min", tz="UTC"))
    stamps = pd.Timestamp("2024-12-31 20:00", tz="UTC") + pd.to_timedelta(
        np.unique(rng.integers(0, 48 * 3600, 120)), unit="s"
    )
    hole = (stamps > pd.Timestamp("2025-01-01 06:00", tz="UTC")) & (
        stamps < pd.Timestamp("2025-01-01 18:00", tz="UTC")
    )  # candles in the hole see a stale value
    stamps = stamps[~hole]
    series = pd.DataFrame({"date": stamps, "v": rng.normal(size=len(stamps)),
                           "w": np.where(rng.random(len(stamps)) < 0.2, np.nan, 1.0)})  # fmt: skip
    series = series.sample(frac=1.0, random_state=seed)  # any order in, sorted by knowable time
    args = (pd.Timedelta("5min"), pd.Timedelta(minutes=int(rng.integers(0, 90))),
            pd.Timedelta(minutes=int(rng.integers(10, 240))))  # fmt: skip
    out = asof_to_candles(candles, series, timeframe=args[0], available_after=args[1],
                          max_staleness=args[2])  # fmt: skip
    ref = _merge_asof_reference(candles, series, *args)
    pd.testing.assert_frame_equal(out.reset_index(drop=True), ref, check_dtype=False)
    assert out["v"].notna().any() and out["v"].isna().any()  # both cases were exercised


def test_asof_refuses_a_missing_stamp():
    candles = pd.Series(pd.date_range("2025-01-01", periods=3, freq="1h", tz="UTC"))
    series = pd.DataFrame({"date": pd.to_datetime(["2025-01-01", None], utc=True), "v": [1.0, 2.0]})
    with pytest.raises(ValueError, match="missing timestamps"):
        asof_to_candles(candles, series, timeframe=pd.Timedelta("1h"),
                        available_after=pd.Timedelta(0), max_staleness=pd.Timedelta("1h"))  # fmt: skip
