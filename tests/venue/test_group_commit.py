"""Group commit of the venue's ledger (`perpflow.venue.commits`) over HTTP: orders in flight
together share a write, none is answered before it is in the sqlite file, and a failed write or
an unexpected error answers -1000 for every request not yet written and leaves the ledger as
the file has it. Writes are paused (`GroupCommit.pause`) while the test puts requests in
flight, so what shares a write is decided by the test, not by timing."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from urllib.parse import urlencode

import aiohttp
import orjson

from perpflow.venue.auth import sign
from tests.venue.private_env import KEY, SECRET, ledger, private_venue, write_market


def _body(clock, cid: str) -> str:
    q = urlencode({"timestamp": int(clock.t * 1000), "symbol": "BTCUSDT", "side": "BUY",
                   "type": "MARKET", "quantity": "0.002", "newClientOrderId": cid})  # fmt: skip
    return f"{q}&signature={sign(SECRET, q)}"


async def _post(session, url: str, clock, cid: str) -> tuple[int, dict]:
    headers = {"X-MBX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"}
    async with session.post(f"{url}/fapi/v1/order", data=_body(clock, cid), headers=headers) as r:
        return r.status, await r.json()


def _stored(state) -> list[str]:
    """Client ids of the orders another reader finds in the ledger file."""
    with sqlite3.connect(state) as con:
        docs = [d for (d,) in con.execute("SELECT doc FROM orders")]
    return sorted(orjson.loads(d)["client_id"] for d in docs)


def _wait_until(cond, what: str, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def _waiting(v) -> int:
    return v.call(lambda: len(v.gateway.commits._waiters))


async def _until(cond, what: str) -> None:
    await asyncio.get_running_loop().run_in_executor(None, _wait_until, cond, what)


def test_orders_in_flight_share_a_write_and_none_is_answered_before_it(tmp_path):
    state = tmp_path / "ledger.sqlite"
    with private_venue(write_market(tmp_path / "data"), state=state) as (v, ex, clock):
        g = v.gateway
        cids = [f"grp-{k}" for k in range(20)]
        b0, r0 = g.commits.batches, g.commits.requests
        v.call(g.commits.pause)

        async def run():
            async with aiohttp.ClientSession() as s:
                sent = [asyncio.ensure_future(_post(s, v.url, clock, c)) for c in cids]
                await _until(lambda: _waiting(v) == 20, "20 orders applied and waiting")
                assert not any(r.done() for r in sent)
                assert _stored(state) == []  # applied in memory, nothing answered, nothing on disk
                assert v.call(lambda: len(ledger(v).orders)) == 20
                v.call(g.commits.resume)
                return [await r for r in sent]

        answers = asyncio.run(run())
        assert [a[0] for a in answers] == [200] * 20
        assert _stored(state) == sorted(cids)
        assert (g.commits.batches - b0, g.commits.requests - r0) == (1, 20)  # one write for all


def test_failed_write_answers_1000_and_keeps_the_file_and_memory_equal(tmp_path, monkeypatch):
    state = tmp_path / "ledger.sqlite"
    with private_venue(write_market(tmp_path / "data"), state=state) as (v, ex, clock):
        ex.create_order("BTC/USDT:USDT", "market", "buy", 0.002, params={"clientOrderId": "kept"})
        g = v.gateway
        v.call(g.commits.pause)
        write = g.ledger.write

        def failing(rows):
            monkeypatch.setattr(g.ledger, "write", write)  # the next write works again
            raise sqlite3.OperationalError("disk I/O error (test)")

        monkeypatch.setattr(g.ledger, "write", failing)

        async def run():
            async with aiohttp.ClientSession() as s:
                lost = [
                    asyncio.ensure_future(_post(s, v.url, clock, f"lost-{k}")) for k in range(3)
                ]
                await _until(lambda: _waiting(v) == 3, "three orders applied and waiting")
                v.call(g.commits.resume)
                return [await x for x in lost]

        answers = asyncio.run(run())
        assert [(st, a["code"]) for st, a in answers] == [(500, -1000)] * 3
        assert _stored(state) == ["kept"]
        assert v.call(lambda: sorted(o.client_id for o in ledger(v).orders.values())) == ["kept"]
        again = ex.create_order(
            "BTC/USDT:USDT", "market", "buy", 0.002, params={"clientOrderId": "lost-0"}
        )
        assert again["status"] == "closed" and _stored(state) == ["kept", "lost-0"]


def test_unexpected_error_rolls_back_the_requests_not_yet_written(tmp_path, monkeypatch):
    state = tmp_path / "ledger.sqlite"
    with private_venue(write_market(tmp_path / "data"), state=state) as (v, ex, clock):
        g = v.gateway
        take = g.engine.take

        def broken_take(o, *args, **kw):
            if o.client_id == "boom":
                raise RuntimeError("a bug in the engine (test)")
            return take(o, *args, **kw)

        monkeypatch.setattr(g.engine, "take", broken_take)
        ex.create_order(
            "BTC/USDT:USDT", "market", "buy", 0.002, params={"clientOrderId": "written"}
        )
        v.call(g.commits.pause)

        async def run():
            async with aiohttp.ClientSession() as s:
                pending = [asyncio.ensure_future(_post(s, v.url, clock, c)) for c in ("b", "c")]
                await _until(lambda: _waiting(v) == 2, "two orders applied and waiting")
                boom = await _post(s, v.url, clock, "boom")
                v.call(g.commits.resume)
                return [await p for p in pending], boom

        pending, boom = asyncio.run(run())
        assert [(st, a["code"]) for st, a in [*pending, boom]] == [(500, -1000)] * 3
        assert _stored(state) == ["written"]
        assert v.call(lambda: sorted(o.client_id for o in ledger(v).orders.values())) == ["written"]
        assert v.call(lambda: [t["orderId"] for t in ledger(v).trades]) == [
            int(ex.fetch_order(None, "BTC/USDT:USDT", {"origClientOrderId": "written"})["id"])
        ]
