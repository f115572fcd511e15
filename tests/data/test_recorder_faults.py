"""The recorder under faults, against the local exchange through a real ccxt.pro client: a book
that stops changing is a `stale feed` gap, a full disk loses nothing that can still be written
(batches are kept and retried) and counts what it could not, an unwritable store is refused at
start, and a recorder the exchange cuts for falling behind records the gap."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import subprocess
import sys
import time

import aiohttp
import ccxt.pro
import pandas as pd
import pytest

from perpflow.data.durable import DurableWriter, StoreNotWritable, check_writable
from perpflow.data.record import BookRecorder
from perpflow.data.store import read_events, write_events
from perpflow.strategy.book_signals import load_books
from perpflow.venue.depth import DepthFeed, synthetic_stream, synthetic_updates
from perpflow.venue.fanout import SendLimits
from perpflow.venue.overlay import ccxt_config
from perpflow.venue.server import VenueServer
from tests.conftest import REPO
from tests.venue.private_env import write_market

SYMBOL, MARKET = "BTC/USDT:USDT", "BTCUSDT"
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    return write_market(tmp_path_factory.mktemp("recorder-faults"))  # a small BTCUSDT data dir


class FullDisk:
    """The store's `write_events`, failing with ENOSPC (the disk is full) while `full` is set."""

    def __init__(self, full: bool = True):
        self.full, self.refused = full, 0

    def __call__(self, *args, **kwargs):
        if self.full:
            self.refused += 1
            raise ENOSPC
        return write_events(*args, **kwargs)


def _small_receive_buffer(addr_info):
    """A client socket with a 16 KB receive buffer (aiohttp's `socket_factory`): a stalled
    client's backlog reaches the exchange at once instead of after megabytes of kernel buffer."""
    family, kind, proto, _, _ = addr_info
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    return sock


async def _record(server, store, *, seconds, during=None, small_buffer=False, until=None, **kwargs):
    """Record `seconds` from the venue (with `until(recorder)`: until it is true, at most
    `seconds`); `during(elapsed)` is called every 0.1 s meanwhile."""
    config = ccxt_config(server.url)
    if small_buffer:
        connector = aiohttp.TCPConnector(socket_factory=_small_receive_buffer)
        config["session"] = aiohttp.ClientSession(connector=connector)
    ex = ccxt.pro.binance(config)
    await ex.load_markets()
    rec = BookRecorder(ex, store, [SYMBOL], flush_seconds=0.3, **kwargs)
    stop = asyncio.Event()
    task = asyncio.ensure_future(rec.run(stop))
    t0 = time.monotonic()
    while (elapsed := time.monotonic() - t0) < seconds and not (until is not None and until(rec)):
        if during is not None:
            during(elapsed)
        await asyncio.sleep(0.1)
    stop.set()
    stats = await task
    await ex.close()
    if small_buffer:
        await config["session"].close()
    return rec, stats


def test_a_book_that_stops_changing_is_a_stale_feed_gap(datadir, tmp_path):
    feed = DepthFeed({MARKET: synthetic_updates(100_000.0, tick=0.1, n=15, seed=2)})  # 1.5 s
    with VenueServer(datadir, depth=feed) as server:
        _, stats = asyncio.run(
            _record(server, tmp_path, seconds=5.5, cadence=0.1, stale_seconds=1.2)
        )
    gaps = read_events(tmp_path, "book_gaps")
    stale = gaps[gaps["reason"] == "stale feed"].sort_values("ts_event")
    assert len(stale) == stats.stale >= 1, gaps  # (a loaded machine may pause the feed earlier)
    diffs = read_events(tmp_path, "book_diffs")
    last_change = diffs["ts_recv"].max()
    g = stale.iloc[-1]
    assert last_change < g["ts_event"] <= last_change + pd.Timedelta("5ms"), "from its last change"
    assert g["ts_recv"] - g["ts_event"] > pd.Timedelta("2s"), "until the recording stopped"
    book = read_events(tmp_path, "book")
    inside = book["ts_recv"].between(g["ts_event"], g["ts_recv"])
    # sampled before the feed was known stale (within stale_seconds of the last change) only,
    # and the strategy's reader drops those: the gap marks them untrustworthy
    assert (book.loc[inside, "ts_recv"] <= g["ts_event"] + pd.Timedelta("1.5s")).all()
    clean = load_books(tmp_path, "binance", MARKET, book["ts_recv"].min())
    assert len(clean) > 0 and not clean["ts_recv"].between(g["ts_event"], g["ts_recv"]).any()
    # every stored book carries the exchange time of its last change, never a sampling time
    assert (book["ts_event"] <= diffs["ts_event"].max()).all()


