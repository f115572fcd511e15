"""The event store against its declared schemas: writes validated (the error names kind, column and
rule), reads return the schema, an event is never stored twice, a different version is refused or
replaced with an audit record (and live readers see the replacement), coverage per symbol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.data.schemas import ALL_SYMBOLS
from perpflow.data.store import read_events, write_events

T0 = pd.Timestamp("2025-10-22 09:36", tz="UTC")


def _liq(n=6, t0=T0, symbol="BTCUSDT", price=100.0):
    ts = t0 + pd.to_timedelta(np.arange(n) * 10, unit="s")
    return pd.DataFrame({"exchange": "binance", "symbol": symbol, "side": ["buy", "sell"] * (n // 2),
                         "price": price + np.arange(n), "qty": 1.0, "notional": price + np.arange(n),
                         "ts_event": ts, "ts_recv": ts})  # fmt: skip


def _book(n=4, t0=T0, size=1.0):
    ts = t0 + pd.to_timedelta(np.arange(n), unit="s")
    rows = {"exchange": "binance", "symbol": "BTCUSDT", "ts_event": ts, "ts_recv": ts, "nonce": 7.0}
    for i in range(3):
        rows |= {
            f"bid_px_{i}": 99.0 - i,
            f"bid_sz_{i}": size,
            f"ask_px_{i}": 101.0 + i,
            f"ask_sz_{i}": 1.0,
        }
    return pd.DataFrame(rows)


def _rows_on_disk(root, kind):
    return sum(len(pd.read_parquet(f)) for f in (root / kind).rglob("part-*.parquet"))


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.rename(columns={"qty": "amount"}), r"column\(s\) \['amount'\] are not liquidations columns"),
        (lambda d: d.drop(columns="notional"), r"column 'notional' \(quote units \(USDT\)\) is missing"),
        (lambda d: d.assign(ts_event=d["ts_event"].dt.tz_localize(None)), r"'ts_event' .* must hold UTC datetimes"),
        (lambda d: d.assign(price=d["price"].astype(str)), r"'price' .* must be numeric"),
        (lambda d: d.assign(price=-d["price"]), r"'price' .* must be a finite number > 0: 6 record\(s\), first at position 0"),
        (lambda d: d.assign(side="long"), r"'side' .* must be one of \['buy', 'sell'\]"),
        (lambda d: d.assign(symbol="../../etc"), r"'symbol' .* must match"),
        (lambda d: d.assign(exchange=None), r"'exchange' .* is missing"),
    ],
)  # fmt: skip
def test_every_write_is_validated_naming_kind_column_and_rule(tmp_path, edit, needle):
    with pytest.raises(ValueError, match=f"liquidations records: .*{needle}"):
        write_events(tmp_path, "liquidations", edit(_liq()))
    assert not (tmp_path / "liquidations").exists()


def test_book_levels_and_partition_column_are_checked(tmp_path):
    with pytest.raises(ValueError, match="book records need book levels"):
        write_events(tmp_path, "book", _book().drop(columns="ask_sz_1"), time_col="ts_recv")
    with pytest.raises(ValueError, match="bid levels at position 0, level 2"):
        write_events(tmp_path, "book", _book().assign(bid_sz_2=np.nan), time_col="ts_recv")
    with pytest.raises(ValueError, match="book records are partitioned by ts_recv, not ts_event"):
        write_events(tmp_path, "book", _book(), time_col="ts_event")
    with pytest.raises(ValueError, match="unknown record kind 'books'"):
        write_events(tmp_path, "books", _book())


def test_reads_return_the_declared_schema(tmp_path):
    from perpflow.data.schemas import schema_for

    empty = read_events(tmp_path, "liquidations")
    assert list(empty.columns) == list(schema_for("liquidations").names)
    write_events(
        tmp_path,
        "liquidations",
        _liq().assign(ts_event=lambda d: d["ts_event"].dt.tz_convert("Asia/Tokyo")),
    )
    got = read_events(tmp_path, "liquidations")
    assert list(got.columns) == list(schema_for("liquidations").names)
    assert str(got["ts_event"].dtype) == "datetime64[us, UTC]" and got["ts_event"].iloc[0] == T0


def test_an_event_is_never_stored_twice(tmp_path):
    write_events(tmp_path / "a", "liquidations", _liq(6))
    write_events(tmp_path / "a", "liquidations", _liq(10))  # the 6 stored ones and 4 more
    assert _rows_on_disk(tmp_path / "a", "liquidations") == 10

    from perpflow.data.store import store_events

    first = store_events(tmp_path, "liquidations", _liq(6))
    again = store_events(tmp_path, "liquidations", _liq(6))
    assert (first.new, again.new, again.already, again.written) == (6, 0, 6, [])
    overlap = store_events(tmp_path, "liquidations", _liq(10))  # the 6 stored ones and 4 more
    assert (overlap.new, overlap.already) == (4, 6)
    assert (
        _rows_on_disk(tmp_path, "liquidations") == 10 == len(read_events(tmp_path, "liquidations"))
    )
    repeated = store_events(tmp_path / "b", "liquidations", pd.concat([_liq(4), _liq(4)]))
    assert (repeated.new, repeated.repeated) == (4, 4)


def test_older_parts_count_when_checking_what_is_stored(tmp_path):
    """Parts written before part names carried their time bounds are read for theirs."""
    from perpflow.data.schemas import schema_for
    from perpflow.data.store import store_events

    folder = tmp_path / "liquidations" / "exchange=binance" / "symbol=BTCUSDT" / "date=2025-10-22"
    folder.mkdir(parents=True)
    schema_for("liquidations").validate(_liq(6)).to_parquet(
        folder / f"part-{T0.value // 10**6}-6.parquet"
    )
    assert store_events(tmp_path, "liquidations", _liq(8)).new == 2


def test_a_book_snapshot_with_other_values_is_refused_then_replaced(tmp_path):
    write_events(tmp_path, "book", _book(), time_col="ts_recv")
    with pytest.raises(ValueError, match=r"book binance BTCUSDT ts_recv=2025-10-22 09:36:00\+00:00: stored .*bid_px_0=99.0, "
                                         r"bid_sz_0=1.0.* new .*bid_sz_0=2.0.*pass --replace"):  # fmt: skip
        write_events(tmp_path, "book", _book(size=2.0), time_col="ts_recv")

    from perpflow.data.readers import load_books
    from perpflow.data.store import store_events

    seen = load_books(tmp_path, "binance", "BTCUSDT", T0)  # a live reader caches what it read
    assert (seen["bid_sz_0"] == 1.0).all()
    res = store_events(tmp_path, "book", _book(size=2.0), replace=True, source="test")
    assert (res.replaced, res.new) == (4, 4)
    now = load_books(tmp_path, "binance", "BTCUSDT", T0)
    assert len(now) == 4 and (now["bid_sz_0"] == 2.0).all(), (
        "the live reader drops the replaced rows"
    )
    audit = read_events(tmp_path, "corrections")
    assert len(audit) == 4 and set(audit["kind"]) == {"book"} and set(audit["source"]) == {"test"}
    with pytest.raises(ValueError, match="2 different records in one batch"):
        write_events(
            tmp_path / "c",
            "book",
            pd.concat([_book(2), _book(2, size=3.0).iloc[:1]]),
            time_col="ts_recv",
        )


def test_liquidations_may_share_a_key_within_one_batch(tmp_path):
    """Two liquidations of one symbol and side in the same millisecond (Bybit sends such) are
    two events; the collector's dedup identity tells them apart, and a repeat apart from them."""
    from perpflow.data.schemas import schema_for

    two = _liq(2).assign(ts_event=T0, ts_recv=T0, side="sell")
    write_events(tmp_path, "liquidations", two)
    assert len(read_events(tmp_path, "liquidations")) == 2
    s = schema_for("liquidations")
    rec = {"exchange": "binance", "symbol": "BTCUSDT", "side": "sell", "price": 100.0, "qty": 1.0}
    ms = int(T0.value // 10**6)
    assert s.identity({**rec, "ts_event": T0}) == s.identity({**rec, "ts_event": ms})
    assert s.identity({**rec, "ts_event": ms}) != s.identity(
        {**rec, "ts_event": ms, "price": 101.0}
    )
    assert s.key == ("exchange", "symbol", "ts_event", "side")


def test_coverage_is_per_symbol_and_older_records_count_for_every_symbol(tmp_path):
    from perpflow.data.coverage import read_coverage, write_coverage

    h = pd.Timedelta("1h")
    write_coverage(tmp_path, "liquidation", "binance", T0, T0 + h, symbol="BTCUSDT")
    assert len(read_coverage(tmp_path, "liquidation", "binance", "BTCUSDT")) == 1
    assert len(read_coverage(tmp_path, "liquidation", "binance", "ETHUSDT")) == 0
    assert len(read_coverage(tmp_path, "liquidation", "binance")) == 0, "no all-market record"
    old = tmp_path / "liquidation_coverage" / "exchange=binance"  # before symbols: all-market
    pd.DataFrame({"exchange": ["binance"], "coverage_start": [T0 + 2 * h], "coverage_end": [T0 + 3 * h]}
                 ).to_parquet(old / f"stretch-{(T0 + 2 * h).value // 10**6}.parquet")  # fmt: skip
    assert len(read_coverage(tmp_path, "liquidation", "binance", "ETHUSDT")) == 1
    write_events(tmp_path, "liquidation_gaps", pd.DataFrame({
        "exchange": ["binance"], "symbol": ["ETHUSDT"], "ts_event": [T0 + 2.5 * h],
        "ts_recv": [T0 + 2.6 * h], "gap_end": [T0 + 2.6 * h]}))  # fmt: skip
    assert len(read_coverage(tmp_path, "liquidation", "binance", "ETHUSDT")) == 2, (
        "its own gap splits it"
    )
    assert len(read_coverage(tmp_path, "liquidation", "binance", "SOLUSDT")) == 1, (
        "not another symbol's"
    )


def test_coverage_is_read_again_only_when_its_files_changed(tmp_path):
    from perpflow.data.coverage import read_coverage, write_coverage

    h = pd.Timedelta("1h")
    write_coverage(tmp_path, "liquidation", "binance", T0, T0 + h, symbol="BTCUSDT")
    first = read_coverage(tmp_path, "liquidation", "binance", "BTCUSDT")
    assert read_coverage(tmp_path, "liquidation", "binance", "BTCUSDT") is first  # unchanged
    with pytest.raises(ValueError):
        first[0, 1] = 0  # shared between calls: read-only
    write_coverage(tmp_path, "liquidation", "binance", T0, T0 + 2 * h, symbol="BTCUSDT")  # extended
    longer = read_coverage(tmp_path, "liquidation", "binance", "BTCUSDT")
    assert longer[0, 1] - first[0, 1] == 3_600_000
    write_events(tmp_path, "liquidation_gaps", pd.DataFrame({
        "exchange": ["binance"], "symbol": [ALL_SYMBOLS], "ts_event": [T0 + 0.5 * h],
        "ts_recv": [T0 + 0.6 * h], "gap_end": [T0 + 0.6 * h]}))  # fmt: skip
    assert len(read_coverage(tmp_path, "liquidation", "binance", "BTCUSDT")) == 2  # a new gap part


def test_float_millisecond_clock_times_are_stored_at_microseconds(tmp_path):
    """The recorder reads its clock as float ms: the digits past the microsecond are noise and
    are dropped, not refused."""
    recv = pd.Series(
        pd.to_datetime(np.array([1.7648e12 + 0.123456789, 1.7648e12 + 5.5]), unit="ms", utc=True)
    )
    book = _book(2, t0=recv.iloc[0].floor("s")).assign(ts_recv=recv.astype("datetime64[ns, UTC]"))
    write_events(tmp_path, "book", book, time_col="ts_recv")
    got = read_events(tmp_path, "book")["ts_recv"]
    assert got.iloc[0] == recv.iloc[0].floor("us") and str(got.dtype) == "datetime64[us, UTC]"


def test_appending_writes_never_list_the_partition_folder(tmp_path, monkeypatch):
    """The recorder appends to a day folder that reaches tens of thousands of parts: a batch
    later than everything stored is checked against the folder's cached span, not a listing."""
    import os

    from perpflow.data import store

    write_events(tmp_path, "book", _book(), time_col="ts_recv")
    listed = []
    real = os.scandir
    monkeypatch.setattr(store.os, "scandir", lambda p: listed.append(p) or real(p))
    for k in range(1, 6):
        write_events(
            tmp_path, "book", _book(t0=T0 + pd.Timedelta(seconds=10 * k)), time_col="ts_recv"
        )
    assert listed == []
    write_events(tmp_path, "book", _book(), time_col="ts_recv")  # overlaps: listed, already stored
    assert len(listed) == 1 and _rows_on_disk(tmp_path, "book") == 24


def test_a_batch_of_many_symbols_and_days_is_written_as_a_part_per_partition(tmp_path):
    """The recorder's flush is one batch over every symbol (and, around midnight, two days): the
    store writes each partition's rows from one Arrow conversion of the batch, and reading back
    gives the batch itself, in the declared dtypes."""
    parts = [_liq(6, t0=t0, symbol=sym, price=p) for sym, p in (("BTCUSDT", 100.0), ("ETHUSDT", 10.0))
             for t0 in (T0, T0.floor("D") + pd.Timedelta(days=1, minutes=1))]  # fmt: skip
    batch = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=3)  # shuffled
    written = write_events(tmp_path, "liquidations", batch)
    assert len(written) == 4 and {p.parent.parent.name for p in written} == {
        "symbol=BTCUSDT",
        "symbol=ETHUSDT",
    }
    got = read_events(tmp_path, "liquidations")
    want = pd.concat(parts, ignore_index=True).sort_values(
        ["ts_event", "symbol"], ignore_index=True
    )
    got = got.sort_values(["ts_event", "symbol"], ignore_index=True)
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)
    assert str(got["ts_event"].dtype) == "datetime64[us, UTC]" and str(got["symbol"].dtype) == "str"
    for part in written:  # each part holds its own symbol and day only, in time order
        rows = pd.read_parquet(part)
        assert rows["symbol"].nunique() == 1 and rows["ts_event"].dt.floor("D").nunique() == 1
        assert rows["ts_event"].is_monotonic_increasing


