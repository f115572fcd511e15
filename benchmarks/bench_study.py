"""A 20-variant robustness study on the demo market: wall time with the process pool (2
workers) vs the same variants one after another, and the same study as Dask tasks on a running
LocalCluster of 2 worker processes vs 1, reached by its TCP address as a deployed cluster is
(its start-up timed and printed apart, and the ratio with it), measured in the same run.

Goals: report the pool's speed-up (issue 8); the Dask fan-out on 2 workers >= 1.8x (issue 19).
On 2 cores the ceiling is 2x. `python benchmarks/bench_study.py --variants N` runs N variants.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _timed(variants, datadir: Path, workers: int, scheduler: str | None) -> float:
    from perpflow.validation.study import run_study

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        run_study(variants, study_dir=Path(tmp), datadir=datadir, pairs=["BTC/USDT:USDT"],
                  workers=workers, progress=False, scheduler=scheduler)  # fmt: skip
        return time.perf_counter() - t


def main(n_variants: int = 20) -> dict:
    import logging

    from perpflow.validation.robustness import perturbation_variants

    logging.getLogger("perpflow").setLevel(logging.ERROR)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    datadir = REPO / "user_data" / "data" / "demo"
    base = json.loads((REPO / "config.json").read_text())["perpflow"]
    params = ["risk.trail_atr", "risk.take_profit_r", "risk.stop_atr_buffer", "sweep.swing_left",
              "sweep.swing_right", "sweep.max_depth_atr", "filters.funding.z_extreme",
              "filters.regime.min_pct", "filters.structure.fvg_block_atr",
              "filters.liquidations.max_bars_after"]  # fmt: skip
    variants, _ = perturbation_variants(base, "20260601-20260701", params=params)
    variants = variants[1 : 1 + n_variants]  # perturbed variants
    times = {(w, None): _timed(variants, datadir, w, None) for w in (1, 2)}
    start = {}
    for w in (1, 2):  # a running cluster, as a deployed one; its start-up timed on its own
        start[w], times[w, "dask"], times[w, "warm"] = _on_cluster(variants, datadir, w)
    n = len(variants)
    print(f"{n}-variant robustness study (BTC, 1 month of 5m candles each, demo market):")
    print(f"  one after another: {times[1, None]:6.1f} s")
    print(f"  pool of 2 workers: {times[2, None]:6.1f} s  speed-up "
          f"{times[1, None] / times[2, None]:.2f}x (2 cores: max 2x)")  # fmt: skip
    print(f"  Dask cluster, 1 worker:  {times[1, 'dask']:6.1f} s (+ {start[1]:.1f} s to start it), "
          f"{times[1, 'warm']:.1f} s again on the same worker")  # fmt: skip
    print(f"  Dask cluster, 2 workers: {times[2, 'dask']:6.1f} s (+ {start[2]:.1f} s to start it), "
          f"{times[2, 'warm']:.1f} s again on the same workers")  # fmt: skip
    print(f"  fan-out on new workers {times[1, 'dask'] / times[2, 'dask']:.2f}x (with start-up "
          f"{(times[1, 'dask'] + start[1]) / (times[2, 'dask'] + start[2]):.2f}x), on running "
          f"workers {times[1, 'warm'] / times[2, 'warm']:.2f}x (goal >= 1.8x; 2 cores: max 2x)")  # fmt: skip
    return {"sequential_s": times[1, None], "pool_s": times[2, None],
            "dask_1_s": times[1, "dask"], "dask_2_s": times[2, "dask"],
            "dask_1_warm_s": times[1, "warm"], "dask_2_warm_s": times[2, "warm"],
            "dask_1_start_s": start[1], "dask_2_start_s": start[2]}  # fmt: skip


def _on_cluster(variants, datadir: Path, workers: int) -> tuple[float, float, float]:
    """(start-up s, study s on the new workers, the same study s again on the same workers) on a
    LocalCluster of `workers` processes (one thread each) that the study reaches by its TCP
    address, as it reaches a deployed `dask scheduler`. The first study pays each worker's
    imports (Freqtrade's result reader ~0.8 s of CPU a worker); a deployed cluster's workers
    stay up between studies, as in the second. Dask's housekeeping as docs/running.md deploys it
    (`perpflow.validation.cluster.local_cluster`)."""
    import distributed

    from perpflow.validation.cluster import local_cluster

    t = time.perf_counter()
    with local_cluster(workers) as cluster:  # the cluster `--scheduler local` starts
        with distributed.Client(cluster) as client:
            client.wait_for_workers(workers)
        up = time.perf_counter() - t
        first = _timed(variants, datadir, workers, cluster.scheduler_address)
        return up, first, _timed(variants, datadir, workers, cluster.scheduler_address)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", type=int, default=20)
    main(ap.parse_args().variants)
