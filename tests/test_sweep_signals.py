"""LiquiditySweep signal construction: same columns with or without optional data, fail closed."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from perpflow.config import load_perpflow_config
from perpflow.strategy import failclosed
from perpflow.strategy.sweep_signals import (
    SIGNAL_COLUMNS,
    populate_sweep_indicators,
    sweep_entries,
    sweep_kinds,
)
from tests.conftest import random_candles
from tests.features.parity import assert_truncation_parity


def _funding(df):
    dates = pd.date_range(df["date"].iloc[0].floor("8h") - pd.Timedelta("30D"),
                          df["date"].iloc[-1], freq="8h")  # fmt: skip
    rng = np.random.default_rng(0)
    return pd.DataFrame({"date": dates, "funding_rate": rng.normal(1e-4, 1e-4, len(dates))})


def _oi(df):
    rng = np.random.default_rng(1)
    amount = 1e4 * np.exp(np.cumsum(rng.normal(0, 0.01, len(df))))
    return pd.DataFrame(
        {"date": df["date"], "open_interest_amount": amount,
         "open_interest_value": amount * df["close"]}
    )  # fmt: skip


def _build(df, funding, oi, section=None):
    cfg = load_perpflow_config({"perpflow": section or {}})
    return populate_sweep_indicators(
        df, pair="BTC/USDT:USDT", cfg=cfg, timeframe="5m", funding=funding, open_interest=oi
    ), cfg


def test_columns_identical_with_and_without_optional_data():
    df = random_candles(2000, seed=5)
    full, _ = _build(df, _funding(df), _oi(df))
    bare, _ = _build(df, None, None)
    assert list(full.columns) == list(bare.columns)
    assert set(SIGNAL_COLUMNS) <= set(full.columns)


def test_missing_series_block_entries_and_log_once(caplog):
    failclosed.reset()
    df = random_candles(3000, seed=6)
    with caplog.at_level(logging.WARNING):
        out, cfg = _build(df, None, _oi(df))
        _build(df, None, _oi(df))
    long, short = sweep_entries(out, cfg)
    assert not long.any() and not short.any()
    assert sum("funding input missing" in r.message for r in caplog.records) == 1


ALL_OFF = {
    name: {"enabled": False}
    for name in (
        "funding",
        "open_interest",
        "sessions",
        "macro",
        "regime",
        "structure",
        "liquidations",
    )
}


def test_disabled_filters_let_sweeps_through():
    df = random_candles(3000, seed=6)
    out, cfg = _build(df, None, None, {"filters": ALL_OFF})
    long, short = sweep_entries(out, cfg)
    kinds = sweep_kinds(out, cfg)
    raw_long = (kinds["sweep_low"] | kinds["pool_sweep_low"]) & out["atr"].notna()
    assert long.sum() == raw_long.sum() > 0
    assert short.sum() > 0
    assert kinds["pool_sweep_low"].any()
    rows = out[long & kinds["sweep_low"]]
    assert (rows["low"] < rows["sweep_low_level"]).all()
    assert (rows["close"] > rows["sweep_low_level"]).all()
    pools = out[long & kinds["pool_sweep_low"]]
    assert (pools["low"] < pools["pool_sweep_low_level"]).all()
    assert (pools["close"] > pools["pool_sweep_low_level"]).all()


def test_each_filter_only_removes_entries():
    df = random_candles(4000, seed=12)
    base, cfg = _build(df, None, None, {"filters": ALL_OFF})
    base_long, base_short = sweep_entries(base, cfg)
    for name in ("macro", "regime", "structure"):
        out, c = _build(df, None, None, {"filters": {**ALL_OFF, name: {"enabled": True}}})
        long, short = sweep_entries(out, c)
        assert not (long & ~base_long).any() and not (short & ~base_short).any(), name
    out, c = _build(df, None, None, {"filters": {**ALL_OFF, "regime": {"enabled": True}}})
    long, short = sweep_entries(out, c)
    assert long.sum() + short.sum() < base_long.sum() + base_short.sum()
    assert not ((long | short) & ~out["volatile"]).any()


def test_macro_blackout_blocks_entries():
    df = random_candles(6000, seed=13, start="2025-01-10")  # spans CPI, FOMC and NFP dates
    out, c = _build(df, None, None, {"filters": {**ALL_OFF, "macro": {"enabled": True}}})
    long, short = sweep_entries(out, c)
    assert out["macro_blackout"].any()
    assert not ((long | short) & out["macro_blackout"]).any()


def test_funding_extreme_blocks_longs_only():
    df = random_candles(3000, seed=8)
    section = {"filters": {"open_interest": {"enabled": False}, "sessions": {"enabled": False}}}
    funding = _funding(df)
    funding.loc[funding.index[-30] :, "funding_rate"] = 0.01  # euphoric funding at the end
    out, cfg = _build(df, funding, None, section)
    hot = out["funding_z"] > 2.0
    assert hot.any()
    long, _ = sweep_entries(out, cfg)
    assert not (long & hot).any()
    assert out.loc[hot, "ok_funding_short"].all()


def test_signal_frame_truncation_parity():
    df = random_candles(1500, seed=9)
    funding, oi = _funding(df), _oi(df)

    def fn(d):
        out, _ = _build(d, funding, oi)
        return out[[c for c in SIGNAL_COLUMNS]]

    for cut in (400, 777, 1499):
        assert_truncation_parity(fn, df, cut)


def test_structure_gate_blocks_longs_under_an_open_bearish_fvg():
    from perpflow.strategy.sweep_signals import _structure_ok

    frame = pd.DataFrame({
        "close": [100.0, 100.0, 100.0, 100.0], "atr": 1.0, "vp_val": [99.0, 99.0, 99.0, 101.0],
        "vp_vah": 105.0, "fvg_bear_bottom": [100.3, 100.3, 101.0, np.nan],
        "fvg_bear_filled": [0.2, 1.0, 0.0, np.nan], "fvg_bull_top": np.nan,
        "fvg_bull_filled": np.nan,
    })  # fmt: skip
    ok = _structure_ok(frame, 0.5, long=True).tolist()
    # open gap 0.3 ATR above: blocked; filled gap: fine; gap 1 ATR away: fine; below VAL: blocked
    assert ok == [False, True, True, False]
