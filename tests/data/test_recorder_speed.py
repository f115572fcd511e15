"""The recorder's fast paths (issue 19) against their references, offline.

- Arrow batches (`record_arrow`) written through the store's Arrow path (`store_arrow`) store
  exactly the part files (rows, order, types, pandas metadata) the pandas reference
  (`tests/data/record_reference.py`, snapshot dicts, `store.store_events`) stored for
  the same messages, the venue's own flood among them (a price twice in one message);
- a bad value is refused with a `SchemaError` naming the column, and nothing is written;
- a batch retried after a partly failed write stores every event once;
- `record_book`'s staged sides read as ccxt's own sides after any mix of diffs, snapshots,
  resets and reads; `record_ccxt.lean_diffs` leaves a book, its subscription and its watch as
  ccxt.pro's `handle_order_book` does (applied, buffered, dropped, or dropped and re-synced);
- a book level that is not a number stops the recorder (`BookRecorder.failed`) instead of
  ccxt's receive loop.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random

import ccxt
import ccxt.pro
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aiohttp import WSMessage, WSMsgType

from perpflow.data import store
from perpflow.data.durable import DurableWriter
from perpflow.data.errors import SchemaError
from perpflow.data.record import BookRecorder
from perpflow.data.record_arrow import book_table, diff_table, trade_table
from perpflow.data.record_book import staged_order_book
from perpflow.data.record_ccxt import AggTrades, Messages, lean_diffs, store_times
from perpflow.data.store import read_events, store_events, write_events
from perpflow.data.store_arrow import store_table
from perpflow.venue.depth import DepthFeed, synthetic_stream
from perpflow.venue.overlay import ccxt_config
from perpflow.venue.server import VenueServer
from tests.data.record_reference import agg_trade_rows, diff_rows
from tests.venue.private_env import write_market

SYMBOL, T0 = "BTC/USDT:USDT", 1_780_000_000_000  # ms epoch, 2026-05-28


@pytest.fixture(scope="module")
def markets(tmp_path_factory):
    """The venue's markets and currencies, loaded once over HTTP."""
    datadir = write_market(tmp_path_factory.mktemp("speed"))

    async def load():
        ex = ccxt.pro.binance(ccxt_config(server.url))
        try:
            await ex.load_markets()
            return ex.markets, ex.currencies
        finally:
            await ex.close()

    with VenueServer(datadir) as server:
        return asyncio.run(load())


def _exchange(markets) -> ccxt.pro.binance:
    ex = ccxt.pro.binance(ccxt_config("http://127.0.0.1:9"))  # never connects
    ex.set_markets(*markets)
    return ex


def _flood(ms: int = 300) -> tuple[Messages, AggTrades, list]:
    """The venue's messages for two books over `ms` ms of a 600x flood, with receive times: the
    diffs' texts, the aggTrades as the recorder keeps them and as (receive ms, message)."""
    feed = DepthFeed({"BTCUSDT": synthetic_stream(100_000.0, tick=0.1, seed=1),
                      "ETHUSDT": synthetic_stream(3_000.0, tick=0.01, seed=2)}, speed=600, ledger=0)  # fmt: skip
    feed.start(T0)
    diffs, aggs, received = Messages(), AggTrades(), []
    for i, (_, text, _) in enumerate(m for t in range(0, ms, 5) for m in feed.pop_due(T0 + t)):
        t = T0 + i * 0.0137 + 0.0004
        if '"depthUpdate"' in text:
            diffs.times.append(t)
            diffs.texts.append(text)
        else:
            aggs.add(t, orjson.loads(text))
            received.append((t, orjson.loads(text)))
    return diffs, aggs, received


def _parsed(m: Messages) -> list[tuple[float, dict]]:
    return [(t, orjson.loads(x)) for t, x in zip(m.times, m.texts, strict=True)]


def _parts(root, kind: str) -> dict[str, pa.Table]:
    """Every part of `kind` by partition folder (one part each here), as written."""
    files = sorted((root / kind).rglob("part-*.parquet"))
    out = {str(f.parent.relative_to(root)): pq.read_table(f) for f in files}
    assert len(out) == len(files), "one part per partition"
    return out


def _snapshots(n: int, levels: int = 5) -> list[dict]:
    rnd, rows = random.Random(3), []
    for i in range(n):
        row = {"exchange": "binance", "symbol": ("BTCUSDT", "ETHUSDT")[i % 2], "ts_event": T0 + i * 7,
               "ts_recv": T0 + i * 10.25, "nonce": float(1000 + i) if i % 5 else np.nan}  # fmt: skip
        for side in ("bid", "ask"):
            depth = rnd.randrange(1, levels + 1)  # a shallow book: NaN beyond its depth
            for k in range(levels):
                px = 100.0 + (k + 1) * (1 if side == "ask" else -1) if k < depth else np.nan
                row[f"{side}_px_{k}"], row[f"{side}_sz_{k}"] = (
                    px,
                    rnd.random() if k < depth else np.nan,
                )
        rows.append(row)
    return rows


