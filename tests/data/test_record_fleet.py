"""The recorder fleet: `record --shard i/n` assignment covers the symbol list once, and the
supervisor (`perpflow record fleet`, a real process tree against the local exchange through
ccxt.pro) restarts a shard killed with SIGKILL, records its outage as a `recorder down` gap that
no stored book falls inside, reports the restart, and stops cleanly on SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from perpflow.data.record_shard import Shard, shard_symbols
from perpflow.data.store import read_events
from perpflow.venue.depth import DepthFeed, synthetic_stream
from perpflow.venue.server import VenueServer
from tests.conftest import REPO
from tests.venue.private_env import write_market

SYMBOLS = [f"S{i:02d}/USDT:USDT" for i in range(53)]


@pytest.mark.parametrize("n", [1, 2, 3, 7, 53])
def test_shards_cover_every_symbol_exactly_once(n):
    given = list(reversed(SYMBOLS)) + SYMBOLS[:5]  # any order, repeats
    shards = [shard_symbols(given, i, n) for i in range(1, n + 1)]
    flat = [s for sh in shards for s in sh]
    assert sorted(flat) == sorted(set(SYMBOLS)) and len(flat) == len(set(flat))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1, "balanced"
    assert shards == [shard_symbols(sorted(set(given)), i, n) for i in range(1, n + 1)], "stable"


def test_shard_text_is_checked():
    assert Shard.parse("2/4") == Shard(2, 4) and str(Shard(2, 4)) == "2/4"
    assert Shard.parse("1/2").symbols(["B", "A", "C"]) == ["A", "C"]
    for bad in ("0/2", "3/2", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="shard"):
            Shard.parse(bad)


def _wait(what: str, check, timeout: float = 180.0):
    """Poll `check()` until it returns something truthy (under load a shard takes seconds to
    start); fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _fleet_json(status_dir: Path) -> dict | None:
    try:
        return json.loads((status_dir / "fleet.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _all_recording(status_dir: Path, restarts: int = 0):
    r = _fleet_json(status_dir)
    ok = r and all(s["alive"] and s["rows"].get("book", 0) > 0 for s in r["shards"])
    return r if ok and r["restarts"] >= restarts else None


@pytest.mark.integration
def test_fleet_restarts_a_killed_shard_records_its_gap_and_stops_cleanly(tmp_path):
    datadir = write_market(tmp_path / "venue")
    feed = DepthFeed({"BTCUSDT": synthetic_stream(100_000.0, tick=0.1, seed=1),
                      "ETHUSDT": synthetic_stream(3_000.0, tick=0.01, seed=2)}, speed=5.0, ledger=0)  # fmt: skip
    store, status_dir = tmp_path / "store", tmp_path / "fleet"
    with VenueServer(datadir, depth=feed) as venue:
        cmd = [sys.executable, "-m", "perpflow.cli", "record", "fleet", "--procs", "2", "--symbols",
               "ETH/USDT:USDT", "BTC/USDT:USDT", "--venue-url", venue.url, "--store", str(store),
               "--status-dir", str(status_dir), "--flush-seconds", "0.3", "--cadence", "0.2",
               "--status-every", "0.5", "--backoff-min", "0.2", "--stop-timeout", "60"]  # fmt: skip
        log = (tmp_path / "fleet.log").open("w")
        sup = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            before = _wait("both shards recording", lambda: _all_recording(status_dir))
            victim = before["shards"][0]
            assert victim["symbols"] == ["BTC/USDT:USDT"], "shard 1/2 of the sorted list"
            killed_ms = time.time() * 1000
            os.kill(victim["pid"], signal.SIGKILL)
            after = _wait("the killed shard restarted and recording",
                          lambda: _all_recording(status_dir, restarts=1))  # fmt: skip
            restarted_ms = time.time() * 1000
            _wait("the restarted shard's outage gap closed",  # its book synced again
                  lambda: not json.loads((status_dir / "shard-1.json").read_text())["open_gaps"])  # fmt: skip
            sup.send_signal(signal.SIGINT)
            assert sup.wait(timeout=120) == 0, (tmp_path / "fleet.log").read_text()[-3000:]
        finally:
            if sup.poll() is None:
                sup.kill()
            log.close()
    shards = after["shards"]
    assert (
        shards[0]["restarts"] == 1
        and shards[0]["pid"] != victim["pid"]
        and shards[0]["last_exit"] == -9
    )
    assert shards[1]["restarts"] == 0
    for i in (1, 2):  # both stopped through their own exit path (buffers flushed, gaps closed)
        st = json.loads((status_dir / f"shard-{i}.json").read_text())
        assert st["stopped"] and not st["open_gaps"], st
        # the counters a soak reads instead of the store: every snapshot in the lag histogram,
        # no more snapshots than due, diff messages (fewer than their rows) and trades stored
        assert sum(st["lag_hist"]) == st["snapshots"] > 0
        assert st["snapshots"] <= st["snapshots_due"] + len(st["symbols"])
        assert 0 < st["messages"]["book_diffs"] < st["rows"]["book_diffs"]
        assert st["messages"]["trades"] == st["rows"]["trades"] > 0
    restarted = json.loads((status_dir / "shard-1.json").read_text())["gaps_by"]
    assert {k: n for k, n in restarted.items() if k.startswith("recorder down")} == {
        "recorder down/book": 1,
        "recorder down/diffs": 1,
        "recorder down/trades": 1,
    }
    assert not subprocess.run(["pgrep", "-f", str(status_dir)], capture_output=True).stdout, (
        "no shard left"
    )
    gaps = read_events(store, "book_gaps")
    down = gaps[gaps["reason"] == "recorder down"]
    assert set(down["symbol"]) == {"BTCUSDT"}, gaps
    assert set(down["stream"]) == {"book", "diffs", "trades"}
    ms = pd.Timestamp(0, tz="UTC")
    book = read_events(store, "book")
    btc = book[book["symbol"] == "BTCUSDT"]
    for g in down.itertuples():
        # from no later than the kill until the restarted shard was trustworthy again
        assert (
            (g.ts_event - ms).total_seconds() * 1000
            <= killed_ms
            < (g.ts_recv - ms).total_seconds() * 1000
        )
        assert not btc["ts_recv"].between(g.ts_event, g.ts_recv, inclusive="neither").any(), (
            "no book inside"
        )
    book_gap = down[down["stream"] == "book"].iloc[0]
    assert (btc["ts_recv"] > book_gap.ts_recv).any(), "the restarted shard's books arrive"
    eth = book[book["symbol"] == "ETHUSDT"]
    assert (
        eth["ts_recv"] > pd.Timestamp(restarted_ms, unit="ms", tz="UTC") - pd.Timedelta("1s")
    ).any()
    final = _fleet_json(status_dir)
    assert final["restarts"] == 1 and final["up"] == 0
