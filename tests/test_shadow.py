"""Shadow mode pieces: fill matching and the venue's replay of a chosen day."""

from __future__ import annotations

import ccxt
import pandas as pd
import pytest

from perpflow.data.demo import generate_demo_market
from perpflow.validation.shadow import compare_fills
from perpflow.venue.overlay import ccxt_config
from perpflow.venue.server import VenueServer

SHIFT = pd.Timedelta(days=168)


def _trades(times, rates, pairs=None, short=None):
    n = len(times)
    return pd.DataFrame({
        "pair": pairs or ["BTC/USDT:USDT"] * n, "is_short": short or [False] * n,
        "open_date": pd.to_datetime(times, utc=True), "open_rate": rates,
        "funding_fees": [0.0] * n,
    })  # fmt: skip


def test_fills_match_within_a_candle_after_undoing_the_shift():
    t0 = pd.Timestamp("2026-06-10 14:00", tz="UTC")
    backtest = _trades([t0, t0 + pd.Timedelta("10min"), t0 + pd.Timedelta("30min")],
                       [100.0, 101.0, 102.0], short=[False, True, False])  # fmt: skip
    shadow = _trades([t0 + SHIFT + pd.Timedelta("1min"), t0 + SHIFT + pd.Timedelta("10min"),
                      t0 + SHIFT + pd.Timedelta("3h")], [100.1, 100.9, 99.0],
                     short=[False, True, False])  # fmt: skip
    matched, s = compare_fills(shadow, backtest, shift=SHIFT, timeframe="1m")
    assert s["matched"] == 2 and s["dry_only"] == 1 and s["backtest_only"] == 1
    # long paid 100.1 vs 100 (+10 bp worse); short sold 100.9 vs 101 (+9.9 bp worse)
    assert matched["slippage_bps"].tolist() == pytest.approx([10.0, 9.90099], rel=1e-4)
    side_mismatch = _trades([t0 + SHIFT], [100.0], short=[True])
    assert compare_fills(side_mismatch, backtest.iloc[:1], shift=SHIFT, timeframe="1m")[1][
        "matched"] == 0  # fmt: skip


def test_venue_replays_the_chosen_day_at_the_current_time_of_day(tmp_path):
    generate_demo_market(tmp_path, days=40, seed=2, pairs=("BTC/USDT:USDT",))
    with VenueServer(tmp_path, mode="replay", replay_date="2026-05-20") as v:
        stored_now = pd.Timestamp(v.venue.clock.stored_now_ms(), unit="ms", tz="UTC")
        now = pd.Timestamp.now(tz="UTC")
        assert stored_now.normalize() == pd.Timestamp("2026-05-20", tz="UTC")
        assert abs((stored_now - stored_now.normalize()) - (now - now.normalize())) < pd.Timedelta(
            "1min")  # fmt: skip
        ex = ccxt.binance(ccxt_config(v.url))
        last = ex.fetch_ohlcv("BTC/USDT:USDT", "1m", limit=2)[-1][0]
        assert abs(pd.Timestamp(last, unit="ms", tz="UTC") - now) < pd.Timedelta("3min")
    with pytest.raises(ValueError, match="past the stored data"):
        VenueServer(tmp_path, mode="replay", replay_date="2026-07-01")
