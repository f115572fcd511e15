"""The private API's signing, clock checks and account endpoints through a real ccxt client."""

from __future__ import annotations

import ccxt
import pytest
import requests

from perpflow.venue.auth import sign
from tests.venue.private_env import KEY, PAIR, SECRET, SYM, client, private_venue, write_market


@pytest.fixture
def env(tmp_path):
    with private_venue(write_market(tmp_path)) as e:
        yield e


def _signed(v, clock, path, params="", key=KEY, secret=SECRET, method="GET", ts=None):
    query = f"{params}&" if params else ""
    query += f"timestamp={ts if ts is not None else int(clock.t * 1000)}"
    query += f"&signature={sign(secret, query)}"
    return requests.request(
        method, f"{v.url}{path}?{query}", headers={"X-MBX-APIKEY": key}, timeout=10
    )


def test_signing_and_clock_checks(env):
    v, ex, clock = env
    assert ex.fetch_balance()["USDT"]["total"] == pytest.approx(10_000)
    r = _signed(v, clock, "/fapi/v3/account", secret="wrong")
    assert (r.status_code, r.json()["code"]) == (400, -1022)
    r = _signed(v, clock, "/fapi/v3/account", key="nobody")
    assert (r.status_code, r.json()["code"]) == (401, -2015)
    r = _signed(v, clock, "/fapi/v3/account", ts=int(clock.t * 1000) + 5_000)  # ahead
    assert r.json()["code"] == -1021 and "ahead" in r.json()["msg"]
    r = _signed(v, clock, "/fapi/v3/account", ts=int(clock.t * 1000) - 6_000)  # older than 5 s
    assert r.json()["code"] == -1021
    r = _signed(v, clock, "/fapi/v3/account", "recvWindow=10000", ts=int(clock.t * 1000) - 6_000)
    assert r.status_code == 200
    r = requests.get(
        f"{v.url}/fapi/v3/account?timestamp=1", headers={"X-MBX-APIKEY": KEY}, timeout=10
    )
    assert r.json()["code"] == -1102  # no signature
    with pytest.raises(ccxt.AuthenticationError):
        client(v.url, clock, secret="wrong").fetch_balance()
    with pytest.raises(ccxt.InvalidNonce):  # the client's clock 1 minute behind the venue's
        late = client(v.url, clock)
        late.options["timeDifference"] = 60_000  # ccxt's nonce = its clock - timeDifference
        late.fetch_balance()
    # the signature covers the body of a POST too (ccxt signs form bodies)
    assert ex.set_leverage(7, PAIR)["leverage"] == 7


def test_account_endpoints_as_freqtrade_calls_them(env):
    v, ex, clock = env
    assert ex.fapiPrivateGetPositionSideDual() == {"dualSidePosition": False}
    assert ex.fapiPrivateGetMultiAssetsMargin() == {"multiAssetsMargin": False}
    with pytest.raises(ccxt.BadRequest, match="Hedge mode"):
        ex.set_position_mode(True)
    assert ex.set_margin_mode("isolated", PAIR) == {"code": 200, "msg": "success"}
    with pytest.raises(ccxt.MarginModeAlreadySet):
        ex.set_margin_mode("isolated", PAIR)
    with pytest.raises(ccxt.BadRequest):  # -4028
        ex.set_leverage(151, PAIR)
    ex.set_leverage(10, PAIR)
    # leverage tiers are Freqtrade's bundled Binance brackets
    import json
    from pathlib import Path

    from freqtrade.exchange import binance as ft_binance

    bundled = json.loads(
        (Path(ft_binance.__file__).with_name("binance_leverage_tiers.json")).read_text()
    )
    tiers = ex.fetch_leverage_tiers([PAIR])[PAIR]
    assert [t["maxLeverage"] for t in tiers] == [t["maxLeverage"] for t in bundled[PAIR]]
    assert [t["maintenanceMarginRate"] for t in tiers] == [
        t["maintenanceMarginRate"] for t in bundled[PAIR]
    ]
    fee = ex.fapiPrivateGetCommissionRate({"symbol": SYM})
    assert (float(fee["makerCommissionRate"]), float(fee["takerCommissionRate"])) == (
        0.0002,
        0.0005,
    )
    ex.create_order(PAIR, "market", "buy", 0.05)
    pos = ex.fetch_positions([PAIR])[0]
    assert pos["contracts"] == pytest.approx(0.05) and pos["side"] == "long"
    assert pos["marginMode"] == "isolated"
    assert pos["collateral"] == pytest.approx(0.05 * pos["entryPrice"] / 10, rel=1e-3)
    # Binance's isolated liquidation price for this position
    mmr = tiers[0]["maintenanceMarginRate"]
    iw = float(pos["info"]["isolatedWallet"])
    lp = (0.05 * pos["entryPrice"] - iw) / (0.05 * (1 - mmr))
    assert pos["liquidationPrice"] == pytest.approx(lp, rel=1e-9)
    with pytest.raises(ccxt.OperationRejected):  # -4048: not with a position open
        ex.set_margin_mode("cross", PAIR)
    bal = ex.fetch_balance()["USDT"]
    assert bal["used"] == pytest.approx(iw) and bal["free"] < 10_000 - iw
    v2 = ex.fetch_positions([PAIR], params={"useV2": True})[0]
    assert v2["leverage"] == 10 and v2["marginMode"] == "isolated"
