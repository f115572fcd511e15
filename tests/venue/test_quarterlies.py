"""Dated quarterlies: the venue lists and serves them, ccxt downloads them into Freqtrade's layout."""

from __future__ import annotations

import ccxt
import numpy as np
import pandas as pd
import pytest

from perpflow.cli import main
from perpflow.data.demo import generate_demo_market
from perpflow.data.quarterlies import dated_contracts, download_quarterlies, load_quarterlies
from perpflow.features.basis import front_basis
from perpflow.venue.overlay import ccxt_config
from perpflow.venue.server import VenueServer


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("q-demo")
    generate_demo_market(out, days=60, seed=9, pairs=("BTC/USDT:USDT", "SOL/USDT:USDT"))
    with VenueServer(out) as v:
        yield out, v


def test_venue_lists_quarterlies_as_ccxt_futures(demo):
    out, v = demo
    ex = ccxt.binance(ccxt_config(v.url))
    ex.load_markets()
    q = dated_contracts(ex, "BTC/USDT:USDT")
    assert [m["symbol"] for m in q] == ["BTC/USDT:USDT-260626", "BTC/USDT:USDT-260925",
                                        "BTC/USDT:USDT-261225"]  # fmt: skip
    m = q[0]
    assert m["type"] == "future" and m["linear"] and m["settle"] == "USDT"
    assert m["expiryDatetime"] == "2026-06-26T08:00:00.000Z"  # last Friday of June, 08:00 UTC
    assert m["precision"]["price"] == ex.market("BTC/USDT:USDT")["precision"]["price"]
    assert dated_contracts(ex, "SOL/USDT:USDT") == []
    assert ex.market("BTC/USDT:USDT")["swap"], "the perp is still a swap"


def test_download_matches_the_source_and_never_rewrites(demo, tmp_path):
    out, v = demo
    ex = ccxt.binance(ccxt_config(v.url))
    since = pd.Timestamp("2026-01-01", tz="UTC")
    until = pd.Timestamp("2026-08-01", tz="UTC")
    got = download_quarterlies(ex, ["BTC/USDT:USDT", "SOL/USDT:USDT"], "1h", since, tmp_path,
                               until=until)  # fmt: skip
    src = pd.read_feather(out / "futures" / "BTC_USDT_USDT-260626-1h-futures.feather")
    mine = pd.read_feather(tmp_path / "futures" / "BTC_USDT_USDT-260626-1h-futures.feather")
    assert got["BTC/USDT:USDT-260626"] == len(src) == len(mine) > 24 * 40
    np.testing.assert_allclose(mine["close"], src["close"])
    assert set(got) == {"BTC/USDT:USDT-260626", "BTC/USDT:USDT-260925", "BTC/USDT:USDT-261225"}
    again = download_quarterlies(ex, ["BTC/USDT:USDT"], "1h", since, tmp_path, until=until)
    assert set(again.values()) == {0}, "idempotent"
    path = tmp_path / "futures" / "BTC_USDT_USDT-260626-1h-futures.feather"
    tampered = mine.assign(close=mine["close"] * 1.01)
    tampered.to_feather(path)
    with pytest.raises(ValueError, match="BTC_USDT_USDT-260626-1h-futures.feather.*refusing"):
        download_quarterlies(ex, ["BTC/USDT:USDT"], "1h", since, tmp_path, until=until)


def test_download_command_and_basis_on_the_result(demo, tmp_path, capsys):
    out, v = demo
    rc = main(["download", "quarterlies", "--pairs", "BTC/USDT:USDT", "--since", "2026-01-01",
               "--until", "2026-08-01", "--datadir", str(tmp_path), "--venue-url", v.url])  # fmt: skip
    assert rc == 0 and "BTC/USDT:USDT-260626:" in capsys.readouterr().out
    contracts = load_quarterlies(tmp_path, "BTC/USDT:USDT", "1h")
    assert sorted(contracts)[:2] == [pd.Timestamp("2026-06-26 08:00", tz="UTC"),
                                     pd.Timestamp("2026-09-25 08:00", tz="UTC")]  # fmt: skip
    perp = pd.read_feather(out / "futures" / "BTC_USDT_USDT-1h-futures.feather")
    b = front_basis(perp, contracts, lookback=48)
    # the demo's basis is ~7% +- 4% annualised contango
    assert 0.0 < b["basis_ann"].median() < 0.15
