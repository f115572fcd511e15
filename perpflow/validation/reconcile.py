"""Reconcile a live bot's Freqtrade database with the local exchange's ledger, to the cent.

Per order: every order the bot stored (entries, exits, exchange-side stops) exists on the venue
with the same status, filled amount and average price. Per closed trade: Freqtrade's
`close_profit_abs` equals what the venue booked for that trade's fills (realized PnL minus
commissions) plus the funding it settled while the trade was open, and Freqtrade's
`funding_fees` equal the venue's FUNDING_FEE income. A trade's fills are those of its own
orders (a triggered stop's by the market order it placed) and any liquidation while it was
open, so orders the bot never knew of (an orphan from a lost answer, an operator's) do not
count towards it. Reads both files; writes nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

CENT = 0.01
_STATUS = {"FILLED": "closed", "CANCELED": "canceled", "EXPIRED": "expired", "NEW": "open",
           "PARTIALLY_FILLED": "open", "TRIGGERED": "closed", "FINISHED": "closed"}  # fmt: skip


def _bot(db: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    with sqlite3.connect(db) as con:
        trades = pd.read_sql("SELECT id, pair, is_open, open_date, close_date, close_profit_abs, "
                             "funding_fees FROM trades", con)  # fmt: skip
        orders = pd.read_sql("SELECT ft_trade_id, order_id, ft_order_side, status, filled, "
                             "average FROM orders", con)  # fmt: skip
    for col in ("open_date", "close_date"):
        trades[col] = pd.to_datetime(trades[col], utc=True, format="mixed")
    return trades, orders


def _order_checks(orders: pd.DataFrame, ledger, key: str) -> list[dict]:
    """One check per bot order against the venue's order or algo order of that id."""
    plain = {str(o.id): o for o in ledger.orders.values() if o.account == key}
    algos = {str(a.id): a for a in ledger.algos.values() if a.account == key}
    out = []
    for r in orders.itertuples():
        oid = str(r.order_id)
        venue = plain.get(oid) or algos.get(oid)
        if venue is None:
            out.append({"what": f"order {oid}", "ok": False, "detail": "not on the venue"})
            continue
        status = _STATUS.get(venue.status, venue.status.lower())
        filled = getattr(venue, "filled", getattr(venue, "actual_qty", 0.0)) or 0.0
        avg = (venue.cum_quote / venue.filled) if getattr(venue, "filled", 0) else (
            getattr(venue, "actual_price", 0.0))  # fmt: skip
        ok = status == r.status and abs((r.filled or 0.0) - filled) < 1e-9 and (
            not filled or abs((r.average or 0.0) - avg) <= 1e-6 * avg)  # ccxt rounds averages  # fmt: skip
        out.append({"what": f"order {oid} ({r.ft_order_side})", "ok": bool(ok),
                    "detail": f"bot {r.status} {r.filled} @ {r.average}; venue {venue.status} "
                              f"{filled} @ {avg:.10g}"})  # fmt: skip
    return out


def _venue_ids(ledger, key: str, order_ids) -> set[int]:
    """Venue order ids that fill for these bot order ids (an algo's: its triggered order)."""
    out = set()
    for oid in order_ids:
        try:
            oid = int(oid)
        except (TypeError, ValueError):
            continue
        algo = ledger.algos.get(oid)
        if algo is not None and algo.account == key:
            if algo.actual_order_id is not None:
                out.add(int(algo.actual_order_id))
        else:
            out.add(oid)
    return out


def _trade_checks(trades: pd.DataFrame, orders: pd.DataFrame, ledger, key: str) -> list[dict]:
    """Profit and funding of each closed trade against the venue's fills and income."""
    fills = pd.DataFrame([t for t in ledger.trades if t["account"] == key])
    income = pd.DataFrame([i for i in ledger.income if i["account"] == key])
    liquidations = {o.id for o in ledger.orders.values()
                    if o.account == key and o.client_id.startswith("autoclose-")}  # fmt: skip
    out = []
    for t in trades[~trades["is_open"].astype(bool)].itertuples():
        symbol = t.pair.split("/")[0] + t.pair.split("/")[1].split(":")[0]
        lo = int(t.open_date.value // 1_000_000) - 60_000
        hi = int(t.close_date.value // 1_000_000) + 60_000
        own = _venue_ids(ledger, key, orders.loc[orders["ft_trade_id"] == t.id, "order_id"])
        f = fills
        if len(fills):
            liq = fills["orderId"].isin(liquidations) & fills["time"].between(lo, hi)
            f = fills[(fills["symbol"] == symbol) & (fills["orderId"].isin(own) | liq)]
        fund = income[(income["symbol"] == symbol) & (income["incomeType"] == "FUNDING_FEE")
                      & income["time"].between(lo, hi)] if len(income) else income  # fmt: skip
        funding = float(fund["income"].sum()) if len(fund) else 0.0
        venue = (float(f["realizedPnl"].sum() - f["commission"].sum()) if len(f) else 0.0) + funding
        diff = float(t.close_profit_abs or 0.0) - venue
        out.append({"what": f"trade {t.id} {t.pair} profit", "ok": abs(diff) < CENT,
                    "detail": f"bot {t.close_profit_abs:.4f} vs venue {venue:.4f} (diff {diff:+.4f})"})  # fmt: skip
        fdiff = float(t.funding_fees or 0.0) - funding
        out.append({"what": f"trade {t.id} {t.pair} funding", "ok": abs(fdiff) < CENT,
                    "detail": f"bot {t.funding_fees or 0.0:.4f} vs venue {funding:.4f}"})  # fmt: skip
    return out


def reconcile(db: Path, ledger_path: Path, key: str) -> dict:
    """Checks of the bot's database against the venue's ledger for account `key`: a summary
    with every failed check listed."""
    from perpflow.venue.ledger import Ledger

    trades, orders = _bot(Path(db))
    ledger = Ledger(Path(ledger_path))
    try:
        checks = _order_checks(orders, ledger, key) + _trade_checks(trades, orders, ledger, key)
    finally:
        ledger.close()
    failed = [c for c in checks if not c["ok"]]
    return {"checks": len(checks), "failed": len(failed), "orders": len(orders),
            "closed_trades": int((~trades["is_open"].astype(bool)).sum()),
            "failures": failed}  # fmt: skip
