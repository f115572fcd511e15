"""Every record kind perpflow stores, declared once: columns, dtypes, units, key and time columns.

Event-store kinds (`perpflow.data.store`: parquet partitioned by kind / exchange / symbol / UTC day
of the kind's `time_col`), coverage and audit records, and the Freqtrade data-dir kind the
importers write (`open_interest`). Writers validate every batch (`RecordSchema.validate`: a
`SchemaError` names the kind, the column and what is wrong); readers return frames in the declared
columns and dtypes (`RecordSchema.conform`). Times are UTC datetimes at microsecond resolution
(finer digits, the float noise of a local clock read in ms, are dropped on write).

`key`: the columns that say which event a record is. The same key with the same `values` is the
same event (stored once); the same key with other values is a correction (refused unless replaced,
with an audit record). `unique_key` kinds hold at most one record per key (one book snapshot per
sampling time); liquidations, book diffs and gaps may hold several (two liquidations of one
symbol and side in the same millisecond happen on Bybit; one aggregated diff message may move
one price level twice, the later row winning). For those, a new record at a stored key
conflicts only when the batch is a complete record of its span (an import).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from perpflow.data.errors import SchemaError

TIME = "datetime64[us, UTC]"
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"  # safe as a path component: no '/', never '.' or '..'
LEVEL_RE = re.compile(r"^(bid|ask)_(px|sz)_(\d+)$")
ALL_SYMBOLS = "ALL"  # the symbol of records that hold for every symbol (all-market streams)


@dataclass(frozen=True)
class Column:
    """One declared column. `rule`: "id" (exchange/symbol-like, path-safe), "text" (non-empty),
    "positive", "nonnegative", "finite" or "" (none); `choices`: the allowed strings."""

    name: str
    dtype: str
    unit: str
    rule: str = ""
    choices: tuple[str, ...] = ()
    nullable: bool = False
    optional: bool = False


@dataclass(frozen=True)
class RecordSchema:
    """A record kind: its columns, key, compared values, partition time column and where it
    lives ("events": the event store; "freqtrade": a Freqtrade data-dir file)."""

    kind: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    time_col: str
    values: tuple[str, ...] | None = None  # None: every other column
    unique_key: bool = True
    levels: bool = False  # wide book levels bid_px_0, bid_sz_0, ask_px_0, ask_sz_0, ...
    store: str = "events"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def value_columns(self, df: pd.DataFrame) -> list[str]:
        """The columns compared to tell the same event from a correction."""
        if self.values is not None:
            return list(self.values)
        return [c for c in df.columns if c not in self.key and not str(c).startswith("_")]

    def validate(self, df: pd.DataFrame) -> pd.DataFrame:
        """`df` as this kind's records (declared order and dtypes), or a `SchemaError` naming the
        column and what is wrong: a missing or undeclared column, a wrong type, a rule broken."""
        declared = set(self.names)
        extra = [
            c
            for c in df.columns
            if c not in declared and not (self.levels and LEVEL_RE.match(str(c)))
        ]
        if extra:
            raise SchemaError(f"{self.kind} records: column(s) {extra} are not {self.kind} columns "
                              f"(declared: {list(self.names)}); rename or drop them")  # fmt: skip
        out = {}
        for col in self.columns:
            if col.name not in df.columns:
                if not col.optional:
                    raise SchemaError(
                        f"{self.kind} records: column {col.name!r} ({col.unit}) is missing"
                    )
                continue
            s = _cast(self.kind, col, df[col.name])
            _check(self.kind, col, s)
            out[col.name] = s.reset_index(drop=True)
        frame = pd.DataFrame(out)
        if self.levels:
            frame = pd.concat([frame, _levels(self.kind, df)], axis=1)
        return frame

    def conform(self, df: pd.DataFrame, where: str = "") -> pd.DataFrame:
        """Stored records as this kind's frame: declared columns (optional ones added empty) in
        declared order and dtypes, without re-checking the rules (they were checked on write)."""
        out = {}
        for col in self.columns:
            if col.name in df.columns:
                s = df[col.name]
                out[col.name] = s if str(s.dtype) == col.dtype else _cast(self.kind, col, s)
            elif col.optional:
                out[col.name] = pd.Series(np.nan if col.dtype != "str" else None, index=df.index,
                                          dtype=col.dtype if col.dtype != "int64" else "float64")  # fmt: skip
            else:
                raise SchemaError(f"{self.kind} records{' in ' + where if where else ''} lack "
                                  f"column {col.name!r}: not written by perpflow's store")  # fmt: skip
        frame = pd.DataFrame(out, index=df.index)
        if self.levels:
            frame = pd.concat(
                [frame, df[[c for c in df.columns if LEVEL_RE.match(str(c))]]], axis=1
            )
        return frame

    def empty(self) -> pd.DataFrame:
        """No records, with the declared columns and dtypes."""
        return pd.DataFrame(
            {c.name: pd.Series(dtype=c.dtype) for c in self.columns if not c.optional}
        )

    def identity(self, record: Mapping) -> tuple:
        """Key and values of one record as a hashable tuple: what a live collector dedupes on
        before it writes. Times may be Timestamps or int ms epochs; floats count to 12
        significant digits."""
        return tuple(_norm(record[c]) for c in (*self.key, *(self.values or ())))


def _norm(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(f"{float(v):.12g}")
    if isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "tzinfo"):
        return int(pd.Timestamp(v).value // 1_000_000)  # ms epoch, as the exchanges stamp events
    return v


def _fail(kind: str, col: Column, what: str, mask: np.ndarray, values) -> None:
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        raise SchemaError(f"{kind} records: column {col.name!r} ({col.unit}) {what}: "
                          f"{int(mask.sum())} record(s), first at position {i} ({values[i]!r})")  # fmt: skip


def _cast(kind: str, col: Column, s: pd.Series) -> pd.Series:
    """`s` in `col`'s dtype, or a `SchemaError` when that would change or invent values."""
    where = f"{kind} records: column {col.name!r} ({col.unit})"
    if col.dtype.startswith("datetime64"):
        if not isinstance(s.dtype, pd.DatetimeTZDtype):
            raise SchemaError(f"{where} must hold UTC datetimes, got {s.dtype}"
                              " (convert epoch numbers with pd.to_datetime(..., utc=True))")  # fmt: skip
        if str(s.dtype) == col.dtype:
            return s
        return s.dt.tz_convert("UTC").astype(col.dtype)  # finer digits (float clock noise) dropped
    if col.dtype == "str":
        if str(s.dtype) == "str":
            return s
        kind_of = pd.api.types.infer_dtype(s, skipna=True)
        if kind_of not in ("string", "empty"):
            raise SchemaError(f"{where} must hold strings, got {kind_of}")
        return s.astype("str")
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        raise SchemaError(f"{where} must be numeric ({col.dtype}), got {s.dtype}")
    if col.dtype == "int64" and not pd.api.types.is_integer_dtype(s):
        v = s.to_numpy(dtype="float64")
        _fail(kind, col, "must hold whole numbers", ~np.isfinite(v) | (v != np.round(v)), v)
    return s if s.dtype == col.dtype else s.astype(col.dtype)


