"""Macro calendar: shipped file, DST-aware UTC times, blackout windows, coverage, bad files."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.data.macro_calendar import load_calendar
from perpflow.features.macro import blackout, check_coverage, covered_until
from tests.features.parity import assert_truncation_parity


@pytest.fixture(scope="module")
def cal():
    return load_calendar()


def test_shipped_calendar_has_fomc_cpi_nfp_from_2023(cal):
    per_year = cal[cal["event"] == "FOMC"].groupby(cal["time_utc"].dt.year).size()
    assert per_year.loc[2023:2026].tolist() == [8, 8, 8, 8]
    assert {"CPI", "NFP"} <= set(cal["event"])
    assert cal["time_utc"].min().year == 2023


def test_new_york_times_convert_across_dst(cal):
    jan = cal[(cal["event"] == "CPI") & (cal["time_utc"].dt.month == 1)]["time_utc"].iloc[0]
    jul = cal[(cal["event"] == "CPI") & (cal["time_utc"].dt.month == 7)]["time_utc"].iloc[0]
    assert (jan.hour, jan.minute) == (13, 30)  # 08:30 EST
    assert (jul.hour, jul.minute) == (12, 30)  # 08:30 EDT


def test_blackout_window_boundaries():
    cal = pd.DataFrame({"event": ["X"], "importance": ["high"],
                        "time_utc": [pd.Timestamp("2025-03-05 13:30", tz="UTC")]})  # fmt: skip
    d = pd.Series(pd.to_datetime(["2025-03-05 12:59", "2025-03-05 13:00", "2025-03-05 14:29",
                                  "2025-03-05 14:30"], utc=True))  # fmt: skip
    assert blackout(d, cal, before_minutes=30, after_minutes=60).tolist() == [
        False,
        True,
        True,
        False,
    ]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), cut=st.integers(1, 299))
def test_blackout_truncation_parity_and_oracle(seed, cut):
    cal = load_calendar()
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01", tz="UTC").value
    t = np.sort(rng.integers(start, start + 365 * 86_400 * 10**9, 300))
    df = pd.DataFrame({"date": pd.to_datetime(t, utc=True)})
    assert_truncation_parity(lambda d: blackout(d["date"], cal), df, cut)
    got = blackout(df["date"], cal)
    ev = cal.loc[cal["importance"] == "high", "time_utc"].tolist()
    for i in range(0, 300, 37):  # plain-Python reference
        x = df["date"].iloc[i]
        want = any(e - pd.Timedelta("30min") <= x < e + pd.Timedelta("60min") for e in ev)
        assert got.iloc[i] == want


def test_calendar_ending_before_data_is_reported_and_strict_blocks(cal, caplog):
    late = pd.Series(pd.date_range(covered_until(cal) + pd.Timedelta("1D"), periods=3, freq="1h",
                                   tz="UTC"))  # fmt: skip
    with caplog.at_level(logging.WARNING):
        assert check_coverage(late, cal) == covered_until(cal)
    assert "macro calendar ends" in caplog.text
    assert not blackout(late, cal).any()
    assert blackout(late, cal, strict_coverage=True).all()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("event,date,importance\nCPI,2025-01-01,high\n", "missing column"),
        ("event,date,time_ny,importance\nCPI,2025-13-01,08:30,high\n", "row 2: date"),
        ("event,date,time_ny,importance\nCPI,2025-01-01,8h30,high\n", "row 2: time_ny"),
        ("event,date,time_ny,importance\nCPI,2025-01-01,08:30,huge\n", "row 2: importance"),
        ("event,date,time_ny,importance\nCPI,2025-01-01,08:30,high\nCPI,2025-01-01,08:30,high\n",
         "row 3: duplicate"),
    ],
)  # fmt: skip
def test_bad_files_name_file_and_row(tmp_path, text, needle):
    path = tmp_path / "my_calendar.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"my_calendar.csv.*{needle}"):
        load_calendar(path)
