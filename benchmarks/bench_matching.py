"""The venue's matching engine and private API: orders matched per second in process, price-path
prints caught up per second with resting orders, synthetic book builds per second, and the HTTP
order round trip (p50/p99) under 50 concurrent signed clients against the venue's public
`/fapi/v1/time` round trip measured in the same run.

Goals (issue: venue private API): >= 10,000 orders/s matched; p99 order round trip < 20 ms.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

KEY, SECRET = "bench-key", "bench-secret"
CLIENTS = 50


def _market(root: Path) -> Path:
    from perpflow.data.demo import generate_demo_market

    generate_demo_market(root, days=30, seed=3, pairs=("BTC/USDT:USDT",))
    return root


def _engine_orders_per_s(datadir: Path, n: int = 20_000) -> float:
    """Validated market orders (alternating sides) through `OrderApi.new_order`, in memory."""
    from perpflow.venue.drills import Drills
    from perpflow.venue.engine import Engine
    from perpflow.venue.ledger import Ledger
    from perpflow.venue.orders_api import OrderApi
    from perpflow.venue.venue import Venue

    venue = Venue(datadir)
    engine = Engine(venue, Ledger(None), wallet=1e9)
    engine.listening = lambda: False  # no user-data subscriber: no events are built
    api = OrderApi(engine, Drills())
    api.new_order(KEY, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.002"})
    t = time.perf_counter()  # (after a warm-up order: imports, leverage tiers, tables loaded)
    for i in range(n):
        api.new_order(KEY, {"symbol": "BTCUSDT", "side": "BUY" if i % 2 else "SELL",
                            "type": "MARKET", "quantity": "0.002", "newClientOrderId": f"b{i}"})  # fmt: skip
    return n / (time.perf_counter() - t)


def _catch_up(datadir: Path, resting: int = 50) -> tuple[float, float]:
    """(prints/s, book builds/s): a day of 1m path caught up with `resting` limit orders."""
    from perpflow.venue.drills import Drills
    from perpflow.venue.engine import Engine
    from perpflow.venue.ledger import Ledger
    from perpflow.venue.orders_api import OrderApi
    from perpflow.venue.venue import Venue

    now = [0.0]
    venue = Venue(datadir, mode="replay", clock=lambda: now[0] or time.time())
    now[0] = time.time()
    engine = Engine(venue, Ledger(None), wallet=1e9)
    api = OrderApi(engine, Drills())
    last = venue.current("BTCUSDT")[0]
    for i in range(resting):
        side = "BUY" if i % 2 else "SELL"
        px = round(last * (0.9 if side == "BUY" else 1.1) + i, 1)
        api.new_order(KEY, {"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "price": f"{px:.1f}",
                            "quantity": "0.002", "timeInForce": "GTC"})  # fmt: skip
    t = time.perf_counter()
    now[0] += 86_400
    engine.advance_to(int(now[0] * 1000))
    prints = 4 * 1440 / (time.perf_counter() - t)
    t = time.perf_counter()
    for k in range(2000):
        engine.book("BTCUSDT", 100, price=last + k * 0.1, t=k * 1000)
    return prints, 2000 / (time.perf_counter() - t)


async def _http(url: str, n_per_client: int) -> tuple[np.ndarray, np.ndarray]:
    import aiohttp

    from perpflow.venue.auth import sign

    async def client(session, k: int, orders: list, times: list) -> None:
        for i in range(n_per_client):
            t = time.perf_counter()
            async with session.get(f"{url}/fapi/v1/time") as r:
                await r.read()
            times.append(time.perf_counter() - t)
            q = (f"symbol=BTCUSDT&side={'BUY' if i % 2 else 'SELL'}&type=MARKET&quantity=0.002"
                 f"&newClientOrderId=c{k}-{i}&timestamp={int(time.time() * 1000)}")  # fmt: skip
            body = f"{q}&signature={sign(SECRET, q)}"
            t = time.perf_counter()
            async with session.post(f"{url}/fapi/v1/order", data=body, headers={
                    "X-MBX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"}) as r:  # fmt: skip
                assert r.status == 200, await r.text()
                await r.read()
            orders.append(time.perf_counter() - t)

    orders: list[float] = []
    times: list[float] = []
    async with aiohttp.ClientSession() as s:
        await asyncio.gather(*(client(s, k, orders, times) for k in range(CLIENTS)))
    return np.array(orders), np.array(times)


def main(n_per_client: int = 40) -> dict:
    from perpflow.venue.server import VenueServer

    with tempfile.TemporaryDirectory(prefix="bench-matching-") as tmp:
        data = _market(Path(tmp) / "data")
        ops = _engine_orders_per_s(data)
        prints, books = _catch_up(data)
        print(
            f"engine: {ops:,.0f} orders/s matched (validated market orders, in memory, no stream subscriber; goal >= 10,000)"
        )
        print(f"catch-up: {prints:,.0f} prints/s over a day with 50 resting orders; "
              f"synthetic book (100 levels) builds: {books:,.0f}/s")  # fmt: skip
        with VenueServer(data, mode="replay", port=0, api_keys={KEY: SECRET}, wallet=1e9,
                         state=Path(tmp) / "ledger.sqlite") as v:  # fmt: skip
            orders, base = asyncio.run(_http(v.url, n_per_client))
    p = {f"{k}{q}": float(np.percentile(a, q) * 1e3) for k, a in (("o", orders), ("t", base))
         for q in (50, 99)}  # fmt: skip
    print(f"HTTP, {CLIENTS} concurrent signed clients, {len(orders):,} orders (sqlite WAL ledger): "
          f"order p50 {p['o50']:.1f} ms, p99 {p['o99']:.1f} ms (goal < 20 ms); baseline /fapi/v1/time "
          f"p50 {p['t50']:.1f} ms, p99 {p['t99']:.1f} ms: order p99 = {p['o99'] / p['t99']:.1f}x the baseline")  # fmt: skip
    return {"orders_per_s": ops, "prints_per_s": prints, "books_per_s": books, **p}


if __name__ == "__main__":
    main()
