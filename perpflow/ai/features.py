"""Model inputs for LiquiditySweepAI: FreqAI `%-` features from LiquiditySweep's indicator frame.

Reads the columns `populate_sweep_indicators` adds (all causal: rows <= t) and returns scale-free
versions (ATR or z units, so one model can serve BTC and DOGE). Derivatives and liquidation
features are included only when their filter is enabled: a disabled series is usually absent,
and a column of NaN would make FreqAI drop every training row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpflow.config import PerpflowConfig
from perpflow.strategy.sweep_signals import sweep_kinds

EVENT_COLUMN = "%%-event_side"  # `%%`: a feature FreqAI also copies into its prediction files
RETURN_WINDOWS = (12, 48)  # candles of the `%-ret_<n>` returns
VOLUME_WINDOW = 48  # candles of the mean volume in `%-rel_volume`
LIQ_WINDOW = 12  # candles summed by the `%-liq_*` features


def ai_warmup() -> int:
    """Candles `ai_features` reads back from t on top of the indicator frame's own warm-up: the
    longest return (n + 1 closes) and rolling window."""
    return max(max(RETURN_WINDOWS) + 1, VOLUME_WINDOW, LIQ_WINDOW)


def event_side(frame: pd.DataFrame, cfg: PerpflowConfig) -> pd.Series:
    """+1 where a long setup triggers (a swept low or pool, or a long liquidation reversal), -1
    for the short mirror, 0 elsewhere and where both sides trigger on one candle (ambiguous)."""
    k = sweep_kinds(frame, cfg)
    long = (
        k["sweep_low"] | k["pool_sweep_low"] | frame["liq_reversal_long"].fillna(False).astype(bool)
    )
    short = (k["sweep_high"] | k["pool_sweep_high"]
             | frame["liq_reversal_short"].fillna(False).astype(bool))  # fmt: skip
    return pd.Series(np.where(long & ~short, 1, np.where(short & ~long, -1, 0)), index=frame.index,
                     dtype="float64")  # fmt: skip


def ai_features(frame: pd.DataFrame, cfg: PerpflowConfig) -> pd.DataFrame:
    """The `%-` feature frame (same index as `frame`)."""
    a = frame["atr"].where(frame["atr"] > 0)
    close = frame["close"]
    side = event_side(frame, cfg)
    low_depth = frame[["sweep_low_depth_atr", "pool_sweep_low_depth_atr"]].max(axis=1)
    high_depth = frame[["sweep_high_depth_atr", "pool_sweep_high_depth_atr"]].max(axis=1)
    f = {
        EVENT_COLUMN: side,
        "%-sweep_depth_atr": np.where(side > 0, low_depth, np.where(side < 0, high_depth, 0.0)),
        "%-pool_touches": np.where(side > 0, frame["pool_low_touches"],
                                   np.where(side < 0, frame["pool_high_touches"], 0.0)),  # fmt: skip
        "%-swing_range_atr": (frame["swing_high"] - frame["swing_low"]) / a,
        "%-close_in_range": (close - frame["swing_low"]) / (frame["swing_high"] - frame["swing_low"]),
        "%-poc_dist_atr": (close - frame["vp_poc"]) / a,
        "%-vah_dist_atr": (close - frame["vp_vah"]) / a,
        "%-val_dist_atr": (close - frame["vp_val"]) / a,
        "%-hvn_dist_atr": frame["vp_hvn_dist_atr"],
        "%-lvn_dist_atr": frame["vp_lvn_dist_atr"],
        "%-session_poc_dist_atr": frame["session_poc_dist_atr"],
        "%-range_atr": (frame["high"] - frame["low"]) / a,
        "%-body_atr": (close - frame["open"]) / a,
        **{f"%-ret_{n}": close.pct_change(n) for n in RETURN_WINDOWS},
        "%-rel_volume": frame["volume"]
        / frame["volume"].rolling(VOLUME_WINDOW, min_periods=VOLUME_WINDOW).mean(),
        "%-atr_pct": a / close,
        "%-rv_pct": frame["rv_pct"],
        "%-session_block": frame["session_block"],
        "%-tod_sin": frame["tod_sin"], "%-tod_cos": frame["tod_cos"],
        "%-dow_sin": frame["dow_sin"], "%-dow_cos": frame["dow_cos"],
        "%-conviction_long": frame["conviction_long"],
        "%-conviction_short": frame["conviction_short"],
    }  # fmt: skip
    flt = cfg.filters
    if flt.funding.enabled:
        f["%-funding_z"] = frame["funding_z"]
        f["%-funding_rate"] = frame["funding_rate_last"]
    if flt.open_interest.enabled:
        f.update({"%-oi_change": frame["oi_change"], "%-oi_z": frame["oi_z"],
                  "%-price_z": frame["price_z"], "%-oi_regime": frame["oi_regime"]})  # fmt: skip
    if flt.liquidations.enabled:
        w = LIQ_WINDOW
        notional = (frame["liq_long_notional"] + frame["liq_short_notional"]).rolling(w).sum()
        f.update({
            f"%-liq_notional_{w}": notional / (frame["volume"] * close).rolling(w).sum(),
            "%-liq_long_share": frame["liq_long_notional"].rolling(w).sum() / notional.where(notional > 0),
            "%-liq_density": frame["liq_cascade_density"],
            "%-liq_bars_since_cluster": frame["liq_bars_since_cluster"].clip(upper=288),
            "%-handoff": frame["handoff"].astype("float64"),
        })  # fmt: skip
        # no liquidations in a covered window is a real 0 share, not unknown
        f["%-liq_long_share"] = f["%-liq_long_share"].where(notional.isna() | (notional > 0), 0.5)
    if flt.book.enabled:  # recorded order books (`perpflow record`), read toward the setup's side
        toward = np.where(side < 0, -1.0, 1.0)
        f.update({
            "%-book_imb_10": frame["book_imb_10_last"] * toward,
            "%-book_imb_w": frame["book_imb_w_mean"] * toward,
            "%-book_void_bps": np.where(side < 0, frame["book_void_ask_bps_max"], frame["book_void_bid_bps_max"]),
            "%-book_cancel_to_trade": frame["book_cancel_to_trade"],
            "%-book_ctt_pre_open": frame["book_ctt_pre_open"],
        })  # fmt: skip
        if flt.book.cross_exchange:
            f.update({"%-book_xv_imb_diff": frame["xv_imb_diff"] * toward, "%-book_xv_mid_bps": frame["xv_mid_bps"],
                      "%-book_xv_depth_ratio": frame["xv_depth_ratio"]})  # fmt: skip
    out = pd.DataFrame(f, index=frame.index)
    return out.astype("float64").replace([np.inf, -np.inf], np.nan)
