"""One entry's risk context: the planned stop and the caps every entry callback reads.

`entry_risk` is a pure function of the last analysed row, the risk config and the pair's
exchange facts (price tick, maintenance margin rate, leverage step, Freqtrade's liquidation
buffer). The strategy builds it once per pair, candle, side, tag and entry rate and hands the
same frozen `EntryRisk` to `leverage`, `custom_stake_amount` and `confirm_trade_entry` (and the
first `custom_stoploss`), so they cannot disagree on the stop or the caps. What changes inside a
candle (the governor's scale and budget, the wallet's equity, Freqtrade's leverage and fee) is
passed to its methods, never stored in it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from perpflow.risk.conviction import conviction_leverage
from perpflow.risk.leverage import capped_leverage, liquidation_safe_leverage
from perpflow.risk.sizing import risk_stake, volatility_scale
from perpflow.risk.stops import initial_stop, stop_distance, structure_extreme

if TYPE_CHECKING:
    from perpflow.config import RiskConfig

# the fields of the signal row the context reads
ENTRY_FIELDS = (
    "low", "high", "atr", "liq_support", "liq_resistance", "pool_low_level", "pool_high_level",
    "rv_pct", "conviction_long", "conviction_short", "funding_rate_last", "funding_interval_h",
    "macro_blackout",
)  # fmt: skip


def row_float(row: Mapping[str, Any], key: str) -> float:
    """A float field of the row, NaN when absent or not a number."""
    try:
        return float(row.get(key, float("nan")))
    except (TypeError, ValueError):
        return float("nan")


@dataclass(frozen=True, slots=True)
class EntryRisk:
    """What one entry at `rate` on one candle may risk (from `entry_risk`).

    `stop` is NaN when the row gives no usable stop: such an entry must not open (`usable`)."""

    side: str
    rate: float
    stop: float  # planned initial stop price
    conviction_cap: float  # leverage the conviction score grants, before the governor's scale
    liquidation_cap: float  # largest leverage whose liquidation lies beyond the stop + buffer
    max_leverage: float  # the configured hard cap
    leverage_step: float  # 1.0 where the exchange holds whole leverage only, else 0.01
    risk_fraction: float  # equity fraction lost at the stop
    size_scale: float  # volatility multiplier of the stake (top decile: smaller)
    funding_rate: float  # last funding rate (NaN unknown)
    funding_interval_h: float  # hours between settlements (NaN unknown)
    macro_blackout: bool  # inside a scheduled macro release's blackout

    @property
    def stop_distance(self) -> float:
        """|rate - stop| / rate (NaN without a stop)."""
        return stop_distance(self.rate, self.stop)

    @property
    def usable(self) -> bool:
        """True when the stop lies a finite, positive distance from the entry."""
        d = self.stop_distance
        return math.isfinite(d) and d > 0

    def leverage(self, *, scale: float, exchange_max: float) -> float:
        """The smallest of the conviction cap x the governor's `scale`, the configured cap, the
        exchange's `exchange_max` and the liquidation cap, floored to the leverage step."""
        return capped_leverage(self.conviction_cap * scale, self.max_leverage, exchange_max,
                               self.liquidation_cap, step=self.leverage_step)  # fmt: skip

    def stake(self, equity: float, *, leverage: float, fee: float, scale: float) -> float:
        """Margin stake whose loss at the stop (with fees) is `risk_fraction` of `equity`, times
        the governor's `scale` and the volatility size scale (0 without a usable stop)."""
        return (scale * self.size_scale) * risk_stake(
            equity, risk_fraction=self.risk_fraction, stop_distance=self.stop_distance,
            leverage=leverage, fee=fee,
        )  # fmt: skip


def planned_stop(row: Mapping[str, Any], cfg: RiskConfig, *, side: str, rate: float,
                 tag: str | None, tick: float = 0.0) -> float:  # fmt: skip
    """Initial stop for an entry at `rate` from the signal row (NaN if unusable): beyond the
    row's extreme, or the liquidation cluster's for `liq_reversal_*` tags, or the opposing pool
    (`cfg.pool_stops`), `stop_tick_buffer` ticks further, within the configured distances."""
    long = side == "long"
    extreme = row_float(row, "low" if long else "high")
    if tag and tag.startswith("liq_reversal"):
        level = row_float(row, "liq_support" if long else "liq_resistance")
        if math.isfinite(level):
            extreme = min(extreme, level) if long else max(extreme, level)
    if cfg.pool_stops:
        extreme = structure_extreme(
            side, rate, extreme, row_float(row, "pool_low_level" if long else "pool_high_level"),
            max_distance=cfg.max_stop_distance,
        )  # fmt: skip
    extreme += (-1.0 if long else 1.0) * cfg.stop_tick_buffer * tick
    return initial_stop(
        side, rate, extreme=extreme, atr=row_float(row, "atr"),
        atr_buffer=cfg.stop_atr_buffer, fallback_atr=cfg.fallback_stop_atr,
        min_distance=cfg.min_stop_distance, max_distance=cfg.max_stop_distance,
    )  # fmt: skip


def entry_risk(
    row: Mapping[str, Any], cfg: RiskConfig, *, side: str, rate: float, tag: str | None,
    tick: float = 0.0, maintenance_margin_rate: float | None = None, leverage_step: float = 0.01,
    exchange_liquidation_buffer: float = 0.05,
) -> EntryRisk:  # fmt: skip
    """The risk context of an entry at `rate` on the candle of `row` (the last analysed row's
    `ENTRY_FIELDS`). `maintenance_margin_rate` defaults to the configured one; the strategy
    passes the pair's first exchange tier when larger. Pure: same inputs, same object."""
    stop = planned_stop(row, cfg, side=side, rate=rate, tag=tag, tick=tick)
    mmr = maintenance_margin_rate
    if mmr is None:
        mmr = cfg.maintenance_margin_rate
    blackout = row.get("macro_blackout", False)
    return EntryRisk(
        side=side, rate=rate, stop=stop,
        conviction_cap=conviction_leverage(row_float(row, f"conviction_{side}"),
                                           min_leverage=cfg.min_leverage,
                                           max_leverage=cfg.max_leverage),
        liquidation_cap=liquidation_safe_leverage(
            stop_distance(rate, stop), maintenance_margin_rate=mmr, buffer=cfg.liquidation_buffer,
            exchange_buffer=exchange_liquidation_buffer,
        ),
        max_leverage=cfg.max_leverage, leverage_step=leverage_step,
        risk_fraction=cfg.risk_per_trade,
        size_scale=volatility_scale(row_float(row, "rv_pct"), threshold=cfg.high_vol_pct,
                                    scale=cfg.high_vol_scale),
        funding_rate=row_float(row, "funding_rate_last"),
        funding_interval_h=row_float(row, "funding_interval_h"),
        macro_blackout=bool(blackout),  # NaN counts as a blackout (fail closed), as before
    )  # fmt: skip
