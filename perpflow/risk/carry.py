"""Funding carry against a trade's expected edge (per unit of notional)."""

from __future__ import annotations

import math


def expected_edge(stop_distance: float, *, take_profit_r: float, win_rate: float) -> float:
    """Expected return per unit notional of a stop/target trade: p x R x d - (1 - p) x d."""
    return stop_distance * (win_rate * take_profit_r - (1.0 - win_rate))


def funding_cost(side: str, *, rate: float, interval_hours: float, holding_hours: float) -> float:
    """Funding paid over the holding period per unit notional if the current rate persists
    (positive = a cost: longs pay positive rates, shorts negative ones)."""
    if side not in ("long", "short"):
        raise ValueError(f"side must be 'long' or 'short', got {side!r}")
    paid = rate * holding_hours / interval_hours
    return paid if side == "long" else -paid


def carry_allows(side: str, *, rate: float, interval_hours: float, holding_hours: float,
                 stop_distance: float, take_profit_r: float, win_rate: float,
                 max_share: float) -> tuple[bool, float, float]:  # fmt: skip
    """(allowed, funding cost, expected edge): an entry is refused when the funding it would pay
    over the planned holding period exceeds `max_share` of its expected edge, or when the edge
    is not positive. Unknown rate or interval -> refused (fail closed)."""
    edge = expected_edge(stop_distance, take_profit_r=take_profit_r, win_rate=win_rate)
    if not all(map(math.isfinite, (rate, interval_hours, stop_distance))) or interval_hours <= 0:
        return False, float("nan"), edge
    cost = funding_cost(side, rate=rate, interval_hours=interval_hours, holding_hours=holding_hours)
    return (edge > 0 and cost <= max_share * edge), cost, edge
