"""Order-book replay for the local exchange: Binance USDT-M `<symbol>@depth@100ms` diff streams,
`<symbol>@aggTrade` for the trades behind them, and a REST depth snapshot consistent with both.

Written by hand: no library serves an exchange's depth stream from stored data. Per symbol the
feed holds the exchange's book (price -> size per side) and a schedule of diff updates. An update
is applied to the book when it falls due, whether or not anyone listens (the exchange's book moves
on); subscribers get Binance's message: `{"e": "depthUpdate", "E", "T", "s", "U", "u", "pu",
"b": [[price, size], ...], "a": [...]}` with `U` = first id, `u` = last id, `pu` = the previous
message's `u` (size "0" deletes a level). REST `GET /fapi/v1/depth` answers the book as it stands
with `lastUpdateId` = the last applied `u`, so ccxt.pro's sync (snapshot, buffered diffs, `pu`
chain) works as against Binance.

Sources: `synthetic_updates` (a random walk around a price, deterministic per seed) and
`updates_from_snapshots` (consecutive snapshot rows, e.g. the real captures, turned into the
diffs between them). `skip_every=N` withholds every Nth message from subscribers (still applied),
so a client must detect the broken `pu` chain and resync: the drill for sequence gaps.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from perpflow.venue.book import synth_book


@dataclass
class Update:
    """One diff: due offset from the feed's start (ms), levels to set (size 0 = delete), and the
    trades that caused it (price, size, buyer is maker = an aggressive seller)."""

    offset_ms: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    trades: list[tuple[float, float, bool]] = field(default_factory=list)


@dataclass
class SymbolBook:
    bids: dict[float, float]
    asks: dict[float, float]
    updates: list[Update]
    last_u: int = 1000
    next_i: int = 0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))


def synthetic_updates(mid: float, *, tick: float, step: float = 0.001, n: int = 600,
                      every_ms: int = 100, levels: int = 50, seed: int = 0,
                      ) -> tuple[list, list, list[Update]]:  # fmt: skip
    """Initial bids/asks (`levels` a side) around `mid` and `n` diffs, one per `every_ms`: a few
    resting sizes change, some levels empty and refill, and now and then price moves a tick."""
    bids, asks = synth_book(mid, tick=tick, step=step, min_qty=step, levels=levels, seed=seed)
    rng = np.random.default_rng(seed)
    book_b = {p: q for p, q in bids}
    book_a = {p: q for p, q in asks}
    out = []
    for i in range(n):
        b, a = [], []
        for side, book, sign in ((b, book_b, -1), (a, book_a, 1)):
            best = max(book) if sign < 0 else min(book)
            for k in rng.integers(0, 30, size=rng.integers(1, 6)):
                price = round(best + sign * k * tick, 10)
                size = 0.0 if rng.random() < 0.15 else round(float(rng.gamma(2.0, 0.5)), 3)
                side.append((price, size))
        trades: list[tuple[float, float, bool]] = []
        if rng.random() < 0.05:  # price ticks: the best ask is lifted or the best bid is hit
            if rng.random() < 0.5:
                best_a = min(book_a)
                trades.append((best_a, book_a[best_a], False))
                a.append((best_a, 0.0))
                b.append((best_a, round(float(rng.gamma(2.0, 0.5)), 3)))
            else:
                best_b = max(book_b)
                trades.append((best_b, book_b[best_b], True))
                b.append((best_b, 0.0))
                a.append((best_b, round(float(rng.gamma(2.0, 0.5)), 3)))
        elif rng.random() < 0.3:  # a trade into the touch that leaves part of the level
            sell = rng.random() < 0.5
            book, side = (book_b, b) if sell else (book_a, a)
            best = max(book) if sell else min(book)
            qty = round(book[best] * float(rng.uniform(0.05, 0.6)), 3)
            if qty > 0:
                trades.append((best, qty, sell))
                side.append((best, round(book[best] - qty, 3) or 0.0))
        # changes sit at or behind each side's best, and a tick move turns the old best of one
        # side into the other's: the book never crosses
        for side, book, far in ((b, book_b, min), (a, book_a, max)):
            for p, q in side:
                book.pop(p, None) if q == 0 else book.__setitem__(p, q)
            if not book:  # never empty a side: put back the last level touched
                book[side[-1][0]] = 1.0
                side.append((side[-1][0], 1.0))
            while len(book) > 2 * levels:  # levels leaving the exchange's depth window: deleted
                gone = far(book)
                del book[gone]
                side.append((gone, 0.0))
        out.append(Update((i + 1) * every_ms, b, a, trades))
    return bids, asks, out


def updates_from_snapshots(rows: pd.DataFrame) -> tuple[list, list, list[Update]]:
    """Initial book = the first row; diffs = what changed between consecutive rows (levels gone
    from the captured depth are deleted). `rows` has `ts` and `bid_px_0, bid_sz_0, ...`."""
    n = sum(1 for c in rows.columns if c.startswith("bid_px_"))
    ts = pd.to_datetime(rows["ts"], utc=True)
    t0 = ts.iloc[0]

    def side(row, name):
        return {float(row[f"{name}_px_{i}"]): float(row[f"{name}_sz_{i}"]) for i in range(n)
                if pd.notna(row[f"{name}_px_{i}"])}  # fmt: skip

    recs = rows.to_dict("records")
    prev_b, prev_a = side(recs[0], "bid"), side(recs[0], "ask")
    out = []
    for t, rec in zip(ts.iloc[1:], recs[1:], strict=True):
        cur_b, cur_a = side(rec, "bid"), side(rec, "ask")
        diff = []
        for prev, cur in ((prev_b, cur_b), (prev_a, cur_a)):
            d = [(p, q) for p, q in cur.items() if prev.get(p) != q]
            d += [(p, 0.0) for p in prev if p not in cur]
            diff.append(d)
        out.append(Update(int((t - t0).total_seconds() * 1000), diff[0], diff[1]))
        prev_b, prev_a = cur_b, cur_a
    return sorted(side(recs[0], "bid").items(), reverse=True), sorted(side(recs[0], "ask").items()), out


class DepthFeed:
    """Books and diff schedules for some symbols; see the module docstring."""

    def __init__(self, sources: dict[str, tuple[list, list, list[Update]]], *,
                 speed: float = 1.0, skip_every: int = 0, seed: int = 0):  # fmt: skip
        if speed <= 0:
            raise ValueError(f"depth replay speed must be > 0, got {speed}")
        self.speed, self.skip_every = speed, skip_every
        self.books = {
            sym.upper(): SymbolBook(dict(b), dict(a), ups, rng=np.random.default_rng(seed))
            for sym, (b, a, ups) in sources.items()
        }  # fmt: skip
        self.start_ms: int | None = None
        self.sent = 0
        self.withheld: list[tuple[str, int]] = []  # (symbol, u) not sent (skip drill)
        self.trade_id = 0
        self.trades_sent: deque = deque(maxlen=1_000_000)  # (symbol, id, price, qty, maker): ledger

    def start(self, now_ms: int) -> None:
        self.start_ms = now_ms

    @property
    def finished(self) -> bool:
        return all(b.next_i >= len(b.updates) for b in self.books.values())

    def pop_due(self, now_ms: int) -> list[tuple[str, dict, bool]]:
        """Apply every update due by `now_ms`; returns (stream, message, send?) per update."""
        out = []
        for sym, book in self.books.items():
            while book.next_i < len(book.updates):
                up = book.updates[book.next_i]
                due = self.start_ms + int(up.offset_ms / self.speed)
                if due > now_ms:
                    break
                first = book.last_u + 1
                last = first + int(book.rng.integers(0, 4))
                for side, levels in ((book.bids, up.bids), (book.asks, up.asks)):
                    for p, q in levels:
                        side.pop(p, None) if q == 0 else side.__setitem__(p, q)
                msg = {"e": "depthUpdate", "E": due, "T": due, "s": sym, "U": first, "u": last,
                       "pu": book.last_u, "b": [[f"{p:.10g}", f"{q:.10g}"] for p, q in up.bids],
                       "a": [[f"{p:.10g}", f"{q:.10g}"] for p, q in up.asks]}  # fmt: skip
                book.last_u, book.next_i = last, book.next_i + 1
                self.sent += 1
                send = not (self.skip_every and self.sent % self.skip_every == 0)
                if not send:
                    self.withheld.append((sym, last))
                for price, qty, maker in up.trades:  # aggTrade messages, never withheld
                    self.trade_id += 1
                    out.append((sym.lower() + "@aggtrade", {
                        "e": "aggTrade", "E": due, "s": sym, "a": self.trade_id, "p": f"{price:.10g}",
                        "q": f"{qty:.10g}", "f": self.trade_id, "l": self.trade_id, "T": due, "m": maker,
                    }, True))  # fmt: skip
                    self.trades_sent.append((sym, self.trade_id, price, qty, maker))
                out.append((sym.lower() + "@depth", msg, send))
        return out

    def snapshot(self, symbol: str, limit: int) -> dict:
        """REST depth of the book as it stands now (best first)."""
        book = self.books[symbol.upper()]
        bids = sorted(book.bids.items(), reverse=True)[:limit]
        asks = sorted(book.asks.items())[:limit]
        return {"lastUpdateId": book.last_u, "E": self.start_ms or 0, "T": self.start_ms or 0,
                "bids": [[f"{p:.10g}", f"{q:.10g}"] for p, q in bids],
                "asks": [[f"{p:.10g}", f"{q:.10g}"] for p, q in asks]}  # fmt: skip

    def top(self, symbol: str, levels: int) -> tuple[list, list, int]:
        """The current top `levels` of a book and its last update id (for tests)."""
        book = self.books[symbol.upper()]
        return (sorted(book.bids.items(), reverse=True)[:levels], sorted(book.asks.items())[:levels],
                book.last_u)  # fmt: skip
