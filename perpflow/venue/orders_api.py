"""Order endpoints of the private API: new / query / cancel for regular orders (`/fapi/v1/order`)
and conditional algo orders (`/fapi/v1/algoOrder`), open and all orders, user trades.

Validation follows Binance's filters and codes: -1111 precision, -4014 tick, -4023 step,
-4003/-4004/-4005 quantity, -4164 min notional, -4016/-4024 percent price (limits), -4131
percent price (market), -5022 post-only would take, -2021 stop would trigger, -2022
reduce-only, -2019 margin, -2027 max position, -4116 duplicate client id. Nothing is changed
before every check has passed, so a rejected request leaves the ledger as it was.
"""

from __future__ import annotations

import uuid

from perpflow.venue import tiers, views
from perpflow.venue.engine import EPS, STOPS
from perpflow.venue.errors import BinanceError, bad_value
from perpflow.venue.ledger import Algo, Order
from perpflow.venue.margin import summary
from perpflow.venue.params import CLIENT_ID_RE, decimal, flag, limit, on_grid, opt_int, req, window

DEDUPE_MS = (
    86_400_000  # a client id is refused while live, and for a day after (idempotent retries)
)
ORDER_TYPES = ("LIMIT", "MARKET", *STOPS)
TIFS = ("GTC", "IOC", "FOK", "GTX")


def err(code: int, msg: str) -> BinanceError:
    return BinanceError(code, msg)


