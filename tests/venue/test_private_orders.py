"""Order rejects with Binance's codes, duplicate client ids, and a restart resuming the ledger."""

from __future__ import annotations

import sqlite3

import ccxt
import pytest

from tests.venue.private_env import PAIR, SYM, FakeClock, ledger, private_venue, write_market


def _code(ex, fn, *args, **kw) -> int:
    with pytest.raises(ccxt.BaseError) as info:
        fn(*args, **kw)
    return int(str(info.value).split('"code":')[1].split(",")[0])


def test_rejects_use_binance_codes_and_change_nothing(tmp_path):
    with private_venue(write_market(tmp_path)) as (v, ex, clock):
        post = ex.fapiPrivatePostOrder
        base = {"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
        assert _code(ex, post, {**base, "quantity": "0.010", "price": "99000.05"}) == -4014
        assert _code(ex, post, {**base, "quantity": "0.0105", "price": "99000"}) == -1111
        assert _code(ex, post, {**base, "quantity": "0.001", "price": "99000"}) == -4164
        assert _code(ex, post, {**base, "quantity": "0.010", "price": "106000"}) == -4016
        assert (
            _code(ex, post, {**base, "quantity": "0.010", "price": "100001", "timeInForce": "GTX"})
            == -5022
        )
        assert (
            _code(ex, post, {**base, "quantity": "5.000", "price": "99000"}) == -2019
        )  # 10k wallet
        assert _code(ex, post, {**base, "side": "SELL", "quantity": "0.010", "price": "101000",
                                "reduceOnly": "true"}) == -2022  # fmt: skip
        stop = {
            "symbol": SYM,
            "side": "SELL",
            "type": "STOP_MARKET",
            "quantity": "0.010",
            "algoType": "CONDITIONAL",
        }
        assert _code(ex, ex.fapiPrivatePostAlgoOrder, {**stop, "triggerPrice": "100500"}) == -2021
        assert _code(ex, ex.fetch_order, "123", PAIR) == -2013
        assert _code(ex, ex.cancel_order, "123", PAIR) == -2011
        with pytest.raises(ccxt.OrderNotFound):
            ex.fetch_order("123", PAIR)
        assert v.call(lambda: [o for o in ledger(v).orders.values() if o.status != "EXPIRED"]) == []
        assert ex.fetch_balance()["USDT"]["total"] == pytest.approx(10_000)


def test_duplicate_client_order_id_never_places_twice(tmp_path):
    with private_venue(write_market(tmp_path)) as (v, ex, clock):
        params = {"clientOrderId": "retry-1"}
        ex.create_order(PAIR, "limit", "buy", 0.01, 99_000, params)
        assert _code(ex, ex.create_order, PAIR, "limit", "buy", 0.01, 99_000, params) == -4116
        filled = ex.create_order(PAIR, "market", "buy", 0.01, params={"clientOrderId": "retry-2"})
        assert filled["status"] == "closed"  # not live any more, and still refused for a day
        assert (
            _code(
                ex, ex.create_order, PAIR, "market", "buy", 0.01, None, {"clientOrderId": "retry-2"}
            )
            == -4116
        )
        assert len(ex.fetch_my_trades(PAIR)) == 1


def test_restart_resumes_the_ledger(tmp_path):
    state = tmp_path / "ledger.sqlite"
    data = write_market(tmp_path / "data")
    clock = FakeClock()
    with private_venue(data, clock, state=state) as (v, ex, _):
        ex.create_order(PAIR, "market", "buy", 0.02)
        rest = ex.create_order(PAIR, "limit", "buy", 0.01, 99_000, {"clientOrderId": "keep-me"})
        stop = ex.create_order(
            PAIR, "market", "sell", 0.02, params={"stopPrice": 99_500, "reduceOnly": True}
        )
        # acknowledged = committed: another reader sees it before the venue stops
        with sqlite3.connect(state) as con:
            assert (
                con.execute("SELECT count(*) FROM orders WHERE id = ?", (rest["id"],)).fetchone()[0]
                == 1
            )
        before = (ex.fetch_balance()["USDT"]["total"], ex.fetch_positions([PAIR])[0]["contracts"])
    clock.step(30)
    with private_venue(data, clock, state=state) as (v, ex, _):
        assert (
            ex.fetch_balance()["USDT"]["total"],
            ex.fetch_positions([PAIR])[0]["contracts"],
        ) == pytest.approx(before)
        assert [o["id"] for o in ex.fetch_open_orders(PAIR)] == [rest["id"]]
        assert [o["id"] for o in ex.fetch_open_orders(PAIR, params={"stop": True})] == [stop["id"]]
        assert (
            _code(
                ex,
                ex.create_order,
                PAIR,
                "limit",
                "buy",
                0.01,
                99_000,
                {"clientOrderId": "keep-me"},
            )
            == -4116
        )
        new = ex.create_order(PAIR, "limit", "buy", 0.01, 98_000)
        assert int(new["id"]) > int(rest["id"])  # ids never repeat across restarts
