"""A study: many independent `freqtrade backtesting` runs (variants), fanned out over a pool.

Each variant is one real `freqtrade backtesting` subprocess against the local exchange with its
own config overlay, timerange and result directory. A finished variant leaves `result.json` and
is never rerun, so an interrupted study resumes where it stopped. The pool is the standard
library's (`concurrent.futures`): each worker only waits on its subprocess. To run the same
variants on a cluster, submit `run_variant` calls to Ray (`ray.remote(run_variant)`) or Dask
(`client.map(run_variant, ...)`) with the same arguments; nothing here schedules by hand.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Variant:
    """One backtest: `overlay` is merged over config.json (e.g. a perpflow parameter change)."""

    id: str
    timerange: str
    overlay: dict = field(default_factory=dict)
    fee: float | None = None
    meta: dict = field(default_factory=dict)


def _freqtrade() -> str:
    return str(Path(sys.executable).parent / "freqtrade")


def run_variant(variant: Variant, *, study_dir: Path, datadir: Path, venue_overlay: Path,
                pairs: list[str], strategy: str = "LiquiditySweep",
                config: Path | None = None) -> dict:  # fmt: skip
    """Run one variant (or return its stored result): trades go to
    `<study>/variants/<id>/trades.parquet`, status and timings to `result.json`."""
    vdir = Path(study_dir) / "variants" / variant.id
    done = vdir / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    vdir.mkdir(parents=True, exist_ok=True)
    overlay = vdir / "overlay.json"
    overlay.write_text(json.dumps(variant.overlay, indent=1))
    cmd = [_freqtrade(), "backtesting", "-c", str(config or REPO / "config.json"),
           "-c", str(venue_overlay), "-c", str(overlay), "--datadir", str(datadir),
           "--userdir", str(vdir / "ud"), "--strategy-path", str(REPO / "strategies"),
           "--strategy", strategy, "--timerange", variant.timerange, "--pairs", *pairs,
           "--export", "trades", "--cache", "none", "--enable-protections"]  # fmt: skip
    if variant.fee is not None:
        cmd += ["--fee", str(variant.fee)]
    (vdir / "ud").mkdir(exist_ok=True)
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    (vdir / "freqtrade.log").write_text(proc.stdout + proc.stderr)
    result = {**asdict(variant), "returncode": proc.returncode}
    if proc.returncode == 0:
        results_dir = vdir / "ud" / "backtest_results"
        trades = _trades(results_dir)
        trades.to_parquet(vdir / "trades.parquet", index=False)
        result["trades"] = len(trades)
        result["starting_balance"] = _starting_balance(results_dir)
    else:
        result["error"] = (proc.stdout + proc.stderr)[-2000:]
        logger.error("variant %s failed (exit %d); see %s", variant.id, proc.returncode,
                     vdir / "freqtrade.log")  # fmt: skip
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    os.replace(tmp, done)  # atomic: a half-written result never counts as done
    return result


def _trades(bt_dir: Path) -> pd.DataFrame:
    from freqtrade.data.btanalysis import load_backtest_data

    return load_backtest_data(bt_dir)


def _starting_balance(bt_dir: Path) -> float:
    from freqtrade.data.btanalysis import load_backtest_stats

    stats = load_backtest_stats(bt_dir)
    return float(next(iter(stats["strategy"].values()))["starting_balance"])


def run_study(variants: list[Variant], *, study_dir: Path, datadir: Path, pairs: list[str],
              workers: int = 2, progress: bool = True, config: Path | None = None,
              ) -> pd.DataFrame:  # fmt: skip
    """Run all variants (finished ones are read back, not rerun) against one local exchange
    over `datadir`; returns and stores `<study>/results.parquet` (one row per variant)."""
    from tqdm import tqdm

    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer

    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    with VenueServer(Path(datadir), mode="history", port=0) as venue:
        overlay = study_dir / "venue.json"
        overlay.write_text(json.dumps(exchange_overlay(venue.url)))
        results = []
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(run_variant, v, study_dir=study_dir, datadir=Path(datadir),
                                   venue_overlay=overlay, pairs=pairs, config=config)
                       for v in variants]  # fmt: skip
            for fut in tqdm(as_completed(futures), total=len(futures), desc="variants",
                            unit="run", disable=not progress):  # fmt: skip
                results.append(fut.result())
    table = pd.DataFrame(results).sort_values("id").reset_index(drop=True)
    table.assign(overlay=table["overlay"].map(json.dumps), meta=table["meta"].map(json.dumps)
                 ).to_parquet(study_dir / "results.parquet", index=False)  # fmt: skip
    return table


def variant_trades(study_dir: Path, variant_id: str) -> pd.DataFrame:
    """Trades of a finished variant (empty frame if it made none or failed)."""
    path = Path(study_dir) / "variants" / variant_id / "trades.parquet"
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()
