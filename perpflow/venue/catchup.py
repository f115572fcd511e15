"""Catching the engine up with the venue's clock: `advance_to(now_ms)` walks each active
symbol's price path (`path.py`) from the last processed instant to now and applies, in time
order, what it implies: stops triggering (on mark or contract price, as each order says),
resting limit orders filling (trade-through fills all; a touch fills only past the size that was
queued ahead of the order when it arrived), funding settling at the stored funding times, and
isolated positions liquidating at mark by the maintenance tiers.

Clock-agnostic: nothing here reads a wall clock. The caller passes "now" (the venue clock,
which may run at N x speed or jump); the result depends only on the stored path and the orders,
not on how often or when the catch-up runs. Per event it searches the path with NumPy (first
index where a condition holds), so a catch-up over a day costs a few vector scans per fill, not
a Python step per print.
"""

from __future__ import annotations

import logging

import numpy as np

from perpflow.venue.ledger import Algo, Order
from perpflow.venue.margin import liquidation_price, r8
from perpflow.venue.path import (
    Path,
    build_path,
    cursor_after,
    initial_cursor,
    mark_basis,
    marks,
)

logger = logging.getLogger(__name__)
_PRIO = {"fund": 0, "stop": 1, "limit": 2, "liq": 3}


def _first(mask: np.ndarray, start: int) -> int | None:
    idx = np.flatnonzero(mask[start:])
    return int(idx[0]) + start if len(idx) else None


