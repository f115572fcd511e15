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

Sources: `synthetic_updates` (a random walk around a price, deterministic per seed),
`updates_from_snapshots` (consecutive snapshot rows, e.g. the derived captures, turned into the
diffs between them) and `raw_binance_capture` (a cryptofeed raw capture's REST snapshot, diffs
with their real update ids, and aggTrades, replayed verbatim). `skip_every=N` withholds every Nth
message from subscribers (still applied), so a client must detect the broken `pu` chain and
resync: the drill for sequence gaps.

Messages are rendered to JSON text once, when due (level strings are formatted when the feed is
built), so one venue process can flood a recorder with tens of thousands of diffs a second.
"""

from __future__ import annotations

import io
import json
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from perpflow.venue.book import synth_book


@dataclass
class Update:
    """One diff: due offset from the feed's start (ms), levels to set (size 0 = delete), and the
    trades that caused it (price, size, buyer is maker = an aggressive seller). `ids` = the
    exchange's own (U, u) when replaying a raw capture (else the feed numbers them); `text` = the
    levels as Binance's strings, filled in when the feed is built."""

    offset_ms: int
    bids: list[tuple[float, float]]
    asks: list[tuple[float, float]]
    trades: list[tuple[float, float, bool]] = field(default_factory=list)
    ids: tuple[int, int] | None = None
    text: tuple[list, list] | None = None


@dataclass
class SymbolBook:
    """One symbol's book at the exchange and what is still to come: `updates` when the schedule
    was given as a list (None for a stream), `source` the iterator over it, `pending` the next
    update (peeked)."""

    bids: dict[float, float]
    asks: dict[float, float]
    updates: list[Update] | None
    source: Iterator[Update]
    last_u: int = 1000
    pending: Update | None = None
    rnd: random.Random = field(default_factory=lambda: random.Random(0))  # id spans (U..u)

    def peek(self) -> Update | None:
        if self.pending is None:
            self.pending = next(self.source, None)
        return self.pending


def synthetic_updates(mid: float, *, tick: float, step: float = 0.001, n: int = 600,
                      every_ms: int = 100, levels: int = 50, seed: int = 0,
                      ) -> tuple[list, list, list[Update]]:  # fmt: skip
    """Initial bids/asks (`levels` a side) around `mid` and `n` diffs, one per `every_ms`: a few
    resting sizes change, some levels empty and refill, and now and then price moves a tick.
    The list form of `synthetic_stream`."""
    bids, asks, stream = synthetic_stream(
        mid, tick=tick, step=step, n=n, every_ms=every_ms, levels=levels, seed=seed
    )
    return bids, asks, list(stream)


def synthetic_stream(mid: float, *, tick: float, step: float = 0.001, n: int | None = None,
                     every_ms: int = 100, levels: int = 50, seed: int = 0,
                     ) -> tuple[list, list, Iterator[Update]]:  # fmt: skip
    """As `synthetic_updates`, but the diffs are made as the feed asks for them (`n` None:
    without end), so a long flood holds no schedule in memory.

    The walk runs on integer ticks with Python's `random` (a few hundred ns a draw, against a few
    µs for a NumPy scalar draw), and sizes come from a pool of 4,096 rounded gamma draws."""
    bids, asks = synth_book(mid, tick=tick, step=step, min_qty=step, levels=levels, seed=seed)
    rnd = random.Random(seed)
    pool = [round(float(q), 3) or step for q in np.random.default_rng(seed).gamma(2.0, 0.5, 4096)]
    px_cache: dict[int, float] = {}

    def px(t: int) -> float:
        p = px_cache.get(t)
        if p is None:
            if len(px_cache) > 100_000:  # a long walk: keep the cache bounded
                px_cache.clear()
            p = px_cache[t] = round(t * tick, 10)
        return p

    def updates() -> Iterator[Update]:
        book_b = {round(p / tick): q for p, q in bids}
        book_a = {round(p / tick): q for p, q in asks}
        i = 0
        while n is None or i < n:
            b, a, trades = _synthetic_step(book_b, book_a, rnd, pool, levels)
            i += 1
            yield Update(i * every_ms, [(px(t), q) for t, q in b], [(px(t), q) for t, q in a],
                         [(px(t), q, sell) for t, q, sell in trades])  # fmt: skip

    return bids, asks, updates()


