"""`venue.floods`: a replayed synthetic flood keeps the venue's book and Binance's id chain as a
freshly made one does: the book is back where it started after every cycle, offsets and `pu`
chain run on across the cycle's end, and the later cycles send the first cycle's levels."""

from __future__ import annotations

import orjson
import pytest

from perpflow.venue.depth import DepthFeed, Update
from perpflow.venue.floods import cycled, synthetic_cycle

N = 300  # diffs a cycle (every 100 ms: one cycle is 30.1 s of feed time, plus the reset diff)


def _feed() -> tuple[DepthFeed, dict, dict]:
    feed = DepthFeed({"BTCUSDT": synthetic_cycle(100_000.0, tick=0.1, n=N, seed=3)}, ledger=0)
    feed.start(0)
    book = feed.books["BTCUSDT"]
    return feed, dict(book.bids), dict(book.asks)


def _diffs(out: list) -> list[dict]:
    return [orjson.loads(text) for stream, text, _ in out if stream.endswith("@depth")]


def test_each_cycle_ends_with_the_book_it_started_from():
    feed, bids, asks = _feed()
    period = N * 100 + 200  # last offset + the reset diff's 100 ms + 100 ms to the next cycle
    for cycle in range(1, 4):
        feed.pop_due((cycle - 1) * period + N * 100 + 100)  # through this cycle's reset diff
        book = feed.books["BTCUSDT"]
        assert dict(book.bids) == bids and dict(book.asks) == asks, f"cycle {cycle}"
        moved = feed.pop_due((cycle - 1) * period + N * 100 // 2 + period)  # half the next one
        assert moved and (dict(book.bids) != bids or dict(book.asks) != asks)


def test_offsets_and_the_pu_chain_run_on_across_cycles():
    feed, _, _ = _feed()
    diffs = _diffs(feed.pop_due(3 * (N * 100 + 200)))
    assert len(diffs) == 3 * (N + 1)  # N diffs and the reset, three times
    times = [d["E"] for d in diffs]
    assert times == sorted(times) and len(set(times)) == len(times)
    for prev, cur in zip(diffs, diffs[1:], strict=False):
        assert cur["pu"] == prev["u"] and cur["U"] == prev["u"] + 1


def test_later_cycles_send_the_first_cycles_levels():
    feed, _, _ = _feed()
    diffs = _diffs(feed.pop_due(2 * (N * 100 + 200)))
    first, second = diffs[: N + 1], diffs[N + 1 :]
    assert [(d["b"], d["a"]) for d in first] == [(d["b"], d["a"]) for d in second]
    assert any(d["b"] or d["a"] for d in first)


def test_a_reset_diff_deletes_levels_the_cycle_added_and_restores_changed_ones():
    bids, asks = [(99.0, 1.0), (98.0, 2.0)], [(101.0, 1.0)]
    ups = [Update(0, [(98.0, 5.0), (97.0, 1.0)], [(101.0, 0.0), (102.0, 3.0)])]
    stream = cycled(bids, asks, ups)
    assert next(stream) is ups[0]
    reset = next(stream)
    assert sorted(reset.bids) == [(97.0, 0.0), (98.0, 2.0)]
    assert sorted(reset.asks) == [(101.0, 1.0), (102.0, 0.0)]
    again = next(stream)
    assert again.offset_ms == 200 and again.bids == ups[0].bids


def test_an_empty_schedule_is_refused():
    with pytest.raises(ValueError, match="at least one update"):
        cycled([(99.0, 1.0)], [(101.0, 1.0)], [])


def test_a_captures_own_ids_are_not_replayed():
    with pytest.raises(ValueError, match="ids cannot repeat"):
        cycled([(99.0, 1.0)], [(101.0, 1.0)], [Update(0, [(99.0, 2.0)], [], ids=(5, 6, 4))])
