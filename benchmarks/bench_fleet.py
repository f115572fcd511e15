"""Recorder fleet soak: `perpflow record fleet` over >= 50 symbols against the local exchange.

The local exchange floods `<symbol>@depth` diffs and their aggTrades for `BENCH_FLEET_SYMBOLS`
(default 52) synthetic perpetuals (contract specs cloned from BTCUSDT into the venue's markets
file) at `10 x BENCH_FLEET_SPEED` diffs/s each (default 20); the fleet runs `BENCH_FLEET_PROCS`
shards (default 2) with a `BENCH_FLEET_FLUSH` s flush (default 5) and 1 s snapshots for
`BENCH_FLEET_SECONDS` (default 1800). One drill: shard 1 is killed with SIGKILL at mid-run.

Everything is read while it runs from /proc (RSS of the supervisor and each shard every 10 s)
and the fleet's status files (`fleet.json`, `shard-<i>.json`: counters each shard rewrites after
every flush, `perpflow.data.record_shard.StatusFile`), never by reading the store back: a status
line every 60 s (elapsed, RSS, messages stored and their rate over the last minute, book lag
p50/p99 over the last minute, snapshots written of due, gaps), and at the end the memory curve
(RSS at 1, 5, 10, ..., 30 min per process and its slope in MB per 10 min over the second half),
gaps against the drill's, lag p50/p99 over the run and snapshots written against due. Goal
(issue 19): memory flat, no gaps but the drill's, >= the offered rate stored, lag p99 < 1 s.
A killed shard's counters are its last status file (what it had on disk); its restart counts
from zero, so per-process figures are summed. `BENCH_FLEET_PLOT=path.png` also draws the memory
curve. Not run by the tests (`make bench` or directly).
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
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RSS_EVERY, STATUS_EVERY = 10.0, 60.0
MARKS_MIN = (1, 5, 10, 15, 20, 25, 30)
WARMUP_S = 120.0  # a process's first minutes (books syncing, caches filling) are not its slope


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


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


class Watch:
    """The soak's view of the fleet: the last status of every shard process (by pid), RSS
    samples per process slot ("supervisor", "1/2", ...) and the totals at each status line."""

    def __init__(self, status_dir: Path, procs: int, sup_pid: int):
        self.dir, self.procs, self.sup_pid = status_dir, procs, sup_pid
        self.last: dict[int, dict] = {}  # shard pid -> its last status
        self.rss: dict[str, list[tuple[float, int, float]]] = {}  # slot -> (t, pid, MB)
        self.peak: dict[int, float] = {}
        self.lines: list[tuple[float, dict]] = []  # (t, totals) at each status line

    def poll(self) -> None:
        for i in range(1, self.procs + 1):
            st = _json(self.dir / f"shard-{i}.json")
            if st and st.get("pid"):
                self.last[st["pid"]] = st

    def pids(self) -> dict[str, int]:
        """slot -> pid of the processes alive now."""
        out = {"supervisor": self.sup_pid}
        for s in (_json(self.dir / "fleet.json") or {}).get("shards", []):
            if s.get("alive") and s.get("pid"):
                out[s["shard"]] = s["pid"]
        return out

    def sample_rss(self, t: float) -> dict[str, float]:
        now = {}
        for slot, pid in self.pids().items():
            mb = _rss_mb(pid)
            if mb == mb:
                self.rss.setdefault(slot, []).append((t, pid, mb))
                self.peak[pid] = max(self.peak.get(pid, 0.0), _rss_mb(pid, "VmHWM"))
                now[slot] = mb
        return now

    def totals(self) -> dict:
        """Counters summed over every shard process seen (a dead one: its last status)."""
        tot = {"diffs": 0, "trades": 0, "snapshots": 0, "due": 0, "write_failures": 0,
               "lag_hist": None, "gaps_by": Counter()}  # fmt: skip
        for st in self.last.values():
            msgs = st.get("messages", {})
            tot["diffs"] += msgs.get("book_diffs", 0)
            tot["trades"] += msgs.get("trades", 0)
            tot["snapshots"] += st.get("snapshots", 0)
            tot["due"] += st.get("snapshots_due", 0)
            tot["write_failures"] += st.get("write_failures", 0)
            tot["gaps_by"].update(st.get("gaps_by", {}))
            h = np.asarray(st.get("lag_hist") or [], dtype="int64")
            if len(h):
                tot["lag_hist"] = h if tot["lag_hist"] is None else tot["lag_hist"] + h
        fleet = _json(self.dir / "fleet.json") or {}
        closed = sum(s.get("gaps_closed", 0) for s in fleet.get("shards", []))
        if closed:
            tot["gaps_by"]["closed by the supervisor (dead shard's open gaps)"] += closed
        tot["restarts"] = fleet.get("restarts", 0)
        return tot


def _q(hist, q: float) -> float | None:
    from perpflow.data.record_stats import hist_quantile

    return None if hist is None else hist_quantile(list(hist), q)


def _s(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f}"


def _status_line(w: Watch, t: float, rss: dict[str, float]) -> None:
    tot = w.totals()
    prev_t, prev = w.lines[-1] if w.lines else (0.0, None)
    msgs = tot["diffs"] + tot["trades"]
    rate = (msgs - (prev["diffs"] + prev["trades"] if prev else 0)) / max(t - prev_t, 1e-9)
    h = tot["lag_hist"]
    if prev is not None and prev["lag_hist"] is not None and h is not None:
        h = h - prev["lag_hist"]
    mem = ", ".join(f"{k} {v:.0f}" for k, v in rss.items())
    gaps = sum(tot["gaps_by"].values())
    print(f"  [{t / 60:5.1f} min] RSS MB: {mem}; stored {msgs:,} messages ({rate:,.0f}/s this minute); "
          f"lag p50 {_s(_q(h, 0.5))} s, p99 {_s(_q(h, 0.99))} s (this minute); snapshots "
          f"{tot['snapshots']:,} of {tot['due']:,} due; gaps {gaps}; restarts {tot['restarts']}", flush=True)  # fmt: skip
    w.lines.append((t, tot))


def _soak(cmd: list[str], status_dir: Path, procs: int, seconds: float, log: Path, feed) -> dict:
    """Run the fleet `seconds`, watching it, and kill shard 1 with SIGKILL at mid-run; what the
    venue's `feed` had sent when the fleet was told to stop."""
    with log.open("w") as fh:
        sup = subprocess.Popen(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
        w = Watch(status_dir, procs, sup.pid)
        t0, drill = time.monotonic(), None
        next_rss, next_line = 0.0, STATUS_EVERY
        while (t := time.monotonic() - t0) < seconds:
            w.poll()
            if t >= next_rss:
                rss = w.sample_rss(t)
                next_rss += RSS_EVERY
            if t >= next_line:
                _status_line(w, t, rss)
                next_line += STATUS_EVERY
            pid = w.pids().get(f"1/{procs}")
            if drill is None and t >= seconds / 2 and pid:
                w.poll()
                os.kill(pid, signal.SIGKILL)
                drill = (t, pid, (_json(status_dir / "shard-1.json") or {}).get("symbols", []))
                time.sleep(0.2)
                w.poll()  # the killed process's last status: what it had on disk
                print(
                    f"  drill: shard 1/{procs} (pid {pid}) killed with SIGKILL at {t:.0f} s",
                    flush=True,
                )
            time.sleep(1.0)
        _status_line(w, time.monotonic() - t0, w.sample_rss(time.monotonic() - t0))
        offered = {"diffs": feed.sent, "trades": feed.trade_id}
        sup.send_signal(signal.SIGINT)
        code = sup.wait(timeout=300)
    w.poll()  # the shards' statuses at their clean exit
    return {"watch": w, "drill": drill, "code": code, "offered": offered, "totals": w.totals()}


def _slope(pts: list[tuple[float, int, float]], half: float) -> tuple[float, int] | None:
    """MB per 10 min (least squares) of the slot's last process over the run's second half,
    leaving out that process's first `WARMUP_S`; with the number of samples."""
    if not pts:
        return None
    pid = pts[-1][1]
    born = min(t for t, p, _ in pts if p == pid)
    xs = [(t, mb) for t, p, mb in pts if p == pid and t >= max(half, born + WARMUP_S)]
    if len(xs) < 3:
        return None
    t, mb = np.array(xs).T
    return float(np.polyfit(t, mb, 1)[0] * 600), len(xs)


def _print_memory(w: Watch, seconds: float) -> None:
    marks = [m for m in MARKS_MIN if m * 60 <= seconds + 1]
    print(f"  memory (RSS MB at {', '.join(f'{m}' for m in marks)} min; * = a restarted process):")
    for slot, pts in w.rss.items():
        first_pid, cells = pts[0][1], []
        for m in marks:
            at = [x for x in pts if x[0] <= m * 60 + RSS_EVERY / 2]
            cells.append(
                "-" if not at else f"{at[-1][2]:.0f}{'*' if at[-1][1] != first_pid else ''}"
            )
        slope = _slope(pts, seconds / 2)
        peak = max(w.peak.get(p, 0.0) for _, p, _ in pts)
        sl = "n/a" if slope is None else f"{slope[0]:+.1f} MB/10 min ({slope[1]} samples)"
        print(f"    {slot:>10}: {' '.join(cells)}; last {pts[-1][2]:.0f}, peak {peak:.0f}; "
              f"slope over the second half {sl}")  # fmt: skip


def _plot_memory(w: Watch, drill, path: Path, n_sym: int) -> None:
    """RSS over time of every process slot (a restarted process dashed) and the drill, as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2))
    for k, (slot, pts) in enumerate(w.rss.items()):
        pids = list(dict.fromkeys(p for _, p, _ in pts))
        for n, pid in enumerate(pids):
            t, mb = np.array([(t, mb) for t, p, mb in pts if p == pid]).T
            label = slot if n == 0 else f"{slot} (restarted)"
            ax.plot(t / 60, mb, color=f"C{k}", ls="-" if n == 0 else "--", lw=1.4, label=label)
    if drill:
        ax.axvline(drill[0] / 60, color="grey", ls=":", lw=1)
        ax.annotate("shard 1 killed (SIGKILL)", (drill[0] / 60, ax.get_ylim()[1]), fontsize=8,
                    ha="left", va="top", xytext=(4, -4), textcoords="offset points")  # fmt: skip
    ax.set(xlabel="minutes", ylabel="RSS (MB)", ylim=(0, None),
           title=f"perpflow record fleet: {n_sym} symbols, {len(w.rss) - 1} shards, memory over the soak")  # fmt: skip
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"  memory curve: {path}")


def main(seconds: float | None = None) -> dict:
    from perpflow.venue.depth import DepthFeed, synthetic_stream
    from perpflow.venue.server import VenueServer

    seconds = seconds or float(os.environ.get("BENCH_FLEET_SECONDS", 1800))
    n_sym = int(os.environ.get("BENCH_FLEET_SYMBOLS", 52))
    procs = int(os.environ.get("BENCH_FLEET_PROCS", 2))
    speed = float(os.environ.get("BENCH_FLEET_SPEED", 2.0))  # 10 x speed diffs/s per symbol
    flush = os.environ.get("BENCH_FLEET_FLUSH", "5")
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
            print(f"fleet soak: {n_sym} symbols x {10 * speed:.0f} diffs/s offered, {procs} shards, flush "
                  f"{flush} s, {seconds:.0f} s; machine load (1/5/15 min) {os.getloadavg()}", flush=True)  # fmt: skip
            run = _soak(cmd, status_dir, procs, seconds, Path(tmp) / "fleet.log", feed)
            for book in feed.books.values():  # the flood ends before the venue stops
                book.source, book.pending = iter(()), None
        if run["code"] != 0:
            raise SystemExit(
                f"fleet exited {run['code']}:\n{(Path(tmp) / 'fleet.log').read_text()[-3000:]}"
            )
    return _report(run, seconds, n_sym)


def _report(run: dict, seconds: float, n_sym: int) -> dict:
    w, drill, offered, tot = run["watch"], run["drill"], run["offered"], run["totals"]
    msgs = tot["diffs"] + tot["trades"]
    p50, p99 = _q(tot["lag_hist"], 0.5), _q(tot["lag_hist"], 0.99)
    drill_syms = len(drill[2]) if drill else 0
    by = dict(tot["gaps_by"])
    down = sum(n for k, n in by.items() if k.startswith("recorder down/"))
    closed = sum(n for k, n in by.items() if k.startswith("closed by"))
    other = sum(by.values()) - down - closed
    print(f"  end (load {os.getloadavg()[0]:.2f}): stored {tot['diffs']:,} diff messages of {offered['diffs']:,} "
          f"offered ({tot['diffs'] / max(offered['diffs'], 1):.1%}) and {tot['trades']:,} trades of "
          f"{offered['trades']:,} ({tot['trades'] / max(offered['trades'], 1):.1%}): {msgs / seconds:,.0f} "
          f"messages/s; failed writes {tot['write_failures']}")  # fmt: skip
    print(f"  book lag over the run p50 {_s(p50)} s, p99 {_s(p99)} s (goal p99 < 1 s: "
          f"{'OK' if p99 is not None and p99 < 1000 else 'NOT MET'}); snapshots {tot['snapshots']:,} of "
          f"{tot['due']:,} due ({tot['snapshots'] / max(tot['due'], 1):.0%})")  # fmt: skip
    print(f"  gaps by reason/stream: {by or 'none'}; drill: {drill_syms} symbols x 3 streams = "
          f"{3 * drill_syms} 'recorder down' expected, {down} recorded; other gaps: {other} "
          f"({'OK' if other == 0 else 'NOT ONLY THE DRILL'}); restarts {tot['restarts']}")  # fmt: skip
    _print_memory(w, seconds)
    if os.environ.get("BENCH_FLEET_PLOT"):
        _plot_memory(w, drill, Path(os.environ["BENCH_FLEET_PLOT"]), n_sym)
    slopes = {k: _slope(v, seconds / 2) for k, v in w.rss.items()}
    return {"messages_per_s": msgs / seconds, "diffs": tot["diffs"], "trades": tot["trades"],
            "offered": offered, "lag_p50_ms": p50, "lag_p99_ms": p99, "snapshots": tot["snapshots"],
            "snapshots_due": tot["due"], "gaps": by, "other_gaps": other, "restarts": tot["restarts"],
            "slopes_mb_per_10min": {k: v[0] if v else None for k, v in slopes.items()},
            "rss": w.rss, "n_symbols": n_sym}  # fmt: skip


if __name__ == "__main__":
    main()
