"""`perpflow import metrics` as a user runs it: every row rule named with file and row (or skipped
and listed), Binance's late stamps snapped onto the grid, files of one command checked against
each other, stored values replaced only with --replace and an audit record."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli, shared_data_dir

HEADER = "create_time,symbol,sum_open_interest,sum_open_interest_value"
T0 = pd.Timestamp("2025-10-01 00:05")
OI = "BTC_USDT_USDT-5m-open_interest.feather"


def _rows(n=12, start=T0, oi=88_000.0, price=114_000.0):
    return [[f"{start + pd.Timedelta(minutes=5 * i):%Y-%m-%d %H:%M:%S}", "BTCUSDT", f"{oi + i}",
             f"{(oi + i) * price:.4f}"] for i in range(n)]  # fmt: skip


def _csv(path, rows):
    path.write_text("\n".join([HEADER, *(",".join(r) for r in rows)]) + "\n")
    return path


def _import(datadir, *files, flags=()):
    return run_cli(["import", "metrics", *map(str, files), "--datadir", str(datadir), *flags])


def _stored(datadir, name=OI):
    return pd.read_feather(datadir / "futures" / name)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda r: r.__setitem__(0, "2025-10-01 00:37:30"), r"m.csv row 4: create_time 2025-10-01 00:37:30 is 150 s off the 5-minute grid"),
        (lambda r: r.__setitem__(0, "2099-10-01 00:20:00"), r"m.csv row 4: create_time 2099-10-01 00:20:00\+00:00 is in the future"),
        (lambda r: r.__setitem__(2, "0"), r"m.csv row 4: sum_open_interest '0' is not a number > 0"),
        (lambda r: r.__setitem__(3, "-1"), r"m.csv row 4: sum_open_interest_value '-1' is not a number > 0"),
        (lambda r: r.__setitem__(1, ""), r"m.csv row 4: symbol is empty"),
        (lambda r: r.__setitem__(1, "BTC/USDT"), r"m.csv row 4: symbol 'BTC/USDT' is not a Binance USDT-M symbol"),
    ],
)  # fmt: skip
def test_row_rules_name_file_and_row_and_store_nothing(tmp_path, edit, needle):
    rows = _rows()
    edit(rows[2])
    with pytest.raises(SystemExit, match=needle):
        _import(tmp_path, _csv(tmp_path / "m.csv", rows))
    assert not list((tmp_path / "futures").glob("*.feather")), "a refused file stores nothing"


def test_skip_bad_rows_lists_every_skipped_row(tmp_path, capsys):
    rows = _rows()
    rows[2][0] = "2025-10-01 00:17:30"  # off the grid
    rows[5][2] = "0"  # zero OI
    rows[7][1] = ""  # no symbol
    assert _import(tmp_path, _csv(tmp_path / "m.csv", rows), flags=["--skip-bad-rows"]) == 0
    out = capsys.readouterr().out
    assert "m.csv: 12 rows read, 9 imported (3 bad row(s) skipped)" in out
    for line in ("skipped m.csv row 4: create_time 2025-10-01 00:17:30 is 150 s off",
                 "skipped m.csv row 7: sum_open_interest '0' is not a number > 0",
                 "skipped m.csv row 9: symbol is empty"):  # fmt: skip
        assert line in out
    assert len(_stored(tmp_path)) == 9


def test_stamps_within_ten_seconds_snap_to_the_grid_and_are_reported(tmp_path, capsys):
    rows = _rows()
    rows[3][0] = "2025-10-01 00:20:10"  # 10 s late: snapped to 00:20
    assert _import(tmp_path, _csv(tmp_path / "m.csv", rows)) == 0
    assert "m.csv row 5: 2025-10-01 00:20:10 snapped to 00:20:00" in capsys.readouterr().out
    got = _stored(tmp_path)
    assert (got["date"].dt.second == 0).all() and len(got) == 12
    rows[3][0] = "2025-10-01 00:20:11"  # 11 s: refused
    with pytest.raises(SystemExit, match=r"row 5: create_time 2025-10-01 00:20:11 is 11 s off"):
        _import(tmp_path / "b", _csv(tmp_path / "m.csv", rows))
    rows[3][0] = "2025-10-01 00:24:58"  # snaps onto 00:25, which row 6 holds with other values
    with pytest.raises(
        SystemExit,
        match=r"row 5: duplicate time with other values \(2025-10-01 00:25 also at row 6\)",
    ):
        _import(tmp_path / "c", _csv(tmp_path / "m.csv", rows))


def test_two_conflicting_files_in_one_command_are_refused_naming_both(tmp_path):
    a = _csv(tmp_path / "a.csv", _rows())
    other = _rows()
    other[6][2], other[6][3] = "90000.0", f"{90_000 * 114_000.0:.4f}"
    b = _csv(tmp_path / "b.csv", other)
    with pytest.raises(SystemExit, match=r"BTCUSDT 2025-10-01 00:35: a.csv row 8 says open interest 88006 / .*, "
                                         r"b.csv row 8 says 90000 / .*must agree"):  # fmt: skip
        _import(tmp_path, a, b)
    assert not list((tmp_path / "futures").glob("*.feather"))


def test_overlapping_files_with_the_same_values_store_each_time_once(tmp_path, capsys):
    rows = _rows(24)
    assert (
        _import(tmp_path, _csv(tmp_path / "a.csv", rows[:15]), _csv(tmp_path / "b.csv", rows[10:]))
        == 0
    )
    assert (
        "5 row(s) appear in several of these files with the same values: stored once"
        in capsys.readouterr().out
    )
    assert len(_stored(tmp_path)) == 24 and _stored(tmp_path)["date"].is_unique


def test_a_stored_value_is_replaced_only_with_replace_and_an_audit(tmp_path, capsys):
    from perpflow.data.store import read_events

    assert _import(tmp_path, _csv(tmp_path / "m.csv", _rows())) == 0
    fixed = _rows()
    fixed[4][2], fixed[4][3] = "88100.0", f"{88_100 * 114_000.0:.4f}"
    f = _csv(tmp_path / "m2.csv", fixed)
    with pytest.raises(SystemExit, match=r"stored open interest at 2025-10-01 00:25:00\+00:00 is 88004 .* new data says "
                                         r"88100.*refusing to rewrite stored data: pass --replace"):  # fmt: skip
        _import(tmp_path, f)
    assert _stored(tmp_path)["open_interest_amount"].iloc[4] == 88_004.0
    assert _import(tmp_path, f, flags=["--replace"]) == 0
    assert f"{OI}: 12 rows (0 new, 1 replaced" in capsys.readouterr().out
    assert _stored(tmp_path)["open_interest_amount"].iloc[4] == 88_100.0
    audit = read_events(tmp_path / "store", "corrections")
    assert len(audit) == 1 and "88004" in audit["old"].iloc[0] and "88100" in audit["new"].iloc[0]


@pytest.mark.parametrize(("text", "needle"), [("", "e.csv: empty file"),
                                               (HEADER + "\n", "e.csv: has a header but no data rows"),
                                               ("\x00\x01binary", "e.csv")])  # fmt: skip
def test_empty_header_only_and_binary_files_name_the_file(tmp_path, text, needle):
    f = tmp_path / "e.csv"
    f.write_text(text)
    with pytest.raises(SystemExit, match=needle):
        _import(tmp_path, f)


def test_real_binance_files_with_late_stamps_land_on_the_grid(tmp_path, capsys):
    """Binance's October 2025 BTC metrics carry two rows stamped :02 (2025-10-02 05:45:02,
    2025-10-18 04:15:02): both are snapped to the grid and reported, and no gap appears."""
    d = shared_data_dir("raw/binance_vision_metrics/2025-10")
    files = [d / "BTCUSDT-metrics-2025-10-02.csv", d / "BTCUSDT-metrics-2025-10-18.csv"]
    raw = pd.read_csv(files[0])
    late = raw[raw["create_time"] == "2025-10-02 05:45:02"].iloc[0]
    assert _import(tmp_path, *files) == 0
    out = capsys.readouterr().out
    assert "BTCUSDT: 1 gap(s) in the 5m series" in out, "only the 16 days between the two files"
    assert "BTCUSDT-metrics-2025-10-02.csv row 70: 2025-10-02 05:45:02 snapped to 05:45:00" in out
    assert "BTCUSDT-metrics-2025-10-18.csv row 52: 2025-10-18 04:15:02 snapped to 04:15:00" in out
    got = _stored(tmp_path)
    assert len(got) == 2 * 288 and (got["date"].dt.second == 0).all()
    at = got[got["date"] == pd.Timestamp("2025-10-02 05:45", tz="UTC")].iloc[0]
    assert np.isclose(at["open_interest_amount"], late["sum_open_interest"])
    steps = got["date"].diff().dropna()
    assert (steps[steps != pd.Timedelta("5min")] > pd.Timedelta("1D")).all(), "no gap inside a day"
