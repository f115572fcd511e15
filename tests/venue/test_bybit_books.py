"""Bybit books through ccxt.pro's own Bybit handlers, offline: the real 2026-08-09 capture's
frames are handed to a real `ccxt.pro.bybit` client (markets from the captured instrument list),
and the recorder samples its books. Every sampled top 20 equals the capture's independently
rebuilt book (`derived/`) at the same update, every raw delta is kept with Bybit's update ids,
and the records land in the store as Bybit's."""

from __future__ import annotations

import asyncio
import io
import json

import ccxt.pro
import numpy as np
import pandas as pd

from perpflow.data.record import BookRecorder
from perpflow.data.store import read_events
from perpflow.strategy.book_signals import load_books
from tests.conftest import shared_data_dir

SYMBOLS = ["BTC/USDT:USDT", "ETH/USDT:USDT"]


async def _offline_bybit(capture) -> ccxt.pro.bybit:
    """A ccxt.pro Bybit client whose markets come from the captured instrument list."""
    ex = ccxt.pro.bybit({"options": {"defaultType": "swap", "fetchMarkets": {"types": ["linear"]}}})
    info = json.loads(
        (capture / "derived" / "bybit_linear_instruments_info_2026-08-09.json").read_text()
    )

    async def instruments(params=None):
        return (
            {"retCode": 0, "result": {"list": []}}
            if (params or {}).get("status") == "PreLaunch"
            else info
        )

    ex.publicGetV5MarketInstrumentsInfo = instruments
    await ex.load_markets()
    return ex


def _frames(capture):
    import zstandard

    with (
        (capture / "BYBIT.jsonl.zst").open("rb") as fh,
        zstandard.ZstdDecompressor().stream_reader(fh) as raw,
    ):
        for line in io.TextIOWrapper(raw, encoding="utf-8"):
            rec = json.loads(line)
            if rec["t"] == "recv" and '"topic":"orderbook.' in rec["data"]:
                yield json.loads(rec["data"])


def test_bybit_books_recorded_through_ccxt_pro_equal_the_capture(tmp_path):
    capture = shared_data_dir("raw/cryptofeed_sample_data")
    derived = pd.read_parquet(capture / "derived" / "bybit_linear_l2_top20_2026-08-09.parquet")
    derived = derived.assign(
        ms=pd.to_datetime(derived["ts"], utc=True).dt.as_unit("ms").astype("int64")
    )
    expected = derived.groupby(["symbol", "ms"]).last()

    async def run():
        ex = await _offline_bybit(capture)
        rec = BookRecorder(ex, tmp_path, SYMBOLS, levels=20)
        client = ex.client("wss://stream.bybit.com/v5/public/linear")
        checked, levels = 0, 0
        for msg in _frames(capture):
            ex.handle_message(client, msg)
            levels += len(msg["data"]["b"]) + len(msg["data"]["a"])
            sym = msg["data"]["s"]
            if sym not in ("BTCUSDT", "ETHUSDT"):
                continue
            assert rec.sample() >= 1  # a book is sampled once it has both sides
            row = next(r for r in reversed(rec.buf.snaps) if r["symbol"] == sym)
            want = expected.loc[(sym, msg["ts"])]
            for side in ("bid", "ask"):
                got = [row[f"{side}_px_{i}"] for i in range(20)]
                np.testing.assert_allclose(got, [want[f"{side}_px_{i}"] for i in range(20)])
                np.testing.assert_allclose([row[f"{side}_sz_{i}"] for i in range(20)],
                                           [want[f"{side}_sz_{i}"] for i in range(20)])  # fmt: skip
            checked += 1
        rec.flush()
        await ex.close()
        return checked, levels

    checked, levels = asyncio.run(run())
    assert checked > 500
    # every raw delta and snapshot level is stored, with Bybit's update ids; the second
    # BTC and ETH snapshots (a new connection in the capture) break the chain: recorded as gaps
    diffs = read_events(tmp_path, "book_diffs")
    assert len(diffs) == levels and set(diffs["exchange"]) == {"bybit"}
    deltas = diffs[diffs["pu"] >= 0]
    assert (deltas["pu"] == deltas["u"] - 1).all() and (diffs["U"] == diffs["u"]).all()
    gaps = read_events(tmp_path, "book_gaps")
    assert sorted(gaps.loc[gaps["reason"] == "diff chain", "symbol"]) == ["BTCUSDT", "ETHUSDT"]
    book = read_events(tmp_path, "book")
    assert set(book["exchange"]) == {"bybit"} and set(book["symbol"]) == {"BTCUSDT", "ETHUSDT"}
    assert (book["bid_px_0"] < book["ask_px_0"]).all() and book["nonce"].isna().all()
    assert len(load_books(tmp_path, "bybit", "BTCUSDT", book["ts_event"].min())) > 0
