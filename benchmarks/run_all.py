"""Run every benchmark and print its figures (never asserted in tests).

`python benchmarks/run_all.py [NAME ...]` (or `make bench BENCH="orderbook study"`) runs only the
named steps of `STEPS`, e.g. the goals' benchmarks again on a quiet machine."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backtest  # noqa: E402
import bench_events  # noqa: E402
import bench_execution  # noqa: E402
import bench_fanout  # noqa: E402
import bench_features  # noqa: E402
import bench_freqai  # noqa: E402
import bench_live  # noqa: E402
import bench_matching  # noqa: E402
import bench_orderbook  # noqa: E402
import bench_recorder  # noqa: E402
import bench_store  # noqa: E402
import bench_study  # noqa: E402
import bench_tcn  # noqa: E402
import bench_warmup  # noqa: E402
from goals import print_goals  # noqa: E402

STEPS = (  # (name in the results, title, benchmark module, keyword arguments)
    ("features", "== structure feature set on 1M candles ==", bench_features, {}),
    ("orderbook", "== order-book kernels and order flow ==", bench_orderbook, {}),
    ("store", "== event-store writes vs plain parquet ==", bench_store, {}),
    ("recorder", "== book recorder vs a local flood ==", bench_recorder, {"speed": 600}),
    ("recorder_loaded", "== book recorder vs a local flood, beside a CPU hog ==", bench_recorder, {"speed": 600, "load": True}),
    ("fanout", "== venue websocket fan-out with a client that never reads ==", bench_fanout, {}),
    ("matching", "== venue matching engine and private API ==", bench_matching, {}),
    ("backtest", "== LiquiditySweep vs SampleStrategy backtest ==", bench_backtest, {}),
    ("warmup", "== dry-run start with the derived warm-up ==", bench_warmup, {}),
    ("live", "== one live analysis per pair and candle vs SampleStrategy ==", bench_live, {}),
    ("study", "== validation study fan-out ==", bench_study, {}),
    ("freqai", "== FreqAI: LiquiditySweepAI vs Freqtrade's LightGBMClassifier example ==", bench_freqai, {}),
    ("events", "== event study over 6 pairs x 13.5 months of real 5m candles ==", bench_events, {}),
    ("execution", "== slippage model: per-candle inputs and cost per call vs TA-Lib ATR ==", bench_execution, {}),
    ("tcn", "== event ensemble: TCN vs LightGBM per window, inference, real-data comparison ==", bench_tcn, {}),
)  # fmt: skip


def main(only: list[str] | None = None) -> dict:
    """Run every step (or those named in `only`); a failing benchmark is reported and the others
    still run."""
    names = [s[0] for s in STEPS]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise SystemExit(
            f"unknown benchmark(s) {', '.join(unknown)}: choose from {', '.join(names)}"
        )
    results: dict = {}
    for name, title, module, kwargs in STEPS:
        if only and name not in only:
            continue
        print(title)
        try:
            results[name] = module.main(**kwargs)
        except (Exception, SystemExit) as exc:  # one broken bench must not hide the others
            print(f"  FAILED: {type(exc).__name__}: {exc}"[:2000])
        print()
    print_goals(results)
    return results


if __name__ == "__main__":
    # started in the background (`make bench &`, nohup) SIGINT is ignored, and an ignored signal
    # stays ignored across exec: the bots the benches stop with Ctrl-C would never stop
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main(sys.argv[1:] or None)
