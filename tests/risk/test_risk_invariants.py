"""Hypothesis properties for the first risk rules: sizing, stops, leverage caps."""

from __future__ import annotations

import math

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from perpflow.risk.leverage import capped_leverage, liquidation_safe_leverage
from perpflow.risk.sizing import clamp_stake, risk_stake
from perpflow.risk.stops import initial_stop, stop_distance, trail_stop

pos = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
frac = st.floats(min_value=1e-4, max_value=0.05)
dist = st.floats(min_value=1e-4, max_value=0.3)
lev = st.floats(min_value=1.0, max_value=125.0)


@settings(max_examples=200, deadline=None)
@given(equity=pos, risk=frac, d=dist, leverage=lev, fee=st.floats(0, 0.001))
def test_loss_at_stop_never_exceeds_risk_budget(equity, risk, d, leverage, fee):
    stake = risk_stake(equity, risk_fraction=risk, stop_distance=d, leverage=leverage, fee=fee)
    loss = stake * leverage * (d + 2 * fee)
    assert loss <= equity * risk * (1 + 1e-9)
    assert math.isclose(loss, equity * risk, rel_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(stake=pos, min_stake=st.one_of(st.none(), pos), max_stake=pos)
def test_clamp_never_oversizes(stake, min_stake, max_stake):
    out = clamp_stake(stake, min_stake=min_stake, max_stake=max_stake)
    assert out <= stake and out <= max_stake
    if min_stake is not None and min_stake > stake:
        assert out == 0.0  # skipped, never raised to the minimum


def test_unusable_inputs_give_zero_stake():
    assert risk_stake(0, risk_fraction=0.01, stop_distance=0.01, leverage=1) == 0.0
    assert risk_stake(1000, risk_fraction=0.01, stop_distance=float("nan"), leverage=1) == 0.0
    assert risk_stake(1000, risk_fraction=0.01, stop_distance=0.0, leverage=1) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    entry=st.floats(1, 1e5), atr_frac=st.floats(1e-4, 0.05), side=st.sampled_from(["long", "short"]),
    extreme_off=st.floats(-0.1, 0.1),
)  # fmt: skip
def test_initial_stop_is_on_the_losing_side_within_bounds(entry, atr_frac, side, extreme_off):
    atr = entry * atr_frac
    stop = initial_stop(side, entry, extreme=entry * (1 + extreme_off), atr=atr)
    assert (stop < entry) if side == "long" else (stop > entry)
    assert 0.004 - 1e-12 <= stop_distance(entry, stop) <= 0.06 + 1e-12


def test_initial_stop_beyond_swept_extreme_with_buffer():
    stop = initial_stop("long", 100.0, extreme=98.0, atr=1.0, atr_buffer=0.25)
    assert math.isclose(stop, 97.75)
    stop = initial_stop("short", 100.0, extreme=102.0, atr=1.0, atr_buffer=0.25)
    assert math.isclose(stop, 102.25)
    # no extreme: fallback ATR stop
    assert math.isclose(initial_stop("long", 100.0, extreme=None, atr=1.0, fallback_atr=1.5), 98.5)
    assert math.isnan(initial_stop("long", 100.0, extreme=98.0, atr=float("nan")))


@settings(max_examples=100, deadline=None)
@given(
    prices=st.lists(st.floats(50, 150), min_size=2, max_size=50),
    atrs=st.lists(st.floats(0.01, 10), min_size=2, max_size=50),
    side=st.sampled_from(["long", "short"]),
)
def test_trailing_stop_never_loosens(prices, atrs, side):
    stop = 40.0 if side == "long" else 160.0
    for p, a in zip(prices, atrs, strict=False):
        new = trail_stop(side, p, atr=a, trail_atr=2.0, previous=stop)
        assert (new >= stop) if side == "long" else (new <= stop)
        stop = new


@settings(max_examples=200, deadline=None)
@given(d=dist, mmr=st.floats(0.001, 0.02), buffer=st.floats(0, 2), cfg_cap=lev, tier=lev)
def test_leverage_keeps_liquidation_beyond_stop(d, mmr, buffer, cfg_cap, tier):
    cap = liquidation_safe_leverage(d, maintenance_margin_rate=mmr, buffer=buffer)
    chosen = capped_leverage(cfg_cap, tier, cap)
    assert chosen <= max(1.0, min(cfg_cap, tier)) + 1e-12
    assume(cap >= 1.0)
    assert chosen <= cap + 1e-12
    liq_distance = 1.0 / chosen - mmr
    assert liq_distance >= d * (1 + buffer) - 1e-9
