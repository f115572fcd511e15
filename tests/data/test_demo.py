"""The SYNTHETIC demo market: layout Freqtrade reads, internal consistency, planted ground truth."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from perpflow.data.demo import DEMO_PAIRS, MARKER, generate_demo_market

DAYS = 40


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    summary = generate_demo_market(out, days=DAYS, seed=11)
    return out, summary


def _read(out, base, name):
    return pd.read_feather(out / "futures" / f"{base}_USDT_USDT-{name}.feather")


def test_files_names_and_dtypes(demo):
    out, summary = demo
    assert (out / "futures" / MARKER).read_text().startswith("SYNTHETIC")
    for base in ("BTC", "ETH", "SOL"):
        for name in ("1m-futures", "5m-futures", "1h-futures", "1h-mark", "1h-premiumIndex", "1h-funding_rate",
                     "5m-open_interest", "1h-open_interest"):  # fmt: skip
            df = _read(out, base, name)
            assert str(df["date"].dtype) == "datetime64[ms, UTC]", name
            assert df["date"].is_monotonic_increasing and df["date"].is_unique
    assert list(_read(out, "BTC", "1h-funding_rate").columns) == ["date", "funding_rate"]
    oi_cols = ["date", "open_interest_amount", "open_interest_value"]
    assert list(_read(out, "BTC", "5m-open_interest").columns) == oi_cols
    assert len(_read(out, "BTC", "1m-futures")) == DAYS * 1440


def test_freqtrade_loads_every_candle_type(demo):
    from freqtrade.data.history import load_pair_history
    from freqtrade.enums import CandleType

    out, _ = demo
    for tf, ct in (("5m", CandleType.FUTURES), ("1h", CandleType.MARK), ("1h", CandleType.PREMIUMINDEX),
                   ("1h", CandleType.FUNDING_RATE), ("5m", CandleType.OPEN_INTEREST)):  # fmt: skip
        df = load_pair_history(pair="BTC/USDT:USDT", timeframe=tf, datadir=out, candle_type=ct)
        assert len(df) > 0, ct


def test_ohlc_consistency_and_aggregation(demo):
    out, _ = demo
    for base in ("BTC", "SOL"):
        m1 = _read(out, base, "1m-futures")
        assert (m1["high"] >= m1[["open", "close"]].max(axis=1)).all()
        assert (m1["low"] <= m1[["open", "close"]].min(axis=1)).all()
        assert (m1[["open", "high", "low", "close", "volume"]] >= 0).all().all()
        for tf, rule in (("5m", "5min"), ("1h", "1h")):
            agg = (m1.set_index("date").resample(rule)
                   .agg({"open": "first", "high": "max", "low": "min", "close": "last",
                         "volume": "sum"}).reset_index())  # fmt: skip
            got = _read(out, base, f"{tf}-futures")
            pd.testing.assert_frame_equal(got, agg, check_exact=False, rtol=1e-9)


def test_same_seed_same_bytes(tmp_path):
    a = generate_demo_market(tmp_path / "a", days=30, seed=3, pairs=("BTC/USDT:USDT",))
    b = generate_demo_market(tmp_path / "b", days=30, seed=3, pairs=("BTC/USDT:USDT",))
    c = generate_demo_market(tmp_path / "c", days=30, seed=4, pairs=("BTC/USDT:USDT",))

    def digest(summary, name):
        return hashlib.sha256((summary.outdir / "futures" / name).read_bytes()).hexdigest()

    name = "BTC_USDT_USDT-5m-futures.feather"
    assert digest(a, name) == digest(b, name) != digest(c, name)


def test_volatility_follows_sessions(demo):
    out, _ = demo
    m5 = _read(out, "BTC", "5m-futures")
    ret = np.log(m5["close"]).diff().abs()
    hour = m5["date"].dt.tz_convert("America/New_York").dt.hour
    weekday = m5["date"].dt.day_of_week < 5
    ny_open = ret[(hour == 10) & weekday].mean()
    asia_late = ret[(hour == 0) & weekday].mean()
    assert ny_open > 1.5 * asia_late


def test_funding_settles_every_8h_follows_premium_and_has_extremes(tmp_path):
    summary = generate_demo_market(tmp_path, days=150, seed=7, pairs=("BTC/USDT:USDT",))
    f = pd.read_feather(summary.outdir / "futures" / "BTC_USDT_USDT-1h-funding_rate.feather")
    assert set(f["date"].dt.hour) <= {0, 8, 16} and (f["date"].diff().dropna() == "8h").all()
    assert f["funding_rate"].abs().max() <= 0.0075
    roll = f["funding_rate"].rolling(90, min_periods=45)
    z = (f["funding_rate"] - roll.mean()) / roll.std()
    assert (z.abs() > 2.5).sum() >= 3
    mark = pd.read_feather(summary.outdir / "futures" / "BTC_USDT_USDT-1h-mark.feather")
    last = pd.read_feather(summary.outdir / "futures" / "BTC_USDT_USDT-1h-futures.feather")
    prem = (mark["close"] / last["close"] - 1).groupby(last["date"].dt.floor("8h")).mean()
    joined = pd.DataFrame({"p": prem.shift(1)}).join(f.set_index("date")["funding_rate"]).dropna()
    assert joined["p"].corr(joined["funding_rate"]) > 0.5


def test_open_interest_drops_in_cascades(demo):
    out, _ = demo
    ev = pd.read_parquet(out / "demo_events.parquet")
    oi = _read(out, "BTC", "5m-open_interest").set_index("date")["open_interest_amount"]
    casc = ev[(ev["pair"] == "BTC/USDT:USDT") & ev["kind"].str.startswith("cascade")]
    assert len(casc) >= 2
    for _, row in casc.iterrows():
        before = oi.asof(row["start"] - pd.Timedelta("5min"))
        after = oi.asof(row["end"] + pd.Timedelta("5min"))
        assert after < before * 0.985, row


def test_liquidations_crowd_into_cascades_on_the_right_side(demo):
    from perpflow.data.store import read_coverage, read_events

    out, _ = demo
    ev = pd.read_parquet(out / "demo_events.parquet")
    liq = read_events(out / "store", "liquidations", symbol="BTCUSDT")
    spans = read_coverage(out / "store", "liquidation", "binance")
    first, last = liq["ts_event"].iloc[[0, -1]].astype("datetime64[ms, UTC]").astype("int64")
    assert len(spans) == 1 and spans[0, 0] <= first and last <= spans[0, 1]
    assert np.allclose(liq["notional"], liq["price"] * liq["qty"], rtol=1e-6)
    candles = _read(out, "BTC", "1m-futures").set_index("date")
    at = candles.reindex(liq["ts_event"].dt.floor("1min"))
    assert ((liq["price"].to_numpy() >= at["low"].to_numpy() - 1e-9)
            & (liq["price"].to_numpy() <= at["high"].to_numpy() + 1e-9)).all()  # fmt: skip
    per_min = liq.set_index("ts_event")["notional"].resample("1min").sum()
    casc = ev[(ev["pair"] == "BTC/USDT:USDT") & ev["kind"].str.startswith("cascade")]
    inside = pd.Series(False, index=per_min.index)
    for _, row in casc.iterrows():
        inside |= (per_min.index >= row["start"]) & (per_min.index <= row["end"])
        window = liq[liq["ts_event"].between(row["start"], row["end"] + pd.Timedelta("1min"))]
        longs = (window["side"] == "sell").mean()
        assert longs > 0.7 if row["kind"] == "cascade_down" else longs < 0.3, row
    assert per_min[inside].mean() > 20 * per_min[~inside].mean()


def test_ground_truth_sweeps_are_where_the_data_says(demo):
    out, _ = demo
    ev = pd.read_parquet(out / "demo_events.parquet")
    assert set(ev["kind"]) >= {"pool_high", "pool_low", "sweep_high", "sweep_low"}
    for pair in DEMO_PAIRS:
        base = pair.split("/")[0]
        m5 = _read(out, base, "5m-futures").set_index("date")
        sweeps = ev[(ev["pair"] == pair) & ev["kind"].str.startswith("sweep")]
        assert len(sweeps) >= 5
        assert set(sweeps["outcome"]) <= {"continuation", "reversal"}
        for _, s in sweeps.iterrows():
            bar = m5.loc[s["sweep_time"]]
            before = m5.loc[
                s["start"] - pd.Timedelta("3D") : s["sweep_time"] - pd.Timedelta("5min")
            ]
            if s["kind"] == "sweep_high":
                assert bar["high"] > s["level"] > bar["close"]
                near = (before["high"] - s["level"]).abs() / s["level"] <= 0.001
            else:
                assert bar["low"] < s["level"] < bar["close"]
                near = (before["low"] - s["level"]).abs() / s["level"] <= 0.001
            assert near.sum() >= s["touches"], s


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"days": 10}, "days must be >= 30"), ({"pairs": ("DOGE/USDT:USDT",)}, "unknown demo pair")],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_demo_market(tmp_path, **kwargs)
