"""Endless diff floods that cost the local exchange no generation while they run.

`synthetic_stream` makes each diff in Python as it falls due, which was half the venue's CPU when
it flooded a recorder at 18,000 diffs/s on the same two cores: what a benchmark measured was
partly the flood. `synthetic_cycle` makes a few seconds of diffs before the flood starts and
`cycled` replays them without end, each message rendered once. Written by hand: the replay rule
(a diff that puts the book back as the cycle began) is specific to `perpflow.venue.depth`.
"""

from __future__ import annotations

from collections.abc import Iterator

from perpflow.venue.depth import Update, apply_update, synthetic_updates


def cycled(
    bids: list, asks: list, updates: list[Update], *, every_ms: int = 100
) -> Iterator[Update]:
    """`updates` (a schedule starting from the book `bids` / `asks`) without end: after its last
    diff, one diff that puts the book back as it started, then the same diffs again, one cycle
    (last offset + `every_ms`) later. Each message is rendered once, on its first cycle: a flood
    benchmark makes a few seconds of diffs before it starts and the venue spends its CPU sending,
    not making them (`synthetic_stream` in Python was half the venue's CPU under a flood)."""
    if not updates:
        raise ValueError("cycled needs at least one update")
    if any(up.ids is not None for up in updates):  # a capture's own ids would repeat
        raise ValueError("cycled replays diffs the feed numbers; a raw capture's ids cannot repeat")
    book_b, book_a = dict(bids), dict(asks)
    for up in updates:  # the book at the end of a cycle, as the venue applies them
        apply_update(book_b, book_a, up)
    back = []
    for end, start in ((book_b, dict(bids)), (book_a, dict(asks))):
        back.append([(p, q) for p, q in start.items() if end.get(p) != q]
                    + [(p, 0.0) for p in end if p not in start])  # fmt: skip
    period = updates[-1].offset_ms + 2 * every_ms
    return _replay([*updates, Update(updates[-1].offset_ms + every_ms, back[0], back[1])], period)


def _replay(schedule: list[Update], period: int) -> Iterator[Update]:
    """`schedule` as is, then again and again, each time `period` ms later."""
    yield from schedule
    cycle = 1
    while True:
        shift = cycle * period
        for up in schedule:  # the same message, later (its rendered text is shared)
            yield Update(up.offset_ms + shift, up.bids, up.asks, up.trades, up.ids, up.text)
        cycle += 1


def synthetic_cycle(mid: float, *, tick: float, n: int = 20_000, seed: int = 0,
                    every_ms: int = 100) -> tuple[list, list, Iterator[Update]]:  # fmt: skip
    """`synthetic_updates`' `n` diffs (made now), replayed without end by `cycled`."""
    bids, asks, ups = synthetic_updates(mid, tick=tick, n=n, every_ms=every_ms, seed=seed)
    return bids, asks, cycled(bids, asks, ups, every_ms=every_ms)
