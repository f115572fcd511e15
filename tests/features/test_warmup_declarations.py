"""Each feature's declared warm-up is what it reads: with that many rows before t its value at t
no longer depends on where the frame starts (start-up invariance), and with one row fewer the
value is still missing (the declaration is tight)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.config import PerpflowConfig
from perpflow.features.funding import MAX_FUNDING_INTERVAL_HOURS, funding_warmup_hours
from perpflow.features.liquidations import liquidation_features, liquidation_warmup
from perpflow.features.open_interest import oi_regime, oi_regime_warmup
from perpflow.features.regime import regime_warmup, volatility_regime
from perpflow.features.sessions import ny_session_block, session_warmup
from perpflow.features.volatility import atr, atr_warmup
from perpflow.features.volume_profile import (
    anchored_poc,
    anchored_value_area,
    profile_warmup,
    rolling_profile,
)
from perpflow.strategy.sweep_signals import funding_on_candles
from tests.conftest import random_candles

STARTS = (1, 5, 13, 40)  # frame starts (rows dropped from the head), off every grid phase


def assert_startup_invariance(fn, df: pd.DataFrame, warmup: int, *, rtol: float = 1e-9) -> None:
    """fn(df[k:]) equals fn(df) on every row that has `warmup` rows (itself included) in the
    shorter frame, for each k in STARTS."""
    full = fn(df)
    for k in STARTS:
        part = fn(df.iloc[k:].reset_index(drop=True))
        for col in part.columns:
            a = full[col].to_numpy()[k + warmup - 1 :]
            b = part[col].to_numpy()[warmup - 1 :]
            if a.dtype.kind in "fc":
                np.testing.assert_allclose(b, a, rtol=rtol, atol=0, equal_nan=True,
                                           err_msg=f"{col}, frame starting at row {k}")  # fmt: skip
            else:
                assert (a == b).all(), f"{col} depends on the frame start (row {k})"


def test_regime_warmup_is_exact_and_tight():
    df = random_candles(1500, seed=3)
    w = regime_warmup(6, 400)
    assert_startup_invariance(lambda d: volatility_regime(d, window=6, lookback=400)[["rv_pct"]],
                              df, w)  # fmt: skip
    assert volatility_regime(df.tail(w), window=6, lookback=400)["rv_pct"].notna().iloc[-1]
    assert volatility_regime(df.tail(w - 1), window=6, lookback=400)["rv_pct"].isna().iloc[-1]


def test_atr_settles_within_its_warmup():
    df = random_candles(1500, seed=4)
    w = atr_warmup(14)
    assert_startup_invariance(lambda d: atr(d, period=14).to_frame(), df, w, rtol=1e-7)
    # shorter than the declaration, the seed still shows
    short = atr(df.iloc[40:].reset_index(drop=True), period=14).to_numpy()[w // 3]
    assert abs(short / atr(df, period=14).to_numpy()[40 + w // 3] - 1) > 1e-7


def test_oi_regime_warmup_is_exact_and_tight():
    df = random_candles(1200, seed=5)
    oi = pd.Series(1e5 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.002, 1200))))
    w = oi_regime_warmup(12, 288)

    def fn(d):
        out = oi_regime(d["close"], d["oi"], periods=12, window=288)
        return out[["oi_z", "price_z", "oi_regime"]]

    assert_startup_invariance(fn, df.assign(oi=oi), w)
    assert fn(df.assign(oi=oi).tail(w)).iloc[-1][["oi_z", "price_z"]].notna().all()
    assert fn(df.assign(oi=oi).tail(w - 1)).iloc[-1][["oi_z", "price_z"]].isna().all()


@pytest.mark.parametrize("interval_h", [8, 4, 1])
def test_funding_warmup_hours_cover_the_z_window_at_every_phase(interval_h):
    """With `funding_warmup_hours` of settlements before the last candle close, the z-score the
    last candle sees is complete, whatever the candle's phase in the funding interval."""
    assert interval_h <= MAX_FUNDING_INTERVAL_HOURS
    cfg = PerpflowConfig()
    lookback = cfg.filters.funding.lookback
    rng = np.random.default_rng(interval_h)
    sdates = pd.date_range("2026-01-01", "2026-03-01", freq=f"{interval_h}h", tz="UTC")
    funding = pd.DataFrame({"date": sdates, "funding_rate": rng.normal(1e-4, 2e-4, len(sdates))})
    candles = pd.Series(pd.date_range("2026-02-20", periods=12 * MAX_FUNDING_INTERVAL_HOURS,
                                      freq="5min", tz="UTC"))  # fmt: skip
    tf = pd.Timedelta("5min")
    full = funding_on_candles(candles, funding, cfg, tf)["funding_z"]
    assert full.notna().all()
    hours = pd.Timedelta(hours=funding_warmup_hours(lookback))

    def z_with(history: pd.Timedelta) -> pd.Series:
        """Each candle's z from the settlements stamped within `history` before its open
        (candles sharing their first settlement are computed together)."""
        first = funding["date"].searchsorted(candles - history)
        parts = [funding_on_candles(group, funding.iloc[k:], cfg, tf)["funding_z"]
                 for k, group in candles.groupby(first)]  # fmt: skip
        return pd.concat(parts).sort_index()

    np.testing.assert_allclose(z_with(hours), full, rtol=1e-9)
    if interval_h == MAX_FUNDING_INTERVAL_HOURS:  # tight: an hour less misses at some phase
        assert z_with(hours - pd.Timedelta(hours=1)).isna().any()


def test_rolling_profile_is_on_a_fixed_grid():
    """A profile does not depend on the frame's first row: a sliding live frame or another
    start-up length sees the same values (the grid is anchored in time)."""
    df = random_candles(900, seed=6)
    a = atr(df, period=14)
    w = profile_warmup(96, 12)

    def fn(d):
        return rolling_profile(d, a.iloc[len(a) - len(d) :].reset_index(drop=True), window=96,
                               step=12, bins=24, timeframe="5m")  # fmt: skip

    assert_startup_invariance(fn, df, w, rtol=1e-12)
    for extra in range(12):  # the worst phase needs the whole declaration
        assert fn(df.tail(w + extra))["vp_val"].notna().iloc[-1]


def test_liquidation_warmup_is_exact():
    df = random_candles(900, seed=7)
    rng = np.random.default_rng(7)
    n = 3000
    events = pd.DataFrame({
        "ts_event": df["date"].iloc[0] + pd.to_timedelta(rng.uniform(0, 900 * 300, n), unit="s"),
        "side": rng.choice(["buy", "sell"], n), "price": 100.0, "notional": rng.gamma(1.0, 1e4, n),
    })  # fmt: skip
    w = liquidation_warmup(96, 12)

    def fn(d):
        f = liquidation_features(d["date"], events, lookback=96, cascade_window=12)
        return f[["liq_long_notional", "liq_cluster", "liq_cascade_density"]]

    assert_startup_invariance(fn, df, w)


def test_session_anchored_features_settle_within_the_session_warmup():
    df = random_candles(1500, seed=8)
    a = atr(df, period=14)
    w = session_warmup("5m")

    def fn(d):
        block = ny_session_block(d["date"])
        aa = a.iloc[len(a) - len(d) :].reset_index(drop=True)
        return pd.concat([anchored_poc(d, block, aa)[["session_poc"]],
                          anchored_value_area(d, block)], axis=1)  # fmt: skip

    assert_startup_invariance(fn, df, w, rtol=1e-12)