def test_arrow_batches_store_the_parts_the_pandas_path_stored(tmp_path):
    diffs, aggs, received = _flood()
    old, new = tmp_path / "pandas", tmp_path / "arrow"
    rows = diff_rows(_parsed(diffs)).assign(exchange="binance")
    assert rows.duplicated().any(), "the flood repeats a level within a message: exercised"
    store_events(old, "book_diffs", rows)
    store_events(old, "trades", store_times(agg_trade_rows(received).assign(exchange="binance")))
    snaps = _snapshots(40)
    store_events(old, "book", store_times(pd.DataFrame(snaps)))
    write_events(new, "book_diffs", diff_table(diffs, "binance"), time_col="ts_recv")
    write_events(new, "trades", trade_table(aggs, [], "binance"), time_col="ts_recv")
    write_events(new, "book", book_table(snaps), time_col="ts_recv")
    for kind in ("book_diffs", "trades", "book"):
        a, b = _parts(old, kind), _parts(new, kind)
        assert a.keys() == b.keys() and len(a) == 2, kind
        for where, table in a.items():
            assert b[where].equals(table, check_metadata=True), (kind, where)
    assert len(read_events(new, "book_diffs")) == len(rows.drop_duplicates())


def test_trades_ccxt_parsed_and_tapped_go_in_one_batch(tmp_path):
    _, aggs, received = _flood(60)
    parsed = [("ETHUSDT", T0 + 1.0, T0 + 2.5, "t-1", "buy", 3000.5, 0.25)]
    table = trade_table(aggs, parsed, "binance")
    assert len(table) == len(aggs) + 1 and table["id"][0].as_py() == "t-1"
    write_events(tmp_path, "trades", table, time_col="ts_recv")
    got = read_events(tmp_path, "trades")
    assert set(got["id"]) == {"t-1", *(str(m["a"]) for _, m in received)}


def _aggs(*messages: dict) -> AggTrades:
    out = AggTrades()
    for i, m in enumerate(messages):
        out.add(T0 + 1.0 + i, m)
    return out


def _one(**change) -> Messages:
    msg = {"e": "depthUpdate", "E": T0, "s": "BTCUSDT", "U": 5, "u": 6, "pu": 4,
           "b": [["100.5", "1.5"], ["100.4", "2"]], "a": [["101", "0"]]} | change  # fmt: skip
    return Messages(
        [T0 + 1.5], [orjson.dumps({k: v for k, v in msg.items() if v is not None}).decode()]
    )


@pytest.mark.parametrize("change, match", [
    ({"b": [["-100.5", "1.5"]]}, r"column 'price' \(quote per base\) must be a finite number > 0: 1 record"),
    ({"a": [["101", "-1"]]}, r"column 'size' .* must be a finite number >= 0"),
    ({"b": [["abc", "1.5"]]}, r"a bid price or size is not a number"),
    ({"b": [["100.5"]]}, r"a bid level is not \[price, size\]"),
    ({"u": None}, r"message field 'u' is missing in 1 message"),
    ({"s": "BTC/USDT"}, r"column 'symbol' .* must match"),
    ({"E": "soon"}, r"do not parse"),
])  # fmt: skip
def test_a_bad_value_in_a_recorder_batch_is_refused_naming_it(tmp_path, change, match):
    with pytest.raises(SchemaError, match=match):
        write_events(tmp_path, "book_diffs", diff_table(_one(**change), "binance"))
    assert not list(tmp_path.rglob("*.parquet"))


def test_an_arrow_batch_in_other_columns_or_types_is_refused(tmp_path):
    table = diff_table(_one(), "binance")
    with pytest.raises(SchemaError, match="are not the store's"):
        write_events(
            tmp_path, "book_diffs", table.set_column(8, "price", table["price"].cast(pa.string()))
        )
    with pytest.raises(SchemaError, match="are not the store's"):
        write_events(tmp_path, "book_diffs", table.drop_columns(["pu"]))
    agg = {"e": "aggTrade", "s": "BTCUSDT", "T": T0, "a": 7, "p": "100", "q": "0", "m": True}
    with pytest.raises(SchemaError, match=r"column 'amount' .* > 0"):
        write_events(tmp_path, "trades", trade_table(_aggs(agg), [], "binance"))
    with pytest.raises(SchemaError, match=r"message field 'T' is missing in 1 message"):
        trade_table(_aggs(agg | {"T": None}), [], "binance")
    with pytest.raises(SchemaError, match=r"message field 'a' is not int64"):
        trade_table(_aggs(agg | {"a": "x7"}), [], "binance")
    assert not list(tmp_path.rglob("*.parquet"))


