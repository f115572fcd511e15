"""The local exchange through a real ccxt client over HTTP: markets, paging, resampling, errors."""

from __future__ import annotations

import ccxt
import numpy as np
import pandas as pd
import pytest
import requests

from perpflow.data.demo import generate_demo_market
from perpflow.venue.overlay import ccxt_config
from perpflow.venue.server import VenueServer

PAIR = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    out = tmp_path_factory.mktemp("venue-data")
    generate_demo_market(out, days=30, seed=5, pairs=("BTC/USDT:USDT", "SOL/USDT:USDT"))
    return out


@pytest.fixture(scope="module")
def venue(datadir):
    with VenueServer(datadir, mode="history", port=0) as v:
        yield v


@pytest.fixture(scope="module")
def client(venue):
    ex = ccxt.binance(ccxt_config(venue.url))
    ex.load_markets()
    return ex


def _stored(datadir, tf="5m", kind="futures", base="BTC"):
    return pd.read_feather(datadir / "futures" / f"{base}_USDT_USDT-{tf}-{kind}.feather")


SPECS = {  # symbol: (price tick, amount step, min amount, min notional)
    "BTC/USDT:USDT": (0.1, 0.001, 0.001, 100),
    "ETH/USDT:USDT": (0.01, 0.001, 0.001, 20),
    "SOL/USDT:USDT": (0.01, 1, 1, 5),
    "XRP/USDT:USDT": (0.0001, 0.1, 0.1, 5),
    "DOGE/USDT:USDT": (0.00001, 1, 1, 5),
    "BNB/USDT:USDT": (0.01, 0.01, 0.01, 5),
}


def test_markets_parse_with_real_contract_specs(client):
    assert set(SPECS) <= set(client.markets)
    for sym, (tick, step, min_amount, notional) in SPECS.items():
        m = client.markets[sym]
        assert m["swap"] and m["linear"] and m["settle"] == "USDT"
        assert m["precision"]["price"] == pytest.approx(tick)
        assert m["precision"]["amount"] == pytest.approx(step)
        assert m["limits"]["amount"]["min"] == pytest.approx(min_amount)
        assert m["limits"]["cost"]["min"] == pytest.approx(notional)


