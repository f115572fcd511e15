"""Position sizing from risk: the loss at the stop is a fixed fraction of equity."""

from __future__ import annotations

import math


def risk_stake(
    equity: float,
    *,
    risk_fraction: float,
    stop_distance: float,
    leverage: float,
    fee: float = 0.0,
) -> float:
    """Margin stake whose loss at the stop (plus entry and exit fees) is `risk_fraction` of equity.

    `stop_distance` is |entry - stop| / entry. Position notional = stake * leverage, and the loss
    at the stop is notional * (stop_distance + 2 * fee). Returns 0.0 for unusable inputs.
    """
    per_unit_loss = stop_distance + 2.0 * fee
    if not (equity > 0 and risk_fraction > 0 and per_unit_loss > 0 and leverage >= 1):
        return 0.0
    if not all(map(math.isfinite, (equity, risk_fraction, per_unit_loss, leverage))):
        return 0.0
    return equity * risk_fraction / per_unit_loss / leverage


def clamp_stake(stake: float, *, min_stake: float | None, max_stake: float) -> float:
    """Clamp to the exchange/wallet maximum; 0.0 (skip the trade) when the minimum is larger.

    A trade whose minimum stake would exceed the risk budget is skipped, never oversized.
    """
    if not stake > 0:
        return 0.0
    if min_stake is not None and min_stake > stake:
        return 0.0
    return min(stake, max_stake)


def volatility_scale(vol_pct: float, *, threshold: float = 0.9, scale: float = 0.5) -> float:
    """Size multiplier: `scale` when volatility sits in its top tail (`vol_pct` >= `threshold`),
    else 1. Unknown volatility (NaN) counts as high: sizing fails towards smaller."""
    if not math.isfinite(vol_pct):
        return scale
    return scale if vol_pct >= threshold else 1.0
