"""The speed and size goals of the issues, each read from one `make bench` run's results.

`run_all.py` collects every benchmark's returned dict under its name; `print_goals` prints one
line per goal: the figure, the goal, figure/goal as a ratio, and met / NOT MET. A goal whose
benchmark did not run (or failed) says so instead of a number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Goal:
    """`figure(results)` reads the number; `target` and `kind` ("max": figure <= target, "min":
    figure >= target) say what meets it; `unit` is printed after both."""

    name: str
    figure: Callable[[dict], float]
    target: float
    kind: str
    unit: str


def _fanout(r: dict) -> float:
    s = r["study"]
    return s["dask_1_s"] / s["dask_2_s"]


GOALS = (
    Goal("LiquiditySweep backtest vs SampleStrategy (issue 19)",
         lambda r: r["backtest"]["ratio"], 1.3, "max", "x"),
    Goal("the same, trading all span (governor re-armed daily)",
         lambda r: r["backtest"]["ratio_trading"], 1.3, "max", "x"),
    Goal("execution policy's added backtest time (issue 17)",
         lambda r: 100 * r["backtest"]["execution_added"], 5.0, "max", "%"),
    Goal("all book snapshot features, one core (issue 19)",
         lambda r: r["orderbook"]["all_mps"], 3.0, "min", "M snapshots/s"),
    Goal("recorder, quiet machine: messages stored (issue 19)",
         lambda r: r["recorder"]["messages_per_s"], 20_000, "min", "msg/s"),
    Goal("recorder, quiet machine: book lag p99 (issue 19)",
         lambda r: r["recorder"]["lag_p99_s"], 1.0, "max", "s"),
    Goal("recorder beside a CPU hog: messages stored (issue 19)",
         lambda r: r["recorder_loaded"]["messages_per_s"], 20_000, "min", "msg/s"),
    Goal("recorder beside a CPU hog: book lag p99 (issue 19)",
         lambda r: r["recorder_loaded"]["lag_p99_s"], 1.0, "max", "s"),
    Goal("study fan-out, Dask on 2 workers vs 1 (issue 19)", _fanout, 1.8, "min", "x"),
    Goal("one symbol-day of 1 s 25-level snapshots, compacted (issue 19)",
         lambda r: r["store"]["day_mb"], 30.0, "max", "MB"),
    Goal("TCN training per window vs LightGBM (issue 18)",
         lambda r: r["tcn"]["ratio"], 3.0, "max", "x"),
    Goal("TCN live inference per call (issue 18)",
         lambda r: r["tcn"]["inference"]["live_ms_per_call"], 1.0, "max", "ms"),
)  # fmt: skip


def print_goals(results: dict) -> list[tuple[str, float | None, bool | None]]:
    """Print the goals table; returns (name, figure or None, met or None) per goal."""
    rows = []
    print("== goals, from this run ==")
    for g in GOALS:
        try:
            value = float(g.figure(results))
        except (KeyError, TypeError, ZeroDivisionError):
            print(f"  {g.name}: not measured in this run")
            rows.append((g.name, None, None))
            continue
        met = value <= g.target if g.kind == "max" else value >= g.target
        sign = "<=" if g.kind == "max" else ">="
        print(f"  {g.name}: {value:,.2f} {g.unit} (goal {sign} {g.target:,g} {g.unit}; "
              f"{value / g.target:.2f} of the goal) {'met' if met else 'NOT MET'}")  # fmt: skip
        rows.append((g.name, value, met))
    return rows
