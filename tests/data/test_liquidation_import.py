"""`perpflow import liquidations` as a user runs it: coverage per symbol from what was imported,
every row rule named with file and row (or skipped and listed), and corrections that are refused
or replaced with an audit record, never ignored and never stored beside the original."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.config import load_perpflow_config
from perpflow.data.store import read_events
from perpflow.strategy.liquidation_signals import liquidations_on_candles
from tests.conftest import run_cli

HEADER = "timestamp,symbol,side,avg_price,filled_qty,usd_value"
T0 = pd.Timestamp("2025-10-22 09:36", tz="UTC")


def _row(t, symbol="BTCUSDT", side="SELL", price=108_000.0, qty=0.01):
    t = pd.Timestamp(t)
    return [
        t.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        symbol,
        side,
        f"{price}",
        f"{qty}",
        f"{price * qty:.6f}",
    ]


def _rows(n=30, symbols=("BTCUSDT", "ETHUSDT")):
    """`n` liquidations per symbol, one every 10 s from 09:36."""
    return [_row(T0 + pd.Timedelta(seconds=10 * i + k), s, "SELL" if i % 2 else "BUY",
                 108_000.0 + i if s == "BTCUSDT" else 3_900.0 + i, 0.01 + 0.001 * i)
            for i in range(n) for k, s in enumerate(symbols)]  # fmt: skip


def _csv(path, rows):
    path.write_text("\n".join([HEADER, *(",".join(r) for r in rows)]) + "\n")
    return path


def _import(store, *files, flags=()):
    return run_cli(["import", "liquidations", *map(str, files), "--store", str(store), *flags])


def _covered(store, pair, start, periods, timeframe="1m"):
    dates = pd.date_range(start, periods=periods, freq=timeframe.replace("m", "min"), tz="UTC")
    df = pd.DataFrame(
        {"date": dates, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}
    )
    out = liquidations_on_candles(
        df, pair=pair, cfg=load_perpflow_config({}), timeframe=timeframe, root=store
    )
    return out["liq_covered"].to_numpy(dtype=bool)


def test_a_mistyped_future_time_is_refused_naming_file_and_row(tmp_path, capsys):
    rows = [*_rows(), _row("2045-10-22T09:40:00", "ETHUSDT")]  # 2045 for 2025
    f = _csv(tmp_path / "liq.csv", rows)
    with pytest.raises(
        SystemExit, match=r"liq.csv row 62: timestamp 2045-10-22 09:40:00\+00:00 is in the future"
    ):
        _import(tmp_path / "store", f)
    assert not (tmp_path / "store" / "liquidations").exists(), "nothing stored from a refused file"
    assert _import(tmp_path / "store", f, flags=["--skip-bad-rows"]) == 0
    out = capsys.readouterr().out
    assert "liq.csv: 61 rows, 60 liquidations (1 bad row(s) skipped)" in out
    assert "skipped liq.csv row 62: timestamp 2045-10-22 09:40:00+00:00 is in the future" in out
    assert len(read_events(tmp_path / "store", "liquidations")) == 60


def test_coverage_is_per_symbol_from_what_was_imported(tmp_path):
    """One mistyped (past) time marks neither every symbol nor its own symbol as covered for
    the months in between: coverage is per symbol, split where the symbol was quiet."""
    rows = [*_rows(), _row("2025-12-22T09:40:00", "ETHUSDT")]  # December for October
    store = tmp_path / "store"
    assert _import(store, _csv(tmp_path / "liq.csv", rows)) == 0
    november = pd.Timestamp("2025-11-10", tz="UTC")
    for pair in ("ETH/USDT:USDT", "SOL/USDT:USDT", "BTC/USDT:USDT"):
        assert not _covered(store, pair, november, 600, "5m").any(), pair
    btc = _covered(store, "BTC/USDT:USDT", T0, 6)
    assert btc.tolist() == [True] * 4 + [False] * 2, "BTC events run 09:36:00-09:40:50"
    assert not _covered(store, "SOL/USDT:USDT", T0, 6).any(), "no SOL events: not covered"


def test_a_row_without_symbol_is_named_not_silently_dropped(tmp_path, capsys):
    rows = _rows(5, ("BTCUSDT",))
    rows[1][1] = ""
    f = _csv(tmp_path / "liq.csv", rows)
    with pytest.raises(SystemExit, match="liq.csv row 3: symbol is empty"):
        _import(tmp_path / "store", f)
    assert _import(tmp_path / "store", f, flags=["--skip-bad-rows"]) == 0
    out = capsys.readouterr().out
    assert "liq.csv: 5 rows, 4 liquidations (1 bad row(s) skipped)" in out
    assert "skipped liq.csv row 3: symbol is empty" in out
    assert len(read_events(tmp_path / "store", "liquidations")) == 4, (
        "what is printed is what is stored"
    )


def test_corrected_reexport_with_the_same_rows_is_refused_then_replaced_with_an_audit(
    tmp_path, capsys
):
    store = tmp_path / "store"
    rows = _rows(10, ("BTCUSDT",))
    assert _import(store, _csv(tmp_path / "liq.csv", rows)) == 0
    fixed = [list(r) for r in rows]
    fixed[4][3], fixed[4][5] = "108100.0", f"{108_100.0 * float(fixed[4][4]):.6f}"
    f2 = _csv(tmp_path / "liq-fixed.csv", fixed)
    with pytest.raises(SystemExit, match=r"liquidations binance BTCUSDT ts_event=2025-10-22 09:36:40.*price=108004.0.*"
                                         r"price=108100.0.*--replace"):  # fmt: skip
        _import(store, f2)
    before = read_events(store, "liquidations")
    assert len(before) == 10 and 108_100.0 not in before["price"].to_numpy(), (
        "refused: nothing changed"
    )
    assert _import(store, f2, flags=["--replace"]) == 0
    assert "1 replaced" in capsys.readouterr().out
    after = read_events(store, "liquidations")
    assert len(after) == 10, "the event is stored once"
    assert 108_100.0 in after["price"].to_numpy() and 108_004.0 not in after["price"].to_numpy()
    audit = read_events(store, "corrections")
    assert (
        len(audit) == 1
        and "108004.0" in audit["old"].iloc[0]
        and "108100.0" in audit["new"].iloc[0]
    )
    assert audit["source"].iloc[0] == "liq-fixed.csv"


def test_corrected_reexport_with_other_rows_is_never_stored_beside_the_original(tmp_path):
    store = tmp_path / "store"
    rows = _rows(10, ("BTCUSDT",))
    assert _import(store, _csv(tmp_path / "liq.csv", rows)) == 0
    fixed = [list(r) for r in rows] + [_row(T0 + pd.Timedelta(seconds=95), price=108_050.0)]
    fixed[4][0] = (T0 + pd.Timedelta(seconds=41)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )  # its time corrected
    f2 = _csv(tmp_path / "liq-fixed.csv", fixed)
    with pytest.raises(SystemExit, match=r"09:36:40.* is stored but missing from the new data"):
        _import(store, f2)
    assert len(read_events(store, "liquidations")) == 10
    assert _import(store, f2, flags=["--replace"]) == 0
    after = read_events(store, "liquidations")
    assert len(after) == 11, "each event once: the re-export's 11, not 10 + 11"
    assert not after.duplicated(["symbol", "side", "price", "qty"]).any()
    assert (after["ts_event"] == T0 + pd.Timedelta(seconds=41)).sum() == 1
    assert not (after["ts_event"] == T0 + pd.Timedelta(seconds=40)).any()


def test_the_same_export_again_stores_nothing_new(tmp_path, capsys):
    store = tmp_path / "store"
    f = _csv(tmp_path / "liq.csv", _rows(10))
    assert _import(store, f) == 0 and _import(store, f) == 0
    assert "0 new liquidation(s) stored, 20 already stored" in capsys.readouterr().out
    assert len(read_events(store, "liquidations")) == 20


def test_files_of_one_import_are_checked_against_each_other(tmp_path, capsys):
    rows = _rows(10, ("BTCUSDT",))
    other = [list(r) for r in rows]
    other[2][4], other[2][5] = "0.5", f"{float(other[2][3]) * 0.5:.6f}"
    a, b = _csv(tmp_path / "a.csv", rows), _csv(tmp_path / "b.csv", other)
    with pytest.raises(
        SystemExit, match=r"b.csv and earlier files of this import disagree.*a.csv row 4"
    ):
        _import(tmp_path / "store", a, b)
    assert not (tmp_path / "store" / "liquidations").exists()
    overlap = _csv(tmp_path / "c.csv", rows[5:] + [_row(T0 + pd.Timedelta(seconds=200))])
    assert _import(tmp_path / "store", a, overlap) == 0
    assert "5 event(s) appear in several of these files: stored once" in capsys.readouterr().out
    assert len(read_events(tmp_path / "store", "liquidations")) == 11


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", r"empty.csv: empty file"),
        (HEADER + "\n", r"empty.csv: has a header but no data rows"),
        ("a,b\n1,2\n", r"empty.csv: missing column\(s\)"),
        (HEADER + "\n2025-10-22T09:36:00,BTCUSDT,SELL,1,2\n", r"empty.csv row 2: has 5 fields, the header 6"),
        (HEADER + "\n2025-10-22T09:36:00,BTCUSDT,LONG,100,1,100\n", r"row 2: side 'LONG' is not BUY or SELL"),
        (HEADER + "\n2025-10-22T09:36:00,BTCUSDT,SELL,100,1,100000\n", r"row 2: usd_value != avg_price x filled_qty"),
        (HEADER + "\n2025-10-22T09:36:00,BTCUSDT,SELL,abc,1,100\n", r"row 2: avg_price 'abc' is not a number > 0"),
        (HEADER + "\n1999-10-22T09:36:00,BTCUSDT,SELL,100,1,100\n", r"row 2: timestamp 1999-10-22 .* before 2010"),
        (HEADER + "\n2025-10-22T09:36:00,../x,SELL,100,1,100\n", r"row 2: symbol '../x' is not an exchange market id"),
    ],
)  # fmt: skip
def test_bad_files_name_the_file_and_row(tmp_path, text, needle):
    f = tmp_path / "empty.csv"
    f.write_text(text)
    with pytest.raises(SystemExit, match=needle):
        _import(tmp_path / "store", f)


def test_real_export_imports_with_per_symbol_coverage(tmp_path, capsys):
    from tests.conftest import shared_data_dir

    src = next(shared_data_dir("raw/binance_forceorder_liquidations").glob("*.csv"))
    store = tmp_path / "store"
    assert _import(store, src) == 0
    assert "222 rows, 222 liquidations" in capsys.readouterr().out
    ev = read_events(store, "liquidations")
    assert len(ev) == 222 and np.isclose(ev["notional"].sum(), pd.read_csv(src)["usd_value"].sum())
    files = list(
        (store / "liquidation_coverage" / "exchange=binance").glob("symbol=*/stretch-*.parquet")
    )
    assert files and all("symbol=ALL" not in str(f) for f in files), (
        "an export never covers every symbol"
    )
