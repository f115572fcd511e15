"""Warm-up derived from the active config: the strategies' start-up count, the frame of exactly
that length on the demo market (every gate's input is known at its last row), Freqtrade's live
candle arithmetic against its own exchange class, and the start-up check's refusals."""

from __future__ import annotations

import copy
import json
import logging
import sys

import pandas as pd
import pytest
from freqtrade.enums import CandleType, RunMode
from freqtrade.exceptions import OperationalException

from perpflow.ai.features import ai_features
from perpflow.config import load_perpflow_config
from perpflow.data.files import pair_file
from perpflow.strategy.live_window import call_count, live_candles, live_limits
from perpflow.strategy.sweep_signals import populate_sweep_indicators
from perpflow.strategy.warmup import startup_candles, warmup_needs, warmup_requirements
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "strategies"))
from LiquiditySweep import LiquiditySweep  # noqa: E402
from LiquiditySweepAI import LiquiditySweepAI  # noqa: E402

PAIR = "BTC/USDT:USDT"
BASE = json.loads((REPO / "config.json").read_text())
AI = {**BASE, **json.loads((REPO / "config.freqai.json").read_text())}
SHIPPED = {"config.json": (BASE, LiquiditySweep),
           "config.json+config.freqai.json": (AI, LiquiditySweepAI)}  # fmt: skip
# the inputs each entry gate reads, by the filter that owns them (a missing input fails closed)
GATE_INPUTS = {
    "regime": ["rv_pct"], "structure": ["vp_val", "vp_vah", "atr"], "funding": ["funding_z"],
    "open_interest": ["oi_regime", "oi_z", "price_z", "oi_change"], "sessions": ["session_block"],
    "macro": ["macro_blackout"], "liquidations": ["liq_long_notional", "liq_short_notional"],
}  # fmt: skip


def _config(base: dict, **perpflow) -> dict:
    cfg = copy.deepcopy(base)
    for path, value in perpflow.items():
        node = cfg.setdefault("perpflow", {})
        *head, last = path.split("__")
        for key in head:
            node = node.setdefault(key, {})
        node[last] = value
    return cfg


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from perpflow.data.demo import generate_demo_market

    out = tmp_path_factory.mktemp("demo")
    generate_demo_market(out, days=30, seed=11, pairs=(PAIR,))
    return out


def _series(demo, name: str) -> pd.DataFrame:
    return pd.read_feather(pair_file(demo, PAIR, name))


def _frames(demo, needs, startup: int, end: pd.Timestamp):
    """What a bot with `startup` candles holds at candle `end`: the last `startup` candles of
    each series it reads (funding: settlements of the last `startup` hours)."""
    base = _series(demo, "5m-futures")
    base = base[base["date"] <= end].tail(startup).reset_index(drop=True)
    funding = _series(demo, "1h-funding_rate")
    first = end - pd.Timedelta(hours=startup)
    funding = funding[(funding["date"] <= end) & (funding["date"] > first)]
    oi_tf = next(n.timeframe for n in needs if n.candle_type == "open_interest")
    oi = _series(demo, f"{oi_tf}-open_interest")
    return base, funding, oi[oi["date"] <= end].tail(startup)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_frame_of_the_startup_length_has_every_gate_input(demo, name):
    config, strategy_cls = SHIPPED[name]
    strategy = strategy_cls(copy.deepcopy(config))
    needs = strategy.warmup_needs()
    startup = strategy.startup_candle_count
    assert startup == startup_candles(needs) == max(warmup_requirements(
        strategy.pf, "5m", freqai=config.get("freqai")).values())  # fmt: skip
    end = pd.Timestamp(_series(demo, "5m-futures")["date"].iloc[-1])

    def last_row(rows: int) -> pd.Series:
        base, funding, oi = _frames(demo, needs, rows, end)
        out = populate_sweep_indicators(base, pair=PAIR, cfg=strategy.pf, timeframe="5m",
                                        funding=funding, open_interest=oi,
                                        liquidation_store=demo / "store")  # fmt: skip
        if strategy_cls is LiquiditySweepAI:
            out = pd.concat([out, ai_features(out, strategy.pf)], axis=1)
        return out.iloc[-1]

    row = last_row(startup)
    gates = [c for c in row.index if c.startswith("ok_")]
    assert len(gates) >= 11 and row[gates].notna().all()
    inputs = [c for f, cols in GATE_INPUTS.items() for c in cols]
    assert row[inputs].notna().all(), row[inputs][row[inputs].isna()]
    if strategy_cls is LiquiditySweepAI:  # the model predicts only on rows with every feature
        feats = [c for c in row.index if c.startswith("%")]
        assert row[feats].notna().all(), row[feats][row[feats].isna()]
    # and the count is tight: one candle fewer and the binding feature (the regime) is unknown
    assert pd.isna(last_row(startup - 1)["rv_pct"])


def test_startup_follows_the_active_config():
    assert LiquiditySweep(copy.deepcopy(BASE)).startup_candle_count == 2016 + 6
    longer = LiquiditySweep(_config(BASE, filters__regime__lookback=2400))
    assert longer.startup_candle_count == 2400 + 6
    # once the regime is short, the next longest need (liquidity pools) binds
    short = LiquiditySweep(_config(BASE, filters__regime__lookback=100))
    assert short.startup_candle_count == 864 + 2 * 6 + 1
    on_1m = LiquiditySweep({**_config(BASE, filters__regime__lookback=100), "timeframe": "1m"})
    assert on_1m.startup_candle_count == 877  # counts are candles, whatever the timeframe
    # LiquiditySweepAI adds the model's inputs: FreqAI's longest indicator period binds here
    ai_cfg = _config(AI, filters__regime__lookback=50, sweep__pool_max_age=10,
                     filters__structure__profile_window=20, filters__liquidations__enabled=False)  # fmt: skip
    ai_cfg["freqai"] = copy.deepcopy(AI["freqai"])
    ai_cfg["freqai"]["feature_parameters"]["indicator_periods_candles"] = [12, 400]
    ai = LiquiditySweepAI(ai_cfg)
    assert {n.feature: n.candles for n in ai.warmup_needs()}["FreqAI features on 5m"] == 401
    assert ai.startup_candle_count == 401
    assert LiquiditySweep(ai_cfg).startup_candle_count < 401  # the rule strategy has no model


