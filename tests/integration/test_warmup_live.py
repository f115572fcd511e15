"""Freqtrade's own live fetch, against the local exchange replaying the demo market, holds the
candles `perpflow.strategy.live_window` says it holds (and the derived warm-up needs)."""

from __future__ import annotations

import copy
import json

import pytest
from freqtrade.enums import CandleType, RunMode

from perpflow.config import load_perpflow_config
from perpflow.features.funding import MAX_FUNDING_INTERVAL_HOURS
from perpflow.strategy.live_window import live_candles, live_limits
from perpflow.strategy.warmup import startup_candles, warmup_needs
from tests.conftest import REPO

pytestmark = pytest.mark.integration

PAIR = "BTC/USDT:USDT"


@pytest.mark.parametrize("timeframe", ["5m", "1m"])
def test_live_fetch_holds_the_warmup(demo_datadir, timeframe):
    from freqtrade.resolvers import ExchangeResolver

    from perpflow.venue.overlay import exchange_overlay
    from perpflow.venue.server import VenueServer

    config = json.loads((REPO / "config.json").read_text())
    needs = warmup_needs(load_perpflow_config(config), timeframe)
    startup = startup_candles(needs)
    series = sorted({n.series for n in needs})
    with VenueServer(demo_datadir, mode="replay", port=0) as venue:
        config = {**copy.deepcopy(config), **exchange_overlay(venue.url), "timeframe": timeframe,
                  "startup_candle_count": startup, "runmode": RunMode.DRY_RUN}  # fmt: skip
        config["exchange"]["pair_whitelist"] = [PAIR]
        limits = live_limits(config, set(series))
        ex = ExchangeResolver.load_exchange(config, load_leverage_tiers=False)
        try:
            got = ex.refresh_latest_ohlcv([(PAIR, tf, CandleType(ct)) for tf, ct in series])
        finally:
            ex.close()
    held = {(tf, ct.value): len(df) for (_, tf, ct), df in got.items()}
    for tf, ct in series:
        model, why = live_candles((tf, ct), startup, timeframe, limits)
        if ct == "funding_rate":  # settlements, one per 8 h; the demo has fewer than fit
            hours = held[(tf, ct)] * MAX_FUNDING_INTERVAL_HOURS
            assert max(n.candles for n in needs if n.series == (tf, ct)) <= hours <= model, why
        else:
            assert held[(tf, ct)] == model, (tf, ct, held[(tf, ct)], model, why)
    for need in needs:
        assert live_candles(need.series, startup, timeframe, limits)[0] >= need.candles, need
