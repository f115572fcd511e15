"""Dry-run start with the derived warm-up: launch -> first analysed candles of every pair.

`freqtrade trade --dry-run` against the local exchange replaying the demo market (3 pairs),
LiquiditySweep (its derived startup_candle_count: 2022 candles, 5 calls per series and pair)
against Freqtrade's own SampleStrategy (200 candles, one call) in the same run. Issue 14 figure:
before the derived warm-up LiquiditySweep started from 300 candles (1 call) in about the time
SampleStrategy takes; the ratio says what the 5-call fetch and the larger frame cost.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
FREQTRADE = str(Path(sys.executable).parent / "freqtrade")
PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
AUTH = ("bench", "bench")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_frames(base: str, deadline: float) -> dict[str, int]:
    """Poll the API until every pair has an analysed frame; rows per pair."""
    rows: dict[str, int] = {}
    while len(rows) < len(PAIRS) and time.perf_counter() < deadline:
        for pair in set(PAIRS) - set(rows):
            try:
                r = requests.get(f"{base}/pair_candles", auth=AUTH, timeout=10,
                                 params={"pair": pair, "timeframe": "5m", "limit": 5000})  # fmt: skip
                if r.ok and r.json().get("data"):
                    rows[pair] = len(r.json()["data"])
            except requests.RequestException:
                pass
        time.sleep(0.25)
    return rows


def dry_run_start(
    strategy: str, strategy_path: Path, overlay: Path, tmp: Path
) -> tuple[float, dict]:
    """Seconds from launch until every pair has analysed candles, and the rows per pair."""
    port = _port()
    extra = tmp / f"{strategy}.json"
    extra.write_text(json.dumps({
        "db_url": f"sqlite:///{tmp / (strategy + '.sqlite')}", "initial_state": "running",
        "internals": {"process_throttle_secs": 1},
        "api_server": {"enabled": True, "listen_ip_address": "127.0.0.1", "listen_port": port},
    }))  # fmt: skip
    # credentials from the environment only, as perpflow's config check demands of a user
    env = {**os.environ, "FREQTRADE__API_SERVER__USERNAME": AUTH[0],
           "FREQTRADE__API_SERVER__PASSWORD": AUTH[1],
           "FREQTRADE__API_SERVER__JWT_SECRET_KEY": "b" * 32,
           "FREQTRADE__API_SERVER__WS_TOKEN": "w" * 32}  # fmt: skip
    cmd = [FREQTRADE, "trade", "--dry-run", "-c", str(REPO / "config.json"), "-c", str(overlay),
           "-c", str(extra), "--userdir", str(tmp / "ud"), "--strategy", strategy,
           "--strategy-path", str(strategy_path)]  # fmt: skip
    start = time.perf_counter()
    log = (tmp / f"{strategy}.log").open("w")
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        rows = _first_frames(f"http://127.0.0.1:{port}/api/v1", start + 300)
        elapsed = time.perf_counter() - start
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:  # never leave a bot running behind the bench
            proc.kill()
            proc.wait(30)
            raise
    if len(rows) < len(PAIRS):
        raise SystemExit(f"{strategy} dry-run analysed no candles in 300 s; see {log.name}")
    return elapsed, rows


def main(datadir: Path = REPO / "user_data/data/demo", repeats: int = 2) -> dict:
    import freqtrade

    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer

    sample = Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py"
    with tempfile.TemporaryDirectory() as tmp, VenueServer(datadir, mode="replay", port=0) as v:
        tmp = Path(tmp)
        (tmp / "strats").mkdir()
        (tmp / "ud").mkdir()
        shutil.copy(sample, tmp / "strats" / "sample_strategy.py")
        overlay = tmp / "venue.json"
        overlay.write_text(json.dumps(exchange_overlay(v.url)))
        times: dict[str, float] = {}
        rows: dict[str, dict] = {}
        for _ in range(repeats):  # best of N, alternating
            for name, path in (("SampleStrategy", tmp / "strats"),
                               ("LiquiditySweep", REPO / "strategies")):  # fmt: skip
                t, rows[name] = dry_run_start(name, path, overlay, tmp)
                times[name] = min(times.get(name, float("inf")), t)
    ratio = times["LiquiditySweep"] / times["SampleStrategy"]
    print(f"dry-run start to first analysed candles (best of {repeats}), {len(PAIRS)} pairs:")
    for name in times:
        print(f"  {name:15s} {times[name]:6.1f} s, {max(rows[name].values())} candles per pair")
    print(f"  ratio: {ratio:.2f}x")
    return {"times": times, "ratio": ratio}


if __name__ == "__main__":
    main()
