"""`perpflow label`: a labelled event dataset (parquet) from a data dir, with summaries.

Rows are events (sweep candles, liquidation-cluster candles, strategy entries); columns are the
features LiquiditySweep sees at that candle plus the labels of what happened next.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.config import PerpflowConfig
from perpflow.data.files import read_optional, read_required
from perpflow.features.sessions import SESSION_NAMES
from perpflow.labels.barriers import triple_barrier
from perpflow.labels.events import liquidation_move, sweep_outcome
from perpflow.labels.horizons import TRIPLE_BARRIER_HORIZON
from perpflow.strategy.sweep_signals import populate_sweep_indicators, sweep_entries


def label_pair(
    datadir: Path, pair: str, cfg: PerpflowConfig, timeframe: str = "5m"
) -> pd.DataFrame:
    """Event rows of one pair: features at the event candle and the labels after it."""
    df = read_required(datadir, pair, f"{timeframe}-futures")
    feats = populate_sweep_indicators(
        df, pair=pair, cfg=cfg, timeframe=timeframe,
        funding=read_optional(datadir, pair, "1h-funding_rate"),
        open_interest=read_optional(datadir, pair, f"{cfg.filters.open_interest.timeframe}-open_interest"),
        liquidation_store=Path(datadir) / "store",
    )  # fmt: skip
    a = feats["atr"]
    low = feats["sweep_low"].fillna(False) | feats["pool_sweep_low"].fillna(False)
    high = feats["sweep_high"].fillna(False) | feats["pool_sweep_high"].fillna(False)
    long, short = sweep_entries(feats, cfg)
    labels = pd.concat([
        sweep_outcome(df, a, sweep_low=low, sweep_high=high),
        liquidation_move(df, a, feats["liq_cluster"].astype(bool)),
        triple_barrier(df, a, long | short, long=long, take_atr=cfg.risk.take_profit_r,
                       stop_atr=1.0, horizon=TRIPLE_BARRIER_HORIZON),
    ], axis=1)  # fmt: skip
    kind = np.select([long | short, low | high, feats["liq_cluster"].astype(bool)],
                     ["entry", "sweep", "liq_cluster"], default="")  # fmt: skip
    out = pd.concat([feats, labels], axis=1).assign(pair=pair, event=kind)
    out["session"] = out["session_block"].map(SESSION_NAMES)
    return out[out["event"] != ""].reset_index(drop=True)


def summarise(data: pd.DataFrame) -> pd.DataFrame:
    """Per pair, session and event type: counts and label rates."""
    g = data.groupby(["pair", "session", "event"])
    return pd.DataFrame({
        "events": g.size(), "sweep_reversal_rate": g["sweep_reversal"].mean(),
        "liq_move_rate": g["liq_move"].mean(), "tb_win_rate": g["tb_label"].apply(
            lambda s: (s == 1).sum() / s.notna().sum() if s.notna().any() else np.nan),
    }).reset_index()  # fmt: skip