def test_freqtrade_copies_the_derived_count_and_a_config_value_wins(tmp_path):
    from freqtrade.resolvers import StrategyResolver

    cfg = {**_config(BASE, filters__regime__lookback=1000), "strategy": "LiquiditySweep",
           "strategy_path": str(REPO / "strategies"), "user_data_dir": tmp_path}  # fmt: skip
    strategy = StrategyResolver.load_strategy(cfg)
    assert cfg["startup_candle_count"] == strategy.startup_candle_count == 1006
    fixed = StrategyResolver.load_strategy({**cfg, "startup_candle_count": 1500})
    assert fixed.startup_candle_count == 1500


def _limits(config: dict):
    needs = warmup_needs(load_perpflow_config(config), config["timeframe"])
    return live_limits(config, {n.series for n in needs} | {("1h", "open_interest")}), needs


def test_live_limits_are_freqtrades_own():
    """The stand-in reads the same limits and call count as Freqtrade's Binance exchange."""
    from freqtrade.resolvers import ExchangeResolver

    for overlay in ({}, {"_ft_has_params": {"ohlcv_candle_limit": 1000}}):
        config = copy.deepcopy(BASE)
        config["exchange"].update(overlay)
        limits, needs = _limits(config)
        ex = ExchangeResolver.load_exchange({**copy.deepcopy(config), "runmode": RunMode.BACKTEST},
                                            validate=False)  # fmt: skip
        try:
            for tf, ct in {n.series for n in needs}:
                assert limits.per_call(tf, ct) == ex.ohlcv_candle_limit(tf, CandleType(ct))
            for startup in (300, 2022):
                assert call_count(startup, "5m", limits) == ex.validate_required_startup_candles(
                    startup, "5m")  # fmt: skip
        finally:
            ex.close()


def test_live_candles_follow_freqtrades_fetch():
    limits, _ = _limits(BASE)
    assert limits.per_call("5m", "futures") == 499 and limits.max_calls == 5
    # one call of 499 minus the forming candle: the frame that starved the regime before
    assert live_candles(("5m", "futures"), 300, "5m", limits)[0] == 498
    assert live_candles(("5m", "futures"), 2022, "5m", limits)[0] == 5 * 499 - 1
    assert live_candles(("5m", "open_interest"), 2022, "5m", limits)[0] == 5 * 500 - 1
    # funding: one call = 1000 settlements, kept to 499 + 300; five calls page over 5 x 1000 h
    assert live_candles(("1h", "funding_rate"), 300, "5m", limits)[0] == (499 + 300) * 8
    assert live_candles(("1h", "funding_rate"), 2022, "5m", limits)[0] == 5 * 1000
    # Binance serves 30 days of open interest: 720 hourly rows at most
    assert live_candles(("1h", "open_interest"), 2022, "5m", limits)[0] == 30 * 24 - 1


@pytest.mark.parametrize(("change", "fragment"), [
    ({"filters__regime__lookback": 2600}, "set perpflow.filters.regime.lookback to at most 2488"),
    ({"sweep__pool_max_age": 5000}, "set perpflow.sweep.pool_max_age to at most"),
    ({"filters__open_interest__timeframe": "1h", "filters__open_interest__regime_window": 800},
     "binance serves 30 days of open interest): set perpflow.filters.open_interest.regime_window "
     "to at most 706"),
])  # fmt: skip
def test_dry_run_refuses_a_warmup_the_bot_cannot_hold(change, fragment):
    config = {**_config(BASE, **change), "runmode": RunMode.DRY_RUN}
    with pytest.raises(OperationalException) as err:
        LiquiditySweep(config)
    assert fragment in str(err.value), str(err.value)


def test_a_startup_count_from_the_config_is_checked_too():
    config = {**copy.deepcopy(BASE), "runmode": RunMode.LIVE, "startup_candle_count": 300}
    with pytest.raises(OperationalException, match="remove it to use the derived 2022") as err:
        LiquiditySweep(config)
    assert "volatility regime (rv_pct) needs 2022 5m futures candles" in str(err.value)
    assert "the bot holds 498 live" in str(err.value)


def test_backtests_only_warn_unless_freqtrade_would_refuse(caplog):
    oi_1h = _config(BASE, filters__open_interest__timeframe="1h",
                    filters__open_interest__regime_window=800)  # fmt: skip
    with caplog.at_level(logging.WARNING):
        LiquiditySweep({**oi_1h, "runmode": RunMode.BACKTEST})
    assert "open-interest regime needs 813" in caplog.text
    # past Freqtrade's 5 calls per pair no mode starts: name the feature instead of the count
    with pytest.raises(OperationalException, match="regime.lookback"):
        LiquiditySweep({**_config(BASE, filters__regime__lookback=2600),
                        "runmode": RunMode.BACKTEST})  # fmt: skip
    # an analysis that lifts the per-call limit (recursive-analysis at 4x) is let through
    lifted = _config(BASE, filters__regime__lookback=2600)
    lifted["exchange"]["_ft_has_params"] = {"ohlcv_candle_limit": 1500}
    assert LiquiditySweep({**lifted, "runmode": RunMode.BACKTEST}).startup_candle_count == 2606
