"""Run every benchmark and print its figures (never asserted in tests)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backtest  # noqa: E402
import bench_events  # noqa: E402
import bench_execution  # noqa: E402
import bench_fanout  # noqa: E402
import bench_features  # noqa: E402
import bench_freqai  # noqa: E402
import bench_matching  # noqa: E402
import bench_orderbook  # noqa: E402
import bench_recorder  # noqa: E402
import bench_store  # noqa: E402
import bench_study  # noqa: E402
import bench_tcn  # noqa: E402
import bench_warmup  # noqa: E402

if __name__ == "__main__":
    print("== structure feature set on 1M candles ==")
    bench_features.main()
    print()
    print("== order-book kernels and order flow ==")
    bench_orderbook.main()
    print()
    print("== event-store writes vs plain parquet ==")
    bench_store.main()
    print()
    print("== book recorder vs a local flood, quiet and beside a CPU hog ==")
    bench_recorder.main(speed=600, load="both")
    print()
    print("== venue websocket fan-out with a client that never reads ==")
    bench_fanout.main()
    print()
    print("== venue matching engine and private API ==")
    bench_matching.main()
    print()
    print("== LiquiditySweep vs SampleStrategy backtest ==")
    bench_backtest.main()
    print()
    print("== dry-run start with the derived warm-up ==")
    bench_warmup.main()
    print()
    print("== validation study fan-out ==")
    bench_study.main()
    print()
    print("== FreqAI: LiquiditySweepAI vs Freqtrade's LightGBMClassifier example ==")
    bench_freqai.main()
    print()
    print("== event study over 6 pairs x 13.5 months of real 5m candles ==")
    bench_events.main()
    print()
    print("== slippage model: per-candle inputs and cost per call vs TA-Lib ATR ==")
    bench_execution.main()
    print()
    print("== event ensemble: TCN vs LightGBM per window, inference, real-data comparison ==")
    bench_tcn.main()
