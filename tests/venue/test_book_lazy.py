"""`SynthBook` (levels computed when read) against `synth_book` (the plain reference): the same
prices and sizes, float for float, for any mid, grid, depth and seed."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.venue.book import SynthBook, synth_book

GRIDS = [(0.1, 0.001, 0.001), (0.01, 0.01, 0.01), (0.0001, 1.0, 1.0), (1e-7, 1.0, 10.0)]


@settings(max_examples=200, deadline=None)
@given(
    mid=st.one_of(
        st.floats(1e-6, 2e5), st.floats(1e-4, 5e-3), st.sampled_from([0.0, -1.0, math.nan])
    ),
    grid=st.sampled_from(GRIDS),
    levels=st.integers(1, 1200),
    seed=st.integers(0, 2**40),
)
def test_lazy_book_equals_synth_book(mid, grid, levels, seed):
    tick, step, min_qty = grid
    kw = {"tick": tick, "step": step, "min_qty": min_qty, "levels": levels, "seed": seed}
    bids, asks = synth_book(mid, **kw)
    book = SynthBook(mid, **kw)
    assert len(book.bids) == len(bids) and len(book.asks) == len(asks)
    if asks:  # read out of order first: a level does not depend on which were read before
        k = min(7, len(asks) - 1)
        assert book.asks[k] == asks[k] and book.asks[-1] == asks[-1]
    assert list(book.bids) == bids and list(book.asks) == asks
    assert list(book.bids[:3]) == bids[:3] and list(book.asks[2:5]) == asks[2:5]


def test_tiny_mid_keeps_only_positive_bids():
    bids, _ = synth_book(0.00035, tick=0.0001, step=1.0, min_qty=1.0, levels=10, seed=1)
    book = SynthBook(0.00035, tick=0.0001, step=1.0, min_qty=1.0, levels=10, seed=1)
    assert len(bids) == 3 and list(book.bids) == bids


def test_head_views_share_levels_and_stay_sequences():
    kw = {"tick": 0.1, "step": 0.001, "min_qty": 0.001, "levels": 100, "seed": 5}
    bids, asks = synth_book(100_000.0, **kw)
    book = SynthBook(100_000.0, **kw)
    head = book.asks[:3]
    assert len(head) == 3 and list(head) == asks[:3] and head[-1] == asks[2]
    assert book.asks[:500] is not None and len(book.asks[:500]) == 100
    assert list(book.bids[::10]) == bids[::10]


class PlainWalk:
    """The engine's taker walk as it was on `synth_book`'s lists (the reference): a 100-level
    book (1000 when a taker needs more), kept per instant, less what earlier takers took."""

    def __init__(self, tick: float, step: float, min_qty: float, dp: int):
        self.tick, self.step, self.min_qty, self.dp = tick, step, min_qty, dp
        self.book, self.consumed = None, (None, {})

    def levels(self, n: int, price: float, t: int):
        ident = (t // 1000, price)
        if self.book is None or self.book[0] != ident or self.book[1] < n:
            n = max(n, 100)
            bids, asks = synth_book(price, tick=self.tick, step=self.step, min_qty=self.min_qty,
                                    levels=n, seed=t // 1000)  # fmt: skip
            self.book = (ident, n, bids, asks)
        return self.book[2][:n], self.book[3][:n], ident

    def walk(self, side, qty, limit, price, t, dry):
        levels, eps = 100, 1e-12
        while True:
            bids, asks, ident = self.levels(levels, price, t)
            rows = asks if side == "BUY" else bids
            key, taken = self.consumed
            taken = taken if key == ident else {}
            fills, left, capped = [], qty, False
            for p, q in rows:
                if limit is not None and (
                    p > limit + self.tick / 2 if side == "BUY" else p < limit - self.tick / 2
                ):
                    capped = True
                    break
                avail = round(q - taken.get((side, p), 0.0), self.dp)
                if avail <= eps:
                    continue
                take = round(min(avail, left), self.dp)
                fills.append((p, take))
                left = round(left - take, self.dp)
                if left <= eps:
                    break
            if left <= eps or capped or levels >= 1000 or len(rows) < levels:
                break
            levels = 1000
        if not dry:
            for p, q in fills:
                taken[(side, p)] = taken.get((side, p), 0.0) + q
            self.consumed = (ident, taken)
        return fills


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from perpflow.venue.engine import Engine
    from perpflow.venue.ledger import Ledger
    from perpflow.venue.venue import Venue
    from tests.venue.private_env import write_market

    return Engine(Venue(write_market(tmp_path_factory.mktemp("walk"))), Ledger(None))


TAKER = st.tuples(
    st.sampled_from(["BUY", "SELL"]),
    st.sampled_from([0.001, 0.002, 0.02, 0.3, 2.0, 20.0, 45.0]),
    st.one_of(st.none(), st.integers(-3, 400)),  # limit: ticks through the touch
    st.booleans(),  # dry (a FOK's look)
    st.sampled_from([0, 0, 0, 1, 1000]),  # ms later: same book, or the next second's
)


@settings(max_examples=60, deadline=None)
@given(takers=st.lists(TAKER, min_size=1, max_size=40), mid=st.floats(99_000, 101_000))
def test_engine_walk_matches_the_plain_walk(engine, takers, mid):
    """Same fills, same prices, taker after taker (exhausted levels are skipped, not re-read)."""
    engine._books.clear(), engine._consumed.clear()
    ref = PlainWalk(0.1, 0.001, 0.001, 3)
    t = 1_800_000_000_000
    for side, qty, ticks, dry, later in takers:
        t += later
        limit = None
        if ticks is not None:
            touch = math.floor(mid / 0.1 + 1e-9) * 0.1
            limit = round(touch + (ticks if side == "BUY" else -ticks) * 0.1, 1)
        want = ref.walk(side, qty, limit, mid, t, dry)
        got = engine.walk("BTCUSDT", side, qty, limit, price=mid, t=t, dry=dry)
        assert got == want


def test_limit_inside_taken_levels_stops_the_walk(engine):
    """A limit taker whose limit lies among levels earlier takers emptied gets nothing and does
    not go on to a deeper book; the next taker continues after the emptied levels."""
    engine._books.clear(), engine._consumed.clear()
    ref = PlainWalk(0.1, 0.001, 0.001, 3)
    t, mid = 1_800_000_000_000, 100_000.0
    for side, qty, limit in (("BUY", 2.0, None), ("BUY", 1.0, 100_000.6), ("BUY", 0.05, None),
                             ("SELL", 3.0, None), ("SELL", 0.5, 99_999.0)):  # fmt: skip
        want = ref.walk(side, qty, limit, mid, t, False)
        assert engine.walk("BTCUSDT", side, qty, limit, price=mid, t=t) == want
        assert engine._books["BTCUSDT"][1] == ref.book[1]  # the same book depth is kept
    assert want == [] and ref.book[1] == 100