_ID = re.compile(ID_PATTERN)


def _check(kind: str, col: Column, s: pd.Series) -> None:
    """Raise a `SchemaError` where `s` breaks `col`'s rule, choices or nullability."""
    if col.dtype == "str":
        values = s.array
        codes, uniq = pd.factorize(values, use_na_sentinel=False)  # few distinct ids: check those
        uniq = np.asarray(uniq, dtype=object)
        rules = [("is missing", lambda v: not isinstance(v, str)) if not col.nullable else None,
                 ("is empty", lambda v: isinstance(v, str) and not v.strip()) if col.rule == "text" else None,
                 (f"must match {ID_PATTERN} (letters, digits, '.', '_', '-')",
                  lambda v: isinstance(v, str) and _ID.fullmatch(v) is None) if col.rule == "id" else None,
                 (f"must be one of {list(col.choices)}", lambda v: isinstance(v, str) and v not in col.choices)
                 if col.choices else None]  # fmt: skip
        for what, bad in filter(None, rules):
            flags = np.array([bad(v) for v in uniq], dtype=bool)
            if flags.any():
                _fail(kind, col, what, flags[codes], values)
        return
    if col.dtype.startswith("datetime64"):
        if not col.nullable:
            # `s.array`, not `s.to_numpy()`: that boxes every time as a Timestamp object
            _fail(kind, col, "is missing", s.isna().to_numpy(), s.array)
        return
    v = s.to_numpy(dtype="float64")
    missing = np.isnan(v)
    if not col.nullable:
        _fail(kind, col, "is missing", missing, v)
    if not col.rule:
        return
    ok = np.isfinite(v)
    if col.rule == "positive":
        ok &= v > 0
    elif col.rule == "nonnegative":
        ok &= v >= 0
    what = {
        "positive": "must be a finite number > 0",
        "nonnegative": "must be a finite number >= 0",
    }
    _fail(kind, col, what.get(col.rule, "must be finite"), ~ok & ~missing, v)


