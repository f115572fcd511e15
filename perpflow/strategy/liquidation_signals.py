"""Liquidation-cluster reversal entries: pure functions of candles and stored liquidation events.

Long: a cluster candle where liquidated longs dominate (sell orders, >= `min_dominance` of the
notional), printed in a London/New York handoff window; within `max_bars_after` candles no low
has broken the cluster candle's low ("support holds") and a green candle closes above the
cluster candle's close. The first such candle after each cluster enters. Short mirrored. Candles
the store did not cover have no features (fail closed, logged once per pair).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.config import PerpflowConfig
from perpflow.data.coverage import covered_candles
from perpflow.data.readers import exchange_symbol, load_liquidations
from perpflow.features.liquidations import liquidation_features
from perpflow.features.sessions import handoff_window
from perpflow.strategy.failclosed import warn_once

logger = logging.getLogger(__name__)

LIQ_COLUMNS = (
    "liq_long_notional", "liq_short_notional", "liq_cluster", "liq_cascade_density",
    "liq_bars_since_cluster", "liq_wall", "liq_covered", "handoff",
    "liq_reversal_long", "liq_reversal_short", "liq_support", "liq_resistance",
)  # fmt: skip


def liquidations_on_candles(df: pd.DataFrame, *, pair: str, cfg: PerpflowConfig, timeframe: str,
                            root: Path | None) -> pd.DataFrame:  # fmt: skip
    """Liquidation features, handoff flag and reversal triggers per candle (reads rows <= t)."""
    lc = cfg.filters.liquidations
    since = pd.Timestamp(df["date"].iloc[0]) - pd.Timedelta(days=1) if len(df) else None
    events, spans = load_liquidations(root, lc.exchange, exchange_symbol(pair), since)
    covered = covered_candles(df["date"], spans, timeframe)
    if lc.enabled and not covered.any():
        warn_once(
            logger, pair, "liquidations",
            f"liquidation input missing for {pair} (no {lc.exchange} coverage in "
            f"{root or '<no store>'} for these candles): liquidation-cluster entries blocked "
            "(collect with `perpflow collect liquidations`, or set "
            "perpflow.filters.liquidations.enabled=false)",
        )  # fmt: skip
    feats = liquidation_features(
        df["date"], events, timeframe=timeframe, pct=lc.pct, lookback=lc.lookback,
        cascade_window=lc.cascade_window, covered=covered,
    )  # fmt: skip
    feats["handoff"] = handoff_window(
        df["date"], before_minutes=lc.handoff_before_minutes, after_minutes=lc.handoff_after_minutes
    ).to_numpy()
    both = pd.concat([df[["open", "high", "low", "close"]], feats], axis=1)
    long, support = _reversal(both, cfg, long=True)
    short, resistance = _reversal(both, cfg, long=False)
    ok = lc.enabled
    return feats.assign(
        liq_reversal_long=long & ok, liq_reversal_short=short & ok,
        liq_support=support, liq_resistance=resistance,
    )  # fmt: skip


def _reversal(f: pd.DataFrame, cfg: PerpflowConfig, *, long: bool) -> tuple[np.ndarray, np.ndarray]:
    """Reversal trigger after the latest one-sided cluster, and the level that must hold."""
    lc = cfg.filters.liquidations
    own = f["liq_long_notional"] if long else f["liq_short_notional"]
    total = f["liq_long_notional"] + f["liq_short_notional"]
    anchor = f["liq_cluster"] & (own >= lc.min_dominance * total) & f["handoff"]
    anchor = anchor.fillna(False).astype(bool).to_numpy()
    idx = np.arange(len(f))
    last = np.maximum.accumulate(np.where(anchor, idx, -1))
    seg = pd.Series(np.cumsum(anchor))
    since = np.where(last >= 0, idx - last, -1)
    pick = np.maximum(last, 0)
    low, high, close = (f[c].to_numpy() for c in ("low", "high", "close"))
    level = np.where(last >= 0, (low if long else high)[pick], np.nan)
    ref_close = np.where(last >= 0, close[pick], np.nan)
    after = since > 0
    if long:
        worst = pd.Series(np.where(after, low, np.inf)).groupby(seg).cummin().to_numpy()
        holds = worst >= level
        reclaim = (close > ref_close) & (close > f["open"].to_numpy())
    else:
        worst = pd.Series(np.where(after, high, -np.inf)).groupby(seg).cummax().to_numpy()
        holds = worst <= level
        reclaim = (close < ref_close) & (close < f["open"].to_numpy())
    fresh = after & (since <= lc.max_bars_after) & f["liq_covered"].to_numpy()
    trigger = pd.Series(fresh & holds & reclaim)
    first = trigger & (trigger.astype("int64").groupby(seg).cumsum() == 1)
    return first.to_numpy(), np.where(last >= 0, level, np.nan)
