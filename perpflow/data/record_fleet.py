"""`perpflow record fleet`: a supervisor running N `perpflow record --shard i/N` processes.

Each shard records its share of the symbols (`record_shard.shard_symbols`) into the same store and
rewrites its status file after every flush. The supervisor (by hand: a small poll loop over
`subprocess.Popen`; supervisord or systemd would restart processes but know nothing of the store's
gaps):
- restarts a shard that dies (any exit while the fleet runs, or a shard whose status file has not
  moved for `stall_seconds`: killed with SIGKILL first), after a back-off of `backoff_min`
  doubling to `backoff_max` (back to `backoff_min` once a shard stayed up `backoff_max` seconds);
- records the outage in the store as the recorder records its own gaps (`book_gaps`): the dead
  shard's open gaps are closed at the moment its data stops being on disk (`durable_until_ms`
  of its last status, else when it was started), and the restarted shard opens a `recorder down`
  gap per symbol and stream from that moment, closed only when that stream is trustworthy again
  (book synced, first trades heard): the hole is never papered over;
- reports one status: a log line every `status_every` seconds and `<status_dir>/fleet.json`
  (per shard: pid, alive, restarts, last exit, last flush, rows and messages stored, snapshots
  taken and due, book lag p50/p99, gaps, and its dead processes' open gaps the supervisor closed);
- on SIGINT/SIGTERM (or after `duration`) sends SIGTERM to every shard (each flushes its buffers
  and closes its gaps), waits up to `stop_timeout`, and only then kills what is left.
Shards run in their own sessions (a Ctrl-C reaches the supervisor alone, which stops them in
order) and get SIGTERM if the supervisor itself dies (Linux `PR_SET_PDEATHSIG`).
A shard that exits with status 2 before its first flush (a user error: unknown symbol,
unwritable store) stops the fleet with its error instead of restarting forever.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from perpflow.data.record_shard import Shard, read_status
from perpflow.errors import UserError

logger = logging.getLogger(__name__)


@dataclass
class FleetOptions:
    """What the fleet runs: `procs` shards over `symbols` into `store`, each given
    `recorder_args` (exchange, venue, levels, cadence, ... as `perpflow record` takes them)."""

    procs: int
    symbols: list[str]
    store: Path
    status_dir: Path
    exchange: str = "binance"
    recorder_args: list[str] = field(default_factory=list)
    duration: float | None = None
    status_every: float = 30.0
    backoff_min: float = 1.0
    backoff_max: float = 60.0
    stop_timeout: float = 60.0
    stall_seconds: float = 120.0


@dataclass
class ShardProcess:
    """One shard's process and its history (`down_since_ms`: from when its data is missing,
    set when it dies and given to its restart)."""

    shard: Shard
    status_path: Path
    log_path: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0
    last_exit: int | None = None
    started: float = 0.0  # monotonic
    started_ms: int = 0
    next_start: float = 0.0
    backoff: float = 1.0
    down_since_ms: int | None = None
    gaps_closed: int = 0  # open gaps of its dead processes stored by the supervisor

    def status(self) -> dict | None:
        """The current process's status file, None before its first flush."""
        st = read_status(self.status_path)
        return (
            st
            if st is not None and self.proc is not None and st.get("pid") == self.proc.pid
            else None
        )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Ask Linux to send this child SIGTERM when the supervisor dies (no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Fleet:
    """The supervisor; `run()` until stopped, returns each shard's exit code at shutdown."""

    def __init__(self, opts: FleetOptions):
        if opts.procs < 1:
            raise UserError(f"--procs must be >= 1, got {opts.procs}")
        n_sym = len(set(opts.symbols))
        if opts.procs > n_sym:
            raise UserError(
                f"--procs {opts.procs} is more than the {n_sym} symbols: some shards would record nothing"
            )
        self.opts = opts
        opts.status_dir.mkdir(parents=True, exist_ok=True)
        self.shards = [ShardProcess(Shard(i, opts.procs), opts.status_dir / f"shard-{i}.json",
                                    opts.status_dir / f"shard-{i}.log", backoff=opts.backoff_min)
                       for i in range(1, opts.procs + 1)]  # fmt: skip
        self.status_path = opts.status_dir / "fleet.json"
        self._stop = False

    def stop(self, *_):
        self._stop = True

    # --- processes ---------------------------------------------------------------------
    def _start(self, s: ShardProcess) -> None:
        o = self.opts
        cmd = [sys.executable, "-m", "perpflow.cli", "record", "--shard", str(s.shard), "--symbols", *o.symbols,
               "--store", str(o.store), "--status-file", str(s.status_path), *o.recorder_args]  # fmt: skip
        if s.down_since_ms is not None:
            cmd += ["--outage-since", str(s.down_since_ms)]
        with s.log_path.open("a") as log:
            s.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True, preexec_fn=_die_with_parent)  # fmt: skip
        s.started, s.started_ms = time.monotonic(), int(time.time() * 1000)
        logger.info("shard %s: started pid %d (%s)", s.shard, s.proc.pid, s.log_path)

    def _died(self, s: ShardProcess) -> None:
        """Record a dead shard's outage start (and close its open gaps in the store), schedule
        its restart; UserError when it failed at start with a user error (exit 2)."""
        code, st = s.proc.returncode, s.status()
        if code == 2 and st is None:
            raise UserError(
                f"shard {s.shard} failed at start: {_last_line(s.log_path)} (log: {s.log_path})"
            )
        durable = st.get("durable_until_ms") if st else None
        died_from = int(durable or s.down_since_ms or s.started_ms)
        if st:
            s.gaps_closed += self._close_gaps(st.get("open_gaps", []), died_from)
        s.down_since_ms, s.last_exit, s.proc = died_from, code, None
        up = time.monotonic() - s.started
        if up >= self.opts.backoff_max:
            s.backoff = self.opts.backoff_min
        s.restarts += 1
        s.next_start = time.monotonic() + s.backoff
        logger.warning("shard %s died (%s) after %.0f s; its data is missing from %s; restart %d in %.1f s",
                       s.shard, _exit_text(code), up, _iso(died_from), s.restarts, s.backoff)  # fmt: skip
        s.backoff = min(s.backoff * 2, self.opts.backoff_max)

    def _close_gaps(self, gaps: list[dict], end_ms: int) -> int:
        """Store the dead shard's open gaps as ending at `end_ms` (its own copies died with it);
        how many were stored."""
        rows = [g for g in gaps if g["start_ms"] < end_ms]
        if not rows:
            return 0
        import pandas as pd

        from perpflow.data.record_ccxt import store_times
        from perpflow.data.store import write_events

        df = pd.DataFrame(rows).assign(exchange=self.opts.exchange, end_ms=end_ms)
        df["ts_event"], df["ts_recv"] = df["start_ms"], df["end_ms"]
        try:
            write_events(self.opts.store, "book_gaps", store_times(df))
        except Exception:  # noqa: BLE001 - logged; the restart's own gap still covers what follows
            logger.exception("could not store the open gaps of a dead shard: %s", rows)
            return 0
        return len(rows)

    def _check_stall(self, s: ShardProcess) -> None:
        """SIGKILL a shard whose status has not moved for `stall_seconds` (hung, or never
        flushed); the next poll sees it dead."""
        limit = self.opts.stall_seconds
        if time.monotonic() - s.started < limit:
            return
        st = s.status()
        if st is None or time.time() * 1000 - st["updated_ms"] > limit * 1000:
            logger.error(
                "shard %s (pid %d): no flush for %.0f s; killing it", s.shard, s.proc.pid, limit
            )
            s.proc.kill()

    def _poll(self) -> None:
        for s in self.shards:
            if self._stop:
                return
            if s.proc is None:
                if time.monotonic() >= s.next_start:
                    self._start(s)
            elif s.proc.poll() is not None:
                self._died(s)
            else:
                self._check_stall(s)

    # --- status --------------------------------------------------------------------------
    def report(self) -> dict:
        """The fleet's status (also written to `<status_dir>/fleet.json`)."""
        now_ms = int(time.time() * 1000)
        shards = []
        for s in self.shards:
            st = s.status() or {}
            flush = st.get("durable_until_ms")
            shards.append({"shard": str(s.shard), "pid": None if s.proc is None else s.proc.pid,
                           "alive": s.proc is not None and s.proc.poll() is None, "restarts": s.restarts,
                           "last_exit": s.last_exit, "down_since_ms": s.down_since_ms,
                           "symbols": st.get("symbols"), "last_flush_ms": flush,
                           "flush_age_s": None if flush is None else (now_ms - flush) / 1000,
                           "rows": st.get("rows", {}), "messages": st.get("messages", {}),
                           "snapshots": st.get("snapshots", 0), "snapshots_due": st.get("snapshots_due", 0),
                           "lag_p50_ms": st.get("lag_p50_ms"), "lag_p99_ms": st.get("lag_p99_ms"),
                           "gaps": st.get("gaps", 0), "gaps_closed": s.gaps_closed,
                           "log": str(s.log_path)})  # fmt: skip
        body = {"updated_ms": now_ms, "procs": len(self.shards), "up": sum(x["alive"] for x in shards),
                "restarts": sum(x["restarts"] for x in shards), "shards": shards}  # fmt: skip
        tmp = self.status_path.with_name(f".{self.status_path.name}.tmp")
        tmp.write_text(json.dumps(body, indent=1))
        os.replace(tmp, self.status_path)
        return body

    def log_status(self) -> None:
        r = self.report()
        rows: dict[str, int] = {}
        for x in r["shards"]:
            for k, n in x["rows"].items():
                rows[k] = rows.get(k, 0) + n
        lags = [x["lag_p50_ms"] for x in r["shards"] if x["lag_p50_ms"] is not None]
        ages = [x["flush_age_s"] for x in r["shards"] if x["flush_age_s"] is not None]
        logger.info("fleet: %d/%d up, %d restarts; rows %s; lag p50 max %s ms; oldest flush %s s ago",
                    r["up"], r["procs"], r["restarts"], " ".join(f"{k} {n}" for k, n in sorted(rows.items())),
                    f"{max(lags):.0f}" if lags else "-", f"{max(ages):.1f}" if ages else "-")  # fmt: skip

    # --- run -----------------------------------------------------------------------------
    def run(self) -> dict[str, int | None]:
        """Supervise until SIGINT/SIGTERM or `duration`; stop the shards; their exit codes."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self.stop)
        t0 = last_status = time.monotonic()
        try:
            while not self._stop:
                self._poll()
                now = time.monotonic()
                if self.opts.duration is not None and now - t0 >= self.opts.duration:
                    break
                if now - last_status >= self.opts.status_every:
                    self.log_status()
                    last_status = now
                time.sleep(0.2)
        finally:
            codes = self.shutdown()
        return codes

    def shutdown(self) -> dict[str, int | None]:
        """SIGTERM every running shard, wait up to `stop_timeout` for their last flush, SIGKILL
        the rest (logged); returns each shard's exit code."""
        alive = [s for s in self.shards if s.proc is not None and s.proc.poll() is None]
        for s in alive:
            s.proc.terminate()
        deadline = time.monotonic() + self.opts.stop_timeout
        for s in alive:
            try:
                s.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.error("shard %s did not stop within %.0f s; killed (its last flush is lost)",
                             s.shard, self.opts.stop_timeout)  # fmt: skip
                s.proc.kill()
                s.proc.wait()
        codes = {}
        for s in self.shards:
            code = None if s.proc is None else s.proc.returncode
            if code == -signal.SIGTERM and s.status() is None:  # stopped while starting up
                logger.info("shard %s stopped before its first flush (nothing recorded)", s.shard)
                code = 0
            codes[str(s.shard)] = code
        self.log_status()
        return codes


def _last_line(path: Path) -> str:
    lines = (
        [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        if path.exists()
        else []
    )
    return lines[-1] if lines else "no output"


def _exit_text(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}"


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def run_fleet(opts: FleetOptions) -> dict[str, int | None]:
    """Run the fleet described by `opts` (see the module doc); each shard's exit code at the end."""
    return Fleet(opts).run()
