"""A study: many independent `freqtrade backtesting` runs (variants), fanned out over a pool.

Each variant is one real `freqtrade backtesting` subprocess against the local exchange with its
own config overlay, timerange and result directory. A finished variant leaves `result.json` and
is never rerun (a failed one is), so an interrupted study resumes where it stopped; a
Freqtrade configuration error (Freqtrade exits 0 on it) counts as a failure. The pool is the
standard library's (`concurrent.futures`): each worker only waits on its subprocess. On a Dask
cluster (`run_study(..., scheduler=...)`, `perpflow.validation.cluster`) each variant is one task;
nothing here schedules by hand.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from perpflow.validation.code_hash import trading_code_hash
from perpflow.venue.ftguard import EXIT_CONFIG_ERROR, config_error

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
    # {"timerange": train, "epochs": N, "loss": ..., "spaces": [...]}: search parameters with
    # Freqtrade's hyperopt on `timerange` first, then backtest `self.timerange` with the result
    hyperopt: dict | None = None


def _freqtrade() -> str:
    return str(Path(sys.executable).parent / "freqtrade")


def run_variant(variant: Variant, *, study_dir: Path, datadir: Path, venue_overlay: Path,
                pairs: list[str], strategy: str = "LiquiditySweep",
                config: Path | None = None, export: str = "trades") -> dict:  # fmt: skip
    """Run one variant (or return its stored result): trades go to
    `<study>/variants/<id>/trades.parquet`, status and timings to `result.json`; `export`
    "signals" also keeps the signal candles in the result (Freqtrade's `--export signals`)."""
    vdir = Path(study_dir) / "variants" / variant.id
    done = vdir / "result.json"
    stored = stored_result(variant, study_dir)
    if stored is not None:
        return stored
    vdir.mkdir(parents=True, exist_ok=True)
    overlay = vdir / "overlay.json"
    overlay.write_text(json.dumps(variant.overlay, indent=1))
    (vdir / "ud").mkdir(exist_ok=True)
    strategy_path = REPO / "strategies"
    common = ["-c", str(config or REPO / "config.json"), "-c", str(venue_overlay), "-c",
              str(overlay), "--datadir", str(datadir), "--userdir", str(vdir / "ud"),
              "--strategy", strategy, "--pairs", *pairs, "--enable-protections"]  # fmt: skip
    if variant.fee is not None:
        common += ["--fee", str(variant.fee)]
    result = {**asdict(variant), "code": trading_code_hash()}
    if variant.hyperopt:
        # a private copy of the strategy: hyperopt writes its parameter file next to it
        strategy_path = vdir / "strategies"
        strategy_path.mkdir(exist_ok=True)
        shutil.copy(REPO / "strategies" / f"{strategy}.py", strategy_path)
        h = variant.hyperopt
        proc = _run([_freqtrade(), "hyperopt", *common, "--strategy-path", str(strategy_path),
                     "--timerange", h["timerange"], "-e", str(h.get("epochs", 50)),
                     "--spaces", *h.get("spaces", ["buy", "sell"]),
                     "--hyperopt-loss", h.get("loss", "SharpeHyperOptLoss"),
                     "--random-state", str(h.get("random_state", 1)), "-j", "1",
                     "--min-trades", str(h.get("min_trades", 5))], vdir / "hyperopt.log")  # fmt: skip
        params = strategy_path / f"{strategy}.json"
        if proc.returncode != 0 or not params.exists():
            result |= {"returncode": proc.returncode or 1,
                       "error": "hyperopt produced no parameters: see hyperopt.log"}  # fmt: skip
            _write_result(done, result)
            return result
        result["params"] = json.loads(params.read_text()).get("params", {})
    proc = _run([_freqtrade(), "backtesting", *common, "--strategy-path", str(strategy_path),
                 "--timerange", variant.timerange, "--export", export, "--cache", "none"],
                vdir / "freqtrade.log")  # fmt: skip
    results_dir = vdir / "ud" / "backtest_results"
    if proc.returncode == 0 and not (results_dir / ".last_result.json").exists():
        proc.returncode, proc.stderr = 1, proc.stderr + "\nfreqtrade wrote no backtest result"
    result["returncode"] = proc.returncode
    if proc.returncode == 0:
        trades = _trades(results_dir)
        trades.to_parquet(vdir / "trades.parquet", index=False)
        result["trades"] = len(trades)
        result["starting_balance"] = _starting_balance(results_dir)
    else:
        output = proc.stdout + proc.stderr
        result["error"] = config_error(output) or output[-2000:]
        logger.error("variant %s failed (exit %d); see %s", variant.id, proc.returncode,
                     vdir / "freqtrade.log")  # fmt: skip
    _write_result(done, result)
    return result


def stored_result(variant: Variant, study_dir: Path) -> dict | None:
    """The finished result of `variant` from `<study>/variants/<id>/result.json`, or None if it
    has none, failed (it runs again, e.g. after a fix) or was stored for other settings or
    other trading code (`trading_code_hash`)."""
    done = Path(study_dir) / "variants" / variant.id / "result.json"
    if not done.exists():
        return None
    stored = json.loads(done.read_text())
    same = all(stored.get(k) == v for k, v in json.loads(json.dumps(asdict(variant))).items())
    if not same:
        logger.warning("variant %s changed since its stored result: running it again", variant.id)
    elif stored.get("code") != trading_code_hash():
        logger.warning("variant %s: the trading code changed since its stored result: running "
                       "it again", variant.id)  # fmt: skip
        same = False
    return stored if stored.get("returncode") == 0 and same else None


def _run(cmd: list[str], log: Path) -> subprocess.CompletedProcess:
    """Run a freqtrade command, its output to `log`; a configuration error (on which Freqtrade
    exits 0) counts as a failure with exit code 2."""
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode == 0 and config_error(proc.stdout + proc.stderr):
        proc.returncode = EXIT_CONFIG_ERROR
    return proc


def _write_result(done: Path, result: dict) -> None:
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    os.replace(tmp, done)  # atomic: a half-written result never counts as done


def _trades(bt_dir: Path) -> pd.DataFrame:
    from freqtrade.data.btanalysis import load_backtest_data

    return load_backtest_data(bt_dir)


def _starting_balance(bt_dir: Path) -> float:
    from freqtrade.data.btanalysis import load_backtest_stats

    stats = load_backtest_stats(bt_dir)
    return float(next(iter(stats["strategy"].values()))["starting_balance"])


def run_study(variants: list[Variant], *, study_dir: Path, datadir: Path, pairs: list[str],
              workers: int = 2, progress: bool = True, config: Path | None = None,
              export: str = "trades", scheduler: str | None = None) -> pd.DataFrame:  # fmt: skip
    """Run all variants (finished ones are read back, not rerun); returns and stores
    `<study>/results.parquet` (one row per variant). `scheduler` None: a local pool of `workers`
    threads against one local exchange over `datadir`; "local" (a LocalCluster of `workers`
    processes) or a Dask scheduler address ("tcp://host:8786"): one Dask task per variant, see
    `perpflow.validation.cluster`."""
    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    if scheduler:
        from perpflow.validation.cluster import run_on_dask

        results = run_on_dask(variants, scheduler=scheduler, study_dir=study_dir,
                              datadir=Path(datadir), pairs=pairs, workers=workers,
                              progress=progress, config=config, export=export)  # fmt: skip
    else:
        results = _run_local(variants, study_dir=study_dir, datadir=Path(datadir), pairs=pairs,
                             workers=workers, progress=progress, config=config, export=export)  # fmt: skip
    table = pd.DataFrame(results).sort_values("id").reset_index(drop=True)
    table.assign(overlay=table["overlay"].map(json.dumps), meta=table["meta"].map(json.dumps)
                 ).to_parquet(study_dir / "results.parquet", index=False)  # fmt: skip
    return table


def _run_local(variants: list[Variant], *, study_dir: Path, datadir: Path, pairs: list[str],
               workers: int, progress: bool, config: Path | None, export: str) -> list[dict]:  # fmt: skip
    """The variants' results from a thread pool (each thread waits on its freqtrade subprocess)
    against one local exchange over `datadir`, started here."""
    from tqdm import tqdm

    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer

    with VenueServer(datadir, mode="history", port=0) as venue:
        overlay = study_dir / "venue.json"
        overlay.write_text(json.dumps(exchange_overlay(venue.url)))
        results = []
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [pool.submit(run_variant, v, study_dir=study_dir, datadir=datadir,
                                   venue_overlay=overlay, pairs=pairs, config=config,
                                   export=export)
                       for v in variants]  # fmt: skip
            for fut in tqdm(as_completed(futures), total=len(futures), desc="variants",
                            unit="run", disable=not progress):  # fmt: skip
                results.append(fut.result())
    return results


def variant_trades(study_dir: Path, variant_id: str) -> pd.DataFrame:
    """Trades of a finished variant (empty frame if it made none or failed)."""
    path = Path(study_dir) / "variants" / variant_id / "trades.parquet"
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()
