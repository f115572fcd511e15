"""`DurableWriter` with a disk that fails and recovers (real parquet files, an injected clock):
batches are kept in order until written, retried with doubling back-off, alarmed once per
streak, bounded in memory, and a retry after a partial write stores nothing twice."""

from __future__ import annotations

import errno
import logging
import os

import pandas as pd
import pytest

from perpflow.data.durable import DurableWriter, StoreNotWritable, check_writable
from perpflow.data.store import read_events, write_events


def _rows(n: int, start: str, symbol: str = "BTCUSDT") -> pd.DataFrame:
    """`n` public trades of `symbol` a second apart from `start` (the store's trades schema)."""
    ts = pd.date_range(start, periods=n, freq="1s", tz="UTC")
    return pd.DataFrame({"exchange": "binance", "symbol": symbol, "ts_event": ts, "ts_recv": ts,
                         "id": [f"{start}-{i}" for i in range(n)], "side": "buy",
                         "price": [float(i + 1) for i in range(n)], "amount": 1.0})  # fmt: skip


class Disk:
    """`write_events` that fails with ENOSPC `fail` times; with `partial`, the first failing
    call writes the batch's first symbol before failing (a disk filling up mid-batch)."""

    def __init__(self, fail: int, partial: bool = False):
        self.fail, self.partial, self.calls = fail, partial, 0

    def __call__(self, root, kind, df, **kw):
        self.calls += 1
        if self.fail > 0:
            self.fail -= 1
            if self.partial:
                self.partial = False
                write_events(root, kind, df[df["symbol"] == df["symbol"].iloc[0]], **kw)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write_events(root, kind, df, **kw)


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_batches_wait_for_the_disk_with_doubling_back_off(tmp_path, caplog):
    clock, disk = Clock(), Disk(fail=4)
    w = DurableWriter(
        tmp_path, write=disk, retry_min=0.5, retry_max=2.0, alarm_every=60, clock=clock
    )
    w.add("trades", _rows(3, "2026-01-01"), time_col="ts_recv")
    tries = []
    with caplog.at_level(logging.ERROR):
        for step in range(60):  # 0.1 s steps: a write is tried only once its back-off has passed
            clock.t = step / 10
            calls = disk.calls
            w.write_due()
            if disk.calls > calls:
                tries.append(clock.t)
            if step == 5:
                w.add("trades", _rows(2, "2026-01-02"), time_col="ts_recv")
    assert tries == pytest.approx([0.0, 0.5, 1.5, 3.5, 5.5]), "0.5 s doubling, capped at 2 s"
    assert caplog.text.count("store write failed") == 1, "alarmed once per failing streak"
    assert "No space left on device" in caplog.text and "{'trades': 3}" in caplog.text
    assert not w.pending and w.stored["trades"] == 5 and w.failures == 4
    got = read_events(tmp_path, "trades")
    assert len(got) == 5 and list(got["price"]) == [1, 2, 3, 1, 2], "both batches, in order, once"


def test_a_retry_after_a_partial_write_stores_nothing_twice(tmp_path):
    w = DurableWriter(tmp_path, write=Disk(fail=1, partial=True), retry_min=0.0)
    both = pd.concat([_rows(4, "2026-01-01", "BTCUSDT"), _rows(3, "2026-01-01", "ETHUSDT")])
    w.add("trades", both, time_col="ts_recv")
    assert w.write_due() == 0 and w.pending, "the batch is kept"
    w.write_due()
    got = read_events(tmp_path, "trades")
    assert len(got) == 7 and not got.duplicated().any()


def test_the_messages_behind_the_rows_are_counted_once_written(tmp_path):
    """A diff message is several rows: the writer counts the source messages of what it stored
    (what a fleet's status reports), one per row unless told, and only once written."""
    w = DurableWriter(tmp_path, write=Disk(fail=1), retry_min=0.0)
    w.add("trades", _rows(6, "2026-01-01"), time_col="ts_recv", messages=2)
    w.add("trades", _rows(3, "2026-01-02"), time_col="ts_recv")
    assert w.write_due() == 0 and w.messages["trades"] == 0, "nothing written yet"
    w.write_due()
    assert w.stored["trades"] == 9 and w.messages["trades"] == 2 + 3


def test_memory_is_bounded_and_what_is_given_up_is_counted(tmp_path, caplog):
    w = DurableWriter(tmp_path, write=Disk(fail=10**6), max_pending_rows=10)
    with caplog.at_level(logging.ERROR):
        for day in range(1, 6):
            w.add("book", _rows(4, f"2026-01-0{day}"))
            w.write_due(force=True)
    assert sum(w.waiting().values()) <= 10 and w.unwritten["book"] == 12
    assert "given up" in caplog.text
    assert w.give_up()["book"] == 20 and not w.pending


def test_check_writable_names_the_path(tmp_path):
    assert check_writable(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not list((tmp_path / "a" / "b").iterdir()), "the probe is removed"
    (tmp_path / "f").write_text("")
    with pytest.raises(
        StoreNotWritable, match=f"{tmp_path / 'f'}/s: the event store is not writable"
    ):
        check_writable(tmp_path / "f" / "s")
