"""Group commit of the venue's ledger (`perpflow.venue.commits`) over HTTP: orders in flight
together share a write, none is answered before it is in the sqlite file, and a failed write or
an unexpected error answers -1000 for every request not yet written and leaves the ledger as
the file has it. The first write is held at a gate, so what is in flight is decided by the test,
not by timing."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
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


class Gate:
    """Hold the first batch's write (`GroupCommit._write`) until `open()`; optionally fail it.
    Made on the venue's loop (`VenueServer.call`)."""

    def __init__(self, commits, fail_first: bool = False):
        self.commits, self.write = commits, commits._write
        self.loop = asyncio.get_running_loop()
        self.entered, self.released = threading.Event(), asyncio.Event()
        self.fail_first, self.calls = fail_first, 0
        commits._write = self

    async def __call__(self, rows):
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            await self.released.wait()
            if self.fail_first:
                raise sqlite3.OperationalError("disk I/O error (test)")
        await self.write(rows)

    def open(self) -> None:
        self.loop.call_soon_threadsafe(self.released.set)


def test_orders_in_flight_share_a_write_and_none_is_answered_before_it(tmp_path):
    state = tmp_path / "ledger.sqlite"
    with private_venue(write_market(tmp_path / "data"), state=state) as (v, ex, clock):
        g = v.gateway
        gate = v.call(lambda: Gate(g.commits))
        cids = [f"grp-{k}" for k in range(20)]
        b0, r0 = g.commits.batches, g.commits.requests

        async def run():
            async with aiohttp.ClientSession() as s:
                first = asyncio.ensure_future(_post(s, v.url, clock, cids[0]))
                await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 30)
                rest = [asyncio.ensure_future(_post(s, v.url, clock, c)) for c in cids[1:]]
                await asyncio.get_running_loop().run_in_executor(
                    None, _wait_until, lambda: v.call(lambda: len(g.commits._waiters)) == 19,
                    "19 orders applied and waiting",
                )  # fmt: skip
                assert not first.done() and not any(r.done() for r in rest)
                assert _stored(state) == []  # applied in memory, nothing answered, nothing on disk
                assert v.call(lambda: len(ledger(v).orders)) == 20
                gate.open()
                return [await first] + [await r for r in rest]

        answers = asyncio.run(run())
        assert [a[0] for a in answers] == [200] * 20
        assert _stored(state) == sorted(cids)
        assert (g.commits.batches - b0, g.commits.requests - r0) == (2, 20)  # 19 shared a write


def test_failed_write_answers_1000_and_keeps_the_file_and_memory_equal(tmp_path):
    state = tmp_path / "ledger.sqlite"
    with private_venue(write_market(tmp_path / "data"), state=state) as (v, ex, clock):
        ex.create_order("BTC/USDT:USDT", "market", "buy", 0.002, params={"clientOrderId": "kept"})
        g = v.gateway
        gate = v.call(lambda: Gate(g.commits, fail_first=True))

        async def run():
            loop = asyncio.get_running_loop()
            async with aiohttp.ClientSession() as s:
                lost = [asyncio.ensure_future(_post(s, v.url, clock, "lost-0"))]
                await loop.run_in_executor(None, gate.entered.wait, 30)
                lost += [asyncio.ensure_future(_post(s, v.url, clock, f"lost-{k}")) for k in (1, 2)]
                await loop.run_in_executor(
                    None, _wait_until, lambda: v.call(lambda: len(g.commits._waiters)) == 2,
                    "two orders applied after the one being written",
                )  # fmt: skip
                gate.open()
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
        gate = v.call(lambda: Gate(g.commits))

        async def run():
            async with aiohttp.ClientSession() as s:
                first = asyncio.ensure_future(_post(s, v.url, clock, "written"))
                await asyncio.get_running_loop().run_in_executor(None, gate.entered.wait, 30)
                pending = [asyncio.ensure_future(_post(s, v.url, clock, c)) for c in ("b", "c")]
                await asyncio.get_running_loop().run_in_executor(
                    None, _wait_until, lambda: v.call(lambda: len(g.commits._waiters)) == 2,
                    "two orders applied and waiting",
                )  # fmt: skip
                boom = asyncio.ensure_future(_post(s, v.url, clock, "boom"))
                await asyncio.get_running_loop().run_in_executor(
                    None, _wait_until, lambda: v.call(g._lock.locked),
                    "the failed request to hold the lock while it waits for the write",
                )  # fmt: skip
                assert not boom.done()
                gate.open()
                return await first, [await p for p in pending], await boom

        first, pending, boom = asyncio.run(run())
        assert first[0] == 200 and first[1]["status"] == "FILLED"
        assert [(st, a["code"]) for st, a in [*pending, boom]] == [(500, -1000)] * 3
        assert _stored(state) == ["written"]
        mem = v.call(lambda: sorted(o.client_id for o in ledger(v).orders.values()))
        assert mem == ["written"]
        assert v.call(lambda: [t["orderId"] for t in ledger(v).trades]) == [
            int(first[1]["orderId"])
        ]
