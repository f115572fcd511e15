"""Out-of-sample scores of a FreqAI walk-forward: what the model said in each backtest window
against what the setups then did.

Reads FreqAI's own backtest prediction files (`<models>/backtesting_predictions/
cb_<coin>_<train end>_prediction.feather`: date, `%%-event_side`, class probabilities,
`do_predict`), relabels each window's setups from the candles with the same triple barrier the
strategy trains on, and scores precision and recall of "win" per window and overall.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.ai.features import EVENT_COLUMN
from perpflow.ai.model import scores
from perpflow.ai.targets import event_outcome
from perpflow.config import PerpflowConfig
from perpflow.data.files import read_required
from perpflow.features.volatility import atr

PREDICTION = re.compile(r"cb_(?P<coin>[a-z0-9]+)_(?P<stamp>\d+)_prediction\.feather$")


def prediction_files(models_dir: Path) -> pd.DataFrame:
    """coin, train-end time and path of each window's prediction file."""
    rows = []
    for f in sorted((Path(models_dir) / "backtesting_predictions").glob("*_prediction.feather")):
        if m := PREDICTION.search(f.name):
            rows.append({"coin": m["coin"], "train_end": pd.Timestamp(int(m["stamp"]), unit="s", tz="UTC"),
                         "path": f})  # fmt: skip
    if not rows:
        raise FileNotFoundError(
            f"no FreqAI backtest predictions under {models_dir}/backtesting_predictions"
        )
    return pd.DataFrame(rows)


def prediction_windows(models_dir: Path, datadir: Path, pairs: list[str], cfg: PerpflowConfig,
                       timeframe: str = "5m"):  # fmt: skip
    """Yield (pair, candles with `atr`, train_end, predictions) for each window's prediction
    file of `pairs`, in train-end order; the candles are read once per pair."""
    files = prediction_files(models_dir)
    by_coin = {p.split("/")[0].lower(): p for p in pairs}
    for coin, group in files.groupby("coin"):
        if coin not in by_coin:
            continue
        pair = by_coin[coin]
        candles = read_required(datadir, pair, f"{timeframe}-futures")
        candles = candles.assign(atr=atr(candles, period=cfg.risk.atr_period))
        for row in group.sort_values("train_end").itertuples():
            yield pair, candles, row.train_end, pd.read_feather(row.path)


def window_oos(models_dir: Path, datadir: Path, pairs: list[str], cfg: PerpflowConfig, *,
               timeframe: str = "5m", threshold: float = 0.5) -> pd.DataFrame:  # fmt: skip
    """One row per (pair, backtest window): setups, wins, predicted wins, precision, recall,
    base rate; plus `rows_without_prediction` (setups where do_predict != 1)."""
    out = []
    for pair, candles, train_end, pred in prediction_windows(
        models_dir, datadir, pairs, cfg, timeframe
    ):
        win = _score_window(candles, pred, cfg, threshold)
        out.append({"pair": pair, "train_end": train_end, "test_start": pred["date"].min(),
                    "test_end": pred["date"].max(), **win})  # fmt: skip
    if not out:
        raise ValueError(f"no prediction files for {pairs} under {models_dir}")
    return pd.DataFrame(out)


def _score_window(candles: pd.DataFrame, pred: pd.DataFrame, cfg: PerpflowConfig,
                  threshold: float) -> dict:  # fmt: skip
    """Relabel the window's setups (labels may use candles after the window: they are the
    truth being scored, not model inputs) and score the predictions on them."""
    merged = candles.merge(pred[["date", EVENT_COLUMN, "win", "do_predict"]], on="date", how="left")
    side = merged[EVENT_COLUMN].fillna(0)
    truth = event_outcome(merged, side, cfg)
    setups = (side != 0) & merged["win"].notna() & truth.notna()
    trusted = setups & (merged["do_predict"] == 1)
    res = scores((merged.loc[trusted, "win"] >= threshold).to_numpy(),
                 (truth[trusted] == "win").to_numpy())  # fmt: skip
    res["setups"] = int(setups.sum())
    res["rows_without_prediction"] = int((setups & ~trusted).sum())
    return res


def overall(windows: pd.DataFrame) -> dict:
    """Pooled precision/recall over all windows (counts summed, not ratios averaged)."""
    tp = (windows["precision"].fillna(0) * windows["predicted"]).round().sum()
    pos, predicted = windows["positives"].sum(), windows["predicted"].sum()
    return {"windows": len(windows), "setups": int(windows["test_rows"].sum()),
            "precision": tp / predicted if predicted else np.nan,
            "recall": tp / pos if pos else np.nan,
            "base_rate": pos / windows["test_rows"].sum() if windows["test_rows"].sum() else np.nan}  # fmt: skip
