"""`entry_risk`: the per-candle risk context is a pure, frozen composition of the stop, leverage
and sizing rules (plain-call oracle on hand-made rows)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from perpflow.config import RiskConfig
from perpflow.risk.entry import EntryRisk, entry_risk, planned_stop
from perpflow.risk.leverage import capped_leverage, liquidation_safe_leverage
from perpflow.risk.sizing import risk_stake
from perpflow.risk.stops import initial_stop

CFG = RiskConfig()
ROW = {"low": 99.0, "high": 101.0, "atr": 0.5, "rv_pct": 0.95, "conviction_long": 0.5,
       "conviction_short": 0.0, "funding_rate_last": 0.0001, "funding_interval_h": 8.0,
       "macro_blackout": False, "liq_support": 97.5, "liq_resistance": 103.0}  # fmt: skip


def test_the_context_composes_the_rules_as_plain_calls_would():
    ctx = entry_risk(ROW, CFG, side="long", rate=100.0, tag="sweep_low", tick=0.1,
                     maintenance_margin_rate=0.01, leverage_step=1.0)  # fmt: skip
    stop = initial_stop("long", 100.0, extreme=99.0 - 2 * 0.1, atr=0.5)
    assert ctx.stop == stop and ctx.stop_distance == pytest.approx((100.0 - stop) / 100.0)
    liq = liquidation_safe_leverage(ctx.stop_distance, maintenance_margin_rate=0.01)
    assert ctx.liquidation_cap == liq and ctx.conviction_cap == 3.0  # 1 + 0.5 x (5 - 1)
    assert ctx.leverage(scale=0.5, exchange_max=20.0) == capped_leverage(1.5, 5.0, 20.0, liq,
                                                                          step=1.0)  # fmt: skip
    assert ctx.size_scale == 0.5, "top volatility decile halves the size"
    want = 0.5 * risk_stake(1_000.0, risk_fraction=0.01, stop_distance=ctx.stop_distance,
                            leverage=2.0, fee=0.0005)  # fmt: skip
    assert ctx.stake(1_000.0, leverage=2.0, fee=0.0005, scale=1.0) == want
    assert entry_risk(ROW, CFG, side="long", rate=100.0, tag="sweep_low", tick=0.1,
                      maintenance_margin_rate=0.01, leverage_step=1.0) == ctx, "pure"  # fmt: skip


def test_the_context_is_frozen():
    ctx = entry_risk(ROW, CFG, side="short", rate=100.0, tag="sweep_high")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.stop = 200.0  # type: ignore[misc]
    assert isinstance(ctx, EntryRisk) and ctx.stop > 101.0 and ctx.usable


def test_liquidation_reversals_stop_beyond_the_cluster():
    plain = planned_stop(ROW, CFG, side="long", rate=100.0, tag="sweep_low")
    liq = planned_stop(ROW, CFG, side="long", rate=100.0, tag="liq_reversal_long")
    assert liq < 97.5 < plain


def test_no_atr_no_usable_stop_and_nothing_to_risk():
    ctx = entry_risk({**ROW, "atr": float("nan")}, CFG, side="long", rate=100.0, tag=None)
    assert math.isnan(ctx.stop) and not ctx.usable
    assert ctx.liquidation_cap == 1.0 and ctx.stake(1_000.0, leverage=1.0, fee=0.0, scale=1.0) == 0


def test_unknown_row_values_fail_towards_safety():
    ctx = entry_risk({"low": 99.0, "atr": 0.5, "macro_blackout": float("nan")}, CFG,
                     side="long", rate=100.0, tag=None)  # fmt: skip
    assert ctx.conviction_cap == CFG.min_leverage, "unknown conviction: the minimum leverage"
    assert ctx.size_scale == CFG.high_vol_scale, "unknown volatility counts as high"
    assert ctx.macro_blackout, "an unknown blackout flag blocks"
    assert math.isnan(ctx.funding_rate) and math.isnan(ctx.funding_interval_h)