def test_a_full_disk_keeps_the_batches_and_writes_them_when_it_frees(datadir, tmp_path, caplog):
    disk = FullDisk(full=True)
    writer = DurableWriter(tmp_path, write=disk, retry_min=0.2, retry_max=0.4)
    feed = DepthFeed({MARKET: synthetic_updates(100_000.0, tick=0.1, n=40, seed=2)})  # 4 s

    def free_at_3s(elapsed):
        disk.full = elapsed < 3.0

    with caplog.at_level(logging.ERROR), VenueServer(datadir, depth=feed) as server:
        _, stats = asyncio.run(_record(server, tmp_path, seconds=5.5, cadence=0.1, writer=writer,
                                       during=free_at_3s))  # fmt: skip
    assert disk.refused >= 3 and stats.write_failures == disk.refused
    assert "No space left on device" in caplog.text, "the failed write is alarmed"
    book = read_events(tmp_path, "book")
    assert len(book) == stats.snapshots >= 20, "every snapshot taken while the disk was full"
    assert book["ts_recv"].is_unique, "and each once"
    diffs = read_events(tmp_path, "book_diffs")
    assert diffs["u"].nunique() == feed.sent == 40, "every diff, those of the full-disk stretch too"
    assert not any(stats.unwritten.values())


def test_what_could_not_be_written_is_counted_and_reported_at_exit(datadir, tmp_path, caplog):
    writer = DurableWriter(tmp_path, write=FullDisk(full=True), retry_min=0.1, retry_max=0.2)
    feed = DepthFeed({MARKET: synthetic_updates(100_000.0, tick=0.1, n=30, seed=2)})
    with caplog.at_level(logging.ERROR), VenueServer(datadir, depth=feed) as server:
        rec, stats = asyncio.run(_record(server, tmp_path, seconds=2.5, cadence=0.1, writer=writer))
    assert stats.unwritten["book"] == stats.snapshots > 0
    assert stats.unwritten["book_diffs"] > 0 and stats.unwritten["trades"] > 0
    assert not rec.writer.pending and not list(tmp_path.rglob("*.parquet"))
    assert f"{stats.unwritten['book']} book rows" in caplog.text and "lost" in caplog.text


