"""Markets for any pair of a data dir: derived specs, imported specs, through a real ccxt client."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from decimal import Decimal

import ccxt
import numpy as np
import pandas as pd
import pytest

from perpflow.cli import main
from perpflow.venue.markets import SNAPSHOT, MarketBook, load_snapshot, spec_filter
from perpflow.venue.overlay import ccxt_config
from perpflow.venue.server import VenueServer
from perpflow.venue.spec_derive import decimals, derive_spec, stored_perpetuals
from perpflow.venue.user_markets import USER_MARKETS, import_markets
from tests.conftest import shared_data_dir
from tests.venue.renamed_market import write_renamed_market

BCH, LTC = "BCH/USDT:USDT", "LTC/USDT:USDT"
DERIVED = {  # pair: (tick, step = min amount, min notional), from the data's decimals
    BCH: (0.01, 0.001, 5),
    LTC: (0.001, 0.1, 5),
}


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    return write_renamed_market(tmp_path_factory.mktemp("bch-ltc"))


@pytest.fixture(scope="module")
def venue(datadir):
    with VenueServer(datadir, port=0) as v:
        yield v


@pytest.fixture(scope="module")
def client(venue):
    ex = ccxt.binance(ccxt_config(venue.url))
    ex.load_markets()
    return ex


def _stored(datadir, base, tf="5m", kind="futures"):
    return pd.read_feather(datadir / "futures" / f"{base}_USDT_USDT-{tf}-{kind}.feather")


def _entry(symbol: str, base: str, *, tick="0.01", step="0.001", notional="20") -> dict:
    """An exchangeInfo entry shaped as Binance's (the snapshot's BTCUSDT, other filters)."""
    e = copy.deepcopy(load_snapshot()["exchangeInfo"]["symbols"][0])
    e.update(symbol=symbol, pair=symbol, baseAsset=base, underlyingSubType=[],
             pricePrecision=len(tick.partition(".")[2]), quantityPrecision=len(step.partition(".")[2]))  # fmt: skip
    values = {"PRICE_FILTER": {"tickSize": tick, "minPrice": tick},
              "LOT_SIZE": {"stepSize": step, "minQty": step, "maxQty": "10000"},
              "MARKET_LOT_SIZE": {"stepSize": step, "minQty": step, "maxQty": "2000"},
              "MIN_NOTIONAL": {"notional": notional}}  # fmt: skip
    for f in e["filters"]:
        f.update(values.get(f["filterType"], {}))
    return e


def _ccxt_dump(path, entries: list[dict]):
    """What the README's recipe writes: ccxt's own parsed markets (`load_markets()`), as JSON."""
    ex = ccxt.binanceusdm()
    ex.options |= {"crossMarginPairsData": [], "isolatedMarginPairsData": []}  # spot entries
    ex.set_markets([ex.parse_market(e) for e in entries])
    path.write_text(json.dumps(ex.markets))
    return path


# --- derived specs ------------------------------------------------------------------------
def test_ccxt_sees_data_dir_pairs_with_derived_precision_and_limits(client):
    for pair, (tick, step, notional) in DERIVED.items():
        m = client.markets[pair]
        assert m["active"] and m["swap"] and m["linear"] and m["settle"] == "USDT"
        assert m["precision"]["price"] == pytest.approx(tick)
        assert m["precision"]["amount"] == pytest.approx(step)
        assert m["limits"]["amount"]["min"] == pytest.approx(step)
        assert m["limits"]["cost"]["min"] == pytest.approx(notional)
    assert client.amount_to_precision(BCH, 1.23456) == "1.234"
    assert client.amount_to_precision(LTC, 1.23456) == "1.2"
    assert client.price_to_precision(LTC, 85.12345) == "85.123"
    assert client.markets["BTC/USDT:USDT"]["precision"]["price"] == pytest.approx(0.1)  # snapshot


@pytest.mark.parametrize(("pair", "base"), [(BCH, "BCH"), (LTC, "LTC")])
def test_derived_pair_is_served_like_a_snapshot_pair(client, datadir, pair, base):
    stored = _stored(datadir, base)
    got = client.fetch_ohlcv(pair, "5m", since=int(stored["date"].iloc[50].value // 1e6), limit=200)
    np.testing.assert_allclose([r[4] for r in got], stored["close"].iloc[50:250], rtol=1e-12)
    hourly = client.fetch_ohlcv(pair, "4h", limit=3)
    assert len(hourly) == 3 and all(r[0] % 14_400_000 == 0 for r in hourly)
    last = stored["close"].iloc[-1]
    assert client.fetch_ticker(pair)["last"] == pytest.approx(last)
    tick, step, _ = DERIVED[pair]
    book = client.fetch_order_book(pair, limit=20)
    assert book["bids"][0][0] <= last <= book["asks"][0][0]
    levels = np.array(book["bids"] + book["asks"])
    np.testing.assert_allclose(levels[:, 0] / tick, np.round(levels[:, 0] / tick), atol=1e-6)
    np.testing.assert_allclose(levels[:, 1] / step, np.round(levels[:, 1] / step), atol=1e-6)
    assert pair in client.fetch_tickers() and pair in client.fetch_bids_asks([pair])
    funding = _stored(datadir, base, "1h", "funding_rate")
    got = client.fetch_funding_rate_history(
        pair, since=int(funding["date"].iloc[0].value // 1e6), limit=5
    )
    assert [g["fundingRate"] for g in got] == pytest.approx(
        funding["funding_rate"].iloc[:5].tolist()
    )
    oi = client.fetch_open_interest_history(pair, "5m", limit=3)
    assert oi[-1]["openInterestAmount"] == pytest.approx(_stored(datadir, base, "5m", "open_interest")
                                                         ["open_interest_amount"].iloc[-1])  # fmt: skip
    assert client.fetch_premium_index_ohlcv(pair, "1h", limit=2)


def test_derived_spec_warning_names_the_pair_and_every_assumed_value(datadir, caplog):
    with caplog.at_level(logging.WARNING, logger="perpflow.venue.markets"):
        book = MarketBook.load(datadir)
    warnings = {r.getMessage().split(" ")[0]: r.getMessage() for r in caplog.records}
    assert set(warnings) == {BCH, LTC}  # snapshot pairs are not derived
    bch, ltc = warnings[BCH], warnings[LTC]
    for text in (
        "BCHUSDT", "DERIVED", "BCH_USDT_USDT-1m-futures.feather",
        "tickSize 0.01 (the stored prices are multiples of 0.01)",
        "stepSize/minQty 0.001 (the stored volumes are multiples of 0.001)",
        "maxQty 100000 limit / 10000 market orders", "maxPrice 100000", "minNotional 5 USDT",
        "base BCH, quote USDT, margin USDT", "maintMarginPercent", "perpflow venue markets import",
    ):  # fmt: skip
        assert text in bch, text
    assert "tickSize 0.001 (the stored prices are multiples of 0.001)" in ltc
    assert "stepSize/minQty 0.1 (the stored volumes are multiples of 0.1)" in ltc
    assert book.sources["BCHUSDT"] == "derived" and book.sources["BTCUSDT"] == "snapshot"
    assert all(f"{k} " in bch for k in book.derived["BCHUSDT"])  # every assumed field is named
    assert book.file_prefix("BCHUSDT") == "BCH_USDT_USDT"
    assert book.filter_value("LTCUSDT", "LOT_SIZE", "stepSize") == "0.1"


def test_decimals_tolerate_float_noise_and_prefer_the_finer_grid():
    rng = np.random.default_rng(0)
    qty = np.round(rng.uniform(0, 50, 5000), 3)
    sums = qty.reshape(-1, 10).sum(1)  # aggregated candles: float sums of 3-decimal volumes
    assert decimals(qty) == 3 and decimals(sums) == 3
    prices = np.round(rng.uniform(300, 500, 5000), 1)
    prices[:100] += 0.05  # an older, finer tick in 2% of the rows
    assert decimals(prices) == 2
    assert decimals(rng.uniform(0, 1, 1000)) is None  # no grid at all
    assert decimals(np.array([0.0, np.nan])) is None


def test_prices_without_a_grid_get_a_tick_of_five_to_six_significant_figures(tmp_path):
    rng = np.random.default_rng(1)
    close = 0.3 * np.exp(np.cumsum(rng.normal(0, 1e-3, 2000)))  # ~0.3, 16 decimals
    df = pd.DataFrame({"date": pd.date_range("2026-01-01", periods=2000, freq="5min", tz="UTC"),
                       "open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
                       "volume": rng.uniform(0, 100, 2000)})  # fmt: skip
    path = tmp_path / "FOO_USDT_USDT-5m-futures.feather"
    df.to_feather(path)
    spec, assumed = derive_spec("FOO_USDT_USDT", path)
    ticks = {f["filterType"]: f for f in spec["filters"]}
    assert ticks["PRICE_FILTER"]["tickSize"] == "0.000001" and spec["pricePrecision"] == 6
    assert ticks["LOT_SIZE"]["stepSize"] == "1"  # worth <= 1 USDT at 0.3
    assert (
        "significant figures" in assumed["tickSize"]
        and "worth <= 1 USDT" in assumed["stepSize/minQty"]
    )
    df.assign(close=np.nan).to_feather(path)
    with pytest.raises(ValueError, match="FOO_USDT_USDT-5m-futures.feather: no positive prices"):
        derive_spec("FOO_USDT_USDT", path)


def test_on_real_binance_data_derived_grids_match_the_real_specs():
    """Six real Binance perps (../shared/data): derived as if unknown, each tick equals the real
    one and no step is coarser (SOL's volumes are 0.01-granular since 2025-04, finer than the
    snapshot's step 1)."""
    root = shared_data_dir("binance/futures")
    snapshot, seen = MarketBook.snapshot(), []
    for prefix, path in stored_perpetuals(root).items():
        spec, _ = derive_spec(prefix, path)
        real = snapshot[spec["symbol"]]
        for ftype, key in (("PRICE_FILTER", "tickSize"), ("LOT_SIZE", "stepSize")):
            got, want = (
                Decimal(spec_filter(spec, ftype, key)),
                Decimal(spec_filter(real, ftype, key)),
            )
            assert got == want if key == "tickSize" else got <= want, (
                spec["symbol"],
                key,
                got,
                want,
            )
        seen.append(spec["symbol"])
    assert len(seen) == 6


# --- imported specs -----------------------------------------------------------------------
def test_import_ccxt_markets_dump_then_exchange_info(datadir, tmp_path, caplog):
    snapshot_hash = hashlib.sha256(SNAPSHOT.read_bytes()).hexdigest()
    data = tmp_path / "data"
    (data / "futures").mkdir(parents=True)
    for p in (datadir / "futures").glob("*.feather"):
        (data / "futures" / p.name).symlink_to(p)
    spot = {"symbol": "LTCBTC", "baseAsset": "LTC", "quoteAsset": "BTC", "status": "TRADING",
            "filters": []}  # fmt: skip
    dated = _entry("ETHUSDT_260626", "ETH") | {
        "contractType": "CURRENT_QUARTER",
        "deliveryDate": 1782460800000,
    }
    dump = _ccxt_dump(tmp_path / "markets.json", [_entry("LTCUSDT", "LTC"), spot, dated])
    summary = import_markets(dump, data)
    assert summary.added == ("LTCUSDT",) and summary.skipped == 2
    info = {"timezone": "UTC", "symbols": [_entry("BCHUSDT", "BCH", notional="10"), dated]}
    (tmp_path / "exchangeInfo.json").write_text(json.dumps(info))
    assert main(["venue", "markets", "import", str(tmp_path / "exchangeInfo.json"),
                 "--datadir", str(data)]) == 0  # fmt: skip
    again = import_markets(tmp_path / "exchangeInfo.json", data)
    assert again.added == again.updated == () and again.unchanged == 1
    stored = json.loads((data / USER_MARKETS).read_text())
    assert [e["symbol"] for e in stored["symbols"]] == ["BCHUSDT", "LTCUSDT"]
    assert hashlib.sha256(SNAPSHOT.read_bytes()).hexdigest() == snapshot_hash
    with caplog.at_level(logging.WARNING, logger="perpflow.venue.markets"):
        with VenueServer(data, port=0) as v:
            ex = ccxt.binance(ccxt_config(v.url))
            ex.load_markets()
            book = ex.fetch_order_book(LTC, limit=5)
    assert not [r for r in caplog.records if "DERIVED" in r.getMessage()]
    for pair, notional in ((LTC, 20), (BCH, 10)):
        m = ex.markets[pair]
        assert m["precision"]["price"] == pytest.approx(0.01)
        assert m["precision"]["amount"] == pytest.approx(0.001)
        assert m["limits"]["cost"]["min"] == pytest.approx(notional)
    assert "ETH/USDT:USDT-260626" not in ex.markets  # dated contracts come from the data only
    assert all(round(p / 0.01, 6).is_integer() for p, _ in book["bids"])


def _bad_info(**changes) -> dict:
    e = _entry("BCHUSDT", "BCH")
    for key, value in changes.items():
        if key.startswith("filter_"):
            ftype, field = key[7:].rsplit("__", 1)
            next(f for f in e["filters"] if f["filterType"] == ftype)[field] = value
        else:
            e[key] = value
    return {"symbols": [e]}


@pytest.mark.parametrize(("body", "message"), [
    ("{not json", "bad.json: not JSON"),
    ("[1, 2]", "bad.json: neither a ccxt markets dump"),
    (json.dumps({"symbols": [{"symbol": "LTCBTC", "status": "TRADING"}]}), "a spot exchangeInfo?"),
    (json.dumps(_bad_info(filter_LOT_SIZE__stepSize="0")),
     "bad.json: symbols[0] (BCHUSDT): filters.LOT_SIZE.stepSize: must be a positive decimal"),
    (json.dumps(_bad_info(filter_PRICE_FILTER__tickSize="abc")), "filters.PRICE_FILTER.tickSize"),
    (json.dumps(_bad_info(pricePrecision=-1)), "symbols[0] (BCHUSDT): pricePrecision"),
    (json.dumps(_bad_info(marginAsset="BCH")), "marginAsset: 'BCH' is not the quote asset"),
    (json.dumps({"symbols": [_bad_info()["symbols"][0]] * 2}), "symbols listed twice: BCHUSDT"),
    (json.dumps({"symbols": []}), "no USDT-M perpetual in it"),
])  # fmt: skip
def test_bad_markets_files_get_errors_naming_file_and_field(tmp_path, body, message):
    (tmp_path / "bad.json").write_text(body)
    with pytest.raises(ValueError) as err:
        import_markets(tmp_path / "bad.json", tmp_path)
    assert message in str(err.value)
    assert not (tmp_path / USER_MARKETS).exists()


def test_bad_ccxt_market_and_damaged_user_file_name_the_field(tmp_path, capsys):
    e = _entry("LTCUSDT", "LTC")
    dump = _ccxt_dump(tmp_path / "m.json", [e])
    data = json.loads(dump.read_text())
    del data[LTC]["info"]["filters"][0]  # the PRICE_FILTER
    dump.write_text(json.dumps(data))
    assert main(["venue", "markets", "import", str(dump), "--datadir", str(tmp_path)]) == 2
    assert f"m.json: market '{LTC}'.info: filters.PRICE_FILTER: missing" in capsys.readouterr().err
    assert main(["venue", "markets", "import", str(dump), "--datadir", str(tmp_path / "nope")]) == 2
    assert "no such data dir" in capsys.readouterr().err
    (tmp_path / USER_MARKETS).write_text(json.dumps({"format": "perpflow-venue-markets/1",
                                                     "symbols": [{"symbol": "LTCUSDT"}]}))  # fmt: skip
    with pytest.raises(ValueError, match=rf"{USER_MARKETS}: symbols\[0\]: contractType"):
        MarketBook.load(tmp_path)


@pytest.mark.filterwarnings("ignore:Feather V1 files are deprecated")
@pytest.mark.parametrize("version", [1, 2])
def test_derivation_reads_only_the_tail_of_big_files(tmp_path, version):
    from pyarrow import feather, ipc

    from perpflow.venue.spec_derive import _read_tail

    n = 150_000  # three record batches in a v2 file
    df = pd.DataFrame({"date": pd.date_range("2025-01-01", periods=n, freq="1min", tz="UTC"),
                       "open": 1.0, "high": 2.0, "low": 0.5, "close": np.arange(n) * 0.01,
                       "volume": 3.0})  # fmt: skip
    path = tmp_path / "X_USDT_USDT-1m-futures.feather"
    feather.write_feather(df, path, version=version)
    if version == 2:
        assert ipc.open_file(path).num_record_batches > 1
    tail, first = _read_tail(path, 20_000)
    assert len(tail) == 20_000 and first == df["date"].iloc[0]
    np.testing.assert_array_equal(tail["close"], df["close"].iloc[-20_000:])
