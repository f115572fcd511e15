"""Book recorder throughput and memory against a local flood.

The local exchange floods `<symbol>@depth` diffs and the aggTrades behind them for the demo
pairs (synthetic books, replayed N x fast); `perpflow record` runs as its own process with a 1 s
flush interval and 0.1 s snapshots. Reported: diff and trade messages per second the recorder
stored (from its `book_diffs` and `trades` records), whether it kept up (all offered diffs
stored, book lag behind the exchange p99 < 1 s, issue 19), snapshots written, gap records, and the
recorder's RSS every 10 s and its peak (`VmHWM` from /proc, sampled through the exit flush).
Goal (issue 5): >= 20,000 messages/s sustained with a flush interval <= 1 s; memory flat over a
10-minute run (`BENCH_RECORDER_SECONDS=600`; default 60 s). The venue and the recorder share the
machine's cores, so the flood must cost little: each symbol's diffs are made before the run and
replayed (`perpflow.venue.floods.synthetic_cycle`), each message rendered once; the venue's own
CPU is printed beside the recorder's. Making the diffs as they fell due was half the venue's CPU,
which left the recorder 0.7 of the two cores.

`BENCH_RECORDER_LOAD=1` runs a CPU hog (`python -c 'while True: pass'`) beside the recorder for
the whole run, as a trader's bot shares the cores with it (issue 19: the goal must hold there
too); `BENCH_RECORDER_LOAD=both` measures quiet, then loaded. `make bench` prints both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SYMBOLS = {"BTCUSDT": ("BTC/USDT:USDT", 100_000.0, 0.1), "ETHUSDT": ("ETH/USDT:USDT", 3_000.0, 0.01),
           "SOLUSDT": ("SOL/USDT:USDT", 150.0, 0.01)}  # fmt: skip
CYCLE = 20_000  # diffs per symbol made before the flood and replayed (`venue.floods.cycled`)


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Current resident set size (`VmRSS`) or its peak since exec (`VmHWM`) of a process, in MB.
    Not `wait4`'s maxrss: that counts the forking parent's pages the child held before exec,
    i.e. this bench process with its in-memory flood, not the recorder."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _columns(store: Path, kind: str, columns: list[str]):
    """Only `columns` of every part file of `kind` (pyarrow dataset scan)."""
    import pyarrow.dataset as ds

    files = [str(f) for f in sorted((store / kind).rglob("part-*.parquet"))]
    return ds.dataset(files, format="parquet").to_table(columns=columns).to_pandas()


def _end_flood(feed) -> None:
    """Stop the venue's depth schedule (every book's source runs dry), so the venue's loop is
    idle when it is stopped: an endless flood nobody reads would keep it busy past its stop
    timeout on a loaded machine."""
    for book in feed.books.values():
        book.source, book.pending = iter(()), None


def _hog() -> subprocess.Popen:
    """A process spinning one core (the bot beside the recorder)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _record(venue_url: str, store: Path, log: Path, seconds: float, feed) -> dict:
    """Run `perpflow record` against the venue for `seconds`, then SIGTERM (its exit flush is part
    of the run): its RSS every 10 s and peak (MB), the CPU seconds it used until the SIGTERM and
    what the venue's `feed` had sent by then. SystemExit with its log if it failed."""
    cmd = [sys.executable, "-m", "perpflow.cli", "record", "--venue-url", venue_url, "--symbols",
           *(v[0] for v in SYMBOLS.values()), "--store", str(store), "--cadence", "0.1",
           "--flush-seconds", "1", "--status-every", "3600"]  # fmt: skip
    with log.open("w") as fh:  # a file, not a pipe nobody reads while it runs
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
        rss, t0, warm = [], time.monotonic(), None
        cpu0 = time.process_time()  # this process: the venue
        while time.monotonic() - t0 < seconds:  # current RSS every 10 s: growth or a spike?
            time.sleep(min(10.0, max(0.0, seconds - (time.monotonic() - t0))))
            rss.append(_rss_mb(proc.pid))
            # CPU and time 10 s in: start-up (imports, markets, first syncs) left out of the
            # steady-state figure
            warm = warm or (_cpu_s(proc.pid), time.time() * 1000)
        out = {"rss": rss, "peak": _rss_mb(proc.pid, "VmHWM"), "cpu_s": _cpu_s(proc.pid),
               "venue_cpu_s": time.process_time() - cpu0, "sent": feed.sent + feed.trade_id,
               "warm": warm}  # fmt: skip
        os.kill(proc.pid, signal.SIGTERM)
        while proc.poll() is None:  # the flush at exit is part of the run
            try:
                out["peak"] = max(out["peak"], _rss_mb(proc.pid, "VmHWM"))
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.05)
        if proc.wait() != 0:
            raise SystemExit(f"recorder failed:\n{log.read_text()[-3000:]}")
    return out