def test_exact_repeats_are_stored_once_and_a_trade_twice_is_refused(tmp_path):
    twice = _one(b=[["100.5", "1.5"], ["100.5", "1.5"], ["100.5", "2"]])  # one exact repeat
    assert store_table(tmp_path, "book_diffs", diff_table(twice, "binance")).repeated == 1
    assert sorted(read_events(tmp_path, "book_diffs")["size"]) == [0.0, 1.5, 2.0]
    agg = {"e": "aggTrade", "s": "BTCUSDT", "T": T0, "a": 7, "p": "100", "q": "1", "m": True}
    same = _aggs(agg, agg)  # received twice: one event
    assert store_table(tmp_path, "trades", trade_table(same, [], "binance")).repeated == 1
    with pytest.raises(SchemaError, match="2 different records in one batch"):
        other = _aggs(agg | {"a": 8}, agg | {"a": 8, "p": "101"})
        store_table(tmp_path, "trades", trade_table(other, [], "binance"))


def test_a_batch_retried_after_a_partly_failed_write_stores_each_event_once(tmp_path, monkeypatch):
    diffs, _, _ = _flood(100)
    table = diff_table(diffs, "binance")
    put, calls = store._put, []

    def full_disk_on_the_second_part(path, df, bounds):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return put(path, df, bounds)

    monkeypatch.setattr(store, "_put", full_disk_on_the_second_part)
    writer = DurableWriter(tmp_path, retry_min=0.0)
    writer.add("book_diffs", table, time_col="ts_recv", messages=len(diffs))
    assert writer.write_due() == 0 and writer.pending and writer.failures == 1
    first = pq.read_table(calls[0])  # the part written before the disk filled up
    assert writer.write_due(force=True) == 1 and not writer.pending  # the first part: skipped
    assert writer.stored["book_diffs"] == len(table) and writer.messages["book_diffs"] == len(diffs)
    parts = _parts(tmp_path, "book_diffs")
    assert len(parts) == 2 and first.equals(parts[str(calls[0].parent.relative_to(tmp_path))])
    stored = pa.concat_tables(parts.values())
    assert len(stored) == len(table) - store_table(tmp_path / "x", "book_diffs", table).repeated
    again = store_table(tmp_path, "book_diffs", table)  # the whole batch once more: all stored
    assert again.new == 0 and not again.written and again.already == len(stored)


def _levels(rnd: random.Random, k: int) -> list[list[str]]:
    return [[f"{100 + rnd.randrange(40) / 4:g}", rnd.choice(["0", "0.5", "1.25", str(rnd.randrange(1, 9))])]
            for _ in range(rnd.randrange(k + 1))]  # fmt: skip


def test_staged_sides_read_as_ccxt_sides(markets):
    ex, rnd = _exchange(markets), random.Random(7)
    staged, plain = staged_order_book({}, 1000), ex.order_book({}, 1000)
    for step in range(3000):
        op = rnd.random()
        for name in ("bids", "asks"):
            if op < 0.8:
                levels = _levels(rnd, 6)
                staged[name].stage(levels)
                for p, s in levels:
                    plain[name].storeArray([float(p), float(s)])
            elif op < 0.85:  # ccxt's own store (a REST snapshot's level)
                level = [100 + rnd.randrange(40) / 4, float(rnd.randrange(3))]
                staged[name].storeArray(list(level))
                plain[name].storeArray(list(level))
            elif op < 0.86:
                snap = {"bids": [[99.0, 1.0]], "asks": [[101.0, 2.0]], "nonce": step}
                staged.reset(snap)
                plain.reset(snap)
        if op > 0.7:
            assert (
                list(staged["bids"]) == list(plain["bids"])
                and staged["asks"][:5] == plain["asks"][:5]
            )
            assert len(staged["asks"]) == len(plain["asks"]) and bool(staged["bids"]) == bool(
                plain["bids"]
            )
    assert staged["bids"] == plain["bids"] and staged.limit()["asks"] == plain.limit()["asks"]
    side = staged["bids"]
    side.stage(
        [["99.5", "3"], ["99.50", "4"], ["99.5", "5"]]
    )  # one price spelled two ways: last wins
    assert [lv for lv in side if lv[0] == 99.5] == [[99.5, 5.0]]
    before = list(side)
    side.stage([["99.25", "lots"]])
    for _ in range(2):  # a level that is not a number: every read raises, the side unchanged
        with pytest.raises(ValueError, match="lots"):
            len(side)
    side.clear()
    assert list(side) == [] and before