def _synthetic_step(book_b: dict, book_a: dict, rnd: random.Random, pool: list[float], levels: int):
    """One synthetic diff on integer-tick books (changed in place): (bid changes, ask changes,
    trades as (tick, size, aggressive seller?))."""
    rand, randrange, choice = rnd.random, rnd.randrange, rnd.choice
    b: list[tuple[int, float]] = []
    a: list[tuple[int, float]] = []
    for side, book, sign in ((b, book_b, -1), (a, book_a, 1)):
        best = max(book) if sign < 0 else min(book)
        for _ in range(randrange(1, 6)):
            side.append((best + sign * randrange(30), 0.0 if rand() < 0.15 else choice(pool)))
    trades: list[tuple[int, float, bool]] = []
    if rand() < 0.05:  # price ticks: the best ask is lifted or the best bid is hit
        sell = rand() >= 0.5
        book, gone, other = (book_b, b, a) if sell else (book_a, a, b)
        best = max(book) if sell else min(book)
        trades.append((best, book[best], sell))
        gone.append((best, 0.0))
        other.append((best, choice(pool)))
    elif rand() < 0.3:  # a trade into the touch that leaves part of the level
        sell = rand() < 0.5
        book, side = (book_b, b) if sell else (book_a, a)
        best = max(book) if sell else min(book)
        qty = round(book[best] * (0.05 + 0.55 * rand()), 3)
        if qty > 0:
            trades.append((best, qty, sell))
            side.append((best, round(book[best] - qty, 3) or 0.0))
    # changes sit at or behind each side's best, and a tick move turns the old best of one side
    # into the other's: the book never crosses
    for side, book, far in ((b, book_b, min), (a, book_a, max)):
        for t, q in side:
            book.pop(t, None) if q == 0 else book.__setitem__(t, q)
        if not book:  # never empty a side: put back the last level touched
            book[side[-1][0]] = 1.0
            side.append((side[-1][0], 1.0))
        while len(book) > 2 * levels:  # levels leaving the exchange's depth window: deleted
            gone_t = far(book)
            del book[gone_t]
            side.append((gone_t, 0.0))
    return b, a, trades


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
    return (
        sorted(side(recs[0], "bid").items(), reverse=True),
        sorted(side(recs[0], "ask").items()),
        out,
    )


def raw_binance_capture(path: Path, rename: dict[str, str] | None = None,
                        ) -> dict[str, tuple[list, list, list[Update]]]:  # fmt: skip
    """Sources for `DepthFeed` from a cryptofeed raw capture of Binance USDT-M (zstd JSON lines:
    the REST `/fapi/v1/depth` answers and the `depth@100ms` / `aggTrade` websocket messages).

    Per symbol: the initial book is the captured REST snapshot; the diffs are the captured ones
    from the first that covers the snapshot's `lastUpdateId` on, with their own `U`/`u`/`pu`, so a
    client syncs on the exchange's real sequence; each captured aggTrade goes out with the first
    diff at or after its event time. Offsets keep the capture's timing (event time `E`).
    `rename` maps capture symbols to the venue's (e.g. SUSHIUSDT -> BTCUSDT). Needs `zstandard`."""
    snaps, diffs, trades = _read_raw_capture(Path(path))
    if not snaps:
        raise ValueError(f"{path}: no Binance USDT-M REST depth snapshot in this capture")
    rename = rename or {}
    missing = sorted(set(rename) - set(snaps))
    if missing:
        raise ValueError(f"{path}: {missing} not in this capture (it has {sorted(snaps)})")
    kept = {}
    for sym, snap in snaps.items():
        if rename and sym not in rename:
            continue
        last = snap["lastUpdateId"]
        ds = [d for d in diffs.get(sym, []) if d["u"] >= last]
        if not ds or ds[0]["U"] > last:
            raise ValueError(f"{path}: {sym}'s diffs do not cover its REST snapshot (id {last})")
        kept[sym] = (snap, ds)
    t0 = min(ds[0]["E"] for _, ds in kept.values())
    out = {}
    for sym, (snap, ds) in kept.items():
        pending = sorted(trades.get(sym, []), key=lambda t: t["E"])
        ups, k = [], 0
        for d in ds:
            tr = []
            while k < len(pending) and pending[k]["E"] <= d["E"]:
                t = pending[k]
                tr.append((float(t["p"]), float(t["q"]), bool(t["m"])))
                k += 1
            ups.append(Update(d["E"] - t0, [(float(p), float(q)) for p, q in d["b"]],
                              [(float(p), float(q)) for p, q in d["a"]], tr, ids=(d["U"], d["u"], d["pu"])))  # fmt: skip
        bids = [(float(p), float(q)) for p, q in snap["bids"]]
        asks = [(float(p), float(q)) for p, q in snap["asks"]]
        out[rename.get(sym, sym)] = (bids, asks, ups, snap["lastUpdateId"])
    return out


