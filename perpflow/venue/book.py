"""A synthetic order book around a price: deterministic, tick-aligned, deeper away from the touch.

Written by hand because it is a stand-in for a real book in the local exchange (replay mode), so
that Freqtrade's dry-run limit orders and order-book pricing see a plausible market.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np


def _round_to(value: np.ndarray, step: float, mode: str) -> np.ndarray:
    fn = {"down": np.floor, "up": np.ceil, "near": np.round}[mode]
    return fn(value / step + (1e-9 if mode == "down" else -1e-9 if mode == "up" else 0)) * step


def synth_book(
    mid: float, *, tick: float, step: float, min_qty: float, levels: int, seed: int
) -> tuple[list[list[float]], list[list[float]]]:
    """Bids and asks (`[[price, qty], ...]`, best first) around `mid`.

    The best bid is the tick at or below mid and the best ask one tick above it; levels are one
    tick apart. Sizes grow with distance from the touch and vary deterministically with `seed`
    (e.g. the timestamp), so the same instant always gives the same book.
    """
    if not (mid > 0 and math.isfinite(mid)):
        return [], []
    rng = np.random.default_rng(seed & 0xFFFFFFFF)
    best_bid = float(_round_to(np.array([mid]), tick, "down")[0])
    if best_bid <= 0:
        best_bid = tick
    i = np.arange(levels)
    bids = best_bid - i * tick
    asks = best_bid + (i + 1) * tick
    notional = 2_000.0 * (1.0 + 0.35 * i) * rng.lognormal(0.0, 0.4, size=(2, levels))
    qty = np.maximum(_round_to(notional / mid, step, "near"), min_qty)
    keep = bids > 0
    return (
        [[float(p), float(q)] for p, q in zip(bids[keep], qty[0][keep], strict=True)],
        [[float(p), float(q)] for p, q in zip(asks, qty[1], strict=True)],
    )


EAGER_FROM = 8  # a read this deep computes the rest of the side at once, vectorised


@lru_cache(maxsize=256)
def _draws(seed: int, levels: int) -> tuple[list[float], list[float], np.ndarray]:
    """The size multipliers `synth_book` draws for (`seed`, `levels`): (bids, asks, both)."""
    d = np.random.default_rng(seed & 0xFFFFFFFF).lognormal(0.0, 0.4, size=(2, levels))
    return d[0].tolist(), d[1].tolist(), d


class Levels(Sequence):
    """One side of a `SynthBook`: `[price, qty]` levels best first, each computed when first read
    (a taker that needs two levels computes two; a read past `EAGER_FROM` computes the rest at
    once) and kept. Indexing, slicing, `len` and iteration behave as on `synth_book`'s list."""

    def __init__(self, book: SynthBook, side: int, n: int, rows: list | None = None):
        self._book, self._side, self._n = book, side, n
        self._rows: list[list[float]] = [] if rows is None else rows  # shared by head views

    def __len__(self) -> int:
        return self._n

    @property
    def source(self) -> list:
        """The computed levels this side shares with its head views (one per book side)."""
        return self._rows

    def __getitem__(self, i):
        rows = self._rows
        if i.__class__ is int and 0 <= i < len(rows) and i < self._n:  # computed already
            return rows[i]
        if isinstance(i, slice):
            start, stop, stride = i.indices(self._n)
            if start == 0 and stride == 1:  # the best `stop` levels: a view, still lazy
                return Levels(self._book, self._side, stop, self._rows)
            return [self[k] for k in range(start, stop, stride)]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        rows = self._rows
        if i >= EAGER_FROM:
            rows.extend(self._book.levels_from(self._side, len(rows), self._n))
        while len(rows) <= i:
            rows.append(self._book.level(self._side, len(rows)))
        return rows[i]

    def __iter__(self):
        for k in range(min(self._n, EAGER_FROM)):
            yield self[k]
        if self._n > EAGER_FROM:
            self[self._n - 1]  # the rest at once, then plain list iteration
            yield from self._rows[EAGER_FROM : self._n]


class SynthBook:
    """`synth_book(mid, ...)` computed lazily: `bids` and `asks` are `Levels` whose values equal
    `synth_book`'s element by element (the same float operations in the same order, on the
    same seeded draws, cached per (seed, levels)).

    Written by hand for the matching engine, whose takers read one or a few levels of a book
    that changes with every price: building and converting all `levels` per order was most of
    an order's cost. `tests/venue/test_book_lazy.py` holds it to `synth_book`."""

    def __init__(self, mid: float, *, tick: float, step: float, min_qty: float, levels: int,
                 seed: int):  # fmt: skip
        self.mid, self.tick, self.step, self.min_qty = mid, tick, step, min_qty
        if not (mid > 0 and math.isfinite(mid)):
            self.bids, self.asks = Levels(self, 0, 0), Levels(self, 1, 0)
            return
        self._draws = _draws(seed, levels)
        best = math.floor(mid / tick + 1e-9) * tick
        self.best_bid = best if best > 0 else tick
        n_bids = (
            levels
            if self.best_bid - (levels - 1) * tick > 0
            else _positive(self.best_bid, tick, levels)
        )
        self.bids, self.asks = Levels(self, 0, n_bids), Levels(self, 1, levels)

    def levels_from(self, side: int, start: int, stop: int) -> list[list[float]]:
        """Levels `start` to `stop` (exclusive) of `side`, vectorised as `synth_book` does."""
        if start >= stop:
            return []
        i = np.arange(start, stop)
        if side == 0:
            price = self.best_bid - i * self.tick
        else:
            price = self.best_bid + (i + 1) * self.tick
        notional = 2_000.0 * (1.0 + 0.35 * i) * self._draws[2][side][start:stop]
        qty = np.maximum(np.round(notional / self.mid / self.step) * self.step, self.min_qty)
        return [[p, q] for p, q in zip(price.tolist(), qty.tolist(), strict=True)]

    def level(self, side: int, i: int) -> list[float]:
        """[price, qty] of level `i` (0 = the touch) on `side` (0 bids, 1 asks)."""
        price = self.best_bid - i * self.tick if side == 0 else self.best_bid + (i + 1) * self.tick
        notional = 2_000.0 * (1.0 + 0.35 * i) * self._draws[side][i]
        qty = round(notional / self.mid / self.step) * self.step
        return [price, qty if qty >= self.min_qty else self.min_qty]


def _positive(best_bid: float, tick: float, levels: int) -> int:
    """How many of the first `levels` bid prices are above zero (they fall with the index)."""
    return sum(1 for i in range(levels) if best_bid - i * tick > 0)
