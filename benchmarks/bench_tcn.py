"""The event ensemble on real data: TCN vs LightGBM training time per window, TCN inference per
candle, and the out-of-sample comparison of rules, LightGBM, TCN and their vote.

Goals (issue 18): TCN training per window <= 3x LightGBM's; inference < 1 ms per candle.
Data: real Binance BTC/ETH/SOL 5m from ../shared/data/binance, FreqAI's shipped windows (train
90 days, predict the next 30) over 2025-04-01..2026-01-01 (the data starts 2024-12-31, so the
first window's training needs April); the demo market (30/7-day windows) when the shared data
is absent. One `freqtrade backtesting` run with config.freqai.json + config.ensemble.json, then
`perpflow validate freqai` on it; the report stays in user_data/bench/ensemble/report.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAIRS = ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]
OUT = REPO / "user_data" / "bench" / "ensemble"
TRAINED = re.compile(r"(?P<pair>\S+): ensemble \[.*?\] trained in (?P<secs>\{.*?\});")


def _setup() -> tuple[Path, str, dict, str]:
    real = REPO.parent / "shared" / "data" / "binance"
    if (real / "futures").is_dir():
        # no OI history (October 2025 only) and no recorded liquidations in this data set
        extra = {"perpflow": {"filters": {"open_interest": {"enabled": False},
                                          "liquidations": {"enabled": False}}}}  # fmt: skip
        return real, "20250401-20260101", extra, "real Binance 5m, 2025"
    windows = {"train_period_days": 30, "backtest_period_days": 7}
    return REPO / "user_data/data/demo", "20260601-20260801", {"freqai": windows}, "demo market"


def run_backtest() -> tuple[list[dict], float, Path, Path, str]:
    """Run the walk-forward; return the per-window training seconds, wall time, userdir,
    datadir and the data label."""
    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer

    datadir, timerange, extra, label = _setup()
    ud = OUT / "ud"
    subprocess.run(["rm", "-rf", str(OUT)], check=True)
    for sub in ("backtest_results", "models", "data"):
        (ud / sub).mkdir(parents=True, exist_ok=True)
    with VenueServer(datadir, port=0) as venue:
        overlay = OUT / "venue.json"
        overlay.write_text(json.dumps(exchange_overlay(venue.url)))
        bench = OUT / "bench.json"
        bench.write_text(json.dumps({**extra, "freqai": {**extra.get("freqai", {}),
                                                         "identifier": "bench-ensemble"}}))  # fmt: skip
        cmd = [str(BIN / "freqtrade"), "backtesting", "-c", str(REPO / "config.json"),
               "-c", str(REPO / "config.freqai.json"), "-c", str(REPO / "config.ensemble.json"),
               "-c", str(bench), "-c", str(overlay), "--userdir", str(ud), "--datadir", str(datadir),
               "--freqaimodel-path", str(REPO / "freqaimodels"), "--pairs", *PAIRS,
               "--timerange", timerange, "--cache", "none", "--export", "trades"]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    (OUT / "backtest.log").write_text(log)
    if proc.returncode != 0:
        raise SystemExit(f"ensemble backtest failed:\n{log[-4000:]}")
    rows = [{"pair": m["pair"], **ast.literal_eval(m["secs"])} for m in TRAINED.finditer(log)]
    return rows, wall, ud, datadir, label


def inference(models: Path) -> dict:
    """TCN inference from a saved window model: per candle in a backtest batch, and one live
    call (one window), on inputs of the model's real shape."""
    import joblib

    path = next(models.glob("sub-train-*/*_model.joblib"))
    model = joblib.load(path)
    tcn = model.members["tcn"].estimator
    shape = (model.window, tcn.n_features)
    x = np.random.default_rng(0).normal(size=(8640, *shape)).astype("float32")
    tcn.predict_proba(x[:1])
    tcn.predict_proba(x)
    t0 = time.perf_counter()
    tcn.predict_proba(x)
    batch = (time.perf_counter() - t0) / len(x)
    t0 = time.perf_counter()
    for i in range(200):
        tcn.predict_proba(x[i : i + 1])
    single = (time.perf_counter() - t0) / 200
    return {"batch_us_per_candle": batch * 1e6, "live_ms_per_call": single * 1e3, "input": shape}


def main() -> dict:
    rows, wall, ud, datadir, label = run_backtest()
    if not rows:
        raise SystemExit(f"no training lines in {OUT / 'backtest.log'}")
    lgbm = np.array([r["lightgbm_seconds"] for r in rows])
    tcn = np.array([r["tcn_seconds"] for r in rows])
    later = slice(1, None) if len(rows) > 1 else slice(None)  # the first pays jit compilation
    ratio = np.median(tcn[later]) / np.median(lgbm[later])
    print(f"event ensemble walk-forward, {label}, {len(PAIRS)} pairs: {len(rows)} training windows, "
          f"backtest wall time {wall:.0f} s")  # fmt: skip
    print(f"  LightGBM fit per window: median {np.median(lgbm):.2f} s (max {lgbm.max():.2f})")
    print(f"  TCN fit per window:      median {np.median(tcn[later]):.2f} s (max {tcn[later].max():.2f}); "
          f"first window incl. compilation {tcn[0]:.2f} s")  # fmt: skip
    print(f"  ratio TCN/LightGBM (median, windows after the first): {ratio:.2f}x  (goal <= 3x) "
          f"{'OK' if ratio <= 3 else 'ABOVE GOAL'}")  # fmt: skip
    inf = inference(ud / "models" / "bench-ensemble")
    print(f"  TCN inference, input {inf['input']}: {inf['batch_us_per_candle']:.1f} us per candle in a "
          f"backtest batch; {inf['live_ms_per_call']:.3f} ms per live call (goal < 1 ms) "
          f"{'OK' if inf['live_ms_per_call'] < 1 else 'ABOVE GOAL'}")  # fmt: skip
    study = subprocess.run(
        [str(BIN / "perpflow"), "validate", "freqai", "-c", str(REPO / "config.json"),
         "-c", str(REPO / "config.freqai.json"), "-c", str(REPO / "config.ensemble.json"),
         "-c", str(OUT / "bench.json"), "--models", str(ud / "models" / "bench-ensemble"),
         "--backtest", str(ud / "backtest_results"), "--datadir", str(datadir),
         "--out", str(OUT / "report")],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    print(study.stdout[-6000:] if study.returncode == 0 else study.stderr[-3000:])
    return {"windows": rows, "ratio": ratio, "inference": inf, "wall": wall}


if __name__ == "__main__":
    main()
