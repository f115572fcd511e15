"""Compaction of the event store (`perpflow.data.compact`): every event kept exactly once, one
file per closed day partition, readers never seeing half a compaction (a real subprocess
paused at each protocol step, read there, then SIGKILLed and the compaction rerun), late writes
into a compacted day, and DuckDB reading the compacted store directly."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from perpflow.data import compact as compaction
from perpflow.data import manifests, store
from perpflow.data.demo_books import book_rows
from perpflow.data.store import event_files, read_events, read_new_parts, store_events

BEFORE = "2026-01-07"  # day partitions 2026-01-05 and -06 are closed


def _rows(symbol: str, seed: int) -> pd.DataFrame:
    """SYNTHETIC 25-level books of one symbol, 23:40 on Jan 5 to 00:20 on Jan 6 (two days)."""
    candles = pd.DataFrame({"date": pd.date_range("2026-01-05 23:40", periods=40, freq="min",
                                                  tz="UTC"), "open": 100.0 + seed})  # fmt: skip
    return book_rows(candles, exchange="binance", symbol=symbol, seed=seed)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A store of many small recorder-like parts: 2 symbols x 2 days, 12 rows a part."""
    root = tmp_path_factory.mktemp("template")
    for seed, sym in enumerate(("BTCUSDT", "ETHUSDT")):
        rows = _rows(sym, seed)
        for i in range(0, len(rows), 12):
            store_events(root, "book", rows.iloc[i : i + 12])
    return root


@pytest.fixture
def root(template, tmp_path) -> Path:
    dst = tmp_path / "store"
    shutil.copytree(template, dst)
    return dst


def _folders(root: Path) -> list[Path]:
    return sorted({f.parent for f in (root / "book").glob("*/*/*/part-*.parquet")})


def _file_rows(root: Path) -> int:
    """Rows in the part files perpflow's readers would read now (duplicates counted)."""
    return sum(pq.read_metadata(f).num_rows for f in event_files(root, "book"))


def test_compaction_keeps_every_event_once_in_one_zstd_file_per_partition(root):
    before = read_events(root, "book")
    n_files = len(event_files(root, "book"))
    result = compaction.compact(root, "book", before=BEFORE)
    after = read_events(root, "book")
    pd.testing.assert_frame_equal(after, before)
    files = event_files(root, "book")
    assert len(files) == len(_folders(root)) == 4 < n_files
    assert (result.files_before, result.files_after, result.rows) == (n_files, 4, len(before))
    assert result.bytes_after < result.bytes_before
    for f in files:
        meta = pq.read_metadata(f)
        assert meta.row_group(0).column(0).compression == "ZSTD"
        t = pd.read_parquet(f, columns=["ts_recv"])["ts_recv"]
        assert t.is_monotonic_increasing and f.name.split("-")[-1].startswith("c")
    assert not list(root.rglob(".compact*.json")) and not list(root.rglob("*.tmp"))
    again = compaction.compact(root, "book", before=BEFORE)  # already compact: nothing to do
    assert (again.compacted, again.files_after) == (0, 4)


def test_open_days_are_left_alone(root):
    open_day = sorted(f for f in event_files(root, "book") if "date=2026-01-06" in str(f))
    result = compaction.compact(root, "book", before="2026-01-06")
    assert result.partitions == result.compacted == 2
    assert sorted(f for f in event_files(root, "book") if "date=2026-01-06" in str(f)) == open_day


def test_late_writes_into_a_compacted_day_are_stored_once(root):
    rows = _rows("BTCUSDT", 0)
    read_new_parts(root, "book", exchange="binance", symbol="BTCUSDT", since=None)  # cache
    compaction.compact(root, "book", before=BEFORE)
    late = rows.iloc[:10].copy()  # 10 stored events, 2 new ones a second later
    extra = rows.iloc[:2].assign(ts_recv=lambda d: d["ts_recv"] + pd.Timedelta("1s"))
    res = store_events(root, "book", pd.concat([late, extra], ignore_index=True))
    assert (res.already, res.new) == (10, 2)
    got = read_new_parts(root, "book", exchange="binance", symbol="BTCUSDT", since=None)
    want = read_events(root, "book", symbol="BTCUSDT")
    pd.testing.assert_frame_equal(got, want)
    assert len(want) == len(rows) + 2 and not want.duplicated(["ts_recv"]).any()
    compaction.compact(root, "book", before=BEFORE)
    assert len(event_files(root, "book")) == 4
    pd.testing.assert_frame_equal(read_events(root, "book", symbol="BTCUSDT"), want)


