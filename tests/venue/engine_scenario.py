"""A scripted session of the matching engine on the designed market, recorded for oracle tests.

Three accounts place market orders (small, walking many levels, beyond 100 levels, in the same
second as earlier takers), marketable and resting limits (IOC, FOK, GTC, GTX), algo and legacy
stops on contract and mark price, reduce-only and close-position orders, a partial-fill drill
and rejects, while the clock steps through designed candles (fills by queue and trade-through,
stops triggering, an isolated liquidation), on past a funding time and through moving candles
with nothing but cross positions open. `run` returns every answer, the ledger and the user-data
events, as plain JSON values.

`tests/venue/data/engine_golden.json.gz` holds what the engine answered before its fast paths
(written by commit 0c5c8da's engine); rewrite it only for a deliberate change of behaviour:
`python -m tests.venue.engine_scenario tests/venue/data/engine_golden.json.gz`.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import sys
import tempfile
from pathlib import Path

from perpflow.venue.account_api import AccountApi
from perpflow.venue.drills import Drills
from perpflow.venue.engine import Engine
from perpflow.venue.errors import BinanceError
from perpflow.venue.ledger import Ledger
from perpflow.venue.orders_api import OrderApi
from perpflow.venue.venue import Venue
from tests.venue.private_env import FakeClock, write_market

A, B, C = "acct-a", "acct-b", "acct-c"
BARS = {
    1: (100_000.0, 100_050.0, 99_950.0, 100_020.0, 20),
    2: (100_020.0, 100_100.0, 99_990.0, 100_080.0, 20),
    3: (100_080.0, 100_080.0, 99_900.0, 99_920.0, 20),
    4: (99_920.0, 100_200.0, 99_900.0, 100_150.0, 30),
    5: (100_150.0, 100_160.0, 99_700.0, 99_750.0, 30),
    12: (99_750.0, 99_760.0, 97_000.0, 97_500.0, 50),
    408: (97_500.0, 97_800.0, 97_400.0, 97_700.0, 40),
    409: (97_700.0, 97_900.0, 97_600.0, 97_650.0, 40),
    410: (97_650.0, 98_100.0, 97_650.0, 98_050.0, 40),
    411: (98_050.0, 98_060.0, 97_900.0, 97_950.0, 30),
}


def _mkt(side: str, qty: str, cid: str, **extra) -> dict:
    return {"symbol": "BTCUSDT", "side": side, "type": "MARKET", "quantity": qty,
            "newClientOrderId": cid, **extra}  # fmt: skip


def _lim(side: str, qty: str, price: str, cid: str, tif: str = "GTC", **extra) -> dict:
    return {"symbol": "BTCUSDT", "side": side, "type": "LIMIT", "quantity": qty, "price": price,
            "timeInForce": tif, "newClientOrderId": cid, **extra}  # fmt: skip


def _algo(side: str, typ: str, trigger: str, cid: str, **extra) -> dict:
    return {"symbol": "BTCUSDT", "side": side, "type": typ, "triggerPrice": trigger,
            "algoType": "CONDITIONAL", "clientAlgoId": cid, **extra}  # fmt: skip


def _steps(o: OrderApi, a: AccountApi, d: Drills) -> list:
    """(clock step s, call, account, params) of the session, in order."""
    return [
        (0.0, o.new_order, A, _mkt("BUY", "0.002", "a1")),
        (0.0, o.new_order, A, _mkt("BUY", "0.500", "a2")),
        (0.0, o.new_order, B, _mkt("SELL", "0.300", "b1")),
        (0.3, o.new_order, A, _mkt("BUY", "0.400", "a3")),
        (1.4, o.new_order, A, _lim("BUY", "0.050", "100000.5", "a4", "IOC")),
        (0.0, o.new_order, A, _lim("BUY", "5.000", "100000.2", "a5", "FOK")),
        (0.0, o.new_order, A, _lim("BUY", "0.010", "100001.0", "a6", "FOK")),
        (0.0, o.new_order, A, _lim("BUY", "0.100", "99960.0", "a7")),
        (0.0, o.new_order, B, _lim("SELL", "0.050", "100060.0", "b2")),
        (0.0, o.new_order, A, _lim("SELL", "0.010", "99990.0", "a8", "GTX")),
        (0.0, o.new_order, A, _lim("BUY", "1.000", "100000.4", "a9")),
        (
            20.0,
            o.new_order,
            A,
            _algo("SELL", "STOP_MARKET", "99910.0", "a10", quantity="0.100", reduceOnly="true"),
        ),  # fmt: skip
        (
            0.0,
            o.new_algo,
            B,
            _algo(
                "BUY",
                "TAKE_PROFIT_MARKET",
                "99800.0",
                "b3",
                closePosition="true",
                workingType="MARK_PRICE",
            ),
        ),  # fmt: skip
        (
            0.0,
            o.new_order,
            A,
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_MARKET",
                "quantity": "0.050",
                "stopPrice": "99850.0",
                "newClientOrderId": "a11",
            },
        ),  # fmt: skip
        (
            0.0,
            o.new_algo,
            A,
            _algo("SELL", "STOP_MARKET", "99910.0", "a12", quantity="0.100", reduceOnly="true"),
        ),  # fmt: skip
        (0.0, lambda k, q: d.set(partial_fill=0.5) and {}, A, {}),
        (0.0, o.new_order, B, _mkt("BUY", "0.040", "b4")),
        (0.0, lambda k, q: d.set(partial_fill=1.0) and {}, A, {}),
        (12.25, o.new_order, B, _mkt("BUY", "50.000", "b5")),
        (0.0, o.new_order, A, _mkt("BUY", "0.0015", "a13")),
        (0.0, o.new_order, A, _mkt("BUY", "0.0005", "a14")),
        (0.0, o.new_order, A, _mkt("BUY", "0.002", "a1")),
        (0.0, o.new_order, A, _lim("BUY", "0.010", "100000.05", "a15")),
        (41.0, o.new_order, A, _mkt("SELL", "0.300", "a16")),
        (45.5, o.new_order, A, _lim("SELL", "0.200", "100150.0", "a17")),
        (60.0, o.new_order, B, _mkt("SELL", "0.100", "b6", reduceOnly="true")),
        (30.0, a.set_margin_type, C, {"symbol": "BTCUSDT", "marginType": "ISOLATED"}),
        (0.0, a.set_leverage, C, {"symbol": "BTCUSDT", "leverage": "50"}),
        (0.0, o.new_order, C, _mkt("BUY", "0.500", "c1")),
        (0.0, o.new_order, C, _lim("SELL", "0.100", "101000.0", "c2")),
        (150.0, o.new_order, A, _mkt("SELL", "0.010", "a18")),
        (240.0, o.new_order, B, _mkt("BUY", "0.010", "b7")),
        (400.0, a.position_risk_v2, C, {"symbol": "BTCUSDT"}),
        (6.5 * 3600, a.account, A, {}),
        (0.0, a.account, B, {}),
        (0.0, o.open_orders, A, {}),
        (0.0, o.cancel_all, A, {"symbol": "BTCUSDT"}),
        (0.0, o.all_orders, A, {"symbol": "BTCUSDT"}),
        (0.0, o.user_trades, B, {"symbol": "BTCUSDT"}),
        (0.0, a.income, A, {}),
        (0.0, a.position_risk_v3, B, {}),
        # no open order left: catch-ups over moving candles with only cross positions
        (60.0, a.account, A, {}),
        (30.5, a.account, B, {}),
        (15.25, a.account, A, {}),
        (40.0, a.account, A, {}),
        (0.5, o.new_order, B, _lim("SELL", "0.010", "98000.0", "b8")),
        (61.0, a.account, B, {}),
        (120.0, o.new_order, A, _mkt("SELL", "0.010", "a19")),
        (0.0, o.user_trades, B, {"symbol": "BTCUSDT"}),
    ]


def run(datadir: Path, state: Path | None = None) -> dict:
    """Play the session on `datadir` (`write_market(root, BARS)`), the ledger at `state` (or in
    memory); returns answers, ledger rows and events."""
    clock = FakeClock()
    venue = Venue(datadir, mode="replay", replay_date="2026-05-02", clock=clock)
    engine = Engine(venue, Ledger(state), wallet=5_000_000.0)
    drills = Drills()
    engine.drills = drills
    o, a = OrderApi(engine, drills), AccountApi(engine)
    answers = []
    for step, call, key, params in _steps(o, a, drills):
        clock.step(step)
        engine.advance_to(venue.clock.now_ms())
        try:
            answers.append(call(key, dict(params)))
        except BinanceError as exc:
            answers.append({"error": exc.code})
        engine.ledger.commit()
    led = engine.ledger
    asdict = dataclasses.asdict
    out = {
        "answers": answers,
        "orders": [asdict(x) for x in led.orders.values()],
        "algos": [asdict(x) for x in led.algos.values()],
        "positions": [asdict(x) for x in led.positions.values()],
        "accounts": [asdict(x) for x in led.accounts.values()],
        "trades": led.trades, "income": led.income, "meta": led.meta,
        "events": engine.events,
    }  # fmt: skip
    led.close()  # a venue stopping: what is pending is written
    return out


def session(tmp: Path, state: Path | None = None) -> dict:
    """`run` on a fresh designed market under `tmp`, as JSON values (tuples become lists)."""
    return json.loads(json.dumps(run(write_market(tmp / "data", BARS, mark_basis=0.0003), state)))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        out = session(Path(tmp))
    text = json.dumps(out, sort_keys=True, indent=0) + "\n"
    Path(sys.argv[1]).write_bytes(gzip.compress(text.encode(), mtime=0))