def test_stored_until_is_where_a_symbols_stored_events_stop(tmp_path):
    """A restarted recorder starts its outage gap there: the end of the last part (ms, rounded
    up) written after a given moment, None when nothing was written after it."""
    from perpflow.data.store import stored_until

    ms = int(T0.value // 1_000_000)
    assert stored_until(tmp_path, "book", "binance", "BTCUSDT", ms) is None
    book = _book(4)
    book["ts_recv"] = book["ts_recv"] + pd.Timedelta(microseconds=1500)  # 09:36:03.0015 the last
    write_events(tmp_path, "book", book, time_col="ts_recv")
    assert stored_until(tmp_path, "book", "binance", "BTCUSDT", ms) == ms + 3002
    assert stored_until(tmp_path, "book", "binance", "BTCUSDT", ms + 3002) is None
    assert stored_until(tmp_path, "book", "binance", "ETHUSDT", ms) is None
    yesterday = ms - 86_400_000  # the partitions from that day on are looked at
    assert stored_until(tmp_path, "book", "binance", "BTCUSDT", yesterday) == ms + 3002


def test_string_key_hashes_are_the_same_whatever_the_string_storage():
    """Parts are named by a hash of their keys and batches are matched with stored rows by it:
    hashing each distinct string once gives the values of hashing every row, for Arrow-backed
    and object columns, with missing values."""
    from perpflow.data import conflicts

    values = ["BTCUSDT", "ETHUSDT", None, "BTCUSDT", "x"]
    per_row = pd.util.hash_array(np.asarray(values, dtype=object), categorize=False)
    for dtype in ("str", object, "string"):
        s = pd.Series(values, dtype=dtype)
        expected = (
            per_row
            if dtype is object
            else pd.util.hash_array(np.asarray(s, dtype=object), categorize=False)
        )
        np.testing.assert_array_equal(conflicts._str_hash(s), expected)
