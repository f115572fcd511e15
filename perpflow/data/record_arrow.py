"""The recorder's `book_diffs`, `trades` and `book` batches as Arrow tables, made from the raw
messages and the sampled books.

A flush holds tens of thousands of diff messages (a row per level), kept as the JSON text
received (`record_ccxt.Messages`), and aggTrades, kept as columns of the fields a trade is read
from (`record_ccxt.AggTrades`). pyarrow's JSON reader parses the diffs in C++ (without
the GIL: the event loop goes on receiving meanwhile), the rows are laid out with NumPy (a
message's bids, then its asks; each symbol's messages in receive order, one symbol after the
other: the store's partitions) and the columns are the store's (types and pandas metadata of
what `Table.from_pandas` made of the declared frame, `arrow_schema`). The store holds the same
part files the pandas reference (`tests/data/record_reference.py`, snapshot dicts
through `store.store_events`) wrote (`tests/data/test_recorder_speed.py`). Times are converted
as the store converts them (pandas, per message). A message that is not what the recorder
expects (a missing id or time, a level that is not two numbers) raises a `SchemaError` naming
the field; the store's Arrow path checks every rule of the schema (`store_arrow`).
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from perpflow.data.errors import SchemaError
from perpflow.data.record_ccxt import AggTrades, Messages
from perpflow.data.schemas import TIME, level_columns, schema_for

_LEVELS = pa.list_(pa.list_(pa.string()))
DIFF_FIELDS = pa.schema([("s", pa.string()), ("E", pa.int64()), ("U", pa.int64()),
                         ("u", pa.int64()), ("pu", pa.int64()), ("b", _LEVELS), ("a", _LEVELS)])  # fmt: skip
# an aggTrade's fields, as the recorder keeps them (`record_ccxt.AggTrades`)
AGG_FIELDS = pa.schema([("s", pa.string()), ("T", pa.int64()), ("a", pa.int64()),
                        ("p", pa.string()), ("q", pa.string()), ("m", pa.bool_())])  # fmt: skip


@cache
def arrow_schema(kind: str, levels: int = 0) -> pa.Schema:
    """The Arrow schema (with its pandas metadata) the store writes `kind`'s records in: what
    `pa.Table.from_pandas` makes of a frame in the declared columns and dtypes (and, for the
    wide book kinds, `levels` levels)."""
    frame = schema_for(kind).empty()
    if levels:
        wide = pd.DataFrame({c: pd.Series(dtype="float64") for c in level_columns(levels)})
        frame = pd.concat([frame, wide], axis=1)
    return pa.Schema.from_pandas(frame, preserve_index=False)


def parse(messages: Messages, fields: pa.Schema, kind: str) -> pa.Table:
    """The messages' JSON texts as a table of `fields` (other keys ignored, a missing one null),
    one row per message; a `SchemaError` naming `kind` when they do not parse as that."""
    data = "\n".join(messages.texts).encode()
    # one block (a message never straddles two); newlines inside a message are JSON whitespace
    read = pj.ReadOptions(use_threads=False, block_size=min(len(data) + 1, 2**31 - 1))
    opts = pj.ParseOptions(explicit_schema=fields, unexpected_field_behavior="ignore",
                           newlines_in_values=True)  # fmt: skip
    try:
        return pj.read_json(io.BytesIO(data), read_options=read, parse_options=opts)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(f"{kind} records: the recorder's messages do not parse as "
                          f"{list(fields.names)} ({exc})") from None  # fmt: skip


def _required(kind: str, t: pa.Table, names: tuple[str, ...]) -> None:
    for name in names:
        col = t[name]
        if col.null_count:
            i = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise SchemaError(f"{kind} records: message field {name!r} is missing in "
                              f"{col.null_count} message(s), first at position {i}")  # fmt: skip


def store_time(ms: np.ndarray) -> pa.Array:
    """ms epoch numbers as the store's UTC microsecond timestamps, converted as `store_times`
    and the schema convert them (`pd.to_datetime(..., unit="ms")`, then to µs)."""
    t = pd.Series(pd.to_datetime(ms, unit="ms", utc=True))
    t = t if str(t.dtype) == TIME else t.dt.tz_convert("UTC").astype(TIME)
    missing = t.isna().to_numpy()
    return pa.array(
        t.array.asi8, pa.timestamp("us", tz="UTC"), mask=missing if missing.any() else None
    )


def _numbers(kind: str, levels: pa.ChunkedArray, side: str) -> np.ndarray:
    """A column of `[price, size]` string pairs per message as an (n, 2) float array."""
    pairs = pc.list_flatten(levels)
    lengths = pc.list_value_length(pairs)
    if len(pairs) and (
        pairs.null_count or pc.min(lengths).as_py() != 2 or pc.max(lengths).as_py() != 2
    ):
        raise SchemaError(f"{kind} records: a {side} level is not [price, size]")
    try:
        return pc.list_flatten(pairs).cast(pa.float64()).to_numpy().reshape(-1, 2)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(
            f"{kind} records: a {side} price or size is not a number ({exc})"
        ) from None


def _within(counts: np.ndarray) -> np.ndarray:
    """Each row's position inside its message, for messages of `counts` rows."""
    return np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)


