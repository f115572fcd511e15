"""The order policy: maker or taker, the limit price, and how a parent splits into children.

Pure functions of numbers the strategy reads (touch prices, depth, recent volume, the slippage
model's cost) and `ExecutionConfig`; the Freqtrade callbacks in `perpflow.strategy.execution`
call them. Written by hand: the rules are perpflow's (brief §4, §6.4), no library decides them.

- **Style**: an entry whose tag starts with one of `patient_tags` (a fade: sweep reversal,
  liquidation reversal) rests as a maker at the touch; any other (a continuation) takes.
- **Price**: a maker rests at its own touch (bid for a buy); a taker is a marketable limit at
  the far touch plus the model's expected cost, capped at `taker_cap_bps` beyond the touch.
- **Children**: the parent splits when its notional exceeds `max_depth_share` of the depth
  within `depth_bps` on the side it takes, or `max_participation` of the volume expected over
  the window. Takers split into TWAP children spread over `window_minutes`; makers into iceberg
  slices of at most `iceberg_visible` of the parent, placed as the previous one fills.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from perpflow.config import ExecutionConfig


@dataclass(frozen=True, slots=True)
class ChildPlan:
    """How one parent is worked: `children` orders (1 = not split), `mode` 'single', 'twap' or
    'iceberg', `interval_s` between TWAP children (0: iceberg, next as the last fills), and why."""

    children: int
    mode: str
    interval_s: float
    reason: str

    @property
    def share(self) -> float:
        """Share of the parent per child."""
        return 1.0 / self.children


def style(tag: str | None, cfg: ExecutionConfig) -> str:
    """'maker' for patient setups (tag prefix in `patient_tags`), else 'taker'."""
    return "maker" if tag and tag.startswith(tuple(cfg.patient_tags)) else "taker"


def limit_price(side: str, how: str, *, bid: float, ask: float, cost_bps: float,
                cap_bps: float) -> float:  # fmt: skip
    """The limit price of a `side` ('buy'/'sell') order placed `how` ('maker'/'taker'): a maker
    at its own touch; a taker at the far touch moved by the expected cost beyond the half
    spread (`cost_bps`, never below 0), at most `cap_bps` beyond the touch."""
    buy = side == "buy"
    if how == "maker":
        return bid if buy else ask
    touch = ask if buy else bid
    mid = (bid + ask) / 2
    half = (ask - bid) / 2 / mid * 1e4 if mid > 0 else 0.0
    beyond = min(max(cost_bps - half, 0.0), cap_bps) if math.isfinite(cost_bps) else cap_bps
    return touch * (1 + beyond / 1e4) if buy else touch * (1 - beyond / 1e4)


def expected_fill(side: str, ref: float, cost_bps: float) -> float:
    """The price a `side` order is expected to fill at: `ref` (the mid or the candle open) moved
    against the order by `cost_bps` (what backtests use as the fill)."""
    sign = 1.0 if side == "buy" else -1.0
    return ref * (1 + sign * max(cost_bps, 0.0) / 1e4)


def plan_children(notional: float, how: str, *, depth: float, volume_per_min: float,
                  cfg: ExecutionConfig) -> ChildPlan:  # fmt: skip
    """Split rule for a parent of `notional` quote taking `how`, given the quote `depth` within
    `depth_bps` on its side (NaN unknown) and the quote volume traded per minute recently (NaN
    unknown). Unknown inputs do not split on their own rule; both unknown -> one order."""
    c = cfg.children
    need, why = 1.0, "fits the book and the flow"
    if math.isfinite(depth) and depth > 0:
        n = notional / (c.max_depth_share * depth)
        if n > need:
            need, why = n, f"{notional / depth:.0%} of the depth within {c.depth_bps:g} bps"
    if math.isfinite(volume_per_min) and volume_per_min > 0:
        n = notional / (c.max_participation * volume_per_min * c.window_minutes)
        if n > need:
            share = notional / (volume_per_min * c.window_minutes)
            need, why = n, f"{share:.0%} of the volume expected over {c.window_minutes:g} min"
    if how == "maker" and need > 1.0:
        need = max(need, 1.0 / c.iceberg_visible)
    n = min(int(math.ceil(need - 1e-9)), c.max_children)
    if n <= 1:
        return ChildPlan(1, "single", 0.0, why)
    if how == "maker":
        return ChildPlan(n, "iceberg", 0.0, why)
    return ChildPlan(n, "twap", c.window_minutes * 60.0 / n, why)


def child_stake(*, parent_stake: float, filled_stake: float, plan: ChildPlan,
                risk_left: float, loss_per_stake: float) -> float:  # fmt: skip
    """Margin stake of the next child: one child's share of the parent, no more than what the
    parent has left, and no more than the risk left at the stop allows (`risk_left` quote over
    `loss_per_stake`, the quote lost at the stop per unit of stake at the current price)."""
    left = parent_stake - filled_stake
    if left <= 0:
        return 0.0
    stake = min(parent_stake * plan.share, left)
    if loss_per_stake > 0:
        stake = min(stake, max(risk_left, 0.0) / loss_per_stake)
    return max(stake, 0.0)


def window_drift_bps(sigma_bps_1s: float, span_s: float, z: float = 2.576) -> float:
    """Half-width of a two-sided 99% band (`z`) of a random walk with `sigma_bps_1s` per
    square-root second over `span_s` seconds: what a parent worked over a window may drift
    beyond its single-order cost band (0 when sigma is unknown or the span is 0)."""
    if not (math.isfinite(sigma_bps_1s) and span_s > 0):
        return 0.0
    return z * sigma_bps_1s * math.sqrt(span_s)


def round_trip_bps(entry_bps: float, exit_bps: float, fee: float) -> float:
    """Modelled round-trip cost in bps: entry and exit slippage plus two fees (`fee` a rate)."""
    return entry_bps + exit_bps + 2 * fee * 1e4
