"""Replay mode: stored history shifted by whole days onto an injected wall clock."""

from __future__ import annotations

import ccxt
import pandas as pd
import pytest

from perpflow.data.demo import generate_demo_market
from perpflow.venue.overlay import ccxt_config
from perpflow.venue.server import VenueServer

DAY = 86_400_000


class FakeClock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    out = tmp_path_factory.mktemp("replay-data")
    generate_demo_market(out, days=30, seed=9, pairs=("BTC/USDT:USDT",))
    return out


def test_replay_shows_data_up_to_now_and_advances(datadir):
    clock = FakeClock(pd.Timestamp("2026-11-24 10:07:30", tz="UTC").timestamp())
    with VenueServer(datadir, mode="replay", port=0, clock=clock) as v:
        shift = v.venue.clock.shift_ms
        assert shift % DAY == 0  # whole days keep sessions and funding times aligned
        ex = ccxt.binance(ccxt_config(v.url))
        ex.load_markets()
        now_ms = int(clock.t * 1000)
        bars = ex.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=5)
        assert bars[-1][0] == now_ms // 60_000 * 60_000  # the forming candle is last
        assert all(b[0] <= now_ms for b in bars)
        five = ex.fetch_ohlcv("BTC/USDT:USDT", "5m", limit=3)
        assert five[-1][0] == now_ms // 300_000 * 300_000
        forming_close = bars[-1][4]
        mid_before = _mid(ex)
        clock.t += 20  # the forming candle changes as time passes
        assert ex.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=1)[-1][4] != forming_close
        clock.t += 600  # ten minutes later: new candles, and the book moved with the price
        later = ex.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=2)
        assert later[-1][0] == bars[-1][0] + 600_000
        last = ex.fetch_ticker("BTC/USDT:USDT")["last"]
        book = ex.fetch_order_book("BTC/USDT:USDT", limit=5)
        assert book["bids"][0][0] <= last <= book["asks"][0][0]
        assert _mid(ex) != mid_before
        # funding and OI are visible only up to now
        f = ex.fetch_funding_rate_history("BTC/USDT:USDT", limit=3)
        assert f[-1]["timestamp"] <= clock.t * 1000 and f[-1]["timestamp"] % (8 * 3_600_000) == 0
        oi = ex.fetch_open_interest_history("BTC/USDT:USDT", "5m", limit=3)
        assert oi[-1]["timestamp"] <= clock.t * 1000


def test_replay_runway_leaves_future_to_play(datadir):
    last = pd.read_feather(datadir / "futures" / "BTC_USDT_USDT-1m-futures.feather")["date"].max()
    clock = FakeClock(pd.Timestamp("2027-01-05 03:00", tz="UTC").timestamp())
    with VenueServer(datadir, mode="replay", port=0, clock=clock) as v:
        stored_now = v.venue.clock.stored_now_ms()
    remaining = last.value // 1_000_000 - stored_now
    assert DAY <= remaining < 2 * DAY


def _mid(ex) -> float:
    book = ex.fetch_order_book("BTC/USDT:USDT", limit=5)
    return (book["bids"][0][0] + book["asks"][0][0]) / 2