def main(
    seconds: float | None = None, speed: float = 100.0, load: bool | str | None = None
) -> dict:
    """One run (quiet, or `load`ed with a CPU hog beside it; `load` None: `BENCH_RECORDER_LOAD`,
    where "both" runs quiet then loaded); the figures of the (last) run."""
    load = os.environ.get("BENCH_RECORDER_LOAD", "0") if load is None else load
    if load == "both":
        main(seconds, speed, load=False)
        return main(seconds, speed, load=True)
    load = load in (True, "1", "yes", "true")
    seconds = seconds or float(os.environ.get("BENCH_RECORDER_SECONDS", 60))
    from perpflow.venue.depth import DepthFeed
    from perpflow.venue.floods import synthetic_cycle
    from perpflow.venue.server import VenueServer

    # endless: CYCLE diffs a symbol made now and replayed, so the venue's CPU goes to sending
    feed = DepthFeed({sym: synthetic_cycle(mid, tick=tick, n=CYCLE, seed=i)
                      for i, (sym, (_, mid, tick)) in enumerate(SYMBOLS.items())}, speed=speed, ledger=0)  # fmt: skip
    loads = [os.getloadavg()[0]]
    hog = _hog() if load else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "store"
            with VenueServer(REPO / "user_data/data/demo", depth=feed) as venue:
                run = _record(venue.url, store, Path(tmp) / "recorder.log", seconds, feed)
                _end_flood(feed)
            loads.append(os.getloadavg()[0])
            diffs = _columns(store, "book_diffs", ["symbol", "u", "ts_recv"])  # millions of rows
            book = _columns(store, "book", ["ts_recv", "ts_event"])
            trades = _columns(store, "trades", ["ts_recv"])
            gaps = (
                _columns(store, "book_gaps", ["ts_recv"]) if (store / "book_gaps").exists() else []
            )
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return _report(run, diffs, book, trades, len(gaps), speed, seconds, load, loads)


def _report(run: dict, diffs, book, trades, gaps: int, speed: float, seconds: float, load: bool,
            loads: list[float]) -> dict:  # fmt: skip
    import pandas as pd

    messages = diffs.groupby(["symbol", "u"]).ngroups
    t = pd.to_datetime(diffs["ts_recv"])
    span = (t.max() - t.min()).total_seconds()
    rate, trade_rate = messages / max(span, 1e-9), len(trades) / max(span, 1e-9)
    total, offered = rate + trade_rate, 10 * speed * len(SYMBOLS)
    lag = (book["ts_recv"] - book["ts_event"]).dt.total_seconds()  # venue and recorder: one clock
    p50, p99 = lag.median(), lag.quantile(0.99)
    kept_up = rate >= 0.97 * offered and p99 < 1.0
    ok = total >= 20_000 and kept_up
    per_cpu = (messages + len(trades)) / max(run["cpu_s"], 1e-9)
    warm_cpu, warm_ms = run["warm"]
    after = pd.Timestamp(warm_ms, unit="ms", tz="UTC")
    later = diffs[diffs["ts_recv"] >= after].groupby(["symbol", "u"]).ngroups
    steady = (later + int((trades["ts_recv"] >= after).sum())) / max(run["cpu_s"] - warm_cpu, 1e-9)
    print(f"recorder vs local flood{' + a CPU hog beside it' if load else ', quiet'}: {len(SYMBOLS)} symbols "
          f"x {10 * speed:,.0f} diffs/s offered ({offered:,.0f}/s plus the aggTrades behind them), "
          f"{seconds:.0f} s, flush 1 s; machine load (1 min) {loads[0]:.2f} at start, {loads[1]:.2f} at end:")  # fmt: skip
    print(f"  stored {messages:,} diff messages ({rate:,.0f}/s, {rate / offered:.0%} of offered) and "
          f"{len(trades):,} trades ({trade_rate:,.0f}/s): {total:,.0f} messages/s; book lag behind the "
          f"exchange p50 {p50:.2f} s, p99 {p99:.2f} s; goal >= 20,000 messages/s, all offered stored, "
          f"lag p99 < 1 s: {'OK' if ok else 'BELOW GOAL'}")  # fmt: skip
    print(f"  the venue (same cores) sent {run['sent'] / seconds:,.0f} messages/s using "
          f"{run['venue_cpu_s'] / seconds:.2f} cores; the recorder used {run['cpu_s'] / seconds:.2f} "
          f"cores: {per_cpu:,.0f} messages stored per recorder CPU-second "
          f"({steady:,.0f} after its first 10 s: start-up left out)")  # fmt: skip
    print(
        f"  {len(book):,} snapshots, {gaps} gap records; recorder peak RSS {run['peak']:.0f} MB (VmHWM)"
    )
    print("  recorder RSS every 10 s (MB): " + " ".join(f"{r:.0f}" for r in run["rss"]))
    return {"rate": rate, "trade_rate": trade_rate, "messages_per_s": total, "offered": offered,
            "kept_up": kept_up, "lag_p50_s": p50, "lag_p99_s": p99, "peak_rss_mb": run["peak"],
            "snapshots": len(book), "rss_mb": run["rss"], "load": load, "loadavg": loads,
            "cpu_cores": run["cpu_s"] / seconds, "messages_per_cpu_s": per_cpu,
            "messages_per_cpu_s_warm": steady, "venue_cores": run["venue_cpu_s"] / seconds,
            "venue_sent_per_s": run["sent"] / seconds}  # fmt: skip


if __name__ == "__main__":
    main()