def diff_table(messages: Messages, exchange: str) -> pa.Table:
    """`book_diffs` rows of the diff messages: exchange, symbol (`s`), ts_event (`E`), ts_recv,
    U, u, pu (-1 where a message has none), side, price, size; per message its bids, then its
    asks, the messages of each symbol in receive order, symbol after symbol (in order of first
    appearance: the store's partitions, each a slice)."""
    kind = "book_diffs"
    t = parse(messages, DIFF_FIELDS, kind)
    _required(kind, t, ("s", "E", "U", "u"))
    nb = pc.list_value_length(t["b"]).fill_null(0).to_numpy()
    na = pc.list_value_length(t["a"]).fill_null(0).to_numpy()
    bids, asks = _numbers(kind, t["b"], "bid"), _numbers(kind, t["a"], "ask")
    symbol = t["s"].combine_chunks()
    codes = pc.dictionary_encode(symbol).indices.to_numpy()
    order = np.argsort(
        codes.astype("int16" if len(codes) and codes.max() < 2**15 else "int64"), kind="stable"
    )
    n = nb + na
    first = np.empty(len(n), dtype="int64")  # each message's first row
    first[order] = np.cumsum(n[order]) - n[order]
    at_b = np.repeat(first, nb) + _within(nb)
    at_a = np.repeat(first + nb, na) + _within(na)
    rows = len(at_b) + len(at_a)
    px, sz, bid = np.empty(rows), np.empty(rows), np.zeros(rows, dtype=bool)
    px[at_b], sz[at_b], bid[at_b] = bids[:, 0], bids[:, 1], True
    px[at_a], sz[at_a] = asks[:, 0], asks[:, 1]
    msg = pa.array(np.repeat(order, n[order]))  # each row's message
    per_message = {
        "symbol": symbol.cast(pa.large_string()),
        "ts_event": store_time(t["E"].to_numpy()),
        "ts_recv": store_time(np.asarray(messages.times, dtype="float64")),
        "U": t["U"].combine_chunks(), "u": t["u"].combine_chunks(),
        "pu": t["pu"].combine_chunks().fill_null(-1),
    }  # fmt: skip
    cols = {c: a.take(msg) for c, a in per_message.items()}
    cols["exchange"] = pa.repeat(pa.scalar(exchange, pa.large_string()), rows)
    cols["side"] = pa.array(["ask", "bid"], pa.large_string()).take(pa.array(bid.view("int8")))
    cols["price"], cols["size"] = pa.array(px), pa.array(sz)
    schema = arrow_schema(kind)
    return pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)


def _column(kind: str, name: str, values: list, typ: pa.DataType) -> pa.Array:
    """A message field of every message as an Arrow array of `typ`, or a `SchemaError` naming
    the field (a value of another type, or missing)."""
    try:
        arr = pa.array(values, typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
        raise SchemaError(f"{kind} records: message field {name!r} is not {typ} ({exc})") from None
    if arr.null_count:
        i = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise SchemaError(f"{kind} records: message field {name!r} is missing in "
                          f"{arr.null_count} message(s), first at position {i}")  # fmt: skip
    return arr


def trade_table(aggs: AggTrades, parsed: list[tuple], exchange: str) -> pa.Table:
    """`trades` rows: the trades ccxt parsed (`record_batches.TRADE_COLUMNS` tuples), then the
    aggTrade messages read as ccxt's `binance.parse_trade` reads them: id `a`, time `T`, the taker
    sold when the buyer was the maker (`m`), price `p`, amount `q`."""
    kind, schema = "trades", arrow_schema("trades")
    parts = []
    if parsed:
        sym, ts, recv, ids, side, price, amount = (list(c) for c in zip(*parsed, strict=True))
        parts.append([pa.array(sym, pa.large_string()), store_time(np.asarray(ts, "float64")),
                      store_time(np.asarray(recv, "float64")), pa.array(ids, pa.large_string()),
                      pa.array(side, pa.large_string()), pa.array(price, pa.float64()),
                      pa.array(amount, pa.float64())])  # fmt: skip
    if len(aggs):
        col = {
            n: _column(kind, n, getattr(aggs, n), t)
            for n, t in zip(AGG_FIELDS.names, AGG_FIELDS.types, strict=True)
        }
        try:
            pq = [col[c].cast(pa.float64()) for c in ("p", "q")]
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SchemaError(
                f"{kind} records: a price or amount is not a number ({exc})"
            ) from None
        side = pa.array(["buy", "sell"], pa.large_string()).take(col["m"].cast(pa.int8()))
        parts.append([col["s"].cast(pa.large_string()),
                      store_time(col["T"].to_numpy().astype("float64")),
                      store_time(np.asarray(aggs.times, dtype="float64")),
                      col["a"].cast(pa.large_string()), side, *pq])  # fmt: skip
    n = sum(len(p[0]) for p in parts)
    cols = [pa.repeat(pa.scalar(exchange, pa.large_string()), n)]
    cols += [pa.concat_arrays([p[i] for p in parts]) for i in range(7)]
    return pa.Table.from_arrays(cols, schema=schema)


def book_table(snaps: list[dict]) -> pa.Table:
    """`book` rows of the recorder's snapshots (dicts: exchange, symbol, ts_event and ts_recv in
    ms, nonce, `bid_px_0`, `bid_sz_0`, ... for as many levels as the first holds); NaN (a
    shallower book, no nonce) is stored as null, as `Table.from_pandas` stores it."""
    levels = sum(1 for c in snaps[0] if str(c).startswith("bid_px_"))
    cols = level_columns(levels)
    block = np.array([[r[c] for c in cols] for r in snaps], dtype="float64").reshape(len(snaps), -1)
    head = [pa.array([r["exchange"] for r in snaps], pa.large_string()),
            pa.array([r["symbol"] for r in snaps], pa.large_string()),
            store_time(np.array([r["ts_event"] for r in snaps], dtype="float64")),
            store_time(np.array([r["ts_recv"] for r in snaps], dtype="float64")),
            pa.array(np.array([r["nonce"] for r in snaps], dtype="float64"), from_pandas=True)]  # fmt: skip
    wide = [pa.array(block[:, i], from_pandas=True) for i in range(len(cols))]
    return pa.Table.from_arrays(head + wide, schema=arrow_schema("book", levels))