class OrderApi:
    def __init__(self, engine, drills):
        self.e, self.drills = engine, drills

    # --- shared checks ---------------------------------------------------------------------
    def _common(self, key: str, q: dict, type_key: str, id_key: str) -> dict:
        e = self.e
        sym = req(q, "symbol")
        spec = e.spec(sym)
        side = req(q, "side")
        if side not in ("BUY", "SELL"):
            raise err(-1117, "Invalid side.")
        typ = req(q, type_key)
        if typ not in ORDER_TYPES:
            raise err(
                -1116, f"Invalid orderType. (the perpflow venue takes {', '.join(ORDER_TYPES)})"
            )
        if q.get("positionSide", "BOTH") != "BOTH":
            raise err(-4061, "Order's position side does not match user's setting.")
        cid = q.get(id_key) or f"perpflow-{uuid.uuid4().hex[:20]}"
        if not CLIENT_ID_RE.match(cid):
            raise err(-4015, "Client order id is not valid.")
        self._dedupe(key, cid)
        f = e.filters(sym)
        close = flag(q, "closePosition")
        qkey = "quantity"
        qty = decimal(q, qkey, f.qty_dp, required=not close) or 0.0
        if not close:
            self._check_qty(f, qty, typ)
        wt = q.get("workingType", "CONTRACT_PRICE")
        if wt not in ("CONTRACT_PRICE", "MARK_PRICE"):
            raise err(-4031, "Invalid workingType.")
        return {"sym": sym, "spec": spec, "side": side, "type": typ, "cid": cid, "f": f,
                "qty": qty, "close": close, "ro": flag(q, "reduceOnly") or close, "wt": wt}  # fmt: skip

    def _dedupe(self, key: str, cid: str) -> None:
        hit = self.e.client_ids.get((key, cid))
        if hit is None:
            return
        kind, oid = hit
        obj = (self.e.ledger.algos if kind == "algo" else self.e.ledger.orders)[oid]
        born = obj.create_time if kind == "algo" else obj.time
        if obj.is_open or self.e.now() - born < DEDUPE_MS:
            raise err(-4116, "ClientOrderId is duplicated.")

    @staticmethod
    def _check_qty(f, qty: float, typ: str) -> None:
        if qty <= 0:
            raise err(-4003, "Quantity less than or equal to zero.")
        if not on_grid(qty, f.step):
            raise err(-4023, "Quantity not increased by step size.")
        if qty < f.min_qty - EPS:
            raise err(-4004, "Quantity less than min quantity.")
        if qty > (f.market_max_qty if typ == "MARKET" else f.max_qty) + EPS:
            raise err(-4005, "Quantity greater than max quantity.")

    def _check_price(self, f, q: dict, name: str) -> float:
        p = decimal(q, name, f.price_dp)
        if p <= 0:
            raise err(-4001, "Price less than 0.")
        if not on_grid(p, f.tick):
            raise err(-4014, "Price not increased by tick size.")
        return p

    def _drill_reject(self) -> None:
        code = self.drills.reject_code() if self.drills is not None else None
        if code == -2019:
            raise err(-2019, "Margin is insufficient.")
        if code == -4131:
            raise err(
                -4131, "The counterparty's best price does not meet the PERCENT_PRICE filter limit."
            )

    def _check_exposure(self, key: str, c: dict, price: float) -> None:
        """-2019 margin / -2027 max position for the part of an order that adds exposure."""
        e, sym = self.e, c["sym"]
        pos = e.position(key, sym)
        opposite = pos.amt != 0 and (pos.amt > 0) != (c["side"] == "BUY")
        adds = max(c["qty"] - (abs(pos.amt) if opposite else 0.0), 0.0)
        if adds <= EPS:
            return
        lev = e.leverage(key, sym)
        held = 0.0 if opposite else abs(pos.amt)
        if (held + adds) * price > tiers.max_notional(c["spec"], lev) + EPS:
            raise err(-2027, "Exceeded the maximum allowable position at current leverage.")
        acc = e.account(key)
        positions = [p for (k, _), p in e.ledger.positions.items() if k == key]
        marks = {p.symbol: e.mark_price(p.symbol) for p in positions if p.amt}
        s = summary(positions, marks, acc.leverage, acc.wallet, e.order_margin(key),
                    {p.symbol: e.spec(p.symbol) for p in positions})  # fmt: skip
        need = adds * price / lev + adds * price * e.taker_fee
        if need > s["available"] + 1e-9:
            raise err(-2019, "Margin is insufficient.")

    # --- regular orders --------------------------------------------------------------------
    def new_order(self, key: str, q: dict) -> dict:
        e = self.e
        c = self._common(key, q, "type", "newClientOrderId")
        f, sym, side, typ = c["f"], c["sym"], c["side"], c["type"]
        tif = q.get("timeInForce", "GTC") if typ == "LIMIT" else "GTC"
        if tif not in TIFS:
            raise err(-1115, "Invalid timeInForce.")
        price = self._check_price(f, q, "price") if typ == "LIMIT" else 0.0
        stop = self._check_price(f, q, "stopPrice") if typ in STOPS else 0.0
        now = e.now()
        self._drill_reject()
        if typ in STOPS:
            self._check_trigger(sym, side, typ, stop, c["wt"])
        else:
            price_ref = self._check_market(c, price, tif)
            if c["ro"] and e.closable(Order(0, key, sym, side, typ, 0)) <= EPS:
                raise err(-2022, "ReduceOnly Order is rejected.")
            if not c["ro"]:
                if c["qty"] * price_ref < f.min_notional - EPS:
                    raise err(-4164, f"Order's notional must be no smaller than {f.min_notional:g} "
                                     "(unless you choose reduce only).")  # fmt: skip
                self._check_exposure(key, c, price_ref)
        o = Order(e.ledger.next_id("orders"), key, sym, side, typ, c["qty"], price=price, tif=tif,
                  stop_price=stop, working_type=c["wt"], reduce_only=c["ro"],
                  close_position=c["close"], price_protect=flag(q, "priceProtect"), client_id=c["cid"],
                  time=now, update_time=now, orig_type=typ)  # fmt: skip
        e.register(o)
        e.emit_order(o, now, "NEW")
        if typ == "MARKET" or (typ == "LIMIT" and self._marketable(sym, side, price)):
            e.take(o, now)
        elif typ == "LIMIT":
            o.queue = self._queue_at(sym, side, price)
        return views.order_json(o, c["spec"])

    def _check_market(self, c: dict, price: float, tif: str) -> float:
        """Percent-price and post-only checks; returns the price the order's notional uses."""
        e, sym, side, f = self.e, c["sym"], c["side"], c["f"]
        mark = e.mark_price(sym)
        bids, asks, _ = e.book(sym, 1)
        best = asks if side == "BUY" else bids
        if not best:
            raise err(-1121, f"No market for {sym} at this time.")
        touch = best[0][0]
        if c["type"] == "MARKET":
            if (side == "BUY" and touch > mark * f.up) or (
                side == "SELL" and touch < mark * f.down
            ):
                raise err(
                    -4131,
                    "The counterparty's best price does not meet the PERCENT_PRICE filter limit.",
                )
            return touch
        if side == "BUY" and price > mark * f.up:
            raise err(-4016, f"Limit price can't be higher than {mark * f.up:.{f.price_dp}f}.")
        if side == "SELL" and price < mark * f.down:
            raise err(-4024, f"Limit price can't be lower than {mark * f.down:.{f.price_dp}f}.")
        if tif == "GTX" and self._marketable(sym, side, price):
            raise err(-5022, "Due to the order could not be executed as maker, the Post Only order "
                             "will be rejected. The order will not be recorded in the order history")  # fmt: skip
        return price

    def _marketable(self, sym: str, side: str, price: float) -> bool:
        bids, asks, _ = self.e.book(sym, 1)
        tick = self.e.filters(sym).tick
        if side == "BUY":
            return bool(asks) and price >= asks[0][0] - tick / 2
        return bool(bids) and price <= bids[0][0] + tick / 2

    def _queue_at(self, sym: str, side: str, price: float) -> float:
        """Displayed size at `price` on the order's side when it arrives (queue ahead of it)."""
        f = self.e.filters(sym)
        bids, asks, _ = self.e.book(sym, 1)
        same = bids if side == "BUY" else asks
        if not same:
            return 0.0
        depth = int(round(abs(same[0][0] - price) / f.tick)) + 1
        if depth > 1000:
            return 0.0
        bids, asks, _ = self.e.book(sym, depth)
        for p, q in bids if side == "BUY" else asks:
            if abs(p - price) < f.tick / 2:
                return float(q)
        return 0.0

    def _check_trigger(self, sym: str, side: str, typ: str, stop: float, wt: str) -> None:
        e = self.e
        ref = e.mark_price(sym) if wt == "MARK_PRICE" else e.last_price(sym)
        up = (typ == "STOP_MARKET") == (side == "BUY")
        if (up and ref >= stop) or (not up and ref <= stop):
            raise err(-2021, "Order would immediately trigger.")

    def _find(self, key: str, q: dict, unknown: BinanceError) -> Order:
        sym = req(q, "symbol")
        self.e.spec(sym)
        oid = opt_int(q, "orderId")
        cid = q.get("origClientOrderId")
        if oid is None and not cid:
            raise err(-1102, "Either orderId or origClientOrderId must be sent.")
        if oid is None:
            kind, oid = self.e.client_ids.get((key, cid), ("", None))
            if kind != "order":
                raise unknown
        o = self.e.ledger.orders.get(oid)
        if o is None or o.account != key or o.symbol != sym:
            raise unknown
        return o

    def get_order(self, key: str, q: dict) -> dict:
        o = self._find(key, q, err(-2013, "Order does not exist."))
        return views.order_json(o, self.e.spec(o.symbol))

    def open_order(self, key: str, q: dict) -> dict:
        o = self._find(key, q, err(-2013, "Order does not exist."))
        if not o.is_open:
            raise err(-2013, "Order does not exist.")
        return views.order_json(o, self.e.spec(o.symbol))

    def cancel_order(self, key: str, q: dict) -> dict:
        o = self._find(key, q, err(-2011, "Unknown order sent."))
        if not o.is_open:
            raise err(-2011, "Unknown order sent.")
        self.e.cancel(o, self.e.now())
        return views.order_json(o, self.e.spec(o.symbol))

    def cancel_all(self, key: str, q: dict) -> dict:
        sym = req(q, "symbol")
        self.e.spec(sym)
        now = self.e.now()
        for o in [o for o in self.e.open_orders.values() if o.account == key and o.symbol == sym]:
            self.e.cancel(o, now)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def open_orders(self, key: str, q: dict) -> list[dict]:
        sym = q.get("symbol")
        if sym:
            self.e.spec(sym)
        return [views.order_json(o, self.e.spec(o.symbol)) for o in self.e.open_orders.values()
                if o.account == key and (not sym or o.symbol == sym)]  # fmt: skip

    def all_orders(self, key: str, q: dict) -> list[dict]:
        sym = q.get("symbol")
        if sym:
            self.e.spec(sym)
        start, end = window(q, self.e.now())
        from_id = opt_int(q, "orderId")
        rows = [o for o in self.e.ledger.orders.values() if o.account == key
                and (not sym or o.symbol == sym) and start <= o.time <= end
                and (from_id is None or o.id >= from_id)]  # fmt: skip
        rows.sort(key=lambda o: o.id)
        return [views.order_json(o, self.e.spec(o.symbol)) for o in rows[: limit(q, 500, 1000)]]

    def user_trades(self, key: str, q: dict) -> list[dict]:
        sym = req(q, "symbol")
        self.e.spec(sym)
        oid, from_id = opt_int(q, "orderId"), opt_int(q, "fromId")
        if from_id is not None:
            rows = [t for t in self.e.ledger.trades if t["id"] >= from_id]
        else:
            start, end = window(q, self.e.now())
            rows = [t for t in self.e.ledger.trades if start <= t["time"] <= end]
        rows = [t for t in rows if t["account"] == key and t["symbol"] == sym
                and (oid is None or t["orderId"] == oid)]  # fmt: skip
        return [_trade_json(t, self.e.spec(sym)) for t in rows[: limit(q, 500, 1000)]]

    # --- algo (conditional) orders ---------------------------------------------------------
    def new_algo(self, key: str, q: dict) -> dict:
        e = self.e
        if q.get("algoType", "CONDITIONAL") != "CONDITIONAL":
            raise bad_value("algoType")
        c = self._common(key, q, "type", "clientAlgoId")
        if c["type"] not in STOPS:
            raise err(-1116, "Invalid orderType. (the perpflow venue's algo orders: "
                             "STOP_MARKET, TAKE_PROFIT_MARKET)")  # fmt: skip
        trig = self._check_price(c["f"], q, "triggerPrice")
        self._drill_reject()
        self._check_trigger(c["sym"], c["side"], c["type"], trig, c["wt"])
        now = e.now()
        a = Algo(e.ledger.next_id("algos"), key, c["sym"], c["side"], c["type"], c["qty"], trig,
                 working_type=c["wt"], reduce_only=c["ro"], close_position=c["close"],
                 price_protect=flag(q, "priceProtect"), client_id=c["cid"],
                 create_time=now, update_time=now)  # fmt: skip
        e.register(a)
        e.emit_algo(a, now)
        return views.algo_json(a, c["spec"])

    def _find_algo(self, key: str, q: dict, unknown: BinanceError) -> Algo:
        aid = opt_int(q, "algoId")
        cid = q.get("clientAlgoId")
        if aid is None and not cid:
            raise err(-1102, "Either algoId or clientAlgoId must be sent.")
        if aid is None:
            kind, aid = self.e.client_ids.get((key, cid), ("", None))
            if kind != "algo":
                raise unknown
        a = self.e.ledger.algos.get(aid)
        if a is None or a.account != key or (q.get("symbol") and a.symbol != q["symbol"]):
            raise unknown
        return a

    def get_algo(self, key: str, q: dict) -> dict:
        a = self._find_algo(key, q, err(-2013, "Order does not exist."))
        return views.algo_json(a, self.e.spec(a.symbol))

    def cancel_algo(self, key: str, q: dict) -> dict:
        a = self._find_algo(key, q, err(-2011, "Unknown order sent."))
        if not a.is_open:
            raise err(-2011, "Unknown order sent.")
        self.e.cancel(a, self.e.now())
        return {"algoId": a.id, "clientAlgoId": a.client_id, "code": "200", "msg": "success"}

    def open_algos(self, key: str, q: dict) -> list[dict]:
        sym = q.get("symbol")
        return [views.algo_json(a, self.e.spec(a.symbol)) for a in self.e.open_algos.values()
                if a.account == key and (not sym or a.symbol == sym)]  # fmt: skip

    def all_algos(self, key: str, q: dict) -> list[dict]:
        sym = req(q, "symbol")
        start, end = window(q, self.e.now())
        rows = sorted((a for a in self.e.ledger.algos.values() if a.account == key
                       and a.symbol == sym and start <= a.create_time <= end), key=lambda a: a.id)  # fmt: skip
        return [views.algo_json(a, self.e.spec(sym)) for a in rows[: limit(q, 500, 1000)]]

    def cancel_all_algos(self, key: str, q: dict) -> dict:
        sym = req(q, "symbol")
        now = self.e.now()
        for a in [a for a in self.e.open_algos.values() if a.account == key and a.symbol == sym]:
            self.e.cancel(a, now)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}


def _trade_json(t: dict, spec: dict) -> dict:
    pdp, qdp = spec["pricePrecision"], spec["quantityPrecision"]
    return {
        "buyer": t["buyer"], "commission": views.num(t["commission"]), "commissionAsset": "USDT",
        "id": t["id"], "maker": t["maker"], "orderId": t["orderId"],
        "price": views.num(t["price"], pdp), "qty": views.num(t["qty"], qdp),
        "quoteQty": views.num(t["quoteQty"]), "realizedPnl": views.num(t["realizedPnl"]),
        "side": t["side"], "positionSide": "BOTH", "symbol": t["symbol"], "time": t["time"],
    }  # fmt: skip
