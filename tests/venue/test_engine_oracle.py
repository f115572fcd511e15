"""Oracle tests of the matching engine's fast paths: a scripted session (`engine_scenario`) must
give the answers, fills, prices, ledger rows and user-data events the engine gave before them
(`data/engine_golden.json.gz`), the sqlite ledger must read back exactly what was in memory, and
the one-instant mark price and the quiet catch-up's cursor must equal their vector forms."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from perpflow.venue.ledger import Ledger
from tests.venue.engine_scenario import session

GOLDEN = Path(__file__).with_name("data") / "engine_golden.json.gz"


def _first_difference(got, want, where: str = "") -> str | None:
    if type(got) is not type(want):
        return f"{where}: {got!r} != {want!r}"
    if isinstance(got, dict):
        if got.keys() != want.keys():
            return f"{where}: keys {sorted(got.keys() ^ want.keys())} differ"
        diffs = (_first_difference(got[k], want[k], f"{where}.{k}") for k in got)
        return next((d for d in diffs if d), None)
    if isinstance(got, list):
        if len(got) != len(want):
            return f"{where}: {len(got)} items != {len(want)}"
        diffs = (
            _first_difference(g, w, f"{where}[{i}]")
            for i, (g, w) in enumerate(zip(got, want, strict=True))
        )
        return next((d for d in diffs if d), None)
    return None if got == want else f"{where}: {got!r} != {want!r}"


def test_session_matches_the_engine_before_its_fast_paths(tmp_path):
    want = json.loads(gzip.decompress(GOLDEN.read_bytes()))
    got = session(tmp_path)
    assert len(want["trades"]) > 100 and want["events"]  # the session does trade
    assert _first_difference(got, want) is None, _first_difference(got, want)


def test_sqlite_ledger_reads_back_the_session(tmp_path):
    state = tmp_path / "ledger.sqlite"
    got = session(tmp_path, state)
    back = Ledger(state)
    try:
        rows = {
            "orders": [vars(o) for o in back.orders.values()],
            "algos": [vars(a) for a in back.algos.values()],
            "positions": [vars(p) for p in back.positions.values()],
            "accounts": [vars(a) for a in back.accounts.values()],
            "trades": back.trades, "income": back.income, "meta": back.meta,
        }  # fmt: skip
    finally:
        back.close()
    mem = {k: got[k] for k in rows}
    for kind, key in (
        ("orders", "id"),
        ("algos", "id"),
        ("accounts", "key"),
        ("positions", "account"),
    ):
        rows[kind].sort(key=lambda r, key=key: r[key])  # loaded in sqlite's row order
        mem[kind] = sorted(mem[kind], key=lambda r, key=key: r[key])
    assert _first_difference(json.loads(json.dumps(rows)), mem) is None


def test_mark_price_for_one_instant_equals_the_path_marks(tmp_path):
    """`mark_price` (one instant, no arrays) against `path.marks` (the catch-up's vector form)."""
    import numpy as np

    from perpflow.venue.engine import Engine
    from perpflow.venue.path import marks
    from perpflow.venue.venue import Venue
    from tests.venue.engine_scenario import BARS
    from tests.venue.private_env import FakeClock, write_market

    clock = FakeClock()
    data = write_market(tmp_path, BARS, mark_basis=0.0003)
    engine = Engine(Venue(data, mode="replay", replay_date="2026-05-02", clock=clock), Ledger(None))
    basis = engine.basis("BTCUSDT")
    assert np.abs(basis[1]).max() > 1e-4  # the market has a basis to apply
    for step in (0.0, 0.25, 59.9, 61.0, 3600.0, 7300.5):
        clock.step(step)
        s = engine.venue.clock.stored_now_ms()
        p = engine.last_price("BTCUSDT")
        want = float(marks(np.array([s]), np.array([p]), basis)[0])
        assert engine.mark_price("BTCUSDT") == want


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    offset=st.one_of(st.sampled_from([0, 1, 30_000, 59_999]), st.integers(0, 59_999)),
    steps=st.lists(
        st.one_of(st.integers(1, 400_000), st.sampled_from([1, 30_000, 60_000, 180_000])),
        min_size=1,
        max_size=16,
    ),
    gap=st.booleans(),
)
@example(seed=1, offset=0, steps=[180_000, 60_000], gap=True)  # to a candle's end before a gap
@example(seed=2, offset=0, steps=[400_000] * 6 + [1], gap=False)  # to the data's end, past it
def test_cursor_after_equals_build_paths_cursor(seed, offset, steps, gap):
    """`cursor_after` (the quiet catch-up) against `build_path` (prints and cursor), step by
    step from a cursor inside a candle, across candles and over a gap in the data."""
    import numpy as np

    from perpflow.venue.path import build_path, cursor_after, initial_cursor
    from perpflow.venue.series import Table

    rng = np.random.default_rng(seed)
    ts = np.arange(40, dtype=np.int64) * 60_000 + 1_700_000_000_000
    if gap:
        ts[3:] += 3_600_000  # an hour without candles
    o = 100 + rng.normal(0, 1, len(ts))
    c = o + rng.normal(0, 1, len(ts))
    cols = {"open": o, "close": c, "high": np.maximum(o, c) + rng.random(len(ts)),
            "low": np.minimum(o, c) - rng.random(len(ts)), "volume": rng.random(len(ts)) * 10}  # fmt: skip
    table = Table(60_000, ts, cols)
    cur = initial_cursor(table, int(ts[0]) + offset)
    for step in steps:
        s1 = cur.t + step
        path, want = build_path(table, cur, s1)
        assert cursor_after(table, cur, s1) == (len(path) > 0, want)
        cur = want


def test_lazy_meta_is_written_with_the_next_change_only(tmp_path):
    """Cursors moved over quiet prints are not written on their own, but with the next change
    (and at close): the file never holds a change without the cursors it was made at."""
    from perpflow.venue.ledger import Account

    state = tmp_path / "ledger.sqlite"
    led = Ledger(state)
    led.set_meta("cursors", {"BTCUSDT": {"t": 1}})
    led.commit()
    led.set_meta("cursors", {"BTCUSDT": {"t": 2}}, lazy=True)
    assert not led.dirty
    led.commit()
    assert Ledger(state).meta["cursors"] == {"BTCUSDT": {"t": 1}}
    led.add(Account("k", 10.0))
    led.commit()
    assert Ledger(state).meta["cursors"] == {"BTCUSDT": {"t": 2}}
    led.set_meta("cursors", {"BTCUSDT": {"t": 3}}, lazy=True)
    led.close()
    assert Ledger(state).meta["cursors"] == {"BTCUSDT": {"t": 3}}
