"""Slippage model mechanics: the book walk, the profile walk, the band, the fallback order and
the model file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from perpflow.errors import UserError
from perpflow.execution.slippage import (
    SlippageModel,
    drift_band_bps,
    walk_cost_bps,
)


def _walk_oracle(prices, sizes, notional, mid):
    """Plain per-level loop: the reference for the vectorised walk."""
    left, base = notional, 0.0
    for p, q in zip(prices, sizes, strict=True):
        take = min(left, p * q)
        base += take / p
        left -= take
        if left <= 1e-12 * notional:
            return abs(notional / base / mid - 1) * 1e4
    return float("inf")


def test_walk_cost_by_hand():
    # 200 quote from asks 100.1 x 1 and 100.2 x 2 around mid 100: 100.1 quote at 100.1, the
    # remaining 99.9 quote at 100.2 -> 1 + 99.9/100.2 base for 200 quote
    expected = (200 / (1 + 99.9 / 100.2) / 100 - 1) * 1e4
    assert walk_cost_bps([100.1, 100.2], [1, 2], 200, 100) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(14.9925, abs=1e-4)
    # bids mirror it: cost is mid - average price, positive
    assert walk_cost_bps([99.9, 99.8], [1, 2], 99.9, 100) == pytest.approx(10.0, rel=1e-9)
    assert walk_cost_bps([100.1], [1], 500, 100) == float("inf")
    # NaN levels (a shallower book) are skipped
    assert walk_cost_bps([100.1, np.nan], [1, np.nan], 50, 100) == pytest.approx(10.0)


@pytest.mark.parametrize("seed", range(5))
def test_walk_cost_matches_plain_loop(seed):
    rng = np.random.default_rng(seed)
    mid = 50 + rng.random() * 100
    asks = mid * (1 + np.cumsum(rng.uniform(0.5, 5, 30)) / 1e4)
    sizes = rng.gamma(2.0, 1.0, 30)
    for notional in rng.uniform(1, (asks * sizes).sum() * 1.2, 20):
        a = walk_cost_bps(asks, sizes, notional, mid)
        b = _walk_oracle(asks, sizes, notional, mid)
        assert a == pytest.approx(b, rel=1e-9) or (a == b == float("inf"))


def test_drift_band():
    assert drift_band_bps(2.0, 4.0) == pytest.approx(1.645 * 2 * 2)


def test_profile_cost_monotone_in_notional_and_inside_band(model):
    for side in ("buy", "sell"):
        costs = []
        for n in np.geomspace(10, 5e6, 40):
            c = model.cost("BTC/USDT:USDT", "ny_open", side, n, sigma_bps_1s=0.5, latency_s=2)
            assert c.source == "profile"
            lo, hi = c.band_bps
            assert lo <= c.total_bps <= hi
            costs.append(c.total_bps)
        assert np.all(np.diff(costs) >= -1e-9)
        assert costs[0] == pytest.approx(0.5, abs=0.05)  # demo books: spread 1 bp


def test_profile_close_to_walking_the_books(model, book_store):
    """The median cost on the profile is near the median of the per-snapshot walks."""
    from perpflow.data.readers import book_snapshots

    books = book_snapshots(book_store, "binance", "BTCUSDT")
    px = books[[f"ask_px_{i}" for i in range(25)]].to_numpy()
    sz = books[[f"ask_sz_{i}" for i in range(25)]].to_numpy()
    mid = (books["bid_px_0"] + books["ask_px_0"]).to_numpy() / 2
    for n in (500.0, 3_000.0):
        walks = [walk_cost_bps(p, q, n, m) for p, q, m in zip(px, sz, mid, strict=True)]
        c = model.cost("BTCUSDT", "ny_open", "buy", n)
        assert c.total_bps == pytest.approx(np.median(walks), rel=0.25)


def test_fallback_order(model):
    book = {"bids": [[99.99, 5.0], [99.98, 5.0]], "asks": [[100.01, 5.0], [100.02, 5.0]]}
    kw = {"candle_range_bps": 40.0, "candle_quote_volume": 1e6}
    assert model.cost("BTCUSDT", "ny_open", "buy", 100, book=book, **kw).source == "book"
    assert model.cost("BTCUSDT", "ny_open", "buy", 100, **kw).source == "profile"
    crossed = {"bids": [[100.05, 1.0]], "asks": [[100.01, 1.0]]}
    assert model.cost("BTCUSDT", "ny_open", "buy", 100, book=crossed, **kw).source == "profile"
    other = model.cost("BTCUSDT", "asia_london", "buy", 1e4, **kw)
    assert other.source == "candles"
    assert other.total_bps == pytest.approx(40 / 2 * np.sqrt(1e4 / 1e6))
    none = model.cost("ETHUSDT", "ny_open", "buy", 1e4)
    assert none.source == "none" and np.isnan(none.total_bps)


def test_book_cost_components_and_extrapolation():
    book = {"bids": [[99.9, 1.0]], "asks": [[100.1, 1.0], [100.2, 2.0]]}
    m = SlippageModel.empty()
    c = m.cost("X/USDT:USDT", "other", "buy", 200, book=book, sigma_bps_1s=1.0, latency_s=1.0)
    assert c.half_spread_bps == pytest.approx(10.0)
    assert c.total_bps == pytest.approx(walk_cost_bps([100.1, 100.2], [1, 2], 200, 100))
    assert c.band_bps == pytest.approx((c.total_bps - 1.645, c.total_bps + 1.645))
    big = m.cost("X/USDT:USDT", "other", "buy", 1_000, book=book)
    assert big.extrapolated and np.isfinite(big.total_bps) and big.total_bps > c.total_bps


def test_thin_profile_not_used(model, book_store, tmp_path):
    path = tmp_path / "m.json"
    model.save(path)
    doc = json.loads(path.read_text())
    doc["min_snapshots"] = 10_000
    path.write_text(json.dumps(doc))
    thin = SlippageModel.load(path)
    assert thin.cost("BTCUSDT", "ny_open", "buy", 100).source == "none"
    assert "fewer than min_snapshots=10000" in thin.explain("BTCUSDT", "ny_open")
    assert np.isnan(thin.depth_notional("BTCUSDT", "ny_open", "buy", 10))


def test_save_load_round_trip(model, tmp_path):
    path = tmp_path / "m.json"
    model.save(path)
    back = SlippageModel.load(path)
    for n in (100.0, 5e3, 1e6):
        a = model.cost("BTCUSDT", "ny_open", "sell", n)
        b = back.cost("BTCUSDT", "ny_open", "sell", n)
        assert b.total_bps == pytest.approx(a.total_bps, rel=1e-6)
        assert b.band_bps == pytest.approx(a.band_bps, rel=1e-6)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: "{not json", "not a readable JSON"),
        (lambda d: {**d, "format": "other/9"}, "field format"),
        (
            lambda d: {**d, "profiles": [{**d["profiles"][0], "spread_bps": [3, 2, 1]}]},
            "field profiles.0",
        ),
        (lambda d: {**d, "grid_bps": [1.0, 1.0]}, "grid_bps must increase"),
    ],
)
def test_bad_model_file_names_file_and_field(model, tmp_path, edit, needle):
    path = tmp_path / "bad.json"
    model.save(path)
    new = edit(json.loads(path.read_text()))
    path.write_text(new if isinstance(new, str) else json.dumps(new))
    with pytest.raises(UserError, match=needle) as err:
        SlippageModel.load(path)
    assert str(path) in str(err.value)
    with pytest.raises(UserError, match="not found"):
        SlippageModel.load(tmp_path / "missing.json")


def test_bad_arguments():
    m = SlippageModel.empty()
    with pytest.raises(ValueError, match="session block"):
        m.cost("BTCUSDT", "london", "buy", 1.0)
    with pytest.raises(ValueError, match="'buy' or 'sell'"):
        m.cost("BTCUSDT", "other", "long", 1.0)
    with pytest.raises(ValueError, match="positive"):
        m.cost("BTCUSDT", "other", "buy", 0.0)
