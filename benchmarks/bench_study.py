"""A 20-variant robustness study on the demo market: wall time with the process pool (2
workers) vs the same variants one after another, measured in the same run.

Goal (issue 8): report the pool's speed-up; on 2 cores the ceiling is 2x.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> dict:
    import logging

    from perpflow.validation.robustness import perturbation_variants
    from perpflow.validation.study import run_study

    logging.getLogger("perpflow").setLevel(logging.ERROR)
    datadir = REPO / "user_data" / "data" / "demo"
    base = json.loads((REPO / "config.json").read_text())["perpflow"]
    params = ["risk.trail_atr", "risk.take_profit_r", "risk.stop_atr_buffer", "sweep.swing_left",
              "sweep.swing_right", "sweep.max_depth_atr", "filters.funding.z_extreme",
              "filters.regime.min_pct", "filters.structure.fvg_block_atr",
              "filters.liquidations.max_bars_after"]  # fmt: skip
    variants, _ = perturbation_variants(base, "20260601-20260701", params=params)
    variants = variants[1:21]  # 20 perturbed variants
    times = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            run_study(variants, study_dir=Path(tmp), datadir=datadir, pairs=["BTC/USDT:USDT"],
                      workers=workers, progress=False)  # fmt: skip
            times[workers] = time.perf_counter() - t
    print("20-variant robustness study (BTC, 1 month of 5m candles each, demo market):")
    print(f"  one after another: {times[1]:6.1f} s")
    print(
        f"  pool of 2 workers: {times[2]:6.1f} s  speed-up {times[1] / times[2]:.2f}x (2 cores: max 2x)"
    )
    return {"sequential_s": times[1], "pool_s": times[2]}


if __name__ == "__main__":
    main()
