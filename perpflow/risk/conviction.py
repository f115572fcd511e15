"""Conviction: how many independent reads agree with an entry, mapped to a leverage cap.

Vectorised over the signal frame (one score per row and side, in [0, 1]); reads row t only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# weight of each confirmation; they sum to 1
WEIGHTS = {
    "pool": 0.25,  # the sweep took a liquidity pool (equal lows/highs), not a lone swing
    "liquidations": 0.2,  # a one-sided liquidation cluster preceded it (forced flow is done)
    "funding": 0.2,  # the crowd pays the other way (funding z beyond 1 against the trade's side)
    "open_interest": 0.2,  # OI fell with the move (positions flushed: regime 4 for longs, 3 shorts)
    "structure": 0.15,  # back inside the value area with no opposing open FVG
}


def _col(df: pd.DataFrame, name: str, default=np.nan) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(default, index=df.index)


def conviction(df: pd.DataFrame, *, long: bool) -> pd.Series:
    """Score in [0, 1] per row for a long (or short) entry; missing inputs add nothing."""
    side = "low" if long else "high"
    z = _col(df, "funding_z")
    regime = _col(df, "oi_regime")
    parts = {
        "pool": _col(df, f"pool_sweep_{side}", False).fillna(False).astype(bool),
        "liquidations": _col(df, f"liq_reversal_{'long' if long else 'short'}", False)
        .fillna(False).astype(bool),
        "funding": (z <= -1.0) if long else (z >= 1.0),
        "open_interest": regime == (4 if long else 3),
        "structure": _col(df, f"ok_structure_{'long' if long else 'short'}", False)
        .fillna(False).astype(bool),
    }  # fmt: skip
    score = sum(WEIGHTS[k] * v.fillna(False).astype("float64") for k, v in parts.items())
    return pd.Series(np.clip(score.to_numpy(), 0.0, 1.0), index=df.index,
                     name=f"conviction_{'long' if long else 'short'}")  # fmt: skip


def conviction_leverage(score: float, *, min_leverage: float, max_leverage: float) -> float:
    """Leverage cap from conviction: linear from `min_leverage` (score 0) to `max_leverage`
    (score 1); an unknown score gets the minimum."""
    if not np.isfinite(score):
        return min_leverage
    s = min(max(float(score), 0.0), 1.0)
    return min_leverage + s * (max_leverage - min_leverage)
