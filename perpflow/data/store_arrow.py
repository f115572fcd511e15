"""The store's write path for Arrow batches (`store.write_events` given a `pa.Table`): the
recorder's `book_diffs`, `trades` and `book` flushes, built from the raw messages and sampled
books (`record_arrow`); no `replace` or `complete` (those take `store_events`).

The guarantees are `store.store_events`' own. It takes nothing about a batch on trust; what
the recorder's batches are (each message received once, so no event twice; tens of thousands
of rows over a few symbols; times after anything stored) only makes each check cheap:
- Schema: the table has the kind's store columns and Arrow types (`record_arrow.arrow_schema`),
  and every rule of the declared schema holds, checked vectorised (nulls, NaN, ids, choices,
  positive and finite numbers); a breach raises the `SchemaError` `RecordSchema.validate`
  raises (kind, column, rule, how many records, the first position and value). Nothing is
  written unless the whole batch passes.
- No event twice within the batch: rows are fingerprinted (64 bits over their key columns) and
  sorted; rows whose fingerprints collide are compared exactly and an exact repeat is stored
  once (`StoreResult.repeated`). A unique-key kind holding one key twice (only a feed that
  sends a trade twice) goes to `store_events` whole, which stores a repeat once and refuses a
  key with two different records, naming it.
- No event twice across writes: a partition whose time span overlaps parts already stored (a
  `DurableWriter` retry after a partly failed write, whose earlier parts are on disk; a clock
  stepped back) is handed to `store_events` as a frame, which compares it with the stored rows:
  what is stored is skipped, a contradiction refused. Only a partition that overlaps nothing
  stored (the recorder's every flush: `store._span` answers from the part names, without
  reading a file) is written directly.
- Atomic writes and part names as `store._write_part`'s (bounds, row count, a tag), the rows in
  time order; the tag is a digest of the rows' key fingerprints, so a retry of the same batch
  names a part the same way.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from perpflow.data import store
from perpflow.data.errors import SchemaError
from perpflow.data.record_arrow import arrow_schema
from perpflow.data.schemas import (
    ID_PATTERN,
    LEVEL_RE,
    Column,
    RecordSchema,
    _fail,
    check_levels,
    schema_for,
)

_ID = re.compile(ID_PATTERN)
_DAY_US = 86_400_000_000
_MIX = (np.arange(1, 65, dtype="uint64") * np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)


def store_table(root: Path, kind: str, table: pa.Table, *, time_col: str | None = None
                ) -> store.StoreResult:  # fmt: skip
    """Validate `table` as `kind`'s records and store what is not stored yet (see the module
    doc); the same `StoreResult` as `store.store_events`."""
    schema = schema_for(kind)
    if time_col not in (None, schema.time_col):
        raise SchemaError(f"{kind} records are partitioned by {schema.time_col}, not {time_col}")
    result = store.StoreResult()
    if not len(table):
        return result
    codes = {f.name: _codes(table[f.name]) for f in table.schema if _is_str(f.type)}
    table = validate_table(schema, table, codes)
    key = _fingerprint(table, list(schema.key), codes)
    keep = _repeats(schema, table, key, codes)
    if keep is False:  # one key twice: the frame path stores a repeat once or names the clash
        return store.store_events(root, kind, _frame(table), time_col=time_col)
    if keep is not None:
        result.repeated = int((~keep).sum())
        table, key = table.filter(pa.array(keep)), key[keep]
        codes = {c: (rows[keep], values) for c, (rows, values) in codes.items()}
    for (ex, sym, day), rows in _partitions(schema, table, codes):
        part = (
            table.slice(rows.start, rows.stop - rows.start)
            if isinstance(rows, slice)
            else table.take(rows)
        )
        tag = hashlib.blake2b(key[rows].tobytes(), digest_size=4).hexdigest()
        _write(root, schema, (ex, sym, day), part, tag, result)
    return result


def _is_str(t: pa.DataType) -> bool:
    return pa.types.is_large_string(t) or pa.types.is_string(t)


def validate_table(schema: RecordSchema, table: pa.Table, codes: dict | None = None) -> pa.Table:
    """`table` with the store's Arrow schema (and its pandas metadata), or a `SchemaError`;
    `codes`: `_codes` of its string columns, if made already."""
    wide = [c for c in table.column_names if LEVEL_RE.match(c)] if schema.levels else []
    target = arrow_schema(schema.kind, len(wide) // 4)
    got = [(f.name, f.type) for f in table.schema]
    if got != [(f.name, f.type) for f in target]:
        raise SchemaError(f"{schema.kind} records: Arrow columns {got} are not the store's "
                          f"{[(f.name, str(f.type)) for f in target]}")  # fmt: skip
    for col in schema.columns:
        arr = table[col.name]
        if col.dtype == "str":
            _check_str(schema.kind, col, arr, (codes or {}).get(col.name) or _codes(arr))
        else:
            _check(schema.kind, col, arr)
    if wide:
        check_levels(schema.kind, np.column_stack([table[c].to_numpy() for c in wide]))
    return pa.Table.from_arrays(table.columns, schema=target)


def _check(kind: str, col: Column, arr: pa.ChunkedArray) -> None:
    """`schemas._check`'s rules on a number or time column (the same `SchemaError`s)."""
    if not pa.types.is_floating(arr.type):
        if arr.null_count and not col.nullable:
            _fail(
                kind,
                col,
                "is missing",
                arr.is_null().to_numpy(zero_copy_only=False),
                arr.to_pylist(),
            )
        return
    v = arr.to_numpy()
    missing = np.isnan(v)
    if not col.nullable:
        _fail(kind, col, "is missing", missing, v)
    if col.rule:
        ok = np.isfinite(v)
        ok &= v > 0 if col.rule == "positive" else v >= 0 if col.rule == "nonnegative" else ok
        what = {"positive": "must be a finite number > 0",
                "nonnegative": "must be a finite number >= 0"}  # fmt: skip
        _fail(kind, col, what.get(col.rule, "must be finite"), ~ok & ~missing, v)


