"""Binance USDT-M response shapes for the private API and the user-data stream.

Numbers go out as strings with the symbol's precision, as Binance sends them; field sets follow
Binance's REST answers (`/fapi/v1/order`, `/fapi/v1/algoOrder`, `/fapi/v3/account`,
`/fapi/v3/positionRisk`) and user-data events (ORDER_TRADE_UPDATE, ALGO_UPDATE, ACCOUNT_UPDATE).
"""

from __future__ import annotations

from perpflow.venue.ledger import Algo, Order, Position

_SPEC = [f".{dp}f" for dp in range(20)]  # format specs by decimals, made once
_UNIT = [10.0**-dp for dp in range(20)]


def num(x: float, dp: int = 8) -> str:
    """`x` with `dp` decimals; "0" when that shows zero (e.g. "0.000" or "-0.00")."""
    s = format(x, _SPEC[dp])
    if abs(x) >= _UNIT[dp]:  # at least one unit of the last decimal: not zero when shown
        return s
    return "0" if float(s) == 0 else s


def order_json(o: Order, spec: dict) -> dict:
    pdp, qdp = spec["pricePrecision"], spec["quantityPrecision"]
    avg = o.cum_quote / o.filled if o.filled else 0.0
    return {
        "orderId": o.id, "symbol": o.symbol, "status": o.status, "clientOrderId": o.client_id,
        "price": num(o.price, pdp), "avgPrice": num(avg, pdp + 2), "origQty": num(o.qty, qdp),
        "executedQty": num(o.filled, qdp), "cumQty": num(o.filled, qdp),
        "cumQuote": num(o.cum_quote, 8), "timeInForce": o.tif, "type": o.type,
        "reduceOnly": o.reduce_only, "closePosition": o.close_position, "side": o.side,
        "positionSide": "BOTH", "stopPrice": num(o.stop_price, pdp), "workingType": o.working_type,
        "priceProtect": o.price_protect, "origType": o.orig_type or o.type, "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "time": o.time,
        "updateTime": o.update_time,
    }  # fmt: skip


def algo_json(a: Algo, spec: dict) -> dict:
    pdp, qdp = spec["pricePrecision"], spec["quantityPrecision"]
    return {
        "algoId": a.id, "clientAlgoId": a.client_id, "algoType": "CONDITIONAL",
        "orderType": a.order_type, "symbol": a.symbol, "side": a.side, "positionSide": "BOTH",
        "timeInForce": a.tif, "quantity": num(a.qty, qdp), "algoStatus": a.status,
        "actualOrderId": "" if a.actual_order_id is None else str(a.actual_order_id),
        "actualPrice": num(a.actual_price, pdp + 2), "triggerPrice": num(a.trigger_price, pdp),
        "price": num(0.0, pdp), "icebergQuantity": None, "tpTriggerPrice": "0", "tpPrice": "0",
        "slTriggerPrice": "0", "slPrice": "0", "tpOrderType": "",
        "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": a.working_type,
        "priceMatch": "NONE", "closePosition": a.close_position, "priceProtect": a.price_protect,
        "reduceOnly": a.reduce_only, "createTime": a.create_time, "updateTime": a.update_time,
        "triggerTime": a.trigger_time, "goodTillDate": 0,
    }  # fmt: skip


def order_event(o: Order, spec: dict, now: int, exec_type: str, last: tuple | None = None,
                realized: float = 0.0) -> dict:  # fmt: skip
    """ORDER_TRADE_UPDATE; `last` = (qty, price, fee, trade id, maker) of the fill it reports."""
    pdp, qdp = spec["pricePrecision"], spec["quantityPrecision"]
    lq, lp, fee, tid, maker = last or (0.0, 0.0, 0.0, 0, False)
    avg = o.cum_quote / o.filled if o.filled else 0.0
    body = {
        "s": o.symbol, "c": o.client_id, "S": o.side, "o": o.type, "f": o.tif,
        "q": num(o.qty, qdp), "p": num(o.price, pdp), "ap": num(avg, pdp + 2),
        "sp": num(o.stop_price, pdp), "x": exec_type, "X": o.status, "i": o.id,
        "l": num(lq, qdp), "z": num(o.filled, qdp), "L": num(lp, pdp), "T": now, "t": tid,
        "b": "0", "a": "0", "m": maker, "R": o.reduce_only, "wt": o.working_type,
        "ot": o.orig_type or o.type, "ps": "BOTH", "cp": o.close_position, "rp": num(realized),
        "pP": o.price_protect, "si": 0, "ss": 0, "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0,
    }  # fmt: skip
    if fee:
        body.update(N="USDT", n=num(fee))
    return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": body}


def algo_event(a: Algo, spec: dict, now: int, reason: str = "") -> dict:
    pdp, qdp = spec["pricePrecision"], spec["quantityPrecision"]
    return {"e": "ALGO_UPDATE", "T": now, "E": now, "o": {
        "caid": a.client_id, "aid": a.id, "at": "CONDITIONAL", "o": a.order_type, "s": a.symbol,
        "S": a.side, "ps": "BOTH", "f": a.tif, "q": num(a.qty, qdp), "X": a.status,
        "ai": "" if a.actual_order_id is None else str(a.actual_order_id),
        "ap": num(a.actual_price, pdp + 2), "aq": num(a.actual_qty, qdp),
        "act": "MARKET" if a.actual_order_id else "0", "tp": num(a.trigger_price, pdp),
        "p": num(0.0, pdp), "V": "EXPIRE_MAKER", "wt": a.working_type, "pm": "NONE",
        "cp": a.close_position, "pP": a.price_protect, "R": a.reduce_only, "tt": a.trigger_time,
        "gtd": 0, "rm": reason,
    }}  # fmt: skip


def position_ws(p: Position, mark: float) -> dict:
    upnl = (mark - p.entry) * p.amt if p.amt else 0.0
    return {"s": p.symbol, "pa": num(p.amt), "ep": num(p.entry), "bep": num(p.entry),
            "cr": num(p.realized), "up": num(upnl), "mt": p.margin_type,
            "iw": num(p.iw), "ps": "BOTH", "ma": "USDT"}  # fmt: skip


def account_event(wallet: float, cross_wallet: float, positions: list[dict], now: int,
                  reason: str) -> dict:  # fmt: skip
    return {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {
        "m": reason, "B": [{"a": "USDT", "wb": num(wallet), "cw": num(cross_wallet), "bc": "0"}],
        "P": positions}}  # fmt: skip
