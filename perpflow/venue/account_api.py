"""Account endpoints of the private API: account and balance (v2/v3), positionRisk (v2/v3),
leverage, margin type, position mode (one-way only), multi-assets mode, leverage brackets,
commission rate, symbol config and income history."""

from __future__ import annotations

from perpflow.venue import tiers
from perpflow.venue.errors import BinanceError, bad_value
from perpflow.venue.margin import liquidation_price, maint, summary, upnl
from perpflow.venue.params import flag, limit, opt_int, req, window
from perpflow.venue.views import num

INCOME_TYPES = ("TRANSFER", "REALIZED_PNL", "FUNDING_FEE", "COMMISSION", "INSURANCE_CLEAR")


class AccountApi:
    def __init__(self, engine):
        self.e = engine

    def _state(self, key: str):
        e = self.e
        acc = e.account(key)
        positions = [p for (k, _), p in e.ledger.positions.items() if k == key]
        marks = {p.symbol: e.mark_price(p.symbol) for p in positions if p.amt}
        specs = {p.symbol: e.spec(p.symbol) for p in positions}
        s = summary(positions, marks, acc.leverage, acc.wallet, e.order_margin(key), specs)
        return acc, positions, marks, s

    def _position_row(self, key: str, p, mark: float, s: dict, v2: bool) -> dict:
        e = self.e
        spec = e.spec(p.symbol)
        lev = e.leverage(key, p.symbol)
        notional = p.amt * mark
        mmr, cum = maint(spec, notional)
        iso = p.margin_type == "isolated"
        pnl = upnl(p, mark)
        wallet = p.iw if iso else s["cross_wallet"] + s["cross_upnl"] - pnl
        row = {
            "symbol": p.symbol, "positionSide": "BOTH", "positionAmt": num(p.amt),
            "entryPrice": num(p.entry), "breakEvenPrice": num(p.entry), "markPrice": num(mark),
            "unRealizedProfit": num(pnl), "unrealizedProfit": num(pnl),
            "liquidationPrice": num(liquidation_price(p, spec, wallet)),
            "isolatedMargin": num(p.iw + pnl if iso and p.amt else 0.0), "notional": num(notional),
            "marginAsset": "USDT", "isolatedWallet": num(p.iw if iso else 0.0),
            "initialMargin": num(abs(notional) / lev), "maintMargin": num(abs(notional) * mmr - cum),
            "positionInitialMargin": num(abs(notional) / lev), "openOrderInitialMargin": "0",
            "adl": 0, "bidNotional": "0", "askNotional": "0", "updateTime": p.update_time,
        }  # fmt: skip
        if v2:
            row.update(leverage=str(lev), maxNotionalValue=num(tiers.max_notional(spec, lev), 0),
                       marginType=p.margin_type, isAutoAddMargin="false", isolated=iso,
                       adlQuantile=0)  # fmt: skip
        return row

    def _positions(self, key: str, q: dict, v2: bool) -> list[dict]:
        e = self.e
        sym = q.get("symbol")
        if sym:
            e.spec(sym)
            e.position(key, sym)
        _, positions, marks, s = self._state(key)
        rows = []
        for p in positions:
            if (sym and p.symbol != sym) or (not sym and not p.amt):
                continue
            mark = marks.get(p.symbol) or e.mark_price(p.symbol)
            rows.append(self._position_row(key, p, mark, s, v2))
        return rows

    def position_risk_v2(self, key: str, q: dict) -> list[dict]:
        return self._positions(key, q, True)

    def position_risk_v3(self, key: str, q: dict) -> list[dict]:
        return self._positions(key, q, False)

    def account(self, key: str, q: dict, v2: bool = False) -> dict:
        acc, positions, marks, s = self._state(key)
        asset = {
            "asset": "USDT", "walletBalance": num(s["wallet"]), "unrealizedProfit": num(s["upnl"]),
            "marginBalance": num(s["margin_balance"]), "maintMargin": num(s["maint"]),
            "initialMargin": num(s["position_im"] + s["order_im"]),
            "positionInitialMargin": num(s["position_im"]), "openOrderInitialMargin": num(s["order_im"]),
            "crossWalletBalance": num(s["cross_wallet"]), "crossUnPnl": num(s["cross_upnl"]),
            "availableBalance": num(s["available"]), "maxWithdrawAmount": num(max(s["available"], 0)),
            "marginAvailable": True, "updateTime": acc.update_time or self.e.now(),
        }  # fmt: skip
        rows = [self._position_row(key, p, marks[p.symbol], s, v2) for p in positions if p.amt]
        return {
            "feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
            "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1,
            "totalInitialMargin": asset["initialMargin"], "totalMaintMargin": asset["maintMargin"],
            "totalWalletBalance": asset["walletBalance"], "totalUnrealizedProfit": asset["unrealizedProfit"],
            "totalMarginBalance": asset["marginBalance"],
            "totalPositionInitialMargin": asset["positionInitialMargin"],
            "totalOpenOrderInitialMargin": asset["openOrderInitialMargin"],
            "totalCrossWalletBalance": asset["crossWalletBalance"], "totalCrossUnPnl": asset["crossUnPnl"],
            "availableBalance": asset["availableBalance"], "maxWithdrawAmount": asset["maxWithdrawAmount"],
            "assets": [asset], "positions": rows,
        }  # fmt: skip

    def account_v2(self, key: str, q: dict) -> dict:
        return self.account(key, q, v2=True)

    def balance(self, key: str, q: dict) -> list[dict]:
        a = self.account(key, q)["assets"][0]
        return [{"accountAlias": "perpflow", "asset": "USDT", "balance": a["walletBalance"],
                 "crossWalletBalance": a["crossWalletBalance"], "crossUnPnl": a["crossUnPnl"],
                 "availableBalance": a["availableBalance"], "maxWithdrawAmount": a["maxWithdrawAmount"],
                 "marginAvailable": True, "updateTime": a["updateTime"]}]  # fmt: skip

    # --- settings --------------------------------------------------------------------------
    def set_leverage(self, key: str, q: dict) -> dict:
        sym = req(q, "symbol")
        spec = self.e.spec(sym)
        lev = opt_int(q, "leverage")
        if lev is None:
            raise BinanceError(
                -1102, "Mandatory parameter 'leverage' was not sent, was empty/null, or malformed."
            )
        if not 1 <= lev <= tiers.max_leverage(spec):
            raise BinanceError(-4028, f"Leverage {lev} is not valid")
        pos = self.e.position(key, sym)
        if pos.amt and abs(pos.amt) * pos.entry > tiers.max_notional(spec, lev):
            raise BinanceError(
                -2027, "Exceeded the maximum allowable position at current leverage."
            )
        acc = self.e.account(key)
        acc.leverage[sym] = lev
        self.e.ledger.touch(acc)
        return {
            "leverage": lev,
            "maxNotionalValue": num(tiers.max_notional(spec, lev), 0),
            "symbol": sym,
        }

    def set_margin_type(self, key: str, q: dict) -> dict:
        sym = req(q, "symbol")
        self.e.spec(sym)
        want = req(q, "marginType").upper()
        if want not in ("ISOLATED", "CROSSED", "CROSS"):
            raise bad_value("marginType")
        mode = "isolated" if want == "ISOLATED" else "cross"
        if self.e.margin_type(key, sym) == mode:
            raise BinanceError(-4046, "No need to change margin type.")
        if self.e.position(key, sym).amt:
            raise BinanceError(-4048, "Margin type cannot be changed if there exists position.")
        if any(o.account == key and o.symbol == sym for o in self.e.open_orders.values()):
            raise BinanceError(-4047, "Margin type cannot be changed if there exists open orders.")
        acc = self.e.account(key)
        acc.margin_type[sym] = mode
        pos = self.e.position(key, sym)
        pos.margin_type = mode
        self.e.ledger.touch(acc), self.e.ledger.touch(pos)
        return {"code": 200, "msg": "success"}

    def position_mode(self, key: str, q: dict) -> dict:
        return {"dualSidePosition": False}

    def set_position_mode(self, key: str, q: dict) -> dict:
        if flag(q, "dualSidePosition"):
            raise BinanceError(-1020, "Hedge mode is not supported by the perpflow local exchange "
                                      "(one-way mode only).")  # fmt: skip
        raise BinanceError(-4059, "No need to change position side.")

    def multi_assets(self, key: str, q: dict) -> dict:
        return {"multiAssetsMargin": False}

    def set_multi_assets(self, key: str, q: dict) -> dict:
        if flag(q, "multiAssetsMargin"):
            raise BinanceError(
                -1020, "Multi-assets mode is not supported by the perpflow local exchange."
            )
        return {"code": 200, "msg": "success"}

    def leverage_bracket(self, key: str, q: dict):
        sym = q.get("symbol")
        if sym:
            return {
                "symbol": sym,
                "notionalCoef": 1.0,
                "brackets": tiers.brackets(self.e.spec(sym)),
            }
        return [{"symbol": s, "notionalCoef": 1.0, "brackets": tiers.brackets(spec)}
                for s, spec in self.e.venue.specs.items()]  # fmt: skip

    def commission_rate(self, key: str, q: dict) -> dict:
        sym = req(q, "symbol")
        self.e.spec(sym)
        return {"symbol": sym, "makerCommissionRate": f"{self.e.maker_fee:.6f}",
                "takerCommissionRate": f"{self.e.taker_fee:.6f}", "rpiCommissionRate": "0"}  # fmt: skip

    def symbol_config(self, key: str, q: dict) -> list[dict]:
        syms = [req(q, "symbol")] if q.get("symbol") else list(self.e.account(key).leverage)
        out = []
        for s in syms:
            lev = self.e.leverage(key, s)
            out.append({"symbol": s, "marginType": self.e.margin_type(key, s).upper().replace("CROSS", "CROSSED"),
                        "isAutoAddMargin": False, "leverage": lev,
                        "maxNotionalValue": num(tiers.max_notional(self.e.spec(s), lev), 0)})  # fmt: skip
        return out

    def income(self, key: str, q: dict) -> list[dict]:
        sym, kind = q.get("symbol"), q.get("incomeType")
        if kind and kind not in INCOME_TYPES:
            raise bad_value("incomeType")
        start, end = window(q, self.e.now())
        rows = [r for r in self.e.ledger.income if r["account"] == key and start <= r["time"] <= end
                and (not sym or r["symbol"] == sym) and (not kind or r["incomeType"] == kind)]  # fmt: skip
        page = max(opt_int(q, "page") or 1, 1)
        n = limit(q, 100, 1000)
        rows = rows[(page - 1) * n : page * n]
        return [{"symbol": r["symbol"], "incomeType": r["incomeType"], "income": num(r["income"]),
                 "asset": "USDT", "info": r["info"], "time": r["time"], "tranId": r["id"],
                 "tradeId": r["tradeId"]} for r in rows]  # fmt: skip