def _book_outcome(markets, messages: list[dict], *, lean: bool) -> tuple:
    """Hand `messages` to `handle_order_book` (ccxt's, or `lean_diffs`') over a synced book
    (nonce 10) with a watch waiting; the book, its subscription and the watch's fate after."""

    async def run():
        ex = _exchange(markets)
        if lean:
            lean_diffs(ex)
        client = ex.client("wss://fstream.binance.com/ws")
        ex.orderbooks[SYMBOL] = book = ex.order_book({}, 1000)
        book.reset({"bids": [[100.0, 1.0]], "asks": [[101.0, 1.0]], "nonce": 10, "timestamp": 1})
        client.subscriptions["orderbook::" + SYMBOL] = True
        watch = client.future("orderbook::" + SYMBOL)
        for m in messages:
            ex.handle_order_book(client, dict(m))
        kept = ex.orderbooks.get(SYMBOL)
        fate = (
            type(watch.exception()).__name__ if watch.done() and watch.exception() else watch.done()
        )
        waiting = type(client.rejections.get("orderbook::" + SYMBOL)).__name__
        out = (None if kept is None else (kept["nonce"], kept["timestamp"], list(kept["bids"]),
               list(kept["asks"]), len(kept.cache)), "orderbook::" + SYMBOL in client.subscriptions,
               fate, waiting)  # fmt: skip
        await ex.close()
        return out

    return asyncio.run(run())


def _diff(U, u, pu, bids=(), asks=(), sym="BTCUSDT"):  # noqa: N803
    return {"e": "depthUpdate", "E": T0 + u, "s": sym, "U": U, "u": u, "pu": pu,
            "b": [list(x) for x in bids], "a": [list(x) for x in asks]}  # fmt: skip


@pytest.mark.parametrize("messages", [
    [_diff(9, 12, 8, [("100.5", "2")]), _diff(13, 14, 12, [], [("101", "0"), ("101.5", "3")])],  # sync, continue
    [_diff(3, 5, 2, [("99", "1")])],  # older than the book: dropped
    [_diff(20, 22, 19, [("100.5", "9")])],  # a broken chain: dropped, the watch re-syncs
    [_diff(9, 12, 8), _diff(20, 22, 19)],  # ... after a resolved watch: the error waits for it
    [_diff(9, 12, 8, sym="ETHUSDT")],  # no book for it (yet): ignored
    [{k: v for k, v in _diff(11, 12, 10, [("100.5", "2")]).items() if k != "pu"}],  # no pu: ccxt's spot rules
    [_diff(11, 12, 10, [("100.5", "2")]) | {"u": "12"}],  # ids not integers: ccxt's handling
])  # fmt: skip
def test_lean_diff_handler_leaves_books_and_watches_as_ccxt_does(markets, messages):
    ccxt_way = _book_outcome(markets, messages, lean=False)
    assert _book_outcome(markets, messages, lean=True) == ccxt_way


def test_an_unsynced_book_buffers_its_diffs_as_ccxt_does(markets):
    async def cached(lean: bool) -> list:
        ex = _exchange(markets)
        if lean:
            lean_diffs(ex)
        client = ex.client("wss://fstream.binance.com/ws")
        ex.orderbooks[SYMBOL] = ex.order_book({}, 1000)  # subscribed, its snapshot not in yet
        ex.handle_order_book(client, _diff(9, 12, 8, [("100.5", "2")]))
        await ex.close()
        return ex.orderbooks[SYMBOL].cache

    assert asyncio.run(cached(True)) == asyncio.run(cached(False)) != []


def test_a_book_level_that_is_not_a_number_stops_the_recorder_not_the_socket(markets, tmp_path):
    async def run() -> BookRecorder:
        ex = _exchange(markets)
        rec = BookRecorder(ex, tmp_path, [SYMBOL], cadence=0.1)
        client = ex.client("wss://fstream.binance.com/ws")
        ex.orderbooks[SYMBOL] = book = ex.order_book({}, 1000)
        book.reset({"bids": [[100.0, 1.0]], "asks": [[101.0, 1.0]], "nonce": 10, "timestamp": 1})
        client.handle_message(WSMessage(WSMsgType.TEXT, frame, ""))  # ccxt's receive loop goes on
        await ex.close()
        return rec

    frame = orjson.dumps(_diff(9, 12, 8, [("100.5", "many")])).decode()
    rec = asyncio.run(run())
    assert isinstance(rec.failed, ValueError) and "many" in str(rec.failed)
    assert rec.buf.diffs.texts == [frame], "the message is kept as received"
