"""LiquiditySweep signal construction: same columns with or without optional data, fail closed."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from perpflow.config import load_perpflow_config
from perpflow.strategy import failclosed
from perpflow.strategy.sweep_signals import SIGNAL_COLUMNS, populate_sweep_indicators, sweep_entries
from tests.conftest import random_candles
from tests.features.parity import assert_truncation_parity


def _funding(df):
    dates = pd.date_range(df["date"].iloc[0].floor("8h") - pd.Timedelta("30D"),
                          df["date"].iloc[-1], freq="8h")  # fmt: skip
    rng = np.random.default_rng(0)
    return pd.DataFrame({"date": dates, "funding_rate": rng.normal(1e-4, 1e-4, len(dates))})


def _oi(df):
    rng = np.random.default_rng(1)
    return pd.DataFrame(
        {"date": df["date"], "open_interest_amount": 1e4 * np.exp(np.cumsum(rng.normal(0, 0.01, len(df)))),
         "open_interest_value": np.nan}
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


def test_disabled_filters_let_sweeps_through():
    df = random_candles(3000, seed=6)
    section = {"filters": {"funding": {"enabled": False}, "open_interest": {"enabled": False},
                           "sessions": {"enabled": False}}}  # fmt: skip
    out, cfg = _build(df, None, None, section)
    long, short = sweep_entries(out, cfg)
    sweeps_ok = out["sweep_low"] & (out["sweep_low_depth_atr"] <= 1.5) & out["atr"].notna()
    assert long.sum() == sweeps_ok.sum() > 0
    assert short.sum() > 0
    # each entry is a sweep that closed back inside the swept level
    rows = out[long]
    assert (rows["low"] < rows["sweep_low_level"]).all() and (
        rows["close"] > rows["sweep_low_level"]
    ).all()


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
