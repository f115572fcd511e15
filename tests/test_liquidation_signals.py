"""Liquidation-cluster reversal entries, handoff windows, store coverage and the OI regime gate."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from perpflow.config import load_perpflow_config
from perpflow.data.store import covered_candles, read_coverage, write_coverage, write_events
from perpflow.features.sessions import handoff_window
from perpflow.strategy import failclosed
from perpflow.strategy.liquidation_signals import exchange_symbol, liquidations_on_candles
from perpflow.strategy.sweep_signals import populate_sweep_indicators, sweep_entries
from tests.conftest import random_candles
from tests.features.parity import assert_truncation_parity

CFG = load_perpflow_config({})


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        ("2025-01-15 06:59", False),  # London 06:59 GMT: before the 07:00 window start
        ("2025-01-15 07:00", True),  # London 07:00 GMT
        ("2025-07-15 06:00", True),  # London 07:00 BST (summer: one hour earlier in UTC)
        ("2025-07-15 08:45", False),  # London 09:45 BST: past open + 90 min
        ("2025-01-15 13:30", True),  # New York 08:30 EST
        ("2025-07-15 12:30", True),  # New York 08:30 EDT
        ("2025-01-15 12:29", False),  # New York 07:29 EST, London 12:29
        ("2025-01-15 16:00", False),  # New York 11:00 EST: window ended
    ],
)
def test_handoff_window_follows_local_time(utc, inside):
    dates = pd.Series(pd.to_datetime([utc], utc=True))
    assert bool(handoff_window(dates, before_minutes=60, after_minutes=90).iloc[0]) is inside


def _flat(n=900, start="2025-01-13 00:00"):
    dates = pd.date_range(start, periods=n, freq="5min", tz="UTC")
    px = np.full(n, 100.0)
    return pd.DataFrame({"date": dates, "open": px, "high": px + 0.2, "low": px - 0.2,
                         "close": px, "volume": 10.0})  # fmt: skip


def _store(tmp_path, df, cluster_at, *, side="sell", cover=True, symbol="BTCUSDT"):
    """A small long and short liquidation every candle (two-sided: no one-sided cluster), one
    big one-sided cluster at `cluster_at`."""
    rng = np.random.default_rng(0)
    n = len(df)
    ts = pd.concat([df["date"] + pd.Timedelta(seconds=30), df["date"] + pd.Timedelta(seconds=40)])
    small = rng.uniform(1e3, 2e3, n)
    notional = np.r_[small, small]
    notional[cluster_at] = 1e6
    sides = np.r_[np.full(n, "buy", dtype=object), np.full(n, "sell", dtype=object)]
    sides[cluster_at] = side
    ev = pd.DataFrame({"exchange": "binance", "symbol": symbol, "side": sides, "price": 100.0,
                       "qty": notional / 100.0, "notional": notional, "ts_event": ts,
                       "ts_recv": ts})  # fmt: skip
    write_events(tmp_path, "liquidations", ev)
    if cover:
        write_coverage(tmp_path, "liquidation", "binance", df["date"].iloc[0],
                       df["date"].iloc[-1] + pd.Timedelta("5min"))  # fmt: skip
    return tmp_path


def _cluster_bar(df, when="2025-01-15 08:00"):
    return int(np.flatnonzero(df["date"] == pd.Timestamp(when, tz="UTC"))[0])


def _shape_reversal(df, c, *, break_support=False):
    """Cluster candle flushes to 98 and closes 98.7; the next candle reclaims (green, 99.2)."""
    df = df.copy()
    df.loc[c, ["open", "high", "low", "close"]] = [100.0, 100.1, 98.0, 98.7]
    df.loc[c + 1, ["open", "high", "low", "close"]] = [98.7, 99.3, 97.9 if break_support else 98.5,
                                                       99.2]  # fmt: skip
    df.loc[c + 2 :, ["open", "high", "low", "close"]] = [99.2, 99.4, 99.0, 99.2]
    return df


def test_reversal_long_fires_once_after_a_long_liquidation_cluster(tmp_path):
    df = _flat()
    c = _cluster_bar(df)
    df = _shape_reversal(df, c)
    out = liquidations_on_candles(df, pair="BTC/USDT:USDT", cfg=CFG, timeframe="5m",
                                  root=_store(tmp_path, df, c))  # fmt: skip
    assert out["liq_cluster"].iloc[c] and out["handoff"].iloc[c]
    assert np.flatnonzero(out["liq_reversal_long"]).tolist() == [c + 1]
    assert not out["liq_reversal_short"].any()
    assert out["liq_support"].iloc[c + 1] == pytest.approx(98.0)


def test_reversal_needs_support_to_hold(tmp_path):
    df = _flat()
    c = _cluster_bar(df)
    df = _shape_reversal(df, c, break_support=True)
    out = liquidations_on_candles(df, pair="BTC/USDT:USDT", cfg=CFG, timeframe="5m",
                                  root=_store(tmp_path, df, c))  # fmt: skip
    assert not out["liq_reversal_long"].any()


def test_cluster_outside_handoff_or_of_the_other_side_does_not_trigger(tmp_path):
    df = _flat()
    c = _cluster_bar(df, "2025-01-15 03:00")  # London 03:00, New York 22:00: no handoff
    out = liquidations_on_candles(df.pipe(_shape_reversal, c), pair="BTC/USDT:USDT", cfg=CFG,
                                  timeframe="5m", root=_store(tmp_path / "a", df, c))  # fmt: skip
    assert out["liq_cluster"].iloc[c] and not out["liq_reversal_long"].any()
    c = _cluster_bar(df)
    out = liquidations_on_candles(df.pipe(_shape_reversal, c), pair="BTC/USDT:USDT", cfg=CFG,
                                  timeframe="5m",
                                  root=_store(tmp_path / "b", df, c, side="buy"))  # fmt: skip
    assert not out["liq_reversal_long"].any()  # shorts were liquidated: not a long flush


def test_no_coverage_fails_closed_and_logs_once(tmp_path, caplog):
    failclosed.reset()
    df = _flat()
    c = _cluster_bar(df)
    root = _store(tmp_path, df, c, cover=False)  # events but no record the stream was captured
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            out = liquidations_on_candles(df.pipe(_shape_reversal, c), pair="BTC/USDT:USDT",
                                          cfg=CFG, timeframe="5m", root=root)  # fmt: skip
    assert out["liq_long_notional"].isna().all(), "uncovered candles are unknown, not zero"
    assert not out["liq_reversal_long"].any() and not out["liq_covered"].any()
    assert sum("liquidation input missing" in r.message for r in caplog.records) == 1


def test_liquidation_signals_truncation_parity(tmp_path):
    df = random_candles(1200, seed=21, start="2025-02-03")
    rng = np.random.default_rng(3)
    k = 4000
    ts = df["date"].iloc[0] + pd.to_timedelta(np.sort(rng.integers(0, 1200 * 300, k)), unit="s")
    px = np.interp(ts.astype("int64"), df["date"].astype("int64"), df["close"])
    notional = rng.lognormal(8, 1.5, k)
    ev = pd.DataFrame({"exchange": "binance", "symbol": "BTCUSDT",
                       "side": rng.choice(["buy", "sell"], k), "price": px, "qty": notional / px,
                       "notional": notional, "ts_event": ts, "ts_recv": ts})  # fmt: skip
    write_events(tmp_path, "liquidations", ev)
    write_coverage(tmp_path, "liquidation", "binance", df["date"].iloc[0], ts[-1])
    cfg = load_perpflow_config({"perpflow": {"filters": {"liquidations": {"lookback": 50}}}})

    def fn(d):
        return liquidations_on_candles(d, pair="BTC/USDT:USDT", cfg=cfg, timeframe="5m",
                                       root=tmp_path)  # fmt: skip

    full = fn(df)
    assert full["liq_reversal_long"].any() and full["liq_reversal_short"].any()
    for cut in (300, 611, 1199):
        assert_truncation_parity(fn, df, cut)


def test_coverage_minus_gaps_and_covered_candles(tmp_path):
    t = pd.Timestamp("2025-01-01", tz="UTC")
    write_coverage(tmp_path, "liquidation", "binance", t, t + pd.Timedelta("2h"))
    write_coverage(tmp_path, "liquidation", "binance", t + pd.Timedelta("1h"),
                   t + pd.Timedelta("3h"))  # overlapping records merge  # fmt: skip
    write_events(tmp_path, "liquidation_gaps", pd.DataFrame({
        "exchange": ["binance"], "symbol": ["ALL"], "ts_event": [t + pd.Timedelta("30min")],
        "ts_recv": [t + pd.Timedelta("40min")], "gap_end": [t + pd.Timedelta("40min")]}))  # fmt: skip
    spans = read_coverage(tmp_path, "liquidation", "binance")
    ms = pd.Timedelta("1min").value // 1_000_000
    t0 = t.value // 1_000_000
    assert spans.tolist() == [[t0, t0 + 30 * ms], [t0 + 40 * ms, t0 + 180 * ms]]
    dates = pd.Series(pd.date_range(t, periods=40, freq="5min"))
    cov = covered_candles(dates, spans, "5m")
    expect = np.zeros(40, dtype=bool)
    expect[:6] = True  # 00:00 .. 00:25 end by 00:30
    expect[8:36] = True  # 00:40 .. 02:55
    assert cov.tolist() == expect.tolist()
    with pytest.raises(ValueError, match="ends .* before it starts"):
        write_coverage(tmp_path, "liquidation", "binance", t, t - pd.Timedelta("1h"))


def test_exchange_symbol():
    assert exchange_symbol("BTC/USDT:USDT") == "BTCUSDT"
    assert exchange_symbol("1000PEPE/USDT:USDT") == "1000PEPEUSDT"


def _oi_frame(df, oi):
    return pd.DataFrame({"date": df["date"], "open_interest_amount": oi,
                         "open_interest_value": oi * df["close"]})  # fmt: skip


def test_oi_regime_blocks_fades_against_building_positions():
    df = random_candles(3000, seed=31)
    rng = np.random.default_rng(2)
    oi = 1e4 * np.exp(np.cumsum(rng.normal(0, 0.002, len(df))))
    off = {n: {"enabled": False} for n in ("funding", "sessions", "macro", "regime", "structure",
                                            "liquidations")}  # fmt: skip
    cfg = load_perpflow_config({"perpflow": {"filters": off}})
    out = populate_sweep_indicators(df, pair="BTC/USDT:USDT", cfg=cfg, timeframe="5m",
                                    funding=None, open_interest=_oi_frame(df, oi))  # fmt: skip
    reg = out["oi_regime"]
    assert reg.isna().iloc[:299].all() and reg.notna().iloc[400:].all()  # 12 + 288 rows to fill
    assert {1.0, 2.0, 3.0, 4.0} <= set(reg.dropna().unique())
    assert not out.loc[reg == 2, "ok_oi_long"].any() and out.loc[reg == 2, "ok_oi_short"].all()
    assert not out.loc[reg == 1, "ok_oi_short"].any() and out.loc[reg == 1, "ok_oi_long"].all()
    assert not out.loc[reg.isna(), ["ok_oi_long", "ok_oi_short"]].any().any()
    long, short = sweep_entries(out, cfg)
    assert not (long & (reg == 2)).any() and not (short & (reg == 1)).any()
    assert long.any() and short.any()


def test_oi_without_value_column_is_a_clear_error():
    df = random_candles(400, seed=1)
    bad = pd.DataFrame({"date": df["date"], "open_interest_amount": 1e4})
    with pytest.raises(ValueError, match="open_interest_value"):
        populate_sweep_indicators(df, pair="BTC/USDT:USDT", cfg=CFG, timeframe="5m",
                                  funding=None, open_interest=bad)  # fmt: skip


def test_liquidation_reversals_enter_through_sweep_entries(tmp_path):
    df = _flat(900)
    c = _cluster_bar(df)
    df = _shape_reversal(df, c)
    off = {n: {"enabled": False} for n in ("funding", "open_interest", "sessions", "macro",
                                            "regime", "structure")}  # fmt: skip
    cfg = load_perpflow_config({"perpflow": {"filters": off}})
    out = populate_sweep_indicators(df, pair="BTC/USDT:USDT", cfg=cfg, timeframe="5m",
                                    funding=None, open_interest=None,
                                    liquidation_store=_store(tmp_path, df, c))  # fmt: skip
    long, _ = sweep_entries(out, cfg)
    assert long.iloc[c + 1]
    cfg_off = load_perpflow_config({"perpflow": {"filters": {**off,
                                                             "liquidations": {"enabled": False}}}})  # fmt: skip
    out = populate_sweep_indicators(df, pair="BTC/USDT:USDT", cfg=cfg_off, timeframe="5m",
                                    funding=None, open_interest=None,
                                    liquidation_store=tmp_path)  # fmt: skip
    assert not sweep_entries(out, cfg_off)[0].iloc[c + 1]


def test_repeated_loads_read_only_new_parts_and_match_a_fresh_read(tmp_path, monkeypatch):
    from perpflow.data import parts, store
    from perpflow.data.store import read_events
    from perpflow.strategy.liquidation_signals import load_liquidations

    df = _flat(300)
    _store(tmp_path, df.iloc[:150], 100)
    since = df["date"].iloc[0]
    first, _ = load_liquidations(tmp_path, "binance", "BTCUSDT", since)
    reads = []
    real = parts._table  # each part file is read here once
    monkeypatch.setattr(parts, "_table", lambda f: reads.append(f) or real(f))
    later = _flat(300).iloc[150:].assign(date=lambda d: d["date"] + pd.Timedelta(days=1))
    _store(tmp_path, later, 10)
    second, _ = load_liquidations(tmp_path, "binance", "BTCUSDT", since)
    part_reads = [f for f in reads if "/liquidations/" in str(f)]
    fresh = read_events(tmp_path, "liquidations", exchange="binance", symbol="BTCUSDT")
    assert len(second) == len(fresh) > len(first)
    assert set(second["ts_event"]) == set(fresh["ts_event"])
    assert 0 < len(part_reads) < len(store.event_files(tmp_path, "liquidations")), (
        "only the parts written since the first load were read"
    )
