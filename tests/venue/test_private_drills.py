"""Fault drills (each leaves the ledger consistent and says whether it applied the request) and
the user-data stream through ccxt.pro."""

from __future__ import annotations

import asyncio

import ccxt
import ccxt.pro
import pytest
import requests

from perpflow.venue.overlay import ccxt_config
from tests.venue.private_env import KEY, PAIR, SECRET, ledger, private_venue, write_market


def _orders(v) -> int:
    return v.call(lambda: len(ledger(v).orders))


def test_drills_fail_cleanly_or_apply_fully(tmp_path):
    with private_venue(write_market(tmp_path)) as (v, ex, clock):
        ctl = f"{v.url}/perpflow/drills"
        for error, exc in (("-1001", ccxt.OperationFailed), ("-1021", ccxt.InvalidNonce),
                           ("500", ccxt.ExchangeNotAvailable), ("503", ccxt.ExchangeNotAvailable)):  # fmt: skip
            requests.post(ctl, json={"reset": True, "error_rate": 1.0, "error": error}, timeout=5)
            with pytest.raises(exc):
                ex.create_order(PAIR, "limit", "buy", 0.01, 99_000)
            assert _orders(v) == 0  # not applied
        r = requests.post(
            ctl, json={"reset": True, "rate_limit_rate": 1.0, "retry_after_s": 7}, timeout=5
        )
        assert r.json()["drills"]["rate_limit_rate"] == 1.0
        raw = requests.get(f"{v.url}/fapi/v1/time", timeout=5)
        assert (
            raw.status_code == 429
            and raw.headers["Retry-After"] == "7"
            and raw.json()["code"] == -1003
        )
        v.drills.set(reset=True, rate_limit_rate=1.0, rate_limit_status=418)
        with pytest.raises(ccxt.DDoSProtection):
            ex.fetch_balance()
        v.drills.set(reset=True, reject_rate=1.0, reject_code=-4131, reject_count=1)
        with pytest.raises(ccxt.ExchangeError, match="-4131"):
            ex.create_order(PAIR, "market", "buy", 0.01)
        v.drills.set(reset=True, reject_rate=1.0, reject_code=-2019, reject_count=1)
        with pytest.raises(ccxt.ExchangeError, match="-2019"):
            ex.create_order(PAIR, "market", "buy", 0.01)
        assert _orders(v) == 0 and ex.fetch_positions() == []
        # a lost answer: applied, and the answer says its status is unknown
        v.drills.set(reset=True, lost_answer_rate=1.0, lost_answer_count=1)
        with pytest.raises(ccxt.RequestTimeout):
            ex.create_order(PAIR, "limit", "buy", 0.01, 99_000, {"clientOrderId": "lost-1"})
        assert [o["clientOrderId"] for o in ex.fetch_open_orders(PAIR)] == ["lost-1"]
        with pytest.raises(ccxt.ExchangeError, match="-4116"):  # the retry is refused: never twice
            ex.create_order(PAIR, "limit", "buy", 0.01, 99_000, {"clientOrderId": "lost-1"})
        v.drills.set(reset=True, partial_fill=0.5)
        o = ex.create_order(PAIR, "market", "buy", 0.02)
        assert o["status"] == "expired" and o["filled"] == pytest.approx(0.01)
        v.drills.set(reset=True, latency_ms=50)
        assert ex.fetch_balance()["USDT"]["total"] > 0
        assert requests.get(ctl, timeout=5).json()["fired"]["lost_answer"] == 1
        assert requests.post(ctl, json={"nonsense": 1}, timeout=5).status_code == 400


def test_user_data_stream_pushes_order_algo_and_account_updates(tmp_path):
    bars = {2: (100_000.0, 100_000.0, 99_000.0, 99_100.0, 10)}
    with private_venue(write_market(tmp_path, bars)) as (v, ex, clock):
        asyncio.run(_stream(v, ex, clock))


async def _stream(v, ex, clock) -> None:
    pro = ccxt.pro.binance({**ccxt_config(v.url), "apiKey": KEY, "secret": SECRET})
    pro.milliseconds = lambda: int(clock.t * 1000)
    try:
        await pro.load_markets()
        orders = asyncio.ensure_future(pro.watch_orders(PAIR))
        for _ in range(100):  # until the user-data socket is connected
            if v.gateway.streams.sockets:
                break
            await asyncio.sleep(0.1)
        await pro.create_order(PAIR, "market", "buy", 0.01)
        got = await asyncio.wait_for(orders, 10)
        assert got[-1]["symbol"] == PAIR
        positions = asyncio.ensure_future(pro.watch_positions([PAIR]))
        balance = asyncio.ensure_future(pro.watch_balance())
        await pro.create_order(PAIR, "limit", "buy", 0.01, 99_500)
        await pro.create_order(
            PAIR, "market", "sell", 0.02, params={"stopPrice": 99_200, "reduceOnly": True}
        )
        clock.step(60 * 3)  # the low prints: the limit fills, the stop triggers
        await pro.fetch_balance()  # any request catches the engine up
        pos = await asyncio.wait_for(positions, 10)
        assert pos and pos[-1]["symbol"] == PAIR
        assert (await asyncio.wait_for(balance, 10))["USDT"]["total"] > 0
        algo = v.call(lambda: [a.id for a in ledger(v).algos.values()])
        seen = {}
        for _ in range(50):  # ccxt.pro's order cache, filled from the pushed updates
            seen = {o["id"]: o["status"] for o in (pro.orders or [])}
            if seen.get(str(algo[0])) == "closed":
                break
            await asyncio.sleep(0.2)
        assert str(algo[0]) in seen and seen[str(algo[0])] == "closed"  # ALGO_UPDATE parsed
        assert v.drop_user_streams() == 1
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(pro.watch_orders(PAIR), 10)
    finally:
        await pro.close()
