"""Leverage caps: configured maximum, exchange maximum, and liquidation distance vs the stop."""

from __future__ import annotations

import math


def liquidation_safe_leverage(
    stop_distance: float, *, maintenance_margin_rate: float = 0.005, buffer: float = 0.5
) -> float:
    """Largest isolated-margin leverage whose liquidation lies beyond the stop by `buffer`.

    An isolated position at leverage L is liquidated about (1/L - mmr) away from entry. Requiring
    that distance >= stop_distance * (1 + buffer) gives L <= 1 / (stop_distance * (1+buffer) + mmr).
    """
    if not (stop_distance > 0 and math.isfinite(stop_distance)):
        return 1.0
    return 1.0 / (stop_distance * (1.0 + buffer) + maintenance_margin_rate)


def capped_leverage(*caps: float) -> float:
    """The smallest finite cap, floored to 2 decimals and never below 1.0."""
    finite = [c for c in caps if c is not None and math.isfinite(c)]
    if not finite:
        return 1.0
    return max(1.0, math.floor(min(finite) * 100) / 100)
