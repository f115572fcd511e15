"""LiquiditySweep backtest wall time vs Freqtrade's own SampleStrategy on the same data and run,
and what the execution policy adds (the same backtest with config.execution.json: the slippage
model's inputs per candle, the policy's callbacks per entry, exit and child).

Every strategy is backtested by the real `freqtrade backtesting` through the local exchange on
the demo market (3 pairs, all days). Goals: LiquiditySweep at most 1.3x SampleStrategy (issue
19; 1.5x in issue 2); the execution policy adds less than 5% (issue 17). With the shipped config
the drawdown governor's 10% cap trips in June and holds, so LiquiditySweep trades ~170 times
and then idles; `LiquiditySweep, trading all span` re-arms the cap a day after each trip
(`backtest_rearm_hours`, as the real-data test does: ~840 trades), which shows what its
per-candle callbacks cost while trades are open. Each run's CPU time (the freqtrade process's
user + system) is printed beside its wall time: on this shared 2-core machine other work
stretches wall times by 2x and more between runs, CPU time much less.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FREQTRADE = str(Path(sys.executable).parent / "freqtrade")
PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
GOAL = 1.3  # LiquiditySweep / SampleStrategy wall time


def _backtest(strategy: str, strategy_path: Path, datadir: Path, overlay: Path, ud: Path,
              extra: tuple[Path, ...] = ()) -> tuple[float, float]:  # fmt: skip
    """(wall, CPU) seconds of one `freqtrade backtesting` run."""
    configs = [a for c in extra for a in ("-c", str(c))]
    cmd = [FREQTRADE, "backtesting", "-c", str(REPO / "config.json"), *configs, "-c", str(overlay),
           "--userdir", str(ud), "--datadir", str(datadir), "--strategy", strategy,
           "--strategy-path", str(strategy_path), "--pairs", *PAIRS, "--cache", "none",
           "--export", "none"]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed_run(cmd, f"{strategy} backtest")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed_run(cmd: list[str], what: str) -> float:
    """Wall time of a command run in the repo; exits with its output tail if it fails."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed:\n{(proc.stdout + proc.stderr)[-4000:]}")
    return elapsed


def main(datadir: Path = REPO / "user_data/data/demo", repeats: int = 2) -> dict:
    """Best-of-`repeats` wall times; returns them, `ratio` (shipped config vs SampleStrategy),
    `ratio_trading` (re-armed governor vs SampleStrategy) and `execution_added`."""
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
        rearm = tmp / "rearm.json"
        rearm.write_text(
            json.dumps({"perpflow": {"risk": {"governor": {"backtest_rearm_hours": 24}}}})
        )
        ud = tmp / "ud"
        ud.mkdir()
        times: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for _ in range(repeats):  # best of N, alternating, so all see the same machine state
            for name, path, extra in (
                ("SampleStrategy", tmp / "strats", ()),
                ("LiquiditySweep", REPO / "strategies", ()),
                ("LiquiditySweep, trading all span", REPO / "strategies", (rearm,)),
                ("LiquiditySweep+execution", REPO / "strategies",
                 (REPO / "config.execution.json",)),
            ):  # fmt: skip
                strategy = name.split("+")[0].split(",")[0]
                t, c = _backtest(strategy, path, datadir, overlay, ud, extra)
                times[name] = min(times.get(name, float("inf")), t)
                cpu[name] = min(cpu.get(name, float("inf")), c)
    return _report(times, cpu, repeats)


def _report(times: dict[str, float], cpu: dict[str, float], repeats: int) -> dict:
    base, base_cpu = times["SampleStrategy"], cpu["SampleStrategy"]
    ratio, trading = (
        times["LiquiditySweep"] / base,
        times["LiquiditySweep, trading all span"] / base,
    )
    print(f"backtest wall time (best of {repeats}; CPU time beside it), demo market, "
          f"{len(PAIRS)} pairs:")  # fmt: skip
    print(f"  {'SampleStrategy (baseline):':33s}{base:7.2f} s  (CPU {base_cpu:6.2f} s)")
    for name, r in (("LiquiditySweep", ratio), ("LiquiditySweep, trading all span", trading)):
        verdict = "OK" if r <= GOAL else "ABOVE GOAL"
        print(f"  {name + ':':33s}{times[name]:7.2f} s  (CPU {cpu[name]:6.2f} s)  ratio {r:.2f}x "
              f"(goal <= {GOAL}x) {verdict}; CPU ratio {cpu[name] / base_cpu:.2f}x")  # fmt: skip
    added = times["LiquiditySweep+execution"] / times["LiquiditySweep"] - 1
    print(
        f"  LiquiditySweep + config.execution.json: {times['LiquiditySweep+execution']:7.2f} s, "
        f"{added:+.1%} (goal < 5%) {'OK' if added < 0.05 else 'ABOVE GOAL'}"
    )
    return {"times": times, "cpu": cpu, "ratio": ratio, "ratio_trading": trading,
            "execution_added": added}  # fmt: skip


if __name__ == "__main__":
    main()