def _read_raw_capture(path: Path) -> tuple[dict, dict, dict]:
    """Per exchange symbol: the first REST depth answer, the depthUpdate and the aggTrade events
    of a cryptofeed raw capture."""
    import zstandard

    if not path.exists():
        raise FileNotFoundError(f"{path}: no such raw capture (cryptofeed .jsonl.zst)")
    snaps: dict[str, dict] = {}
    events: dict[str, dict[str, list[dict]]] = {"depthUpdate": {}, "aggTrade": {}}
    with path.open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as raw:
        for line in io.TextIOWrapper(raw, encoding="utf-8"):
            rec = json.loads(line)
            if rec.get("t") == "http" and "/fapi/v1/depth?" in rec.get("url", ""):
                sym = rec["url"].split("symbol=")[1].split("&")[0]
                snaps.setdefault(sym, json.loads(rec["data"]))
            elif rec.get("t") == "recv":
                data = json.loads(rec["data"]).get("data", {})
                if data.get("e") in events:
                    events[data["e"]].setdefault(data["s"], []).append(data)
    return snaps, events["depthUpdate"], events["aggTrade"]


def _fmt_levels(levels: list[tuple[float, float]], cache: dict[float, str]) -> list[list[str]]:
    """Levels as Binance's strings ("%.10g"), each distinct number formatted once."""
    out = []
    for p, q in levels:
        sp = cache.get(p)
        if sp is None:
            sp = cache[p] = f"{p:.10g}"
        sq = cache.get(q)
        if sq is None:
            sq = cache[q] = f"{q:.10g}"
        out.append([sp, sq])
    return out


def apply_update(bids: dict, asks: dict, up: Update) -> None:
    """Apply `up`'s levels to a book's sides (price -> size; size 0 deletes the level)."""
    for side, levels in ((bids, up.bids), (asks, up.asks)):
        for p, q in levels:
            side.pop(p, None) if q == 0 else side.__setitem__(p, q)


