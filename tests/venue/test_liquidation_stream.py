"""The venue's forceOrder websocket and the liquidation collector, through a real ccxt.pro client:
everything sent arrives once, a dropped connection reconnects, and the gap is recorded."""

from __future__ import annotations

import asyncio
import time

import ccxt.pro
import numpy as np
import pandas as pd
import pytest

from perpflow.data.collect import LiquidationCollector
from perpflow.data.demo import generate_demo_market
from perpflow.data.liquidations import read_forceorder_csv
from perpflow.data.store import read_coverage, read_events
from perpflow.venue.overlay import ccxt_config
from perpflow.venue.server import VenueServer
from perpflow.venue.stream import event_key
from tests.conftest import shared_data_dir


@pytest.fixture(scope="module")
def datadir(tmp_path_factory):
    out = tmp_path_factory.mktemp("liq-venue")
    generate_demo_market(out, days=30, seed=3, pairs=("BTC/USDT:USDT",))
    return out


def _events(n: int, seconds: float, seed: int = 1) -> pd.DataFrame:
    """n liquidation orders over `seconds`, with bursts (several in the same millisecond)."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2025-10-22 09:36", tz="UTC")
    offs = np.sort(rng.integers(0, int(seconds * 1000), n))
    offs[5:9] = offs[5]  # a burst: four orders in one millisecond
    sym = rng.choice(["BTCUSDT", "ETHUSDT", "SOLUSDT"], n)
    price = np.where(sym == "BTCUSDT", 108_000.0, np.where(sym == "ETHUSDT", 3_900.0, 190.0))
    price = np.round(price * (1 + rng.normal(0, 0.001, n)), 2)
    qty = np.round(rng.uniform(0.01, 5, n), 3)
    ts = t0 + pd.to_timedelta(offs, unit="ms")
    return pd.DataFrame({"exchange": "binance", "symbol": sym,
                         "side": rng.choice(["buy", "sell"], n), "price": price, "qty": qty,
                         "notional": price * qty, "ts_event": ts, "ts_recv": ts})  # fmt: skip


def _pro_client(server: VenueServer):
    return ccxt.pro.binance(ccxt_config(server.url))  # the overlay's REST and websocket URLs


async def _collect(server, store, *, duration, drop_at=None, symbols=None, expect=0):
    ex = _pro_client(server)
    await ex.load_markets()
    col = LiquidationCollector(ex, store, symbols=symbols, flush_seconds=0.5)
    stop = asyncio.Event()
    task = asyncio.ensure_future(col.run(stop))
    t0 = time.monotonic()
    if drop_at is not None:
        await asyncio.sleep(drop_at)
        dropped = await asyncio.get_running_loop().run_in_executor(None, server.drop_streams)
        assert dropped >= 1
    await asyncio.sleep(max(0.0, duration - (time.monotonic() - t0)))
    # under load the schedule can run late: stop only once the exchange has sent (or missed)
    # every event and the client had a moment to read the last one, never on a fixed clock
    hub, total = server.hub, expect
    deadline = time.monotonic() + 60
    while total and len(hub.delivered) + len(hub.unheard) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    stop.set()
    stats = await task
    await ex.close()
    return stats


def _stored_keys(store) -> list[tuple]:
    got = read_events(store, "liquidations")
    t = got["ts_event"].astype("datetime64[ms, UTC]").astype("int64")
    cols = (got["symbol"], t, got["side"], got["price"], got["qty"])
    return [event_key(*row) for row in zip(*cols, strict=True)]


def test_stream_delivers_every_event_once(datadir, tmp_path):
    events = _events(120, 1.5)
    with VenueServer(datadir, liquidations=events, liquidation_speed=1.0) as server:
        stats = asyncio.run(_collect(server, tmp_path, duration=3.0, expect=120))
        hub = server.hub
    keys = _stored_keys(tmp_path)
    assert len(keys) == len(set(keys)) == 120, "every event stored exactly once, bursts included"
    assert {k for k, _ in hub.delivered} == set(keys) and not hub.unheard
    assert stats.reconnects == 0 and stats.gaps == []
    spans = read_coverage(tmp_path, "liquidation", "binance")
    assert len(spans) == 1 and spans[0, 1] - spans[0, 0] >= 2500, "one unbroken covered stretch"
    got = read_events(tmp_path, "liquidations")
    assert set(got["side"]) == {"buy", "sell"}
    assert np.allclose(got["notional"], got["price"] * got["qty"])


def test_dropped_connection_reconnects_without_dups_and_records_the_gap(datadir, tmp_path):
    events = _events(200, 3.0, seed=2)
    with VenueServer(datadir, liquidations=events, liquidation_speed=1.0) as server:
        stats = asyncio.run(_collect(server, tmp_path, duration=4.5, drop_at=1.2, expect=200))
        hub = server.hub
        connections = hub.connections
    keys = _stored_keys(tmp_path)
    delivered = {k for k, _ in hub.delivered}
    assert len(keys) == len(set(keys)), "no event stored twice across the reconnect"
    assert set(keys) == delivered, "everything the exchange sent was stored"
    assert len(delivered) + len(hub.unheard) == 200
    assert connections >= 2 and stats.reconnects >= 1
    gaps = read_events(tmp_path, "liquidation_gaps")
    assert len(gaps) == len(stats.gaps) >= 1
    lo = gaps["ts_event"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    hi = gaps["gap_end"].astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    for key, _ in hub.unheard:  # anything missed falls inside a recorded gap
        assert ((lo <= key[1]) & (key[1] <= hi)).any(), key
    spans = read_coverage(tmp_path, "liquidation", "binance")
    assert len(spans) >= 2, "coverage is split by the gap"
    for key, _ in hub.unheard:  # ... and outside the coverage features trust
        assert not ((spans[:, 0] <= key[1]) & (key[1] <= spans[:, 1])).any(), key


def test_symbol_stream_only_sends_that_symbol(datadir, tmp_path):
    events = _events(60, 1.0, seed=4)
    with VenueServer(datadir, liquidations=events, liquidation_speed=1.0) as server:
        asyncio.run(_collect(server, tmp_path, duration=2.0, symbols=["BTC/USDT:USDT"]))
    got = read_events(tmp_path, "liquidations")
    assert set(got["symbol"]) == {"BTCUSDT"}
    assert len(got) == int((events["symbol"] == "BTCUSDT").sum())


def test_real_forceorder_sample_replays_through_ccxt_pro(datadir, tmp_path):
    src = next(shared_data_dir("raw/binance_forceorder_liquidations").glob("*.csv"))
    real = read_forceorder_csv(src)
    span = (real["ts_event"].iloc[-1] - real["ts_event"].iloc[0]).total_seconds()
    with VenueServer(datadir, liquidations=real, liquidation_speed=span / 2.0) as server:
        stats = asyncio.run(_collect(server, tmp_path, duration=3.5))
    got = read_events(tmp_path, "liquidations")
    assert stats.stored == len(got) == len(real) == 222
    assert np.isclose(got["notional"].sum(), real["notional"].sum(), rtol=1e-9)
    assert (got.groupby("side")["notional"].sum().round(2).to_dict()
            == real.groupby("side")["notional"].sum().round(2).to_dict())  # fmt: skip


def test_collect_command_against_the_venue(datadir, tmp_path):
    """`perpflow collect liquidations --venue-url ...`, as a user runs it."""
    from perpflow.cli import main

    events = _events(40, 0.8, seed=6)
    with VenueServer(datadir, liquidations=events, liquidation_speed=1.0) as server:
        rc = main(["collect", "liquidations", "--venue-url", server.url, "--store",
                   str(tmp_path), "--duration", "2.5"])  # fmt: skip
    assert rc == 0
    assert len(read_events(tmp_path, "liquidations")) == 40


def test_collect_refuses_unknown_exchange(tmp_path, capsys):
    from perpflow.cli import main

    assert (
        main(["collect", "liquidations", "--exchange", "nosuchex", "--store", str(tmp_path)]) == 2
    )
    assert "unknown exchange 'nosuchex'" in capsys.readouterr().err