def _check_str(kind: str, col: Column, arr: pa.ChunkedArray, codes: tuple) -> None:
    """`schemas._check`'s rules on a string column, on its distinct values (vectorised)."""
    rows, values = codes
    present = values.is_valid()
    checks = [("is missing", values.is_null())] if not col.nullable else []
    if col.rule == "text":
        blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(values)), 0)
        checks.append(("is empty", pc.and_(present, blank)))
    if col.rule == "id":
        ok = pc.match_substring_regex(values, f"^(?:{ID_PATTERN})$")
        checks.append((f"must match {ID_PATTERN} (letters, digits, '.', '_', '-')",
                       pc.and_(present, pc.invert(ok))))  # fmt: skip
    if col.choices:
        ok = pc.is_in(values, value_set=pa.array(col.choices, values.type))
        checks.append((f"must be one of {list(col.choices)}", pc.and_(present, pc.invert(ok))))
    for what, bad in checks:
        flags = bad.fill_null(False).to_numpy(zero_copy_only=False)
        if flags.any():
            _fail(kind, col, what, flags[rows], arr.to_pylist())


def _codes(arr: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """(code per row, the distinct values in order of appearance, null among them if any)."""
    enc = pc.dictionary_encode(arr, null_encoding="encode").combine_chunks()
    return enc.indices.to_numpy().astype("int64"), enc.dictionary


def _fingerprint(table: pa.Table, cols: list[str], codes: dict, rows: np.ndarray | None = None
                 ) -> np.ndarray:  # fmt: skip
    """A 64-bit mix of the `cols` of each row (of `rows`, if given): equal rows, equal
    fingerprints (strings by their `codes`)."""
    h = np.zeros(len(table) if rows is None else len(rows), dtype="uint64")
    with np.errstate(over="ignore"):
        for i, c in enumerate(cols):
            if c in codes:
                v = codes[c][0]
            else:
                arr = table[c].combine_chunks()
                v = (arr.cast(pa.int64()) if pa.types.is_timestamp(arr.type) else arr).to_numpy()
            h = (h ^ (v if rows is None else v[rows]).view("uint64")) * _MIX[i]
            h ^= h >> np.uint64(29)
    return h


def _shared(key: np.ndarray) -> np.ndarray:
    """Positions of the fingerprints in `key` that occur twice or more (ascending)."""
    s = np.sort(key)
    if not (s[1:] == s[:-1]).any():  # the usual batch: one sort, nothing shared
        return np.zeros(0, dtype="int64")
    order = np.argsort(key)
    twice = key[order][1:] == key[order][:-1]
    mark = np.zeros(len(key), dtype=bool)
    mark[1:] |= twice
    mark[:-1] |= twice
    return np.sort(order[mark])


def _repeats(schema: RecordSchema, table: pa.Table, key: np.ndarray, codes: dict
             ) -> np.ndarray | bool | None:  # fmt: skip
    """Which rows to keep: None (all: no key twice, the usual batch), a mask without the exact
    repeats of earlier rows, or False when a unique-key kind holds one key twice (the frame
    path decides). `key`: the rows' key fingerprints."""
    rows = _shared(key)  # rows whose key another row may share
    if not len(rows):
        return None
    if schema.unique_key:
        return False
    rows = rows[_shared(_fingerprint(table, table.column_names, codes, rows))]
    seen, same = set(), np.zeros(len(rows), dtype=bool)
    taken = table.take(pa.array(rows))
    values = zip(*(taken[c].to_pylist() for c in taken.column_names), strict=True)
    for i, row in enumerate(values):  # exact comparison of the few rows that may repeat
        same[i] = row in seen
        seen.add(row)
    if not same.any():
        return None
    keep = np.ones(len(table), dtype=bool)
    keep[rows[same]] = False
    return keep


def _frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


def _partitions(schema: RecordSchema, table: pa.Table, codes: dict) -> list:
    """((exchange, symbol, UTC day), its rows in time order: a slice, or row numbers) per
    partition of `table`. Rows already grouped by partition and in time order (the recorder's
    `record_arrow.diff_table`) come as slices, nothing copied."""
    t = table[schema.time_col].combine_chunks().cast(pa.int64()).to_numpy()
    day = t // _DAY_US
    (ec, eu), (sc, su) = codes["exchange"], codes["symbol"]
    eu, su = eu.to_pylist(), su.to_pylist()  # a few values each
    d0 = int(day.min())
    code = (ec * len(su) + sc) * (int(day.max()) - d0 + 1) + (day - d0)
    grouped = bool((code[1:] >= code[:-1]).all())
    order = np.arange(len(code)) if grouped else np.argsort(code, kind="stable")
    code = code[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(code)) + 1])
    ends = np.append(starts[1:], len(code))
    out = []
    for a, b in zip(starts, ends, strict=True):
        i = int(order[a])
        where = (eu[ec[i]], su[sc[i]], int(day[i]))
        ts = t[order[a:b]]
        if grouped and (ts[1:] >= ts[:-1]).all():
            out.append((where, slice(int(a), int(b))))
        else:
            rows = order[a:b]
            out.append((where, rows[np.argsort(ts, kind="stable")]))
    return out


def _write(root: Path, schema: RecordSchema, where: tuple, part: pa.Table, tag: str,
           result: store.StoreResult) -> None:  # fmt: skip
    """Write one partition's rows (time order) as a part, or hand them to `store_events` when
    they overlap stored parts; adds to `result`."""
    (ex, sym, day), tc = where, schema.time_col
    t = part[tc].combine_chunks().cast(pa.int64()).to_numpy()
    lo, hi = int(t[0]), int(t[-1])  # µs, as `store._ms` names parts
    date = pd.Timestamp(day * _DAY_US, unit="us", tz="UTC")
    folder = store._partition(root, schema, ex, sym, date)
    span = store._span(folder, tc)
    if span is not None and not (span[0] > hi or span[1] < lo):
        r = store.store_events(root, schema.kind, _frame(part), time_col=tc)
        result.written += r.written
        result.new, result.already = result.new + r.new, result.already + r.already
        return
    path = folder / f"part-{lo}-{hi}-{len(part)}-{tag}.parquet"
    folder.mkdir(parents=True, exist_ok=True)
    store._span(folder, tc)  # cache the folder's span before the write updates it
    store._put(path, part, store._bounds(path, tc))
    result.written.append(path)
    result.new += len(part)
