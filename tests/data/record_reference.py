"""The pandas rows the recorder wrote before its Arrow path (`perpflow.data.record_arrow`): kept
only as the reference that path is tested against (tests/data/test_recorder_speed.py) and for
the diff-row rules of tests/data/test_recorder_faults.py."""

from __future__ import annotations

from itertools import chain
from operator import itemgetter

import numpy as np
import pandas as pd


def diff_rows(received: list[tuple[float, dict]]) -> pd.DataFrame:
    """One row per level of each diff message (any mix of symbols, each its own `s`): symbol,
    ts_event (E), ts_recv, U, u, pu, side, price, size, in receive order (a message's bids, then
    its asks). The pandas reference `record_arrow.diff_table` (what the recorder writes) is
    tested against (`tests/data/test_recorder_speed.py`)."""
    import pyarrow as pa

    msgs, k = [m for _, m in received], len(received)
    nb = np.fromiter(map(len, map(itemgetter("b"), msgs)), "int64", k)
    n = nb + np.fromiter(map(len, map(itemgetter("a"), msgs)), "int64", k)
    cols = ["symbol", "ts_event", "ts_recv", "U", "u", "pu", "side", "price", "size"]
    flat = list(chain.from_iterable(chain.from_iterable(chain(m["b"], m["a"]) for m in msgs)))
    if not flat:  # messages that changed no level (an empty snapshot)
        return pd.DataFrame(columns=cols)
    pq = pa.array(flat, type=pa.string()).cast(pa.float64()).to_numpy().reshape(-1, 2)
    rows = np.repeat(np.arange(k), n)
    bid = np.arange(len(rows)) - np.repeat(np.cumsum(n) - n, n) < nb[rows]
    ids = np.array(list(map(itemgetter("E", "U", "u"), msgs)), dtype="int64")[rows]
    codes, symbols = pd.factorize(np.fromiter(map(itemgetter("s"), msgs), object, k))
    return pd.DataFrame({
        "symbol": pd.array(symbols, dtype="str").take(codes[rows]),
        "ts_event": pd.to_datetime(ids[:, 0], unit="ms", utc=True),
        "ts_recv": pd.to_datetime(np.fromiter(map(itemgetter(0), received), "float64", k), unit="ms", utc=True)[rows],
        "U": ids[:, 1], "u": ids[:, 2],
        "pu": np.array([m.get("pu", -1) for m in msgs], dtype="int64")[rows],
        "side": pd.array(["ask", "bid"], dtype="str").take(bid.astype("int64")),
        "price": pq[:, 0], "size": pq[:, 1]})  # fmt: skip


def agg_trade_rows(received: list[tuple[float, dict]]) -> pd.DataFrame:
    """Binance `aggTrade` messages as `trades` rows (symbol, ts_event, ts_recv in ms, id, side,
    price, amount), read as ccxt's `binance.parse_trade` reads them: id `a`, time `T`, the taker
    sold when the buyer was the maker (`m`), price `p`, amount `q`. The pandas reference
    `record_arrow.trade_table` (what the recorder writes) is tested against."""
    import pyarrow as pa

    msgs = [m for _, m in received]
    num = pa.array([x for m in msgs for x in (m["p"], m["q"])], type=pa.string())
    pq = num.cast(pa.float64()).to_numpy().reshape(-1, 2)
    return pd.DataFrame({"symbol": [m["s"] for m in msgs],
                         "ts_event": np.array([m["T"] for m in msgs], dtype="float64"),
                         "ts_recv": np.array([t for t, _ in received], dtype="float64"),
                         "id": [str(m["a"]) for m in msgs],
                         "side": np.where(np.array([m["m"] for m in msgs], dtype=bool), "sell", "buy"),
                         "price": pq[:, 0], "amount": pq[:, 1]})  # fmt: skip
