"""Leverage caps: configured maximum, exchange maximum, and liquidation distance vs the stop."""

from __future__ import annotations

import math


def liquidation_safe_leverage(
    stop_distance: float, *, maintenance_margin_rate: float = 0.005, buffer: float = 0.5,
    exchange_buffer: float = 0.05,
) -> float:  # fmt: skip
    """Largest isolated-margin leverage whose liquidation lies beyond the stop by `buffer`.

    An isolated position at leverage L is liquidated (1/L - mmr) / (1 + mmr) away from entry
    at worst (Binance's formula, the short side); Freqtrade then moves that price
    `exchange_buffer` (its `liquidation_buffer`, default 5%) of the way towards entry. Requiring
    (1 - exchange_buffer)(1/L - mmr)/(1 + mmr) >= stop_distance (1 + buffer) gives
    L <= 1 / (stop_distance (1 + buffer)(1 + mmr) / (1 - exchange_buffer) + mmr).
    """
    if not (stop_distance > 0 and math.isfinite(stop_distance)):
        return 1.0
    mmr = maintenance_margin_rate
    need = stop_distance * (1.0 + buffer) * (1.0 + mmr) / (1.0 - exchange_buffer)
    return 1.0 / (need + mmr)


def capped_leverage(*caps: float, step: float = 0.01) -> float:
    """The smallest finite cap, floored to a multiple of `step` (0.01; 1 where the exchange only
    takes whole leverage, as Binance does) and never below 1.0."""
    finite = [c for c in caps if c is not None and math.isfinite(c)]
    if not finite:
        return 1.0
    return max(1.0, math.floor(min(finite) / step + 1e-9) * step)
