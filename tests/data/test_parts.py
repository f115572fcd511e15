"""`read_conformed`: many part files read in runs of one Arrow schema give exactly the frames that
`pd.read_parquet` + `conform` give file by file (rows, order, dtypes), and a file that does not
conform is still named in the error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.data.errors import SchemaError
from perpflow.data.parts import read_conformed
from perpflow.data.schemas import schema_for
from perpflow.data.store import event_files, write_events

T0 = pd.Timestamp("2026-05-01", tz="UTC")


def _liq(day: int, n: int = 5, symbol: str = "BTCUSDT") -> pd.DataFrame:
    ts = T0 + pd.Timedelta(days=day) + pd.to_timedelta(np.arange(n) * 7, unit="min")
    return pd.DataFrame({"exchange": "binance", "symbol": symbol, "side": ["buy", "sell"] * (n // 2)
                         + ["buy"] * (n % 2), "price": 100.0 + day + np.arange(n), "qty": 0.5,
                         "notional": 50.0 + np.arange(n), "ts_event": ts, "ts_recv": ts})  # fmt: skip


def _file_by_file(files, kind):
    schema = schema_for(kind)
    return pd.concat([schema.conform(pd.read_parquet(f), str(f)) for f in files], ignore_index=True)


def test_runs_of_one_schema_read_as_file_by_file(tmp_path):
    for day in range(6):
        write_events(tmp_path, "liquidations", _liq(day))
    files = event_files(tmp_path, "liquidations")
    # a part an older writer stored with float32 prices: its own run (another Arrow schema),
    # cast to the declared dtype
    odd = _liq(2, 3).assign(price=lambda d: d["price"].astype("float32"))
    odd_path = files[2].with_name("part-odd.parquet")
    odd.to_parquet(odd_path, index=False)
    files = sorted([*files, odd_path])
    got = read_conformed(files, schema_for("liquidations"))
    assert len(got) == 3, "three runs: the float32 part splits the days"
    pd.testing.assert_frame_equal(pd.concat(got, ignore_index=True),
                                  _file_by_file(files, "liquidations"), check_exact=True)  # fmt: skip


def test_book_parts_of_different_depths_read_as_file_by_file(tmp_path):
    paths = []
    for i, depth in enumerate((2, 2, 3)):
        ts = T0 + pd.to_timedelta(np.arange(4) + 10 * i, unit="s")
        rows = {"exchange": "binance", "symbol": "BTCUSDT", "ts_event": ts, "ts_recv": ts,
                "nonce": np.nan}  # fmt: skip
        for lvl in range(depth):
            rows |= {f"bid_px_{lvl}": 99.0 - lvl, f"bid_sz_{lvl}": 1.0,
                     f"ask_px_{lvl}": 101.0 + lvl, f"ask_sz_{lvl}": 2.0}  # fmt: skip
        paths.append(tmp_path / f"part-{i}.parquet")
        pd.DataFrame(rows).to_parquet(paths[-1], index=False)
    got = read_conformed(paths, schema_for("book"))
    assert len(got) == 2
    pd.testing.assert_frame_equal(pd.concat(got, ignore_index=True), _file_by_file(paths, "book"),
                                  check_exact=True)  # fmt: skip


def test_a_part_that_does_not_conform_is_named(tmp_path):
    paths = []
    for day in range(3):
        paths.append(tmp_path / f"part-{day}.parquet")
        frame = _liq(day)
        (frame.drop(columns="notional") if day == 1 else frame).to_parquet(paths[-1], index=False)
    with pytest.raises(SchemaError, match=r"lack column 'notional'") as err:
        read_conformed(paths, schema_for("liquidations"))
    assert str(paths[1]) in str(err.value)


def test_a_vanished_part_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_conformed([tmp_path / "part-gone.parquet"], schema_for("liquidations"))
