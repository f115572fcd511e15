"""Oracle tests of the matching engine's fast paths: a scripted session (`engine_scenario`) must
give the answers, fills, prices, ledger rows and user-data events the engine gave before them
(`data/engine_golden.json.gz`), and the sqlite ledger must read back exactly what was in memory."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

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
