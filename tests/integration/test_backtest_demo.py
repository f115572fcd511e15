"""The real `freqtrade` against the local exchange on the SYNTHETIC demo market."""

from __future__ import annotations

import pytest

from tests.integration.ft import latest_backtest_trades, lookahead_verdict, run_freqtrade

pytestmark = pytest.mark.integration


def test_list_strategies_shows_liquiditysweep_ok(demo_overlay, tmp_path):
    proc = run_freqtrade(
        ["list-strategies", "--strategy-path", "strategies"],
        configs=[demo_overlay], userdir=tmp_path / "ud",
    )  # fmt: skip
    line = next(ln for ln in proc.stdout.splitlines() if "LiquiditySweep" in ln)
    assert "OK" in line, line


def test_backtest_on_demo_market_trades_with_risk_callbacks(demo_datadir, demo_overlay, tmp_path):
    ud = tmp_path / "ud"
    proc = run_freqtrade(
        ["backtesting", "--datadir", str(demo_datadir), "--strategy", "LiquiditySweep",
         "--export", "trades", "--cache", "none",
         "--pairs", "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"],
        configs=[demo_overlay], userdir=ud,
    )  # fmt: skip
    assert "BACKTESTING REPORT" in proc.stdout
    trades = latest_backtest_trades(ud)
    assert len(trades) > 0
    assert set(trades["pair"]) <= {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"}
    # leverage is capped by config (5x) and floored at 1x
    assert trades["leverage"].between(1.0, 5.0).all()
    # stakes come from the risk budget, so they vary with the stop distance
    assert trades["stake_amount"].nunique() > 1
    # entries are tagged with the setup they came from, and both directions occur; the demo's
    # event store feeds the liquidation-cluster reversals
    tags = set(trades["enter_tag"])
    assert tags <= {"sweep_low", "sweep_high", "pool_sweep_low", "pool_sweep_high",
                    "liq_reversal_long", "liq_reversal_short"}  # fmt: skip
    assert {"liq_reversal_long", "liq_reversal_short"} <= tags
    assert tags & {"sweep_low", "pool_sweep_low"} and tags & {"sweep_high", "pool_sweep_high"}
    assert trades["is_short"].any() and (~trades["is_short"]).any()
    # loss at the stop is bounded by the risk rule (1% of equity plus slippage and fees slack)
    losers = trades[trades["exit_reason"].str.contains("stop")]
    assert (losers["profit_abs"] > -0.02 * 10_000 * 1.2).all()


def test_lookahead_analysis_finds_no_bias(demo_datadir, demo_overlay, tmp_path):
    """With the execution policy on (config.execution.json, its limit orders kept): the signals,
    every indicator (the slippage model's inputs too) and the policy's prices are unbiased."""
    from tests.conftest import REPO
    from tests.integration.ft import write_json

    export = tmp_path / "lookahead.csv"
    allow = write_json(tmp_path / "allow.json", {"lookahead_allow_limit_orders": True})
    run_freqtrade(
        ["lookahead-analysis", "--datadir", str(demo_datadir), "--strategy", "LiquiditySweep",
         "--pairs", "BTC/USDT:USDT", "ETH/USDT:USDT", "--timerange", "20260520-20260620",
         "--minimum-trade-amount", "5", "--targeted-trade-amount", "10",
         "--lookahead-analysis-exportfilename", str(export)],
        configs=[REPO / "config.execution.json", allow, demo_overlay], userdir=tmp_path / "ud",
        timeout=1200,
    )  # fmt: skip
    lookahead_verdict(export, min_signals=5)


def test_recursive_analysis_finds_no_bias(demo_datadir, demo_overlay, tmp_path):
    """At the derived start-up count every indicator (with the execution policy's model inputs)
    already equals its value at 2x and 4x: none is missing (nan%), and what differs is float noise
    of rolling sums (0.000%)."""
    import json

    from perpflow.config import load_perpflow_config
    from perpflow.strategy.warmup import startup_candles, warmup_needs
    from tests.conftest import REPO
    from tests.integration.ft import write_json

    cfg = load_perpflow_config({"perpflow": {
        **json.loads((REPO / "config.json").read_text())["perpflow"], "execution": {"enabled": True}}})  # fmt: skip
    derived = startup_candles(warmup_needs(cfg, "5m"))
    # 4x exceeds Freqtrade's 5 x 499 candles per pair: lift the per-call limit for the analysis
    lifted = write_json(tmp_path / "limit.json",
                        {"exchange": {"_ft_has_params": {"ohlcv_candle_limit": 2000}}})  # fmt: skip
    proc = run_freqtrade(
        ["recursive-analysis", "--datadir", str(demo_datadir), "--strategy", "LiquiditySweep",
         "--pairs", "BTC/USDT:USDT", "--timerange", "20260601-20260615",
         "--startup-candle", str(2 * derived), str(4 * derived)],
        configs=[REPO / "config.execution.json", demo_overlay, lifted], userdir=tmp_path / "ud",
        timeout=900,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert "found lookahead in indicator" not in out
    assert "No lookahead bias on indicators found" in out
    assert f"{derived} (from strategy)" in out, "the strategy's derived count was analysed"
    rows = [line for line in out.splitlines() if line.startswith("│") and "%" in line]
    assert all(set(c.strip()) <= set("-0.%") for r in rows for c in r.split("│")[2:-1]), rows
