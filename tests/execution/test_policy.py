"""The order policy's rules: style by tag, limit prices, the split rule and the child stake."""

from __future__ import annotations

import math

import pytest

from perpflow.config import ExecutionConfig
from perpflow.execution import policy

CFG = ExecutionConfig(enabled=True)


def test_style_by_tag_prefix():
    assert policy.style("sweep_low", CFG) == "maker"
    assert policy.style("liq_reversal_short", CFG) == "maker"
    assert policy.style("breakout_long", CFG) == "taker"
    assert policy.style(None, CFG) == "taker"


def test_maker_rests_at_its_own_touch_and_taker_crosses_capped():
    assert policy.limit_price("buy", "maker", bid=99.0, ask=101.0, cost_bps=50, cap_bps=30) == 99.0
    assert (
        policy.limit_price("sell", "maker", bid=99.0, ask=101.0, cost_bps=50, cap_bps=30) == 101.0
    )
    # half spread = 100 bps of mid: a 150 bps cost goes 50 bps beyond the ask ...
    buy = policy.limit_price("buy", "taker", bid=99.0, ask=101.0, cost_bps=150, cap_bps=300)
    assert buy == pytest.approx(101.0 * 1.005)
    # ... capped at 30 bps, and never inside the far touch
    assert policy.limit_price("buy", "taker", bid=99.0, ask=101.0, cost_bps=150,
                              cap_bps=30) == pytest.approx(101.0 * 1.003)  # fmt: skip
    assert policy.limit_price("sell", "taker", bid=99.0, ask=101.0, cost_bps=10,
                              cap_bps=30) == pytest.approx(99.0)  # fmt: skip
    # an unknown cost takes the cap (bounded) rather than an unbounded market order
    assert policy.limit_price("sell", "taker", bid=99.0, ask=101.0, cost_bps=math.nan,
                              cap_bps=30) == pytest.approx(99.0 * 0.997)  # fmt: skip


def test_expected_fill_moves_against_the_order():
    assert policy.expected_fill("buy", 100.0, 12.0) == pytest.approx(100.12)
    assert policy.expected_fill("sell", 100.0, 12.0) == pytest.approx(99.88)
    assert policy.expected_fill("sell", 100.0, -5.0) == 100.0  # never a better price than ref


def test_split_rule_depth_and_participation():
    c = CFG.children
    one = policy.plan_children(1_000, "taker", depth=1e6, volume_per_min=1e6, cfg=CFG)
    assert (one.children, one.mode) == (1, "single")
    # 3x the allowed depth share -> 3 TWAP children spread over the window
    deep = policy.plan_children(3 * c.max_depth_share * 1e5, "taker", depth=1e5,
                                volume_per_min=math.nan, cfg=CFG)  # fmt: skip
    assert (deep.children, deep.mode) == (3, "twap")
    assert deep.interval_s == pytest.approx(c.window_minutes * 60 / 3)
    assert "depth" in deep.reason
    # participation binds when the flow is thin
    flow = policy.plan_children(5 * c.max_participation * 100 * c.window_minutes, "taker",
                                depth=math.nan, volume_per_min=100, cfg=CFG)  # fmt: skip
    assert flow.children == 5 and "volume" in flow.reason
    # capped at max_children; unknown inputs do not split
    assert policy.plan_children(1e12, "taker", depth=1.0, volume_per_min=1.0,
                                cfg=CFG).children == c.max_children  # fmt: skip
    assert policy.plan_children(1e12, "taker", depth=math.nan, volume_per_min=math.nan,
                                cfg=CFG).children == 1  # fmt: skip


def test_maker_split_is_an_iceberg_with_the_visible_share():
    c = CFG.children
    ice = policy.plan_children(1.5 * c.max_depth_share * 1e5, "maker", depth=1e5,
                               volume_per_min=math.nan, cfg=CFG)  # fmt: skip
    assert ice.mode == "iceberg" and ice.interval_s == 0.0
    assert ice.children == math.ceil(1 / c.iceberg_visible)
    assert ice.share <= c.iceberg_visible + 1e-12


def test_child_stake_respects_parent_and_risk_left():
    plan = policy.ChildPlan(4, "twap", 60.0, "")
    assert policy.child_stake(parent_stake=400, filled_stake=100, plan=plan, risk_left=1e9,
                              loss_per_stake=0.1) == pytest.approx(100)  # fmt: skip
    assert policy.child_stake(parent_stake=400, filled_stake=350, plan=plan, risk_left=1e9,
                              loss_per_stake=0.1) == pytest.approx(50)  # fmt: skip
    # the risk left at the stop binds: 2 quote of risk at 0.1 quote per unit of stake -> 20
    assert policy.child_stake(parent_stake=400, filled_stake=100, plan=plan, risk_left=2.0,
                              loss_per_stake=0.1) == pytest.approx(20)  # fmt: skip
    assert policy.child_stake(parent_stake=400, filled_stake=400, plan=plan, risk_left=1e9,
                              loss_per_stake=0.1) == 0.0  # fmt: skip
    assert policy.child_stake(parent_stake=400, filled_stake=0, plan=plan, risk_left=-5,
                              loss_per_stake=0.1) == 0.0  # fmt: skip


def test_round_trip_adds_two_fees():
    assert policy.round_trip_bps(3.0, 4.0, 0.0005) == pytest.approx(17.0)


def test_window_drift_is_a_99pct_random_walk_band():
    assert policy.window_drift_bps(1.0, 100.0) == pytest.approx(25.76)
    assert policy.window_drift_bps(math.nan, 100.0) == 0.0
    assert policy.window_drift_bps(1.0, 0.0) == 0.0
