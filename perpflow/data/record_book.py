"""ccxt.pro order books whose diff levels are staged, then applied when the book is read.

Under a flood a Binance book gets hundreds of diff messages a second, each setting a few price
levels, mostly the same few dozen near the touch; ccxt.pro's `OrderBookSide.storeArray` applies
every level as it comes (a `[price, size]` list, a bisect and a list insert or delete): a fifth
of the recorder's CPU. `StagedAsks` / `StagedBids` are ccxt's sides that keep a diff's levels as
they came instead (`stage`: one list extend per message) and apply each staged price once, with
its last size, when the side is next read (`settle`: the levels folded into a dict in order, so
the last size of a price wins, as applying them one by one would leave it; were one price spelled
two ways, e.g. "1.5" and "1.50", they are folded by their numbers instead). Every read through
the list protocol (index, slice, `len`, truth, iteration, `in`; hence ccxt's `limit()`, `copy()`,
`==` and the book `watch_order_book` returns) applies what is staged first, and ccxt's own
`storeArray` (a REST snapshot, `reset`) applies it before its level, so a reader sees exactly the
book ccxt's sides would hold. `clear()` (ccxt's `reset`) drops what is staged with the levels.

A level that is not two numbers raises a `ValueError` whenever the side is read, and the side is
left as it was (the recorder stops on it, `record.BookRecorder`): levels are converted once per
price at a read, not per message.

Written by hand: ccxt.pro has no batched book update. `settle` is ccxt's `storeArray` (4.5.90)
over the staged prices, on the plain list methods.
"""

from __future__ import annotations

from bisect import bisect_left

from ccxt.async_support.base.ws.order_book import OrderBook
from ccxt.async_support.base.ws.order_book_side import OrderBookSide

_get, _len, _iter = list.__getitem__, list.__len__, list.__iter__


class _Staged(OrderBookSide):
    """A ccxt book side with staged levels (see the module doc)."""

    def __init__(self, deltas=(), depth=None):
        self._pending: list = []
        # stage(levels): queue a diff's `[price, size]` levels (numbers or number strings; size 0
        # removes the price), applied when the side is next read; the list's own `extend`
        self.stage = self._pending.extend
        super().__init__(deltas, depth)

    def settle(self) -> _Staged:
        """Apply the staged levels (each price once, its last size) to the sorted side."""
        pending = self._pending
        if pending:
            last = dict(pending)  # in order: a price's last size wins
            prices = list(map(float, last))
            if len(set(prices)) < len(prices):  # one price spelled two ways: fold by number
                last = {float(p): s for p, s in pending}
                prices = list(last)
            sizes = list(map(float, last.values()))  # a bad number raises before any change
            pending.clear()
            keys, bids = self._index, self.side
            for price, size in zip(prices, sizes, strict=True):
                key = -price if bids else price
                i = bisect_left(keys, key)
                found = i < _len(keys) and keys[i] == key
                if size:
                    if found:
                        _get(self, i)[1] = size
                    else:
                        keys.insert(i, key)
                        list.insert(self, i, [price, size])
                elif found:
                    del keys[i]
                    list.__delitem__(self, i)
        return self

    def storeArray(self, delta):  # noqa: N802 (ccxt's name)
        if self._pending:
            self.settle()
        return OrderBookSide.storeArray(self, delta)

    def clear(self) -> None:
        self._pending.clear()
        list.clear(self)

    def __getitem__(self, i):
        if self._pending:
            self.settle()
        return _get(self, i)

    def __len__(self) -> int:
        if self._pending:
            self.settle()
        return _len(self)

    def __iter__(self):
        if self._pending:
            self.settle()
        return _iter(self)

    def __reversed__(self):
        if self._pending:
            self.settle()
        return list.__reversed__(self)

    def __contains__(self, item) -> bool:
        if self._pending:
            self.settle()
        return list.__contains__(self, item)


class StagedAsks(_Staged):
    side = False


class StagedBids(_Staged):
    side = True


def staged_order_book(snapshot: dict | None = None, depth: int | None = None) -> OrderBook:
    """ccxt's `OrderBook` (what `Exchange.order_book` makes) on staged sides."""
    snapshot = snapshot or {}
    sides = {"asks": StagedAsks(snapshot.get("asks", ()), depth),
             "bids": StagedBids(snapshot.get("bids", ()), depth)}  # fmt: skip
    return OrderBook({**snapshot, **sides}, depth)
