"""LiquiditySweep backtest wall time vs Freqtrade's own SampleStrategy on the same data and run,
and what the execution policy adds (the same backtest with config.execution.json: the slippage
model's inputs per candle, the policy's callbacks per entry, exit and child).

Every strategy is backtested by the real `freqtrade backtesting` through the local exchange on
the demo market (3 pairs, all days). Goals: LiquiditySweep at most 1.5x SampleStrategy (issue
2); the execution policy adds less than 5% (issue 17).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FREQTRADE = str(Path(sys.executable).parent / "freqtrade")
PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]


def _backtest(strategy: str, strategy_path: Path, datadir: Path, overlay: Path, ud: Path,
              extra: tuple[Path, ...] = ()) -> float:  # fmt: skip
    configs = [a for c in extra for a in ("-c", str(c))]
    cmd = [FREQTRADE, "backtesting", "-c", str(REPO / "config.json"), *configs, "-c", str(overlay),
           "--userdir", str(ud), "--datadir", str(datadir), "--strategy", strategy,
           "--strategy-path", str(strategy_path), "--pairs", *PAIRS, "--cache", "none",
           "--export", "none"]  # fmt: skip
    return timed_run(cmd, f"{strategy} backtest")


def timed_run(cmd: list[str], what: str) -> float:
    """Wall time of a command run in the repo; exits with its output tail if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return elapsed


def main(datadir: Path = REPO / "user_data/data/demo", repeats: int = 2) -> dict:
    import freqtrade

    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer

    sample = Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py"
    with tempfile.TemporaryDirectory() as tmp, VenueServer(datadir, port=0) as venue:
        tmp = Path(tmp)
        (tmp / "strats").mkdir()
        shutil.copy(sample, tmp / "strats" / "sample_strategy.py")
        overlay = tmp / "venue.json"
        overlay.write_text(json.dumps(exchange_overlay(venue.url)))
        ud = tmp / "ud"
        ud.mkdir()
        times: dict[str, float] = {}
        for _ in range(repeats):  # best of N, alternating, so both see the same machine state
            for name, path, extra in (
                ("SampleStrategy", tmp / "strats", ()),
                ("LiquiditySweep", REPO / "strategies", ()),
                ("LiquiditySweep+execution", REPO / "strategies",
                 (REPO / "config.execution.json",)),
            ):  # fmt: skip
                strategy = name.split("+")[0]
                t = _backtest(strategy, path, datadir, overlay, ud, extra)
                times[name] = min(times.get(name, float("inf")), t)
    ratio = times["LiquiditySweep"] / times["SampleStrategy"]
    print(f"backtest wall time (best of {repeats}), demo market, {len(PAIRS)} pairs:")
    print(f"  SampleStrategy (baseline): {times['SampleStrategy']:7.2f} s")
    print(f"  LiquiditySweep:            {times['LiquiditySweep']:7.2f} s")
    print(f"  ratio: {ratio:.2f}x  (goal <= 1.5x) {'OK' if ratio <= 1.5 else 'ABOVE GOAL'}")
    added = times["LiquiditySweep+execution"] / times["LiquiditySweep"] - 1
    print(
        f"  LiquiditySweep + config.execution.json: {times['LiquiditySweep+execution']:7.2f} s, "
        f"{added:+.1%} (goal < 5%) {'OK' if added < 0.05 else 'ABOVE GOAL'}"
    )
    return {"times": times, "ratio": ratio, "execution_added": added}


if __name__ == "__main__":
    main()
