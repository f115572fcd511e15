"""The matching engine through a real ccxt client on a designed market and a stepped clock:
maker fills by prints and queue, takers walking the book, stops (algo API and legacy) on contract
and mark price, funding and fees against the balance, and an isolated liquidation."""

from __future__ import annotations

import ccxt
import pytest

from perpflow.venue.book import synth_book
from tests.venue.private_env import BASE, KEY, PAIR, SYM, WALL0, ledger, private_venue, write_market

LIMIT = 99_990.0


def _queue_ahead() -> float:
    """The displayed bid size at LIMIT when the order arrives (the venue's synthetic book at T0)."""
    bids, _ = synth_book(BASE, tick=0.1, step=0.001, min_qty=0.001, levels=101, seed=int(WALL0))
    assert bids[100][0] == pytest.approx(LIMIT)
    return bids[100][1]


def test_limit_maker_fills_by_queue_then_trade_through(tmp_path):
    q = _queue_ahead()
    touch = (BASE, BASE, LIMIT, 99_995.0)
    # minute 1 is first seen complete: 4 prints, a quarter of its volume each; minute 2 is seen
    # opening (at the step to its start) and then completing: its low and close print the rest
    bars = {
        1: (*touch, 2 * q),
        2: (*touch, q + 0.008),
        3: (99_995.0, 99_995.0, 99_980.0, 99_985.0, 10),
    }
    with private_venue(write_market(tmp_path, bars)) as (v, ex, clock):
        o = ex.create_order(PAIR, "limit", "buy", 0.01, LIMIT)
        assert o["status"] == "open"
        assert v.call(lambda: ledger(v).orders[int(o["id"])].queue) == pytest.approx(q)
        clock.step(120)  # minute 1 done: a touch with half the queue's size traded: no fill
        assert ex.fetch_order(o["id"], PAIR)["filled"] == 0
        assert v.call(lambda: ledger(v).orders[int(o["id"])].queue) == pytest.approx(q / 2)
        clock.step(60)  # minute 2: the rest of the queue and 0.004 more traded at the price
        got = ex.fetch_order(o["id"], PAIR)
        assert got["filled"] == pytest.approx(0.004) and got["status"] == "open"
        clock.step(60)  # minute 3 trades through: the rest fills
        got = ex.fetch_order(o["id"], PAIR)
        assert got["status"] == "closed" and got["average"] == pytest.approx(LIMIT)
        trades = ex.fetch_my_trades(PAIR)
        assert [t["amount"] for t in trades] == pytest.approx([0.004, 0.006])
        assert all(t["takerOrMaker"] == "maker" and t["price"] == LIMIT for t in trades)
        assert sum(t["fee"]["cost"] for t in trades) == pytest.approx(0.01 * LIMIT * 0.0002)


def test_market_taker_walks_the_book(tmp_path):
    with private_venue(write_market(tmp_path), wallet=1_000_000) as (v, ex, clock):
        book = ex.fetch_order_book(PAIR, limit=5)
        small = ex.create_order(PAIR, "market", "buy", 0.002)
        assert small["average"] == pytest.approx(book["asks"][0][0])
        big = ex.create_order(PAIR, "market", "buy", 5)
        assert big["status"] == "closed" and big["filled"] == pytest.approx(5)
        assert big["average"] > book["asks"][0][0] + 10 * 0.1  # paid impact beyond the touch
        fills = [t for t in ex.fetch_my_trades(PAIR) if t["order"] == big["id"]]
        assert len(fills) > 10 and sorted(t["price"] for t in fills) == [t["price"] for t in fills]
        assert sum(t["fee"]["cost"] for t in fills) == pytest.approx(big["cost"] * 0.0005, rel=1e-6)
        again = ex.create_order(PAIR, "market", "buy", 5)  # the same second: the book was eaten
        assert again["average"] > big["average"]


def test_stop_market_algo_trigger_and_trailing_replace(tmp_path):
    bars = {3: (BASE, BASE, 99_700.0, 99_750.0, 10)}
    with private_venue(write_market(tmp_path, bars)) as (v, ex, clock):
        ex.create_order(PAIR, "market", "buy", 0.01)
        stop = ex.create_order(
            PAIR, "market", "sell", 0.01, params={"stopPrice": 99_500, "reduceOnly": True}
        )
        assert stop["status"] == "open" and stop["triggerPrice"] == 99_500
        assert ex.fetch_open_orders(PAIR, params={"stop": True})[0]["id"] == stop["id"]
        # trailing as Freqtrade does it: cancel the exchange stop, place a higher one
        ex.cancel_order(stop["id"], PAIR, params={"stop": True})
        new = ex.create_order(
            PAIR, "market", "sell", 0.01, params={"stopPrice": 99_800, "reduceOnly": True}
        )
        with pytest.raises(ccxt.OrderNotFound):
            ex.cancel_order(stop["id"], PAIR, params={"stop": True})
        clock.step(60 * 5)
        got = ex.fetch_order(new["id"], PAIR, params={"stop": True})
        assert got["status"] == "closed"
        actual = ex.fetch_order(got["info"]["actualOrderId"], PAIR)
        assert actual["status"] == "closed" and actual["filled"] == pytest.approx(0.01)
        assert 99_650 < actual["average"] <= 99_700  # the book around the print that triggered it
        assert ex.fetch_positions([PAIR]) == []
        assert ex.fetch_order(stop["id"], PAIR, params={"stop": True})["status"] == "canceled"