def _compact_paused(root: Path, step: str, flag: Path) -> None:
    os.environ[compaction.PAUSE_ENV] = f"{step}:{flag}"
    compaction.compact(root, "book", before=BEFORE)


def _paused(root: Path, step: str, tmp_path: Path) -> multiprocessing.Process:
    """`compact` in a real child process (forked: no second 10 s pandas import on a busy
    machine), paused at `step` of its first folder (the test hook)."""
    flag = tmp_path / f"at-{step}"
    proc = multiprocessing.get_context("fork").Process(
        target=_compact_paused, args=(root, step, flag)
    )
    proc.start()
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert proc.is_alive(), f"compaction exited ({proc.exitcode}) before {step}"
        assert time.monotonic() < deadline, f"compaction never reached {step}"
        time.sleep(0.02)
    return proc


def _kill_9(proc: multiprocessing.Process) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL


@pytest.mark.parametrize("step", compaction.STEPS)
def test_kill_9_at_each_step_leaves_every_event_once_and_a_rerun_completes(root, tmp_path, step):
    before = read_events(root, "book")
    proc = _paused(root, step, tmp_path)
    try:
        folder = _folders(root)[0]
        if step != "written":
            assert (folder / manifests.MANIFEST).exists()
        # what a reader sees mid-compaction: each event in exactly one live file
        assert _file_rows(root) == len(before)
        pd.testing.assert_frame_equal(read_events(root, "book"), before)
    finally:
        _kill_9(proc)
    assert _file_rows(root) == len(before)  # and after the kill
    pd.testing.assert_frame_equal(read_events(root, "book"), before)
    result = compaction.compact(root, "book", before=BEFORE)
    assert result.recovered == (step != "written")
    assert len(event_files(root, "book")) == len(_folders(root)) == 4
    assert _file_rows(root) == len(before)
    pd.testing.assert_frame_equal(read_events(root, "book"), before)
    assert not list(root.rglob(".compact*.json")) and not list(root.rglob("*.tmp"))
    assert not (folder / manifests.MANIFEST).exists()


def test_writers_overlap_check_skips_replaced_parts(root, tmp_path):
    """A writer mid-compaction (output published, old parts not yet deleted) finds each stored
    event once: re-storing them all is `already`, not a conflict or a duplicate."""
    proc = _paused(root, "published", tmp_path)
    try:
        store._SPANS.clear()
        rows = _rows("BTCUSDT", 0)
        res = store_events(root, "book", rows)
        assert (res.already, res.new) == (len(rows), 0)
    finally:
        _kill_9(proc)


def test_duckdb_reads_the_compacted_store_like_read_events(root):
    import duckdb  # a dev dependency (pyproject), installed in CI by requirements.lock

    compaction.compact(root, "book", before=BEFORE)
    want = read_events(root, "book")
    got = duckdb.sql(
        f"SELECT * FROM read_parquet('{root}/book/**/*.parquet', hive_partitioning=true) "
        "ORDER BY symbol, ts_recv"
    ).df()
    assert got["date"].astype(str).tolist() == got["ts_recv"].dt.strftime("%Y-%m-%d").tolist()
    got = got.drop(columns="date")
    for c in ("ts_event", "ts_recv"):
        got[c] = got[c].dt.tz_convert("UTC")
    want = want.sort_values(["symbol", "ts_recv"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert len(got) == 2 * 120


def test_a_reader_that_listed_before_the_deletes_lists_again(root, monkeypatch):
    """Parts listed, then deleted by a compaction before they are read: `read_events` lists again
    instead of failing or returning a partial frame."""
    before = read_events(root, "book")
    stale = event_files(root, "book")
    compaction.compact(root, "book", before=BEFORE)
    calls = []

    def listing(*args, **kwargs):
        calls.append(1)
        return stale if len(calls) == 1 else event_files(*args, **kwargs)

    monkeypatch.setattr(store, "event_files", listing)
    pd.testing.assert_frame_equal(store.read_events(root, "book"), before)
    assert len(calls) == 2


def test_cli_store_compact_reports_files_and_bytes(root, capsys):
    from perpflow.cli.app import main

    n = len(event_files(root, "book"))
    assert (
        main(["store", "compact", "--root", str(root), "--kind", "book", "--before", BEFORE]) == 0
    )
    out = capsys.readouterr().out
    assert f"files: {n:,} -> 4" in out and "bytes per snapshot:" in out and "(240 snapshots)" in out
    assert main(["store", "compact", "--root", str(root), "--kind", "nope"]) == 2
