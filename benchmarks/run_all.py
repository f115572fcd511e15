"""Run every benchmark and print its figures (never asserted in tests)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_backtest  # noqa: E402

if __name__ == "__main__":
    print("== LiquiditySweep vs SampleStrategy backtest ==")
    bench_backtest.main()