def test_klines_paging_equals_stored_file(client, datadir):
    stored = _stored(datadir)
    since = int(stored["date"].iloc[100].value // 1_000_000)
    rows, cursor = [], since
    for _ in range(3):  # three pages of 500
        page = client.fetch_ohlcv(PAIR, "5m", since=cursor, limit=500)
        rows += page
        cursor = page[-1][0] + 300_000
    got = pd.DataFrame(rows, columns=["ts", "open", "high", "low", "close", "volume"])
    want = stored.iloc[100 : 100 + 1500]
    assert len(got) == 1500 and got["ts"].is_unique
    np.testing.assert_array_equal(
        got["ts"], want["date"].astype("datetime64[ms, UTC]").astype("int64")
    )
    np.testing.assert_allclose(got["close"], want["close"], rtol=1e-12)
    np.testing.assert_allclose(got["volume"], want["volume"], rtol=1e-6)


@pytest.mark.parametrize(
    ("interval", "rule", "source"), [("15m", "15min", "5m"), ("4h", "4h", "1h")]
)
def test_resampled_intervals_equal_pandas_resample(client, datadir, interval, rule, source):
    stored = _stored(datadir, source).set_index("date")
    want = stored.resample(rule).agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    since = int(want.index[2].value // 1_000_000)
    got = client.fetch_ohlcv(PAIR, interval, since=since, limit=50)
    got = pd.DataFrame(got, columns=["ts", "open", "high", "low", "close", "volume"])
    ref = want.iloc[2:52]
    np.testing.assert_allclose(
        got[["open", "high", "low", "close"]], ref[["open", "high", "low", "close"]]
    )
    np.testing.assert_allclose(got["volume"], ref["volume"], rtol=1e-6)


def test_without_start_the_last_candle_comes_last(client, datadir):
    stored = _stored(datadir)
    got = client.fetch_ohlcv(PAIR, "5m", limit=10)
    assert got[-1][0] == stored["date"].iloc[-1].value // 1_000_000
    assert [r[0] for r in got] == sorted(r[0] for r in got)


def test_funding_and_open_interest_history(client, datadir):
    f = _stored(datadir, "1h", "funding_rate")
    got = client.fetch_funding_rate_history(
        PAIR, since=int(f["date"].iloc[0].value // 1e6), limit=20
    )
    assert [g["fundingRate"] for g in got] == pytest.approx(f["funding_rate"].iloc[:20].tolist())
    oi = _stored(datadir, "5m", "open_interest")
    since = int(oi["date"].iloc[10].value // 1e6)
    got = client.fetch_open_interest_history(PAIR, "5m", since=since, limit=30)
    assert len(got) == 30
    assert got[0]["openInterestAmount"] == pytest.approx(oi["open_interest_amount"].iloc[10])
    hourly = client.fetch_open_interest_history(PAIR, "1h", limit=5)
    assert all(g["timestamp"] % 3_600_000 == 0 for g in hourly)


def test_order_book_and_tickers_are_consistent(client, datadir):
    last = _stored(datadir)["close"].iloc[-1]
    book = client.fetch_order_book(PAIR, limit=20)
    assert len(book["bids"]) == len(book["asks"]) == 20
    best_bid, best_ask = book["bids"][0][0], book["asks"][0][0]
    assert best_bid < best_ask and best_bid <= last <= best_ask
    assert all(b[0] > c[0] for b, c in zip(book["bids"], book["bids"][1:], strict=False))
    assert client.fetch_ticker(PAIR)["last"] == pytest.approx(last)
    assert client.fetch_bids_asks([PAIR])[PAIR]["bid"] == pytest.approx(best_bid)


def test_errors_use_binance_codes_and_http_400(client, venue):
    with pytest.raises(ccxt.BadSymbol):
        client.fapiPublicGetKlines({"symbol": "FOOUSDT", "interval": "5m"})
    r = requests.get(f"{venue.url}/fapi/v1/klines", params={"symbol": "FOOUSDT", "interval": "5m"})
    assert r.status_code == 400 and r.json()["code"] == -1121
    r = requests.get(f"{venue.url}/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "7m"})
    assert r.status_code == 400 and r.json()["code"] == -1120
    r = requests.get(f"{venue.url}/fapi/v1/klines", params={"interval": "5m"})
    assert r.status_code == 400 and r.json()["code"] == -1102
    r = requests.get(f"{venue.url}/fapi/v1/klines",
                     params={"symbol": "BTCUSDT", "interval": "5m", "limit": "abc"})  # fmt: skip
    assert r.status_code == 400 and r.json()["code"] == -1100  # Binance: illegal characters
    r = requests.get(f"{venue.url}/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": "7"})
    assert r.status_code == 400 and r.json()["code"] == -1130
    r = requests.get(f"{venue.url}/fapi/v2/account", headers={"X-MBX-APIKEY": "k"})
    assert r.status_code == 401 and r.json()["code"] == -2015
    # a listed market without stored data: empty klines, not an error
    assert client.fetch_ohlcv("DOGE/USDT:USDT", "5m", limit=5) == []


def test_finer_interval_than_stored_is_a_clear_error(tmp_path):
    generate_demo_market(tmp_path, days=30, seed=1, pairs=("BTC/USDT:USDT",))
    (tmp_path / "futures" / "BTC_USDT_USDT-1m-futures.feather").unlink()
    with VenueServer(tmp_path, port=0) as v:
        r = requests.get(f"{v.url}/fapi/v1/klines", params={"symbol": "BTCUSDT", "interval": "1m"})
    assert r.status_code == 400 and "Finest stored futures data is 5m" in r.json()["msg"]


def test_premium_index_klines_from_stored_series_feed_predicted_funding(client, datadir):
    from perpflow.features.funding import predicted_funding

    stored = _stored(datadir, "1h", "premiumIndex")
    since = int(stored["date"].iloc[0].value // 1_000_000)
    rows = client.fetch_premium_index_ohlcv(PAIR, "1h", since=since, limit=500)
    got = pd.DataFrame(rows, columns=["date", "open", "high", "low", "close", "volume"])
    np.testing.assert_allclose(got["close"], stored["close"].iloc[:500], atol=1e-8)
    got["date"] = pd.to_datetime(got["date"], unit="ms", utc=True)
    pred = predicted_funding(got)
    funding = _stored(datadir, "1h", "funding_rate").set_index("date")["funding_rate"]
    # the rate predicted in the last hour of each 8h interval vs the rate that settled at its end
    last_hour = got["date"].dt.hour % 8 == 7
    at = got.loc[last_hour, "date"] + pd.Timedelta("1h")
    both = pd.DataFrame(
        {"pred": pred[last_hour].to_numpy(), "settled": funding.reindex(at).to_numpy()}
    )
    both = both.dropna()
    assert len(both) > 30 and both["pred"].corr(both["settled"]) > 0.9