@pytest.fixture
def read_only_store(tmp_path):
    """A store directory no process can write into: immutable (`chattr +i`) when running as
    root, whom permission bits do not stop; else mode 0555."""
    store = tmp_path / "store"
    store.mkdir()
    root = os.geteuid() == 0
    if root:
        made = subprocess.run(["chattr", "+i", str(store)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"running as root and `chattr +i` failed ({made.stderr.strip()}): "
                        "no way to make a read-only directory here")  # fmt: skip
    else:
        store.chmod(0o555)
    yield store
    if root:
        subprocess.run(["chattr", "-i", str(store)], check=True)
    store.chmod(0o755)


def test_an_unwritable_store_is_refused_at_start(read_only_store, tmp_path):
    """`perpflow record` into a read-only store stops at once, naming the store, before it
    connects anywhere (the exchange here is unreachable: a recorder that connected first would
    wait for it for ever)."""
    cmd = [sys.executable, "-m", "perpflow.cli", "record", "--venue-url", "http://127.0.0.1:9",
           "--symbols", SYMBOL, "--store", str(read_only_store)]  # fmt: skip
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=90)
    said = out.stdout + out.stderr
    assert out.returncode != 0 and f"{read_only_store}: the event store is not writable" in said, (
        said
    )
    assert "not reachable" not in said, "refused before connecting"
    # the collector too, and a store that cannot even be created (a file in its way)
    from perpflow.data.collect import run_collector

    with pytest.raises(StoreNotWritable, match=f"{read_only_store}: the event store"):
        asyncio.run(run_collector("binance", read_only_store, venue_url="http://127.0.0.1:9"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreNotWritable, match=f"{tmp_path / 'file'}/store: the event store"):
        check_writable(tmp_path / "file" / "store")


def _both_back_after_stall(stalled: list):
    def done(rec) -> bool:
        return bool(stalled) and rec.stats.reconnects >= 2 and not rec._gap_since

    return done


def test_a_recorder_the_exchange_cuts_for_falling_behind_records_the_gap(datadir, tmp_path):
    """The recorder's loop stalls for 3 s (a long pause, a slow disk) while 1,000 diffs a
    second come in: the exchange cuts it rather than stall its other clients, and the recorder
    records the stretch it missed as gaps of its book and trade streams."""
    b, a, ups = synthetic_stream(100_000.0, tick=0.1, seed=2)
    feed = DepthFeed({MARKET: (b, a, ups)}, speed=100.0, ledger=0)
    limits = SendLimits(max_lag_seconds=1.0, socket_buffer=16_384)
    stalled = []

    def stall_once(elapsed):
        if elapsed > 2.0 and not stalled:
            stalled.append(elapsed)
            time.sleep(3.0)  # the recorder's event loop does nothing meanwhile

    with VenueServer(datadir, depth=feed, ws_limits=limits) as server:
        # until both watchers were back after the stall (a loaded machine takes a while)
        _, stats = asyncio.run(_record(server, tmp_path, seconds=25.0, cadence=0.2, during=stall_once,
                                       small_buffer=True, until=_both_back_after_stall(stalled)))  # fmt: skip
        cut = list(server.hub.cut)
    assert cut and all("too slow" in c for c in cut), cut
    assert stats.reconnects >= 1
    gaps = read_events(tmp_path, "book_gaps")
    assert {"book", "trades"} <= set(gaps.loc[gaps["reason"] == "connection", "stream"]), gaps
    # the diffs sent while the recorder was cut off are missing: each break in the stored chain
    # lies inside a recorded gap (receive times), so nothing was lost unrecorded
    d = read_events(tmp_path, "book_diffs").drop_duplicates("u").sort_values("u")
    cont = d["pu"].to_numpy()[1:] == d["u"].to_numpy()[:-1]
    heard, resumed = d["ts_recv"].iloc[:-1][~cont], d["ts_recv"].iloc[1:][~cont]
    assert len(resumed) >= 1, "diffs were lost while the recorder was cut off"
    for h, r in zip(heard, resumed, strict=True):
        assert ((gaps["ts_event"] <= r) & (gaps["ts_recv"] >= h)).any(), (h, r, gaps)


def test_a_diff_that_changes_no_level_makes_no_rows():
    """An empty diff (or Bybit snapshot) used to crash the flush (`pd.concat` of nothing)."""
    from tests.data.record_reference import diff_rows

    empty = {"e": "depthUpdate", "E": 1, "s": MARKET, "U": 5, "u": 5, "pu": 4, "b": [], "a": []}
    rows = diff_rows([(2.0, empty)])
    assert rows.empty and {"ts_event", "ts_recv", "u", "side", "price", "size"} <= set(rows.columns)


def test_diff_rows_of_many_symbols_keep_each_message_and_level_in_receive_order():
    """One flush batch holds every symbol's diffs: a row per level, each message's bids then its
    asks, in receive order, with that message's symbol, ids and times."""
    from tests.data.record_reference import diff_rows

    def msg(sym, u, bids, asks):
        return {"e": "depthUpdate", "E": 1000 + u, "s": sym, "U": u - 1, "u": u, "pu": u - 2,
                "b": [[str(p), "1.5"] for p in bids], "a": [[str(p), "0"] for p in asks]}  # fmt: skip

    received = [(10.0, msg("BTCUSDT", 5, [100.5, 100.0], [101.0])), (11.0, msg("ETHUSDT", 7, [], [3.5])),
                (12.0, msg("ETHUSDT", 9, [], [])), (13.0, msg("BTCUSDT", 8, [99.5], []))]  # fmt: skip
    rows = diff_rows(received)
    assert list(rows["symbol"]) == ["BTCUSDT"] * 3 + ["ETHUSDT", "BTCUSDT"]
    assert list(rows["side"]) == ["bid", "bid", "ask", "ask", "bid"]
    assert list(rows["price"]) == [100.5, 100.0, 101.0, 3.5, 99.5]
    assert list(rows["size"]) == [1.5, 1.5, 0.0, 0.0, 1.5]
    assert list(rows["u"]) == [5, 5, 5, 7, 8] and list(rows["pu"]) == [3, 3, 3, 5, 6]
    assert list(rows["ts_recv"].astype("int64") // 1000) == [10, 10, 10, 11, 13]  # µs -> ms
    assert list(rows["ts_event"].astype("int64") // 1000) == [1005, 1005, 1005, 1007, 1008]


def test_book_lag_quantiles_over_a_run_come_from_a_histogram_within_one_bin():
    """A fleet's status adds up the shards' lag histograms: their p50/p99 are upper bounds within
    one ~15% bin of the exact percentiles of every sample."""
    import numpy as np

    from perpflow.data.record_stats import LAG_EDGES_MS, RecordStats, hist_quantile

    stats, lags = RecordStats(), np.random.default_rng(4).lognormal(4.0, 1.5, 20_000)
    for x in [0.0, *lags]:
        stats.note_lag(float(x))
    assert sum(stats.lag_hist) == len(lags) + 1 and len(stats.lag_hist) == len(LAG_EDGES_MS)
    for q in (0.5, 0.99):
        exact, got = np.percentile([0.0, *lags], 100 * q), hist_quantile(stats.lag_hist, q)
        assert exact <= got <= exact * 1.16 + 1e-9, (q, exact, got)
    assert hist_quantile([0] * len(LAG_EDGES_MS), 0.5) is None
