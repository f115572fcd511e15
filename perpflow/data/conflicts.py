"""Compare new records with stored ones (or with each other) by their schema's key and values.

Rows are matched on 64-bit hashes of their key columns and of key + value columns
(`pandas.util.hash_pandas_object`, vectorised); the message for a conflict is built from the rows
themselves. Written by hand: no library compares record batches by a declared event identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from perpflow.data.errors import SchemaError
from perpflow.data.schemas import RecordSchema

_MIX = np.uint64(0x100000001B3)  # FNV prime: combines column hashes in order
_P = (np.arange(1, 8193, dtype="uint64") * np.uint64(0x9E3779B97F4A7C15)) | np.uint64(1)


def _u64(s: pd.Series) -> np.ndarray:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_localize(None).to_numpy().astype("datetime64[us]").view("uint64")
    return (
        s.to_numpy()
        .astype("int64" if pd.api.types.is_integer_dtype(s) else "float64")
        .view("uint64")
    )


def _str_hash(s: pd.Series) -> np.ndarray:
    """pandas' C siphash of each string of `s`, each distinct one hashed once (a batch holds a
    few symbols); object columns element by element (factorizing turns None into NaN)."""
    if pd.api.types.is_object_dtype(s.dtype):
        return pd.util.hash_array(np.asarray(s, dtype=object), categorize=False)
    codes, uniq = pd.factorize(s, use_na_sentinel=False)
    return pd.util.hash_array(np.asarray(uniq, dtype=object), categorize=False)[codes]


def _combine(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """One uint64 per row from `cols`: numbers and times by their bits (a weighted XOR over the
    columns, then pandas' hash to spread it), strings by pandas' C siphash of each distinct one."""
    dtypes = df.dtypes
    numeric = [
        c
        for c in cols
        if pd.api.types.is_numeric_dtype(dtypes[c]) or isinstance(dtypes[c], pd.DatetimeTZDtype)
    ]
    floats = [c for c in numeric if dtypes[c] == "float64"]
    blocks = [df[floats].to_numpy(dtype="float64").view("uint64")] if floats else []
    blocks += [_u64(df[c])[:, None] for c in numeric if c not in floats]
    h = np.zeros(len(df), dtype="uint64")
    with np.errstate(over="ignore"):
        if blocks:
            block = np.hstack(blocks) if len(blocks) > 1 else blocks[0]
            h = pd.util.hash_array(np.bitwise_xor.reduce(block * _P[: block.shape[1]], axis=1))
        for c in cols:
            if c not in numeric:
                h = (h * _MIX) ^ _str_hash(df[c])
    return h


def hashes(schema: RecordSchema, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(key hash, identity hash) per row; identity = key + the schema's value columns. Equal
    values hash equal whatever their column dtype's storage (object or Arrow strings, time
    units)."""
    if "_ih" in df.columns:  # computed once per batch (`dedupe_batch`)
        return df["_kh"].to_numpy(), df["_ih"].to_numpy()
    key = df["_kh"].to_numpy() if "_kh" in df.columns else _combine(df, list(schema.key))
    with np.errstate(over="ignore"):
        ident = key * _MIX ^ _combine(df, schema.value_columns(df))
    return key, ident


def describe(schema: RecordSchema, row: pd.Series) -> str:
    """One event as text: kind, exchange, symbol and the rest of its key."""
    head = " ".join(str(row[c]) for c in ("exchange", "symbol") if c in row.index)
    rest = ", ".join(f"{c}={row[c]}" for c in schema.key if c not in ("exchange", "symbol"))
    return f"{schema.kind} {head} {rest}".replace("  ", " ").strip()


def public(df: pd.DataFrame) -> pd.DataFrame:
    """`df` without the bookkeeping columns (`_kh`, `_ih`, `_part`)."""
    return df.drop(columns=[c for c in df.columns if str(c).startswith("_")])


def _values(schema: RecordSchema, rows: pd.DataFrame) -> str:
    cols = schema.value_columns(rows)[:6]
    return (
        "; ".join(", ".join(f"{c}={r[c]}" for c in cols) for _, r in rows.head(3).iterrows())
        or "none"
    )


def dedupe_batch(schema: RecordSchema, df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """`df` without repeated events (same key and values: kept once), with its key and identity
    hashes as columns `_kh`, `_ih`, and the number of rows dropped; a `SchemaError` when a
    unique-key kind has one key with different values in the batch."""
    key = _combine(df, list(schema.key))
    if not pd.Series(key).duplicated().any():  # no key twice: no event twice (the usual batch)
        return df.assign(_kh=key), 0
    key, ident = hashes(schema, df)
    df = df.assign(_kh=key, _ih=ident)
    rep = pd.Series(ident).duplicated().to_numpy()
    if rep.any():
        df, key, ident = df[~rep].reset_index(drop=True), key[~rep], ident[~rep]
    if schema.unique_key:
        clash = pd.Series(key).duplicated(keep=False).to_numpy()
        if clash.any():
            rows = df[clash & (key == key[np.flatnonzero(clash)[0]])]
            raise SchemaError(f"{describe(schema, rows.iloc[0])}: {len(rows)} different records in one "
                              f"batch ({_values(schema, rows)}); one event has one record")  # fmt: skip
    return df, int(rep.sum())


@dataclass
class Comparison:
    """A batch against stored rows: `fresh` batch rows to write, `already` the count of batch
    rows stored with the same values, `stale` stored rows that conflict (the batch would replace
    them), and `message` describing the first conflict ("" when none)."""

    fresh: pd.DataFrame
    already: int
    stale: pd.DataFrame
    message: str = ""


def compare(schema: RecordSchema, batch: pd.DataFrame, stored: pd.DataFrame, *,
            span: tuple[pd.Timestamp, pd.Timestamp] | None) -> Comparison:  # fmt: skip
    """Match `batch` against `stored` (same exchange, symbol and day). A batch row at a stored key
    with other values conflicts (always for unique-key kinds; for the others only when `span` is
    given). With `span` (the batch is a complete record of that time span, as an export is) a
    stored row inside it that the batch lacks conflicts too."""
    if stored.empty:
        return Comparison(batch, 0, stored)
    kb, ib = hashes(schema, batch)
    ks, is_ = hashes(schema, stored)
    already = np.isin(ib, is_)
    clash = (
        np.isin(kb, ks) & ~already
        if (schema.unique_key or span is not None)
        else np.zeros(len(batch), bool)
    )
    stale = np.isin(ks, kb[clash]) & ~np.isin(is_, ib)
    message = ""
    if clash.any():
        row = batch[clash].iloc[0]
        at_key = ks == kb[np.flatnonzero(clash)[0]]
        message = (f"{describe(schema, row)}: stored {_values(schema, stored[at_key])}, new "
                   f"{_values(schema, batch[kb == kb[np.flatnonzero(clash)[0]]])}")  # fmt: skip
    if span is not None:
        t = stored[schema.time_col]
        missing = (t >= span[0]).to_numpy() & (t <= span[1]).to_numpy() & ~np.isin(is_, ib)
        if missing.any() and not message:
            row = stored[missing].iloc[0]
            message = (f"{describe(schema, row)} ({_values(schema, stored[missing].head(1))}) is stored "
                       f"but missing from the new data, which covers {span[0]} .. {span[1]}")  # fmt: skip
        stale |= missing
    return Comparison(batch[~already].reset_index(drop=True), int(already.sum()),
                      stored[stale].reset_index(drop=True), message)  # fmt: skip
