"""Helpers to run the real `freqtrade` command against the local exchange in tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import requests

from tests.conftest import REPO

FREQTRADE = str(Path(sys.executable).parent / "freqtrade")


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, indent=2))
    return path


def run_freqtrade(
    args: list[str], *, configs: list[Path], userdir: Path, timeout: float = 900, env=None
) -> subprocess.CompletedProcess:
    """Run `freqtrade <args>` with config.json plus `configs`; fail with the output tail."""
    userdir.mkdir(parents=True, exist_ok=True)
    cmd = [FREQTRADE, *args[:1], "-c", str(REPO / "config.json")]
    for cfg in configs:
        cmd += ["-c", str(cfg)]
    cmd += ["--userdir", str(userdir), *args[1:]]
    if args[0] not in ("list-strategies",):
        cmd += ["--strategy-path", str(REPO / "strategies")]
    proc = subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-6000:]
        raise AssertionError(f"freqtrade {' '.join(args)} exited {proc.returncode}:\n{tail}")
    return proc


def latest_backtest_trades(userdir: Path) -> pd.DataFrame:
    """Trades of the newest exported backtest in `userdir` (Freqtrade's own loader)."""
    from freqtrade.data.btanalysis import get_latest_backtest_filename, load_backtest_data

    results = userdir / "backtest_results"
    name = get_latest_backtest_filename(results)
    return load_backtest_data(results / name)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a bot's API server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def interrupt_bot(proc: subprocess.Popen, log: Path, timeout: float = 60) -> tuple[str, str]:
    """Ctrl-C the bot (SIGINT) as a user does; its log split at the signal: (running, shutdown).

    Fails unless the bot exits with 0 or 130 (Freqtrade's exit code after SIGINT)."""
    running = len(log.read_text(errors="replace"))
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout)
    full = log.read_text(errors="replace")
    assert code in (0, 130), full[-3000:]
    return full[:running], full[running:]


def assert_clean_log(running: str, shutdown: str, bad=("Traceback", " ERROR ")) -> None:
    """No traceback or error line while the bot ran; at shutdown, only the interrupt's own.

    Freqtrade's cleanup prints a traceback when SIGINT lands inside a database call (the
    KeyboardInterrupt, then SQLAlchemy's PendingRollbackError from its final commit): a race in
    Freqtrade's Ctrl-C path, not ours. Any other traceback at shutdown fails."""
    for b in bad:
        assert b not in running, f"{b!r} in the bot's log:\n{running[-6000:]}"
    if "Traceback" in shutdown or " ERROR " in shutdown:
        assert "KeyboardInterrupt" in shutdown, shutdown[-6000:]


def wait(fn, timeout: float, what: str, every: float = 0.2):
    """`fn()`'s first truthy result within `timeout` real seconds, else AssertionError."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            result = fn()
            if result:
                return result
        except requests.RequestException as exc:
            last = exc
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last error: {last})")


def lookahead_verdict(export: Path, *, min_signals: int = 0) -> dict:
    """The last row of a `lookahead-analysis` export, asserted free of bias: no biased entry or
    exit signal and at least `min_signals` signals checked."""
    import csv

    rows = list(csv.DictReader(export.open()))
    assert rows, "lookahead-analysis exported no rows"
    row = rows[-1]
    assert row["has_bias"] == "False", row
    assert int(row["total_signals"]) >= min_signals, row
    assert row["biased_entry_signals"] == "0" and row["biased_exit_signals"] == "0", row
    return row