class DepthFeed:
    """Books and diff schedules for some symbols; see the module docstring. A source is
    `(bids, asks, updates)` or, from a raw capture, `(bids, asks, updates, lastUpdateId)`;
    `updates` is a list (rendered up front) or an iterator (`synthetic_stream`, made as due)."""

    def __init__(self, sources: dict[str, tuple], *, speed: float = 1.0, skip_every: int = 0,
                 seed: int = 0, ledger: int = 1_000_000):  # fmt: skip
        if speed <= 0:
            raise ValueError(f"depth replay speed must be > 0, got {speed}")
        self.speed, self.skip_every = speed, skip_every
        self.books = {}
        self._cache: dict[float, str] = {}  # number -> Binance's string
        for i, (sym, (b, a, ups, *last)) in enumerate(sources.items()):
            if isinstance(ups, list):  # a schedule: render its messages' levels now, not when due
                for up in ups:
                    self._render(up)
            self.books[sym.upper()] = SymbolBook(dict(b), dict(a), ups if isinstance(ups, list) else None,
                                                 iter(ups), last[0] if last else 1000,
                                                 rnd=random.Random(seed * 1000 + i))  # fmt: skip
        self.start_ms: int | None = None
        self.sent = 0
        self.withheld: list[tuple[str, int]] = []  # (symbol, u) not sent (skip drill)
        self.trade_id = 0
        # (symbol, id, price, qty, maker) of the last `ledger` trades sent, for tests; a flood
        # benchmark passes 0 (a million live tuples slow every garbage collection)
        self.trades_sent: deque = deque(maxlen=ledger)

    def start(self, now_ms: int) -> None:
        self.start_ms = now_ms

    @property
    def finished(self) -> bool:
        return all(b.peek() is None for b in self.books.values())

    def _render(self, up: Update) -> None:
        """Fill `up.text`: its levels as Binance's strings, each distinct number formatted once."""
        if up.text is None:
            if len(self._cache) > 1_000_000:  # an endless stream: keep the cache bounded
                self._cache.clear()
            up.text = (_fmt_levels(up.bids, self._cache), _fmt_levels(up.asks, self._cache))

    def pop_due(self, now_ms: int) -> list[tuple[str, str, bool]]:
        """Apply every update due by `now_ms`; returns (stream, message JSON text, send?) per
        message (aggTrades first, then the diff they caused)."""
        out = []
        for sym, book in self.books.items():
            depth_stream, trade_stream = sym.lower() + "@depth", sym.lower() + "@aggtrade"
            while (up := book.peek()) is not None:
                due = self.start_ms + int(up.offset_ms / self.speed)
                if due > now_ms:
                    break
                self._render(up)
                if up.ids is not None:
                    first, last, prev = up.ids
                else:
                    first, prev = book.last_u + 1, book.last_u
                    last = first + book.rnd.randrange(4)
                apply_update(book.bids, book.asks, up)
                msg = {"e": "depthUpdate", "E": due, "T": due, "s": sym, "U": first, "u": last,
                       "pu": prev, "b": up.text[0], "a": up.text[1]}  # fmt: skip
                book.last_u, book.pending = last, None
                self.sent += 1
                send = not (self.skip_every and self.sent % self.skip_every == 0)
                if not send:
                    self.withheld.append((sym, last))
                for price, qty, maker in up.trades:  # aggTrade messages, never withheld
                    self.trade_id += 1
                    out.append((trade_stream, orjson.dumps({
                        "e": "aggTrade", "E": due, "s": sym, "a": self.trade_id, "p": f"{price:.10g}",
                        "q": f"{qty:.10g}", "f": self.trade_id, "l": self.trade_id, "T": due, "m": maker,
                    }).decode(), True))  # fmt: skip
                    self.trades_sent.append((sym, self.trade_id, price, qty, maker))
                out.append((depth_stream, orjson.dumps(msg).decode(), send))
        return out

    def snapshot(self, symbol: str, limit: int) -> dict:
        """REST depth of the book as it stands now (best first)."""
        book = self.books[symbol.upper()]
        bids = sorted(book.bids.items(), reverse=True)[:limit]
        asks = sorted(book.asks.items())[:limit]
        return {"lastUpdateId": book.last_u, "E": self.start_ms or 0, "T": self.start_ms or 0,
                "bids": _fmt_levels(bids, self._cache), "asks": _fmt_levels(asks, self._cache)}  # fmt: skip

    def top(self, symbol: str, levels: int) -> tuple[list, list, int]:
        """The current top `levels` of a book and its last update id (for tests)."""
        book = self.books[symbol.upper()]
        return (sorted(book.bids.items(), reverse=True)[:levels], sorted(book.asks.items())[:levels],
                book.last_u)  # fmt: skip