class CatchUp:
    """Mixin of `Engine`: the catch-up over the stored path."""

    _basis: dict

    # --- prices ----------------------------------------------------------------------------
    def basis(self, symbol: str):
        if not hasattr(self, "_basis"):
            self._basis = {}
        if symbol not in self._basis:
            store = self.venue.store
            fut = store.finest(symbol, "futures")
            self._basis[symbol] = mark_basis(fut, store.finest(symbol, "mark")) if fut else None
        return self._basis[symbol]

    def last_price(self, symbol: str, s_now: int | None = None) -> float:
        """The last price at stored instant `s_now` (default: now)."""
        cur = self.current(symbol, s_now)
        if cur is None:
            from perpflow.venue.errors import BinanceError

            raise BinanceError(-1121, f"No price for {symbol} at this time.")
        return cur[0]

    def mark_price(self, symbol: str) -> float:
        """The mark price now: the last price times (1 + the basis of the last mark candle
        closed by then), as `path.marks` computes it, for one instant without arrays."""
        s = self.venue.clock.stored_now_ms()
        p = self.last_price(symbol, s)
        b = self.basis(symbol)
        if b is None or s is None:
            return p
        done, basis = b
        j = int(done.searchsorted(s, "right")) - 1 if len(done) else -1
        return p * (1.0 + (float(basis[j]) if j >= 0 else 0.0)) if len(done) else p

    # --- cursors ---------------------------------------------------------------------------
    def _stored_now(self, now_ms: int) -> int | None:
        return now_ms - self.venue.clock.shift_ms if self.venue.clock.replay else None

    def ensure_cursor(self, symbol: str) -> None:
        """Start following `symbol`'s path from now (when it gets its first order or position)."""
        s = self._stored_now(self.now())
        table = self.table(symbol)
        if symbol in self.cursors or s is None or table is None:
            return
        self.cursors[symbol] = initial_cursor(table, s)
        self._save_cursors()

    def _save_cursors(self, lazy: bool = False) -> None:
        """Cursors into the ledger's meta (a Cursor's __dict__ is its fields: `asdict`). Lazy
        after quiet prints only: a venue restarted on the older cursors walks them again and
        finds nothing, as it is written with every change that could make a print matter."""
        cursors = {k: dict(vars(c)) for k, c in self.cursors.items()}
        self.ledger.set_meta("cursors", cursors, lazy=lazy)

    def active_symbols(self) -> set[str]:
        syms = {o.symbol for o in self.open_orders.values()}
        syms |= {a.symbol for a in self.open_algos.values()}
        syms |= {s for (_, s), p in self.ledger.positions.items() if p.amt}
        return syms

    # --- the catch-up ----------------------------------------------------------------------
    def advance_to(self, now_ms: int) -> None:
        """Apply everything the path implies up to `now_ms` (exchange time)."""
        s_now = self._stored_now(now_ms)
        if s_now is None:  # history mode: a market that does not move
            return
        active = self.active_symbols()
        changed, quietly = False, True
        for sym in list(self.cursors):
            if sym not in active:
                del self.cursors[sym]
                changed = True
        quiet = active - self._eventful_symbols()
        for sym in sorted(active):
            self.ensure_cursor(sym)
            cur = self.cursors.get(sym)
            table = self.table(sym)
            if cur is None or table is None or s_now <= cur.t:
                continue
            funding = self._funding_between(sym, cur.t, s_now)
            if sym in quiet and not funding:
                self.cursors[sym] = self._pass_quietly(sym, table, cur, s_now)
            else:
                path, new_cur = build_path(table, cur, s_now)
                if len(path) or funding:
                    self._run(sym, path, funding, table)
                self.cursors[sym] = new_cur
                quietly = False
            changed = True
        if changed:  # cursors moved over quiet prints only: written with the next change
            self._save_cursors(lazy=quietly)

    def _eventful_symbols(self) -> set[str]:
        """Symbols where a print can cause something: open orders or algos, isolated positions."""
        syms = {o.symbol for o in self.open_orders.values()}
        syms |= {a.symbol for a in self.open_algos.values()}
        syms |= {
            s
            for (_, s), p in self.ledger.positions.items()
            if p.amt and p.margin_type == "isolated"
        }
        return syms

    def _pass_quietly(self, sym: str, table, cur, s_now: int):
        """The cursor after prints in which nothing can happen (`_run` would find no event), and
        `_run`'s one mark on what it walks: the positions' print index starts over."""
        prints, new = cursor_after(table, cur, s_now)
        if prints:
            for (_, s), p in self.ledger.positions.items():
                if s == sym and p.amt:
                    p.pos = 0
        return new

    def _funding_between(self, symbol: str, s0: int, s1: int) -> list[tuple[int, float]]:
        if not hasattr(self, "_funding"):
            self._funding = {}
        if symbol not in self._funding:
            store = self.venue.store
            tfs = store.timeframes(symbol, "funding_rate")
            self._funding[symbol] = store.table(symbol, "funding_rate", tfs[0]) if tfs else None
        t = self._funding[symbol]
        if t is None:
            return []
        sl = slice(t.ts.searchsorted(s0, "right"), t.ts.searchsorted(s1, "right"))
        return list(zip(t.ts[sl].tolist(), t.cols["funding_rate"][sl].tolist(), strict=True))

    def _run(self, sym: str, path: Path, funding: list, table) -> None:
        """The event loop over one symbol's path: earliest event first, until none is left."""
        f = self.filters(sym)
        ticks = np.rint(path.p / f.tick).astype(np.int64)
        mark = marks(path.t, path.p, self.basis(sym)) if len(path) else path.p
        items = [o for o in self.open_orders.values() if o.symbol == sym]
        items += [a for a in self.open_algos.values() if a.symbol == sym]
        positions = [p for (_, s), p in self.ledger.positions.items() if s == sym and p.amt]
        for x in items + positions:
            x.pos = 0
        fi = 0
        while True:
            best = self._next_event(items, positions, path, ticks, mark, funding[fi : fi + 1], f)
            if best is None:
                break
            fi += best[2] == "fund"
            self._apply(sym, best, path, f, table)
            tracked = {id(p) for p in positions}
            i = best[4]
            for p in self.ledger.positions.values():  # a fill moved a position: watch it from here
                if p.symbol == sym and p.amt and id(p) not in tracked:
                    positions.append(p)
                    p.pos = 0 if i is None else i + 1
            positions = [p for p in positions if p.amt]
        for o in items:  # touches that did not fill still ate into the queue ahead
            if isinstance(o, Order) and o.is_open and o.type == "LIMIT" and len(path):
                seg = slice(o.pos, None)
                o.queue = max(0.0, o.queue - float(path.v[seg][ticks[seg] == _ticks(o, f)].sum()))
                self.ledger.touch(o)

    def _next_event(self, items, positions, path, ticks, mark, funding, f):
        """(stored time, priority, kind, item, print index, qty) of the earliest event."""
        best = (funding[0][0], 0, "fund", funding[0][1], None, 0.0) if funding else None
        for x in items:
            if not x.is_open:
                continue
            ev = (
                self._next_fill(x, ticks, path.v, f)
                if _is_limit(x)
                else self._next_trigger(x, path, mark)
            )
            if ev is not None and (best is None or (path.t[ev[0]], _PRIO[ev[1]]) < best[:2]):
                best = (int(path.t[ev[0]]), _PRIO[ev[1]], ev[1], x, ev[0], ev[2])
        for p in positions:
            i = self._next_liquidation(p, mark)
            if i is not None and (best is None or (path.t[i], 3) < best[:2]):
                best = (int(path.t[i]), 3, "liq", p, i, 0.0)
        return best

    def _apply(self, sym: str, ev: tuple, path: Path, f, table) -> None:
        t_st, _, kind, x, i, qty = ev
        t_ex = t_st + self.venue.clock.shift_ms
        if kind == "fund":
            self._settle_funding(sym, t_st, x, table)
            return
        x.pos = i + 1
        if kind == "limit":
            x.queue = 0.0
            self.fill(x, round(min(qty, x.remaining), f.qty_dp), x.price, True, t_ex)
        elif kind == "stop":
            self.trigger(x, float(path.p[i]), t_ex)
        else:
            self.liquidate(x, t_ex)

    # --- event searches --------------------------------------------------------------------
    def _next_fill(self, o: Order, ticks, vol, f):
        """(index, "limit", qty) of the next fill of a resting limit order, or None."""
        if len(ticks) == 0 or o.pos >= len(ticks):
            return None
        pt = _ticks(o, f)
        seg = ticks[o.pos :]
        through = seg < pt if o.side == "BUY" else seg > pt
        i_through = _first(through, 0)
        touch_vol = np.where(seg == pt, vol[o.pos :], 0.0)
        cum = np.cumsum(touch_vol)
        i_touch = _first(cum > o.queue + 1e-12, 0)
        if i_touch is not None and (i_through is None or i_touch < i_through):
            return o.pos + i_touch, "limit", float(cum[i_touch] - o.queue)
        if i_through is not None:
            return o.pos + i_through, "limit", o.remaining
        return None

    def _next_trigger(self, x: Order | Algo, path: Path, mark):
        if len(path) == 0 or x.pos >= len(path):
            return None
        stop = x.trigger_price if isinstance(x, Algo) else x.stop_price
        kind = x.order_type if isinstance(x, Algo) else x.type
        price = (mark if x.working_type == "MARK_PRICE" else path.p)[x.pos :]
        up = (kind == "STOP_MARKET") == (
            x.side == "BUY"
        )  # buy stop / sell take-profit: rises to it
        i = _first(price >= stop - 1e-9 if up else price <= stop + 1e-9, 0)
        return None if i is None else (x.pos + i, "stop", 0.0)

    def _next_liquidation(self, p, mark):
        if p.margin_type != "isolated" or len(mark) == 0 or p.pos >= len(mark):
            return None
        lp = liquidation_price(p, self.spec(p.symbol), p.iw)
        if lp <= 0:
            return None
        i = _first(mark[p.pos :] <= lp if p.amt > 0 else mark[p.pos :] >= lp, 0)
        return None if i is None else p.pos + i

    # --- applying events -------------------------------------------------------------------
    def _settle_funding(self, sym: str, t_st: int, rate: float, table) -> None:
        k = int(np.searchsorted(table.ts, t_st, "right")) - 1
        if k < 0:
            return
        price = table.cols["open"][k] if table.ts[k] == t_st else table.cols["close"][k]
        mark = float(marks(np.array([t_st]), np.array([price]), self.basis(sym))[0])
        t_ex = t_st + self.venue.clock.shift_ms
        for p in [p for p in self.ledger.positions.values() if p.symbol == sym and p.amt]:
            pay = r8(-p.amt * mark * rate)
            acc = self.account(p.account)
            acc.wallet = r8(acc.wallet + pay)
            if p.margin_type == "isolated":
                p.iw = r8(p.iw + pay)
            self.ledger.touch(acc), self.ledger.touch(p)
            self.book_income(p.account, sym, "FUNDING_FEE", pay, t_ex, info=f"rate {rate:.8f}")
            self.emit_account(p.account, sym, t_ex, "FUNDING_FEE")

    def trigger(self, x: Order | Algo, price: float, t: int) -> None:
        """A stop's trigger printed at `price`: execute it as a market order on the book there."""
        if isinstance(x, Algo):
            o = Order(self.ledger.next_id("orders"), x.account, x.symbol, x.side, "MARKET", x.qty,
                      tif="GTC", stop_price=x.trigger_price, working_type=x.working_type,
                      reduce_only=x.reduce_only, close_position=x.close_position,
                      client_id=x.client_id, time=t, update_time=t, orig_type=x.order_type)  # fmt: skip
            if x.close_position:
                o.qty = self.closable(o)
            self.ledger.add(o)
            self.open_orders[o.id] = o
            x.actual_order_id, x.trigger_time = o.id, t
            self.set_status(x, "TRIGGERING", t)
            self.emit_order(o, t, "NEW")
        else:
            o = x
            if o.close_position:
                o.qty = self.closable(o)
        if (o.reduce_only or o.close_position) and self.closable(o) <= 1e-12:
            self.set_status(o, "EXPIRED", t)
            self.emit_order(o, t, "EXPIRED")
        else:
            self.take(o, t, price=price, book_t=t)
        if isinstance(x, Algo):
            x.actual_qty = o.filled
            x.actual_price = o.cum_quote / o.filled if o.filled else 0.0
            self.set_status(x, "FINISHED", t)
            self.emit_algo(x, t)

    def liquidate(self, p, t: int) -> None:
        """Close an isolated position at its liquidation price; the margin left goes to the
        insurance fund (the trader loses the position's isolated wallet, as on Binance)."""
        sym, key = p.symbol, p.account
        lp = liquidation_price(p, self.spec(sym), p.iw)
        for x in [x for x in (*self.open_orders.values(), *self.open_algos.values())
                  if x.account == key and x.symbol == sym]:  # fmt: skip
            self.cancel(x, t)
        iw = p.iw
        o = Order(self.ledger.next_id("orders"), key, sym, "SELL" if p.amt > 0 else "BUY",
                  "LIQUIDATION", abs(p.amt), price=lp, tif="IOC", client_id=f"autoclose-{t}",
                  time=t, update_time=t, orig_type="LIQUIDATION")  # fmt: skip
        self.ledger.add(o)
        self.open_orders[o.id] = o
        realized = self.fill(o, o.qty, lp, False, t, fee_rate=0.0)
        clear = r8(iw + realized)
        if clear > 0:
            acc = self.account(key)
            acc.wallet = r8(acc.wallet - clear)
            self.ledger.touch(acc)
            self.book_income(key, sym, "INSURANCE_CLEAR", -clear, t, info="liquidation clearance")
            self.emit_account(key, sym, t, "ORDER")
        logger.info("liquidated %s %s at %.4f (isolated wallet %.2f lost)", key[:6], sym, lp, iw)


def _is_limit(x) -> bool:
    return isinstance(x, Order) and x.type == "LIMIT"


def _ticks(o: Order, f) -> int:
    return int(round(o.price / f.tick))
