"""Recorder fleet soak: `perpflow record fleet` over >= 50 symbols against the local exchange.

The local exchange floods `<symbol>@depth` diffs and their aggTrades for `BENCH_FLEET_SYMBOLS`
(default 52) synthetic perpetuals (contract specs cloned from BTCUSDT into the venue's markets
file); the fleet runs `BENCH_FLEET_PROCS` shards (default 2) with a 1 s flush (`BENCH_FLEET_FLUSH`) and 1 s snapshots
for `BENCH_FLEET_SECONDS` (default 1800). One drill: shard 1 is killed with SIGKILL at mid-run.
Reported: each shard's RSS every 30 s (the memory curve: start, each minute, peak `VmHWM`), the
supervisor's RSS, messages/s stored (diff messages + trades, from the store), book lag p50/p99,
and the gap records by reason: goal (issue 19) memory flat and no gaps but the drill's
`recorder down` gaps of shard 1's symbols. Not run by the tests (`make bench` or directly).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_EVERY = 30.0


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's current RSS (or `VmHWM`, its peak) in MB from /proc; nan once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return float("nan")


def _markets(datadir: Path, n: int) -> list[str]:
    """Write `n` perpetuals F00USDT... (BTCUSDT's spec) into the venue's markets file; their ids."""
    from perpflow.venue.markets import load_snapshot
    from perpflow.venue.user_markets import FORMAT, USER_MARKETS

    btc = next(e for e in load_snapshot()["exchangeInfo"]["symbols"] if e["symbol"] == "BTCUSDT")
    ids, entries = [f"F{i:02d}USDT" for i in range(n)], []
    for sym in ids:
        e = copy.deepcopy(btc)
        e.update(symbol=sym, pair=sym, baseAsset=sym[:-4])
        entries.append(e)
    (datadir / USER_MARKETS).write_text(json.dumps({"format": FORMAT, "symbols": entries}))
    return ids


def _fleet_json(status_dir: Path) -> dict:
    try:
        return json.loads((status_dir / "fleet.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"shards": []}


def _soak(cmd: list[str], status_dir: Path, seconds: float, log: Path) -> dict:
    """Run the fleet `seconds`, sampling RSS every 30 s and killing shard 1 at mid-run."""
    curve: dict[str, list[tuple[float, float]]] = {}  # "shard@pid" -> (t, MB)
    peaks: dict[str, float] = {}
    with log.open("w") as fh:
        sup = subprocess.Popen(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
        t0, killed, next_sample = time.monotonic(), None, 0.0
        while (t := time.monotonic() - t0) < seconds:
            shards = _fleet_json(status_dir)["shards"]
            if t >= next_sample:
                curve.setdefault("supervisor", []).append((t, _rss_mb(sup.pid)))
                for s in shards:
                    if s["pid"] and s["alive"]:
                        key = f"{s['shard']}@{s['pid']}"
                        curve.setdefault(key, []).append((t, _rss_mb(s["pid"])))
                        peaks[key] = max(peaks.get(key, 0.0), _rss_mb(s["pid"], "VmHWM"))
                next_sample += SAMPLE_EVERY
            if killed is None and t >= seconds / 2 and shards and shards[0]["alive"]:
                os.kill(shards[0]["pid"], signal.SIGKILL)
                killed = time.time()
                print(
                    f"  drill: shard 1/N (pid {shards[0]['pid']}) killed with SIGKILL at {t:.0f} s"
                )
            time.sleep(1.0)
        sup.send_signal(signal.SIGINT)
        code = sup.wait(timeout=180)
    return {"curve": curve, "peaks": peaks, "killed": killed, "code": code, "t0": t0}


def _print_curve(curve: dict, peaks: dict) -> None:
    for key, pts in curve.items():
        if not pts:
            continue
        minutes = [
            f"{mb:.0f}" for t, mb in pts if round(t) % 60 < SAMPLE_EVERY / 2 or t == pts[0][0]
        ]
        mbs = [mb for _, mb in pts]
        peak = peaks.get(key, max(mbs))
        print(f"  {key:>16}: start {mbs[0]:.0f} MB, per minute {' '.join(minutes)} MB, last {mbs[-1]:.0f}, "
              f"peak {peak:.0f} MB; growth after the first minute "
              f"{(mbs[-1] - mbs[min(2, len(mbs) - 1)]):+.0f} MB")  # fmt: skip


def main(seconds: float | None = None) -> dict:
    import pandas as pd

    from perpflow.data.store import read_events
    from perpflow.venue.depth import DepthFeed, synthetic_stream
    from perpflow.venue.server import VenueServer

    seconds = seconds or float(os.environ.get("BENCH_FLEET_SECONDS", 1800))
    n_sym = int(os.environ.get("BENCH_FLEET_SYMBOLS", 52))
    procs = int(os.environ.get("BENCH_FLEET_PROCS", 2))
    speed = float(os.environ.get("BENCH_FLEET_SPEED", 2.0))  # 10 x speed diffs/s per symbol
    # each flush writes one part per symbol and kind: 52 symbols at 1 s is ~156 files/s
    flush = os.environ.get("BENCH_FLEET_FLUSH", "1")
    with tempfile.TemporaryDirectory() as tmp:
        datadir = Path(tmp) / "venue"  # no candles: only the markets file and the depth feed
        (datadir / "futures").mkdir(parents=True)
        ids = _markets(datadir, n_sym)
        feed = DepthFeed({sym: synthetic_stream(100.0 + i, tick=0.01, seed=i) for i, sym in enumerate(ids)},
                         speed=speed, ledger=0)  # fmt: skip
        store, status_dir = Path(tmp) / "store", Path(tmp) / "fleet"
        with VenueServer(datadir, depth=feed) as venue:
            cmd = [sys.executable, "-m", "perpflow.cli", "record", "fleet", "--procs", str(procs), "--symbols",
                   *(f"{s[:-4]}/USDT:USDT" for s in ids), "--venue-url", venue.url, "--store", str(store),
                   "--status-dir", str(status_dir), "--flush-seconds", flush, "--cadence", "1",
                   "--status-every", "30"]  # fmt: skip
            print(
                f"fleet soak: {n_sym} symbols x {10 * speed:.0f} diffs/s offered, {procs} shards, {seconds:.0f} s"
            )
            run = _soak(cmd, status_dir, seconds, Path(tmp) / "fleet.log")
        if run["code"] != 0:
            raise SystemExit(
                f"fleet exited {run['code']}:\n{(Path(tmp) / 'fleet.log').read_text()[-3000:]}"
            )
        diffs = read_events(store, "book_diffs")[["symbol", "u", "ts_recv"]]
        trades = read_events(store, "trades")[["ts_recv"]]
        book = read_events(store, "book")[["ts_recv", "ts_event"]]
        gaps = read_events(store, "book_gaps") if (store / "book_gaps").exists() else pd.DataFrame()
        final = _fleet_json(status_dir)
    messages = diffs.groupby(["symbol", "u"]).ngroups + len(trades)
    span = (diffs["ts_recv"].max() - diffs["ts_recv"].min()).total_seconds()
    lag = (book["ts_recv"] - book["ts_event"]).dt.total_seconds()
    by_reason = gaps.groupby(["reason", "stream"]).size().to_dict() if len(gaps) else {}
    drill = gaps[gaps["reason"] == "recorder down"] if len(gaps) else gaps
    other = len(gaps) - len(drill)
    print(f"  stored {messages:,} messages ({messages / max(span, 1e-9):,.0f}/s over {span:.0f} s), "
          f"{len(book):,} snapshots; book lag p50 {lag.median():.2f} s, p99 {lag.quantile(0.99):.2f} s")  # fmt: skip
    print(f"  gaps by (reason, stream): {by_reason or 'none'}; "
          f"{drill['symbol'].nunique() if len(drill) else 0} symbols with the drill's 'recorder down' gaps; "
          f"other gaps: {other} ({'OK' if other == 0 else 'NOT ONLY THE DRILL'})")  # fmt: skip
    print(f"  restarts: {final.get('restarts')}; memory (RSS every {SAMPLE_EVERY:.0f} s):")
    _print_curve(run["curve"], run["peaks"])
    return {"messages_per_s": messages / max(span, 1e-9), "gaps": by_reason, "other_gaps": other,
            "curve": run["curve"], "peaks": run["peaks"], "restarts": final.get("restarts")}  # fmt: skip


if __name__ == "__main__":
    main()
