"""Labels on hand-made frames with known answers and on the demo market's planted sweeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from perpflow.labels.barriers import first_touch, triple_barrier
from perpflow.labels.events import liquidation_move, sweep_outcome


def _frame(highs, lows, closes):
    n = len(closes)
    return pd.DataFrame({"date": pd.date_range("2026-01-01", periods=n, freq="5min", tz="UTC"),
                         "open": closes, "high": highs, "low": lows, "close": closes})  # fmt: skip


def test_first_touch_known_answers():
    high = np.array([100, 101, 103, 100, 100, 100.0])
    low = np.array([100, 99.5, 99, 97, 100, 100.0])
    ev = np.array([0, 0, 0, 4])
    up = np.array([102.0, 110.0, 102.0, 200.0])
    dn = np.array([98.0, 98.0, 99.0, 50.0])
    label, bars = first_touch(high, low, ev, up, dn, 4, long=np.array([True, True, True, True]))
    # up at row 2 first; down at row 3 first; both at row 2 (same candle: adverse for a long);
    # nothing before the data ends
    assert label.tolist() == [1, -1, -1, 0] and bars.tolist() == [2, 3, 2, 0]
    label, _ = first_touch(high, low, ev[2:3], up[2:3], dn[2:3], 4, long=np.array([False]))
    assert label.tolist() == [1], "a same-candle tie goes against a short too"


def test_triple_barrier_long_short_timeout_and_unknown():
    closes = np.r_[np.full(5, 100.0), 103.0, np.full(54, 100.0)]
    df = _frame(closes + 0.1, closes - 0.1, closes)
    atr = pd.Series(1.0, index=df.index)
    events = pd.Series(False, index=df.index)
    events.iloc[[0, 1, 20, 58]] = True
    long = pd.Series([True, False] + [True] * 58, index=df.index)
    tb = triple_barrier(df, atr, events, long=long, take_atr=2.0, stop_atr=1.0, horizon=10)
    assert tb.loc[0, "tb_label"] == 1 and tb.loc[0, "tb_bars"] == 5  # long hits +2 ATR at 103
    assert tb.loc[1, "tb_label"] == -1  # the short is stopped by the same rally
    assert tb.loc[20, "tb_label"] == 0 and tb.loc[20, "tb_return"] == pytest.approx(0.0)
    assert np.isnan(tb.loc[58, "tb_label"]), "horizon past the data end: unknown, not timeout"
    assert tb["tb_label"].notna().sum() == 3


def test_liquidation_move_label():
    closes = np.r_[np.full(3, 100.0), 98.0, np.full(40, 100.0)]
    df = _frame(closes + 0.1, closes - 0.1, closes)
    atr = pd.Series(1.0, index=df.index)
    cluster = pd.Series(False, index=df.index)
    cluster.iloc[[0, 10, 42]] = True
    out = liquidation_move(df, atr, cluster, k_atr=1.5, horizon=5)
    assert out.loc[0, "liq_move"] == 1 and out.loc[0, "liq_move_dir"] == -1
    assert out.loc[10, "liq_move"] == 0 and np.isnan(out.loc[42, "liq_move"])


def test_sweep_outcomes_match_the_planted_ground_truth(tmp_path):
    from perpflow.config import load_perpflow_config
    from perpflow.data.demo import generate_demo_market
    from perpflow.features.volatility import atr as atr_fn

    generate_demo_market(tmp_path, days=150, seed=7, pairs=("BTC/USDT:USDT", "SOL/USDT:USDT"))
    ev = pd.read_parquet(tmp_path / "demo_events.parquet")
    agree, resolved, planted = [], 0, 0
    for pair, base in (("BTC/USDT:USDT", "BTC"), ("SOL/USDT:USDT", "SOL")):
        df = pd.read_feather(tmp_path / "futures" / f"{base}_USDT_USDT-5m-futures.feather")
        sw = ev[(ev["pair"] == pair) & ev["kind"].str.startswith("sweep_")]
        when = df["date"].isin(sw["sweep_time"])
        low = when & df["date"].isin(sw.loc[sw["kind"] == "sweep_low", "sweep_time"])
        a = atr_fn(df, period=load_perpflow_config({}).risk.atr_period)
        out = sweep_outcome(df, a, sweep_low=low, sweep_high=when & ~low)
        got = out.loc[when, "sweep_reversal"].set_axis(df.loc[when, "date"]).dropna()
        truth = sw.set_index("sweep_time")["outcome"].eq("reversal").astype(float)
        agree += (got == truth.reindex(got.index)).tolist()
        resolved, planted = resolved + len(got), planted + len(sw)
    rate = float(np.mean(agree))
    print(f"planted sweeps: {planted}, resolved {resolved}, agreement {rate:.2f}")
    assert resolved >= 0.8 * planted, "most planted sweeps resolve within the horizon"
    assert rate >= 0.8, rate


def test_label_command_builds_a_dataset(tmp_path, capsys):
    from perpflow.cli import main
    from perpflow.data.demo import generate_demo_market

    generate_demo_market(tmp_path / "d", days=45, seed=5, pairs=("BTC/USDT:USDT",))
    out = tmp_path / "events.parquet"
    assert main(["label", "--pairs", "BTC/USDT:USDT", "--datadir", str(tmp_path / "d"),
                 "--out", str(out)]) == 0  # fmt: skip
    data = pd.read_parquet(out)
    assert set(data["event"]) == {"entry", "sweep", "liq_cluster"}
    assert data.loc[data["event"] == "entry", "tb_label"].notna().mean() > 0.9
    assert data.loc[data["event"] == "sweep", "sweep_reversal"].notna().mean() > 0.5
    assert data["tb_label"].dropna().isin([-1, 0, 1]).all()
    summary = pd.read_csv(out.with_suffix(".summary.csv"))
    assert summary["events"].sum() == len(data)
    assert "labelled events" in capsys.readouterr().out


def test_features_and_strategies_never_import_labels():
    """Labels read the future; nothing that computes features or signals may import them."""
    from tests.conftest import REPO

    for folder in ("perpflow/features", "perpflow/strategy", "perpflow/risk", "strategies"):
        for path in (REPO / folder).glob("*.py"):
            assert "perpflow.labels" not in path.read_text(), path