def _levels(kind: str, df: pd.DataFrame) -> pd.DataFrame:
    """The wide book columns, checked: levels 0..n-1 for bid/ask price and size, prices > 0,
    sizes >= 0, and a level either complete or absent (both NaN) on each side."""
    found: dict[tuple[str, str], set[int]] = {}
    for c in df.columns:
        if m := LEVEL_RE.match(str(c)):
            found.setdefault((m[1], m[2]), set()).add(int(m[3]))
    n = max((max(v) + 1 for v in found.values()), default=0)
    families = [(side, what) for side in ("bid", "ask") for what in ("px", "sz")]
    if n == 0 or any(found.get(f) != set(range(n)) for f in families):
        raise SchemaError(f"{kind} records need book levels bid_px_0..{max(n - 1, 0)}, bid_sz_*, ask_px_*, "
                          f"ask_sz_* for the same levels 0..n-1 (found {sorted(found.items())[:4]}...)")  # fmt: skip
    cols = level_columns(n)
    block = df[cols].to_numpy(dtype="float64")  # per row: bid px, sz by level, then ask
    check_levels(kind, block)
    return pd.DataFrame(block, columns=cols)


def level_columns(n: int) -> list[str]:
    """The wide book columns of `n` levels in stored order: bid px, sz by level, then ask."""
    return [f"{s}_{w}_{i}" for s in ("bid", "ask") for i in range(n) for w in ("px", "sz")]


def check_levels(kind: str, block: np.ndarray) -> None:
    """A `SchemaError` where a (rows, 4 n) block of book levels (`level_columns` order) has a
    price <= 0, a size < 0, an infinite value or a level with only one of price and size."""
    n = block.shape[1] // 4
    for k, side in enumerate(("bid", "ask")):
        px, sz = (
            block[:, 2 * n * k : 2 * n * (k + 1) : 2],
            block[:, 2 * n * k + 1 : 2 * n * (k + 1) : 2],
        )
        checks = (
            (f"{side}_px_*", np.isfinite(px) & ~(px > 0) | np.isinf(px)),
            (f"{side}_sz_*", np.isfinite(sz) & ~(sz >= 0) | np.isinf(sz)),
            (f"{side} levels", np.isnan(px) != np.isnan(sz)),
        )
        for name, bad in checks:
            if bad.any():
                r, lvl = (int(x[0]) for x in np.nonzero(bad))
                raise SchemaError(
                    f"{kind} records: {name} at position {r}, level {lvl} is invalid "
                    f"(price {px[r, lvl]!r}, size {sz[r, lvl]!r}): prices > 0, sizes "
                    ">= 0, both NaN where the book is shallower"
                )


def _c(name: str, dtype: str, unit: str, **kw) -> Column:
    return Column(name, dtype, unit, **kw)


EXCHANGE = _c("exchange", "str", "ccxt exchange id (binance, bybit, okx)", rule="id")
SYMBOL = _c("symbol", "str", "exchange market id (BTCUSDT, BTC-USDT-SWAP)", rule="id")
SIDE = ("buy", "sell")

