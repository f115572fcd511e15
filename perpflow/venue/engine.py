"""The matching engine: accounts, order execution against the venue's book, fills and income.

Takers (market orders, marketable limits, triggered stops) walk the venue's book: the depth
feed's book when the venue serves one for the symbol, else the synthetic book `Venue._book`
serves (`synth_book` around the last price, seeded by the second), less what earlier takers took
from the same book. Makers rest at their price and fill from the price path (`catchup.py`).
Every fill books a trade, a COMMISSION and (when a position shrinks) a REALIZED_PNL income row,
and queues ORDER_TRADE_UPDATE / ACCOUNT_UPDATE events for the user-data stream.

Written by hand: a matching engine over replayed candles is what perpflow's venue is; no library
matches orders against a synthetic book on a replay clock.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from perpflow.venue import views
from perpflow.venue.book import SynthBook
from perpflow.venue.catchup import CatchUp
from perpflow.venue.ledger import Account, Algo, Ledger, Order, Position
from perpflow.venue.margin import apply_fill, r8
from perpflow.venue.path import Cursor
from perpflow.venue.tiers import DEFAULT_LEVERAGE

logger = logging.getLogger(__name__)
EPS = 1e-12
STOPS = ("STOP_MARKET", "TAKE_PROFIT_MARKET")


@dataclass(frozen=True)
class Filters:
    tick: float
    step: float
    min_qty: float
    max_qty: float
    market_max_qty: float
    min_notional: float
    up: float
    down: float
    price_dp: int
    qty_dp: int


def _filters(spec: dict) -> Filters:
    f = {x["filterType"]: x for x in spec["filters"]}
    return Filters(
        float(f["PRICE_FILTER"]["tickSize"]), float(f["LOT_SIZE"]["stepSize"]),
        float(f["LOT_SIZE"]["minQty"]), float(f["LOT_SIZE"]["maxQty"]),
        float(f.get("MARKET_LOT_SIZE", f["LOT_SIZE"])["maxQty"]),
        float(f.get("MIN_NOTIONAL", {}).get("notional", 0)),
        float(f.get("PERCENT_PRICE", {}).get("multiplierUp", 10)),
        float(f.get("PERCENT_PRICE", {}).get("multiplierDown", 0)),
        spec["pricePrecision"], spec["quantityPrecision"],
    )  # fmt: skip


class Engine(CatchUp):
    """All accounts of one venue. `events` collects (api key, user-data message) until the server
    sends them; the drills' `partial_fill` is the share of a taker order that finds liquidity."""

    def __init__(self, venue, ledger: Ledger, *, wallet: float = 10_000.0,
                 maker_fee: float = 0.0002, taker_fee: float = 0.0005, depth=None):  # fmt: skip
        self.venue, self.ledger, self.depth = venue, ledger, depth
        self.start_wallet, self.maker_fee, self.taker_fee = wallet, maker_fee, taker_fee
        self.events: list[tuple[str, dict]] = []
        self.drills = None  # perpflow.venue.drills.Drills (partial fills)
        self.listening = lambda: True  # anyone on the user-data stream? (events are built then)
        self._filters: dict[str, Filters] = {}
        self._consumed: dict[str, tuple] = {}
        self._tables: dict[str, object] = {}
        self._books: dict[str, tuple] = {}
        self._current: tuple = (None, None, None)  # (symbol, stored ms, `current` then)
        self.reindex()

    @property
    def partial_fill(self) -> float:
        return self.drills.config.partial_fill if self.drills is not None else 1.0

    def reindex(self) -> None:
        """Rebuild the live-order indexes and cursors from the ledger (start, restart, reload)."""
        led = self.ledger
        self.open_orders = {o.id: o for o in led.orders.values() if o.is_open}
        self.open_algos = {a.id: a for a in led.algos.values() if a.is_open}
        self.client_ids: dict[tuple[str, str], tuple[str, int]] = {}
        for o in led.orders.values():
            self.client_ids[(o.account, o.client_id)] = ("order", o.id)
        for a in led.algos.values():
            self.client_ids[(a.account, a.client_id)] = ("algo", a.id)
        self.cursors = {s: Cursor(**c) for s, c in dict(led.meta.get("cursors", {})).items()}

    # --- reference data ------------------------------------------------------------------
    def spec(self, symbol: str) -> dict:
        return self.venue.spec(symbol)

    def filters(self, symbol: str) -> Filters:
        if symbol not in self._filters:
            self._filters[symbol] = _filters(self.spec(symbol))
        return self._filters[symbol]

    def now(self) -> int:
        return self.venue.clock.now_ms()

    # --- accounts ------------------------------------------------------------------------
    def account(self, key: str) -> Account:
        acc = self.ledger.accounts.get(key)
        if acc is None:
            now = self.now()
            acc = Account(key, self.start_wallet, update_time=now)
            self.ledger.add(acc)
            self.book_income(key, "", "TRANSFER", self.start_wallet, now, info="initial wallet")
        return acc

    def position(self, key: str, symbol: str) -> Position:
        pos = self.ledger.positions.get((key, symbol))
        if pos is None:
            pos = Position(key, symbol, margin_type=self.margin_type(key, symbol))
            self.ledger.add(pos)
        return pos

    def leverage(self, key: str, symbol: str) -> int:
        return int(self.account(key).leverage.get(symbol, DEFAULT_LEVERAGE))

    def margin_type(self, key: str, symbol: str) -> str:
        return self.account(key).margin_type.get(symbol, "cross")

    def book_income(self, key: str, symbol: str, kind: str, amount: float, t: int,
                    trade_id: int | str = "", info: str = "") -> None:  # fmt: skip
        self.ledger.append("income", {
            "id": self.ledger.next_id("income"), "account": key, "symbol": symbol,
            "incomeType": kind, "income": r8(amount), "asset": "USDT", "time": t,
            "info": info or kind, "tradeId": str(trade_id),
        })  # fmt: skip

    # --- book ----------------------------------------------------------------------------
    def table(self, symbol: str):
        """The symbol's finest stored futures candles (cached: the store globs the disk)."""
        if symbol not in self._tables:
            self._tables[symbol] = self.venue.store.finest(symbol, "futures")
        return self._tables[symbol]

    def current(self, symbol: str, s_now: int | None = None) -> tuple[float, int] | None:
        """(last price, exchange ms) as `Venue.current` answers it, from the cached table, at
        stored instant `s_now` (default: now); the last answer is kept for its instant."""
        if s_now is None:
            s_now = self.venue.clock.stored_now_ms()
        memo = self._current
        if memo[0] == symbol and memo[1] == s_now:
            return memo[2]
        table = self.table(symbol)
        if table is None or len(table.ts) == 0:
            return None
        if s_now is None:  # history mode: the last stored close, always
            out = float(table.cols["close"][-1]), int(table.ts[-1] + table.tf_ms - 1)
            self._current = (symbol, None, out)
            return out
        k = int(table.ts.searchsorted(s_now, "right")) - 1
        if k < 0:
            return None
        o, c = float(table.cols["open"][k]), float(table.cols["close"][k])
        frac = (s_now - table.ts[k]) / table.tf_ms
        out = (o + (c - o) * frac if frac < 1 else c), s_now + self.venue.clock.shift_ms
        self._current = (symbol, s_now, out)
        return out

    def book(self, symbol: str, levels: int, price: float | None = None, t: int | None = None):
        """(bids, asks, identity) of the book takers meet: the depth feed's, or the synthetic one
        around `price` at `t` (default: the venue's last price now, as `Venue._book`)."""
        if self.depth is not None and symbol in self.depth.books:
            b = self.depth.books[symbol]
            return (sorted(b.bids.items(), reverse=True)[:levels], sorted(b.asks.items())[:levels],
                    ("depth", b.last_u))  # fmt: skip
        if price is None:
            cur = self.current(symbol)
            if cur is None:
                return [], [], None
            price, t = cur
        ident = (t // 1000, price)
        hit = self._books.get(symbol)
        if hit is None or hit[0] != ident or hit[1] < levels:
            f = self.filters(symbol)
            n = max(levels, 100)
            book = SynthBook(price, tick=f.tick, step=f.step, min_qty=f.min_qty, levels=n,
                             seed=t // 1000)  # fmt: skip
            hit = self._books[symbol] = (ident, n, book.bids, book.asks)
        return hit[2][:levels], hit[3][:levels], ident

    def walk(self, symbol: str, side: str, qty: float, limit: float | None = None,
             price: float | None = None, t: int | None = None, dry: bool = False) -> list:  # fmt: skip
        """[(price, qty)] a taker of `qty` would get, best first, up to `limit`; records what it
        took (unless `dry`) so the next taker on the same book meets what is left."""
        f = self.filters(symbol)
        levels = 100
        while True:
            bids, asks, ident = self.book(symbol, levels, price, t)
            if ident is None:
                return []
            levels_ = asks if side == "BUY" else bids
            key, taken, skip = self._consumed.get(symbol, (None, {}, {}))
            if key != ident:
                taken, skip = {}, {}
            start = _skip_from(levels_, skip.get(side))
            fills, left, capped = _take(levels_, start, side, qty, limit, f, taken)
            if left <= EPS or capped or levels >= 1000 or len(levels_) < levels:
                break
            levels = 1000
        if not dry:
            for p, q in fills:
                taken[(side, p)] = taken.get((side, p), 0.0) + q
            src = getattr(levels_, "source", None)
            if src is not None:
                skip[side] = (src, _exhausted_to(levels_, start, side, taken, f.qty_dp))
            self._consumed[symbol] = (ident, taken, skip)
        return fills

    # --- orders --------------------------------------------------------------------------
    def register(self, o: Order | Algo) -> None:
        self.ledger.add(o)
        self.client_ids[(o.account, o.client_id)] = (
            "algo" if isinstance(o, Algo) else "order",
            o.id,
        )
        if o.is_open:
            (self.open_algos if isinstance(o, Algo) else self.open_orders)[o.id] = o
        self.ensure_cursor(o.symbol)

    def set_status(self, o: Order | Algo, status: str, t: int) -> None:
        o.status = status
        o.update_time = t
        if not o.is_open:
            (self.open_algos if isinstance(o, Algo) else self.open_orders).pop(o.id, None)
        self.ledger.touch(o)

    def emit_order(self, o: Order, t: int, exec_type: str, last=None, realized=0.0) -> None:
        if not self.listening():
            return
        self.events.append((o.account, views.order_event(o, self.spec(o.symbol), t, exec_type,
                                                         last, realized)))  # fmt: skip

    def emit_algo(self, a: Algo, t: int, reason: str = "") -> None:
        if not self.listening():
            return
        self.events.append((a.account, views.algo_event(a, self.spec(a.symbol), t, reason)))

    def emit_account(self, key: str, symbol: str | None, t: int, reason: str) -> None:
        if not self.listening():
            return
        acc = self.account(key)
        pos = [p for (k, _), p in self.ledger.positions.items() if k == key]
        iso = sum(p.iw for p in pos if p.margin_type == "isolated")
        rows = []
        if symbol is not None:
            p = self.position(key, symbol)
            rows.append(views.position_ws(p, self.mark_price(symbol)))
        self.events.append(
            (key, views.account_event(acc.wallet, acc.wallet - iso, rows, t, reason))
        )

    def closable(self, o: Order | Algo) -> float:
        """How much of a reduce-only order may still fill: the opposite position's size."""
        pos = self.position(o.account, o.symbol)
        if pos.amt == 0 or (pos.amt > 0) == (o.side == "BUY"):
            return 0.0
        return abs(pos.amt)

    def fill(self, o: Order, qty: float, price: float, maker: bool, t: int,
             fee_rate: float | None = None) -> float:  # fmt: skip
        """Book one fill of `o`; returns its realized PnL."""
        key, sym = o.account, o.symbol
        acc, pos = self.account(key), self.position(key, sym)
        if pos.amt == 0:
            pos.margin_type = self.margin_type(key, sym)
        rate = fee_rate if fee_rate is not None else (self.maker_fee if maker else self.taker_fee)
        fee = r8(qty * price * rate)
        realized = apply_fill(pos, qty if o.side == "BUY" else -qty, price, self.leverage(key, sym))
        acc.wallet = r8(acc.wallet + realized - fee)
        acc.update_time = pos.update_time = t
        o.filled = round(o.filled + qty, 10)
        o.cum_quote = r8(o.cum_quote + qty * price)
        self.set_status(o, "FILLED" if o.remaining <= EPS else "PARTIALLY_FILLED", t)
        tid = self.ledger.next_id("trades")
        self.ledger.append("trades", {
            "id": tid, "account": key, "symbol": sym, "orderId": o.id, "side": o.side,
            "price": price, "qty": qty, "quoteQty": r8(qty * price), "commission": fee,
            "commissionAsset": "USDT", "realizedPnl": realized, "maker": maker,
            "buyer": o.side == "BUY", "time": t, "positionSide": "BOTH",
        })  # fmt: skip
        if fee:
            self.book_income(key, sym, "COMMISSION", -fee, t, tid)
        if realized:
            self.book_income(key, sym, "REALIZED_PNL", realized, t, tid)
        self.ledger.touch(acc), self.ledger.touch(pos)
        self.emit_order(o, t, "TRADE", (qty, price, fee, tid, maker), realized)
        self.emit_account(key, sym, t, "ORDER")
        self.expire_reduce_only(key, sym, t)
        return realized

    def take(self, o: Order, t: int, price: float | None = None, book_t: int | None = None) -> None:
        """Match `o` as a taker now (or, for a triggered stop, on the book at `price`/`book_t`),
        then settle what is left: MARKET/IOC/FOK expire, GTC rests."""
        f = self.filters(o.symbol)
        want = o.remaining
        if o.reduce_only or o.close_position:
            want = min(want, self.closable(o))
        if self.partial_fill < 1:  # drill: only this share finds liquidity
            want = round(math.floor(want * self.partial_fill / f.step + 1e-9) * f.step, f.qty_dp)
        limit = o.price if o.type == "LIMIT" else None
        if o.tif == "FOK":
            got = sum(
                q for _, q in self.walk(o.symbol, o.side, want, limit, price, book_t, dry=True)
            )
            if got + EPS < o.remaining:
                want = 0.0
        for p, q in self.walk(o.symbol, o.side, want, limit, price, book_t) if want > EPS else []:
            self.fill(o, q, p, False, t)
        if o.is_open and (o.type != "LIMIT" or o.tif in ("IOC", "FOK")):
            self.set_status(o, "EXPIRED", t)
            self.emit_order(o, t, "EXPIRED")
        elif o.is_open:
            o.queue = 0.0  # what is left sits at its price, first in the queue there

    def cancel(self, o: Order | Algo, t: int, status: str = "CANCELED") -> None:
        self.set_status(o, status, t)
        if isinstance(o, Algo):
            self.emit_algo(o, t)
        else:
            self.emit_order(o, t, "CANCELED" if status == "CANCELED" else "EXPIRED")

    def expire_reduce_only(self, key: str, symbol: str, t: int) -> None:
        """Reduce-only orders that can no longer reduce (position closed or flipped) expire."""
        for o in [o for o in self.open_orders.values() if o.account == key and o.symbol == symbol]:
            if (
                (o.reduce_only or o.close_position)
                and o.type == "LIMIT"
                and self.closable(o) <= EPS
            ):
                self.cancel(o, t, "EXPIRED")

    def order_margin(self, key: str) -> float:
        """Initial margin held by open orders that may add to a position."""
        total = 0.0
        for o in self.open_orders.values():
            if o.account == key and o.type == "LIMIT" and not o.reduce_only:
                total += o.remaining * o.price / self.leverage(key, o.symbol)
        return total


def _skip_from(levels, known: tuple | None) -> int:
    """The first level of `levels` that may have size left: levels before the recorded index of
    the same synthetic book side (`Levels.source`) were all taken; 0 when none is known."""
    if known is None or known[0] is not getattr(levels, "source", None):
        return 0
    return min(known[1], len(levels))


def _take(levels, start: int, side: str, qty: float, limit: float | None, f, taken: dict):
    """(fills, quantity left, capped by `limit`) of a taker walking `levels` from `start` (the
    levels before it have no size left), what earlier takers took (`taken`) deducted."""
    half, buy = f.tick / 2, side == "BUY"
    fills, left = [], qty
    if start and limit is not None:  # a taken level beyond the limit: the walk stops there
        p = levels[start - 1][0]
        if p > limit + half if buy else p < limit - half:
            return fills, left, True
    for i in range(start, len(levels)):
        p, q = levels[i]
        if limit is not None and (p > limit + half if buy else p < limit - half):
            return fills, left, True
        avail = round(q - taken.get((side, p), 0.0), f.qty_dp)
        if avail <= EPS:
            continue
        take = round(min(avail, left), f.qty_dp)
        fills.append((p, take))
        left = round(left - take, f.qty_dp)
        if left <= EPS:
            break
    return fills, left, False


def _exhausted_to(levels, start: int, side: str, taken: dict, dp: int) -> int:
    """Index of the first level from `start` that still has size after `taken`."""
    k, n = start, len(levels)
    while k < n:
        p, q = levels[k]
        if round(q - taken.get((side, p), 0.0), dp) > EPS:
            break
        k += 1
    return k