def test_mark_price_stop_and_legacy_stop_order(tmp_path):
    bars = {
        2: (BASE, BASE, 99_800.0, 99_800.0, 10),
        4: (99_800.0, 99_800.0, 99_600.0, 99_600.0, 10),
    }
    with private_venue(write_market(tmp_path, bars, mark_basis=0.005)) as (v, ex, clock):
        ex.create_order(PAIR, "market", "buy", 0.02)
        with pytest.raises(ccxt.ExchangeError, match="-2021"):  # contract price is below it already
            ex.create_order(
                PAIR, "market", "sell", 0.01, params={"stopPrice": 100_200, "reduceOnly": True}
            )
        mark_stop = ex.create_order(PAIR, "market", "sell", 0.01, params={
            "stopPrice": 100_200, "reduceOnly": True, "workingType": "MARK_PRICE"})  # fmt: skip
        legacy = ex.fapiPrivatePostOrder({"symbol": SYM, "side": "SELL", "type": "STOP_MARKET",
                                          "stopPrice": "99700", "quantity": "0.010", "reduceOnly": "true"})  # fmt: skip
        clock.step(60 * 3)  # 99,800 x 1.005 = 100,299: the mark stays above 100,200
        assert ex.fetch_order(mark_stop["id"], PAIR, params={"stop": True})["status"] == "open"
        clock.step(60 * 3)  # 99,600 x 1.005 = 100,098: mark stop fires; contract 99,600 < 99,700
        assert ex.fetch_order(mark_stop["id"], PAIR, params={"stop": True})["status"] == "closed"
        leg = ex.fetch_order(str(legacy["orderId"]), PAIR)
        assert leg["status"] == "closed" and leg["info"]["origType"] == "STOP_MARKET"
        assert ex.fetch_positions([PAIR]) == []


def test_fees_and_funding_are_the_balance_change_to_the_cent(tmp_path):
    with private_venue(write_market(tmp_path, funding=0.0003)) as (v, ex, clock):
        start = ex.fetch_balance()["USDT"]["total"]
        ex.set_margin_mode("isolated", PAIR)
        ex.create_order(PAIR, "market", "sell", 0.05)  # short: receives positive funding
        clock.step(6 * 3600 + 60)  # past the 16:00 funding
        funding = ex.fetch_funding_history(PAIR, since=int(clock.t * 1000) - 7 * 3600_000)
        assert len(funding) == 1
        assert funding[0]["amount"] == pytest.approx(0.05 * BASE * 0.0003, abs=1e-8)
        ex.create_order(PAIR, "market", "buy", 0.05, params={"reduceOnly": True})
        end = ex.fetch_balance()["USDT"]["total"]
        income = ex.fapiPrivateGetIncome({"startTime": 0, "limit": 1000})
        booked = sum(float(r["income"]) for r in income if r["incomeType"] != "TRANSFER")
        assert round(end - start, 2) == round(booked, 2)
        kinds = {r["incomeType"] for r in income}
        assert {"COMMISSION", "FUNDING_FEE", "REALIZED_PNL"} <= kinds
        fees = sum(t["fee"]["cost"] for t in ex.fetch_my_trades(PAIR))
        assert -sum(
            float(r["income"]) for r in income if r["incomeType"] == "COMMISSION"
        ) == pytest.approx(fees)


def test_over_levered_isolated_position_is_liquidated(tmp_path):
    bars = {2: (BASE, BASE, 98_000.0, 98_100.0, 10)}
    with private_venue(write_market(tmp_path, bars)) as (v, ex, clock):
        ex.set_margin_mode("isolated", PAIR)
        ex.set_leverage(50, PAIR)
        ex.create_order(PAIR, "market", "buy", 0.1)
        pos = ex.fetch_positions([PAIR])[0]
        wallet_before = float(ex.fapiPrivateV3GetAccount()["totalWalletBalance"])
        iw = float(pos["info"]["isolatedWallet"])
        assert 98_000 < pos["liquidationPrice"] < pos["entryPrice"]
        clock.step(60 * 4)
        assert ex.fetch_positions([PAIR]) == []
        wallet_after = float(ex.fapiPrivateV3GetAccount()["totalWalletBalance"])
        assert wallet_after == pytest.approx(wallet_before - iw, abs=0.01)  # the margin is lost
        liq = [
            o for o in v.call(lambda: list(ledger(v).orders.values())) if o.type == "LIQUIDATION"
        ]
        assert len(liq) == 1 and liq[0].client_id.startswith("autoclose-") and liq[0].account == KEY
        assert liq[0].cum_quote / liq[0].filled == pytest.approx(pos["liquidationPrice"], rel=1e-6)
