"""Hypothesis properties of the risk engine: volatility and governor scaling, structure stops,
session trails, conviction leverage, the drawdown governor, funding carry, exchange health."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.risk.carry import carry_allows, expected_edge, funding_cost
from perpflow.risk.conviction import WEIGHTS, conviction, conviction_leverage
from perpflow.risk.leverage import capped_leverage, liquidation_safe_leverage
from perpflow.risk.monitor import ExchangeHealth, book_allows, spread_bps
from perpflow.risk.sizing import clamp_stake, risk_stake, volatility_scale
from perpflow.risk.stops import initial_stop, session_trail_atr, structure_extreme, trail_stop

T0 = datetime(2026, 1, 1, tzinfo=UTC)
unit = st.floats(0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(equity=st.floats(100, 1e7), risk=st.floats(1e-4, 0.05), d=st.floats(1e-3, 0.3),
       leverage=st.floats(1, 50), vol=st.one_of(unit, st.just(float("nan"))),
       gov=st.sampled_from([1.0, 0.5, 0.0]), min_stake=st.one_of(st.none(), st.floats(1, 1e5)))  # fmt: skip
def test_scaled_stake_never_risks_more_than_the_budget(equity, risk, d, leverage, vol, gov,
                                                       min_stake):  # fmt: skip
    scale = gov * volatility_scale(vol, threshold=0.9, scale=0.5)
    stake = clamp_stake(scale * risk_stake(equity, risk_fraction=risk, stop_distance=d,
                                           leverage=leverage), min_stake=min_stake, max_stake=1e12)  # fmt: skip
    assert stake * leverage * d <= equity * risk * scale * (1 + 1e-9)
    if min_stake is not None and stake > 0:
        assert stake >= min_stake, "never below the exchange minimum: skipped instead"
    if gov == 0.0:
        assert stake == 0.0, "a paused governor sizes every entry to nothing"


@settings(max_examples=200, deadline=None)
@given(entry=st.floats(1, 1e5), ext=st.floats(0.001, 0.05), pool=st.floats(-0.1, 0.1),
       maxd=st.floats(0.01, 0.1), long=st.booleans())  # fmt: skip
def test_structure_extreme_is_at_or_beyond_the_candle_and_within_reach(entry, ext, pool, maxd,
                                                                      long):  # fmt: skip
    sign = -1 if long else 1
    candle = entry * (1 + sign * ext)
    level = structure_extreme("long" if long else "short", entry, candle, entry * (1 + pool),
                              max_distance=maxd)  # fmt: skip
    assert (level <= candle) if long else (level >= candle)
    if level != candle:
        assert abs(entry - level) / entry <= maxd + 1e-12


@settings(max_examples=200, deadline=None)
@given(entry=st.floats(1, 1e5), atr=st.floats(1e-4, 0.05), moves=st.lists(
    st.floats(-0.05, 0.05), min_size=1, max_size=40), session=st.sampled_from(
    ["ny_open", "ny_close", "asia_london", "other", "unknown"]), long=st.booleans())  # fmt: skip
def test_session_trail_never_loosens(entry, atr, moves, session, long):
    side = "long" if long else "short"
    mult = {"ny_open": 1.25, "ny_close": 1.0, "asia_london": 0.8, "other": 1.0}
    stop = initial_stop(side, entry, extreme=None, atr=atr * entry)
    price = entry
    for m in moves:
        price *= 1 + m
        new = trail_stop(side, price, atr=atr * entry,
                         trail_atr=session_trail_atr(2.0, session, mult), previous=stop)  # fmt: skip
        assert (new >= stop) if long else (new <= stop)
        stop = new


@settings(max_examples=200, deadline=None)
@given(score=st.one_of(unit, st.just(float("nan"))), gov=st.sampled_from([1.0, 0.5]),
       d=st.floats(1e-3, 0.2), tier=st.floats(1, 125), lo=st.floats(1, 3), hi=st.floats(3, 20))  # fmt: skip
def test_leverage_respects_every_cap_and_keeps_liquidation_beyond_the_stop(score, gov, d, tier,
                                                                          lo, hi):  # fmt: skip
    conv = conviction_leverage(score, min_leverage=lo, max_leverage=hi)
    liq_cap = liquidation_safe_leverage(d, maintenance_margin_rate=0.005, buffer=0.5)
    lev = capped_leverage(conv * gov, hi, tier, liq_cap)
    assert 1.0 <= lev
    for cap in (conv * gov, hi, tier, liq_cap):
        assert lev <= max(1.0, cap) + 1e-9
    if liq_cap >= 1.0:  # at 1x a position cannot be liquidated inside any stop < 100%
        assert (1.0 / lev - 0.005) >= d * 1.5 - 1e-12


def test_conviction_weights_and_range():
    assert math.isclose(sum(WEIGHTS.values()), 1.0)
    df = pd.DataFrame({
        "pool_sweep_low": [True, False, True], "liq_reversal_long": [True, False, False],
        "funding_z": [-1.5, 2.0, np.nan], "oi_regime": [4.0, 2.0, np.nan],
        "ok_structure_long": [True, False, True],
    })  # fmt: skip
    c = conviction(df, long=True)
    assert c.tolist() == pytest.approx([1.0, 0.0, 0.4])  # missing inputs add nothing
    assert conviction_leverage(1.0, min_leverage=1, max_leverage=5) == 5
    assert conviction_leverage(float("nan"), min_leverage=1, max_leverage=5) == 1


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(-0.003, 0.003), d=st.floats(0.004, 0.06), hours=st.floats(1, 72),
       long=st.booleans())  # fmt: skip
def test_carry_refuses_exactly_when_funding_eats_the_edge(rate, d, hours, long):
    side = "long" if long else "short"
    ok, cost, edge = carry_allows(side, rate=rate, interval_hours=8, holding_hours=hours,
                                  stop_distance=d, take_profit_r=3, win_rate=0.4, max_share=0.25)  # fmt: skip
    assert edge == pytest.approx(expected_edge(d, take_profit_r=3, win_rate=0.4))
    assert cost == pytest.approx(funding_cost(side, rate=rate, interval_hours=8,
                                              holding_hours=hours))  # fmt: skip
    assert ok == (cost <= 0.25 * edge)
    if (rate > 0) == long and abs(rate) > 1e-12:  # (a subnormal rate costs 0.0 in floats)
        assert cost > 0, "longs pay positive funding, shorts negative"
    assert not carry_allows(
        side,
        rate=float("nan"),
        interval_hours=8,
        holding_hours=hours,
        stop_distance=d,
        take_profit_r=3,
        win_rate=0.4,
        max_share=0.25,
    )[0]


def test_exchange_health_alarms():
    h = ExchangeHealth()
    for _ in range(10):
        h.record(0.05)
    assert h.alarm() is None
    h.record(3.0)
    assert h.alarm() is None, "one slow probe is noise"
    assert h.record(3.0) == "trip" and "latency 3.00 s" in h.alarm()
    h2 = ExchangeHealth()
    for i in range(10):
        h2.record(None if i % 3 else 0.05)
    assert "error rate" in h2.alarm()


def test_book_check_against_the_pairs_normal():
    bids = [[100.0, 50.0], [99.99, 50.0]]
    asks = [[100.01, 50.0], [100.02, 50.0]]
    assert spread_bps(bids, asks) == pytest.approx(1.0, rel=1e-3)
    ok, _ = book_allows(bids, asks, [1.0] * 20, notional=1_000)
    assert ok
    wide = [[100.2, 50.0]]
    ok, why = book_allows(bids, wide, [1.0] * 20, notional=1_000)
    assert not ok and "spread" in why
    ok, why = book_allows(bids, asks, [1.0] * 20, notional=1e6)
    assert not ok and "depth" in why
    assert not book_allows([], asks, [], notional=1)[0]


def test_leverage_cap_holds_under_freqtrades_own_liquidation_price(tmp_path):
    """Freqtrade's Binance formula (maintenance tiers, its 5% liquidation buffer) on the venue's
    markets: at the leverage perpflow allows, liquidation lies beyond the stop by the buffer."""
    import json

    from freqtrade.enums import RunMode
    from freqtrade.resolvers import ExchangeResolver

    from perpflow.data.demo import generate_demo_market
    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer
    from tests.conftest import REPO

    generate_demo_market(tmp_path, days=30, seed=1, pairs=("BTC/USDT:USDT",))
    cfg = json.loads((REPO / "config.json").read_text())
    with VenueServer(tmp_path) as v:
        cfg["exchange"].update(exchange_overlay(v.url)["exchange"])
        cfg.update(runmode=RunMode.BACKTEST, datadir=str(tmp_path))
        ex = ExchangeResolver.load_exchange(cfg, load_leverage_tiers=True)
        for pair, rate in (("BTC/USDT:USDT", 90_000.0), ("ETH/USDT:USDT", 3_000.0),
                           ("DOGE/USDT:USDT", 0.2)):  # fmt: skip
            for d in (0.004, 0.01, 0.02, 0.04, 0.06):
                mmr = max(0.005, ex.get_maintenance_ratio_and_amt(pair, 0.0)[0])  # as the strategy
                cap = liquidation_safe_leverage(d, maintenance_margin_rate=mmr, buffer=0.5)
                lev = capped_leverage(cap, ex.get_max_leverage(pair, 1_000.0))
                for short in (False, True):
                    stake = 1_000.0
                    liq = ex.get_liquidation_price(
                        pair, open_rate=rate, is_short=short, amount=stake * lev / rate,
                        stake_amount=stake, leverage=lev, wallet_balance=stake, open_trades=[],
                    )  # fmt: skip
                    assert abs(rate - liq) / rate >= d * 1.5 * (1 - 1e-9), (pair, d, short, lev)


def test_leverage_floors_to_whole_steps_where_the_exchange_does():
    assert capped_leverage(3.27, 5.0) == pytest.approx(3.27)
    assert capped_leverage(3.27, 5.0, step=1.0) == 3.0
    assert capped_leverage(2.9999999999, step=1.0) == 3.0  # float noise is not a step down
    assert capped_leverage(0.4, step=1.0) == 1.0