SCHEMAS: dict[str, RecordSchema] = {s.kind: s for s in (
    RecordSchema("book", "top-of-book levels sampled by the recorder every cadence", (
        EXCHANGE, SYMBOL,
        _c("ts_event", TIME, "exchange time of the book's last applied update"),
        _c("ts_recv", TIME, "local time the recorder sampled the book"),
        _c("nonce", "float64", "last applied update id (Binance); NaN where ccxt keeps none",
           rule="finite", nullable=True),
    ), key=("exchange", "symbol", "ts_recv"), time_col="ts_recv", levels=True),
    RecordSchema("book_diffs", "every depth diff message as received, one row per level", (
        EXCHANGE, SYMBOL,
        _c("ts_event", TIME, "exchange event time (E)"),
        _c("ts_recv", TIME, "local receive time of the message"),
        _c("U", "int64", "first update id in the message"),
        _c("u", "int64", "last update id in the message"),
        _c("pu", "int64", "previous message's u (-1: a snapshot that replaces the book)"),
        _c("side", "str", "book side", choices=("bid", "ask")),
        _c("price", "float64", "quote per base", rule="positive"),
        _c("size", "float64", "base units resting at the price after the update (0 = removed)",
           rule="nonnegative"),
    ), key=("exchange", "symbol", "ts_recv", "u", "side", "price"), time_col="ts_recv",
       values=("ts_event", "U", "pu", "size"), unique_key=False),
    RecordSchema("trades", "every public trade (Binance: aggTrade)", (
        EXCHANGE, SYMBOL,
        _c("ts_event", TIME, "exchange trade time"),
        _c("ts_recv", TIME, "local receive time"),
        _c("id", "str", "exchange trade id", rule="text"),
        _c("side", "str", "taker side", choices=SIDE),
        _c("price", "float64", "quote per base", rule="positive"),
        _c("amount", "float64", "base units", rule="positive"),
    ), key=("exchange", "symbol", "id"), time_col="ts_recv",
       values=("ts_event", "side", "price", "amount")),
    RecordSchema("liquidations", "liquidation orders (forceOrder stream, CSV exports)", (
        EXCHANGE, SYMBOL,
        _c("side", "str", "order side: sell = a long was liquidated, buy = a short", choices=SIDE),
        _c("price", "float64", "average fill price, quote per base", rule="positive"),
        _c("qty", "float64", "filled base units", rule="positive"),
        _c("notional", "float64", "quote units (USDT)", rule="positive"),
        _c("ts_event", TIME, "exchange time of the order"),
        _c("ts_recv", TIME, "local receive time (= ts_event for exports that lack one)"),
    ), key=("exchange", "symbol", "ts_event", "side"), time_col="ts_event",
       values=("price", "qty"), unique_key=False),
    RecordSchema("book_gaps", "stretches without a trustworthy book, diff or trade stream", (
        EXCHANGE, SYMBOL,
        _c("ts_event", TIME, "gap start (local time the stream was last trustworthy)"),
        _c("ts_recv", TIME, "gap end (local time the stream was trustworthy again)"),
        _c("reason", "str", "why (sequence, connection, diff chain, ...)", rule="text"),
        _c("stream", "str", "which stream (book, diffs, trades)", rule="text"),
        _c("start_ms", "int64", "gap start, ms epoch (the recorder's copy)", optional=True),
        _c("end_ms", "int64", "gap end, ms epoch (the recorder's copy)", optional=True),
    ), key=("exchange", "symbol", "stream", "ts_event"), time_col="ts_event",
       values=("ts_recv", "reason"), unique_key=False),
    RecordSchema("liquidation_gaps", "stretches when the liquidation stream was down", (
        EXCHANGE, _c("symbol", "str", "market id, or ALL for the all-market stream", rule="id"),
        _c("ts_event", TIME, "gap start"),
        _c("ts_recv", TIME, "gap end (same as gap_end)"),
        _c("gap_end", TIME, "gap end"),
    ), key=("exchange", "symbol", "ts_event"), time_col="ts_event", values=("gap_end",),
       unique_key=False),
    RecordSchema("coverage", "a stretch over which a stream was fully captured (or imported)", (
        EXCHANGE, _c("symbol", "str", "market id, or ALL for the all-market stream", rule="id"),
        _c("coverage_start", TIME, "first moment covered"),
        _c("coverage_end", TIME, "last moment covered"),
    ), key=("exchange", "symbol", "coverage_start"), time_col="coverage_start", store="coverage"),
    RecordSchema("corrections", "audit record of stored events replaced with --replace", (
        _c("kind", "str", "record kind corrected", rule="text"), EXCHANGE, SYMBOL,
        _c("key", "str", "JSON of the corrected events' key", rule="text"),
        _c("old", "str", "JSON list of the replaced records"),
        _c("new", "str", "JSON list of the records stored instead"),
        _c("replaced_at", TIME, "when the replacement was stored"),
        _c("source", "str", "what supplied the new records (files)", nullable=True),
    ), key=("kind", "exchange", "symbol", "key", "replaced_at"), time_col="replaced_at"),
    RecordSchema("open_interest", "Freqtrade open_interest candles (<PAIR>-<tf>-open_interest)", (
        _c("date", "datetime64[ms, UTC]", "metric time, on the timeframe's grid"),
        _c("open_interest_amount", "float64", "base units", rule="positive"),
        _c("open_interest_value", "float64", "quote units (USDT)", rule="positive"),
    ), key=("date",), time_col="date", store="freqtrade"),
)}  # fmt: skip


def schema_for(kind: str) -> RecordSchema:
    """The declared schema of `kind` (a `<stream>_coverage` folder's records: "coverage")."""
    try:
        return SCHEMAS["coverage" if kind.endswith("_coverage") else kind]
    except KeyError:
        raise SchemaError(f"unknown record kind {kind!r}; declared: {sorted(SCHEMAS)}") from None
