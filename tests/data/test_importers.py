"""Binance metrics and forceOrder importers, and the partitioned event store."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from perpflow.data.binance_metrics import import_metrics
from perpflow.data.liquidations import read_forceorder_csv
from perpflow.data.store import read_events, write_events
from tests.conftest import shared_data_dir


def test_metrics_import_matches_reference_and_never_rewrites(tmp_path):
    src = shared_data_dir("raw/binance_vision_metrics") / "BTCUSDT-metrics-2024-01-01.csv"
    written = import_metrics([src], tmp_path).written
    assert written == {"BTC_USDT_USDT-5m-open_interest.feather": 288,
                       "BTC_USDT_USDT-1h-open_interest.feather": 24}  # fmt: skip
    ref = pd.read_feather(
        shared_data_dir("binance_oi_sample") / "futures" / "BTC_USDT_USDT-5m-open_interest.feather"
    )
    got = pd.read_feather(tmp_path / "futures" / "BTC_USDT_USDT-5m-open_interest.feather")
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True), ref.reset_index(drop=True), check_dtype=False
    )
    assert (
        import_metrics([src], tmp_path).written["BTC_USDT_USDT-5m-open_interest.feather"] == 288
    )  # idempotent
    changed = tmp_path / "changed.csv"
    changed.write_text(src.read_text().replace("74006.266", "74006.999", 1))
    with pytest.raises(ValueError, match="refusing to rewrite stored data"):
        import_metrics([changed], tmp_path)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda t: t.replace("sum_open_interest_value", "oi_value"), "missing column"),
        (lambda t: t.replace("2024-01-01 00:05:00", "2024-01-01T00:05", 1), "row 3: create_time"),
        (lambda t: t.replace("73839.811", "-5", 1), "row 3: sum_open_interest"),
        (lambda t: t.replace("3133154733.161327", "3133.154733161327", 1), "row 3: value / amount"),
    ],
)
def test_metrics_bad_files_name_file_and_row(tmp_path, edit, needle):
    src = shared_data_dir("raw/binance_vision_metrics") / "BTCUSDT-metrics-2024-01-01.csv"
    bad = tmp_path / "bad-metrics.csv"
    bad.write_text(edit(src.read_text()))
    with pytest.raises(ValueError, match=f"bad-metrics.csv.*{needle}"):
        import_metrics([bad], tmp_path / "out")


def test_forceorder_import_store_roundtrip(tmp_path):
    folder = shared_data_dir("raw/binance_forceorder_liquidations")
    src = next(folder.glob("*.csv"))
    ev = read_forceorder_csv(src)
    assert len(ev) == 222 and set(ev["side"]) == {"buy", "sell"}
    assert ev["ts_event"].is_monotonic_increasing
    files = write_events(tmp_path, "liquidations", ev)
    assert files and write_events(tmp_path, "liquidations", ev) == []  # same batch: not rewritten
    back = read_events(tmp_path, "liquidations")
    assert len(back) == 222
    btc = read_events(tmp_path, "liquidations", exchange="binance", symbol="BTCUSDT")
    assert set(btc["symbol"]) == {"BTCUSDT"} and len(btc) == (ev["symbol"] == "BTCUSDT").sum()


def test_forceorder_bad_rows(tmp_path):
    src = next(shared_data_dir("raw/binance_forceorder_liquidations").glob("*.csv"))
    text = src.read_text().splitlines()
    bad = tmp_path / "liq.csv"
    row = text[1].split(",")
    row[2] = "LONG"
    bad.write_text("\n".join([text[0], ",".join(row)]) + "\n")
    with pytest.raises(ValueError, match="liq.csv row 2: side"):
        read_forceorder_csv(bad)
    shutil.copy(src, bad)
    row = text[1].split(",")
    row[5] = str(float(row[5]) * 1000)
    bad.write_text("\n".join([text[0], ",".join(row)]) + "\n")
    with pytest.raises(ValueError, match="units"):
        read_forceorder_csv(bad)


def test_import_commands_as_a_user_runs_them(tmp_path, capsys):
    from perpflow.cli import main

    metrics = shared_data_dir("raw/binance_vision_metrics") / "BTCUSDT-metrics-2024-01-01.csv"
    assert main(["import", "metrics", str(metrics), "--datadir", str(tmp_path / "data")]) == 0
    assert "BTC_USDT_USDT-5m-open_interest.feather: 288 rows" in capsys.readouterr().out
    liq = next(shared_data_dir("raw/binance_forceorder_liquidations").glob("*.csv"))
    assert main(["import", "liquidations", str(liq), "--store", str(tmp_path / "store")]) == 0
    assert "222 liquidations" in capsys.readouterr().out


def test_metrics_conflicting_duplicate_names_file_and_row(tmp_path):
    src = shared_data_dir("raw/binance_vision_metrics") / "BTCUSDT-metrics-2024-01-01.csv"
    lines = src.read_text().splitlines()
    cells = lines[2].split(",")
    cells[2] = str(float(cells[2]) * 1.01)  # same time, 1% more OI
    cells[3] = str(float(cells[3]) * 1.01)
    changed = ",".join(cells)
    bad = tmp_path / "dup-metrics.csv"
    bad.write_text("\n".join([*lines[:3], changed, *lines[3:]]) + "\n")
    with pytest.raises(ValueError, match="dup-metrics.csv row [34]: duplicate time with other"):
        import_metrics([bad], tmp_path / "out")


def test_metrics_gap_is_kept_and_reported_with_file_and_row(tmp_path, caplog):
    import logging

    src = shared_data_dir("raw/binance_vision_metrics") / "BTCUSDT-metrics-2024-01-01.csv"
    lines = src.read_text().splitlines()
    gappy = tmp_path / "gap-metrics.csv"
    gappy.write_text("\n".join([*lines[:10], *lines[13:]]) + "\n")  # drop rows 11-13
    with caplog.at_level(logging.WARNING):
        written = import_metrics([gappy], tmp_path / "out").written
    assert written["BTC_USDT_USDT-5m-open_interest.feather"] == 288 - 3
    assert any("gap-metrics.csv row 11" in r.message and "never filled" in r.message
               for r in caplog.records)  # fmt: skip
