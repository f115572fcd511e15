"""The venue's matching engine and private API.

In process: orders matched per second (validated market orders, in memory; best of 3 runs, and
the median), the gateway's whole per-order work without HTTP (replay clock, catch-up, signature,
sqlite commit), price-path prints caught up per second with resting orders, synthetic book
builds per second.

Over HTTP (`venue_load.py`): the venue runs in its own process (`perpflow venue serve`), 50
concurrent signed clients in this process. A steady open-loop load (each client: one order and
one public `/fapi/v1/time` request per 1/rate s) gives the order round trip p50/p99 against the
time request's, measured in the same run; a closed-loop saturation run gives the most orders/s
the venue answers with 50 clients, against the most time requests/s, and the venue's CPU per
request. `BENCH_MATCHING_RATE` (orders/s per client, default 10) and `BENCH_MATCHING_SECONDS`
(per phase, default 10) change the load.

Goals (issue: venue private API): >= 10,000 orders/s matched; p99 order round trip < 20 ms.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

KEY, SECRET = "bench-key", "bench-secret"
CLIENTS = 50


def _market(root: Path) -> Path:
    from perpflow.data.demo import generate_demo_market

    generate_demo_market(root, days=30, seed=3, pairs=("BTC/USDT:USDT",))
    return root


def _engine_orders_per_s(datadir: Path, n: int = 20_000) -> tuple[float, float]:
    """Validated market orders (alternating sides) through `OrderApi.new_order`, in memory:
    (orders per second of wall time, per second of this process's CPU time; the second
    leaves out the time other processes on the machine took the core)."""
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
    t, c = time.perf_counter(), time.process_time()  # (after a warm-up order: tables loaded)
    for i in range(n):
        api.new_order(KEY, {"symbol": "BTCUSDT", "side": "BUY" if i % 2 else "SELL",
                            "type": "MARKET", "quantity": "0.002", "newClientOrderId": f"b{i}"})  # fmt: skip
    return n / (time.perf_counter() - t), n / (time.process_time() - c)


def _private_path_orders_per_s(datadir: Path, state: Path, n: int = 3_000) -> float:
    """The gateway's work per signed order without HTTP: a replay-mode venue (clock moving),
    catch-up, signature check, validation, matching and one sqlite WAL commit per order."""
    from venue_load import ccxt_signed

    from perpflow.venue import auth
    from perpflow.venue.gateway import Gateway
    from perpflow.venue.venue import Venue

    venue = Venue(datadir, mode="replay")
    g = Gateway(venue, {KEY: SECRET}, state=state, wallet=1e9, tick_seconds=None)
    headers = {"X-MBX-APIKEY": KEY}

    def one(i: int) -> None:
        body = ccxt_signed(SECRET, {"symbol": "BTCUSDT", "type": "MARKET",
                                    "side": "BUY" if i % 2 else "SELL", "quantity": "0.002",
                                    "newClientOrderId": f"p{i}"})  # fmt: skip
        g.engine.advance_to(venue.clock.now_ms())
        key, params = auth.verify("POST", "", body, headers, g.keys, venue.clock.now_ms())
        g.orders.new_order(key, params)
        g.ledger.commit()

    one(-1)
    t = time.perf_counter()
    for i in range(n):
        one(i)
    out = n / (time.perf_counter() - t)
    g.ledger.close()
    return out


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
    for k in range(2000):  # every level read: a lazy book is built in full too
        bids, asks, _ = engine.book("BTCUSDT", 100, price=last + k * 0.1, t=k * 1000)
        sum(q for _, q in bids) + sum(q for _, q in asks)
    return prints, 2000 / (time.perf_counter() - t)


def _http(data: Path, tmp: Path, rate: float, seconds: float) -> dict:
    """The venue in its own process (`perpflow venue serve`, sqlite WAL ledger), driven by
    `CLIENTS` signed clients from this process: a steady load, then saturation."""
    from venue_load import Clients, venue_process

    with venue_process(data, tmp / "ledger.sqlite", KEY, SECRET) as (url, proc):
        c = Clients(url, KEY, SECRET, CLIENTS)
        steady = c.steady(rate, seconds, proc)
        sat_o = c.saturate("orders", seconds, proc)
        sat_t = c.saturate("times", seconds, proc)
    return {"steady": steady, "sat_orders": sat_o, "sat_times": sat_t}


def _print_http(r: dict, rate: float, seconds: float) -> dict:
    st, so, sq = r["steady"], r["sat_orders"], r["sat_times"]
    p = {f"{k}{q}": st.pct(w, q) for k, w in (("o", "orders"), ("t", "times")) for q in (50, 99)}
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load} (other processes share them)")
    print(f"HTTP load: venue in its own process (perpflow venue serve, replay, sqlite WAL ledger); "
          f"{CLIENTS} concurrent clients in this process, one API key, each sending 1 signed "
          f"MARKET order + 1 GET /fapi/v1/time per {1 / rate:.3g} s ({CLIENTS * rate:,.0f} orders/s "
          f"+ {CLIENTS * rate:,.0f} time requests/s offered, open loop, {seconds:g} s)")  # fmt: skip
    print(f"  steady: {len(st.orders):,} orders at {st.rate('orders'):,.0f}/s: order p50 "
          f"{p['o50']:.1f} ms, p99 {p['o99']:.1f} ms (goal p99 < 20 ms); baseline /fapi/v1/time "
          f"p50 {p['t50']:.1f} ms, p99 {p['t99']:.1f} ms: order p99 = {p['o99'] / p['t99']:.1f}x "
          f"the baseline; venue CPU {st.venue_cpu / st.seconds:.0%} of a core, clients "
          f"{st.client_cpu / st.seconds:.0%} (latency from the scheduled send)")  # fmt: skip
    cpu_o = so.venue_cpu / max(len(so.orders), 1) * 1e3
    cpu_t = sq.venue_cpu / max(len(sq.times), 1) * 1e3
    print(f"  saturation ({CLIENTS} clients back to back): {so.rate('orders'):,.0f} orders/s "
          f"(p50 {so.pct('orders', 50):.1f} ms, p99 {so.pct('orders', 99):.1f} ms; venue CPU "
          f"{cpu_o:.2f} ms/order) vs /fapi/v1/time {sq.rate('times'):,.0f}/s (p50 "
          f"{sq.pct('times', 50):.1f} ms, p99 {sq.pct('times', 99):.1f} ms; venue CPU "
          f"{cpu_t:.2f} ms/request): orders/s = {so.rate('orders') / sq.rate('times'):.2f}x the "
          f"baseline")  # fmt: skip
    return {**p, "steady_orders_per_s": st.rate("orders"), "sat_orders_per_s": so.rate("orders"),
            "sat_times_per_s": sq.rate("times"), "venue_cpu_ms_per_order": cpu_o,
            "venue_cpu_ms_per_time": cpu_t}  # fmt: skip


def main(rate: float | None = None, seconds: float | None = None) -> dict:
    rate = rate or float(os.environ.get("BENCH_MATCHING_RATE", 10))
    seconds = seconds or float(os.environ.get("BENCH_MATCHING_SECONDS", 10))
    with tempfile.TemporaryDirectory(prefix="bench-matching-") as tmp:
        data = _market(Path(tmp) / "data")
        runs = sorted((_engine_orders_per_s(data) for _ in range(3)), reverse=True)
        (ops, ops_cpu), ops_median = runs[0], runs[1][0]  # best of 3 (timeit's rule) and median
        private = _private_path_orders_per_s(data, Path(tmp) / "private.sqlite")
        prints, books = _catch_up(data)
        print(
            f"engine: {ops:,.0f} orders/s matched, best of 3 runs of 20,000 (median {ops_median:,.0f}; {ops_cpu:,.0f} per CPU-second; validated market orders, in memory, no stream subscriber; goal >= 10,000)"
        )
        print(f"private path without HTTP: {private:,.0f} orders/s (replay clock, catch-up, signature, "
              f"validation, matching, one sqlite commit per order)")  # fmt: skip
        print(f"catch-up: {prints:,.0f} prints/s over a day with 50 resting orders; "
              f"synthetic book (100 levels) builds: {books:,.0f}/s")  # fmt: skip
        http = _print_http(_http(data, Path(tmp), rate, seconds), rate, seconds)
    return {
        "orders_per_s": ops,
        "orders_per_s_median": ops_median,
        "orders_per_cpu_s": ops_cpu,
        "private_orders_per_s": private,
        "prints_per_s": prints,
        "books_per_s": books,
        **http,
    }


if __name__ == "__main__":
    main()
