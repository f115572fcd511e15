"""perpflow's event store: plain partitioned parquet that DuckDB, Spark or Dask read in place.

Layout: `<root>/<kind>/exchange=<ex>/symbol=<SYM>/date=<YYYY-MM-DD>/part-<lo>-<hi>-<rows>-<tag>.parquet`
(`lo`/`hi`: µs bounds of the part's partition times; older parts are `part-<first>-<rows>`).
Every record kind is declared in `perpflow.data.schemas`; every write is validated against it and
every read returns it. Writes are atomic (temp file, then rename) and never duplicate an event: a
batch is compared with the stored parts its time span overlaps (`perpflow.data.conflicts`);
events already stored are not written again, and a batch that contradicts stored events is
refused with a `ConflictError` naming the first differing event, or, with `replace=True`,
replaces them after writing a `corrections` audit record holding both versions. An Arrow table
in the store's columns (the recorder's batches) takes `perpflow.data.store_arrow`'s path: the
same guarantees, checked without pandas.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from perpflow.data import conflicts, manifests, parts
from perpflow.data.errors import ConflictError, SchemaError
from perpflow.data.schemas import RecordSchema, schema_for
from perpflow.data.store_groups import day_groups, time_bounds

logger = logging.getLogger(__name__)
BASE_COLUMNS = ("exchange", "symbol", "ts_event", "ts_recv")
REPLACED = ".replaced"  # per kind: bumped when --replace rewrote parts (readers drop caches)


@dataclass
class StoreResult:
    """What one write did: part files written, events new, already stored, repeated in the
    batch (stored once), and stored events replaced (each kept in a `corrections` record)."""

    written: list[Path] = field(default_factory=list)
    new: int = 0
    already: int = 0
    repeated: int = 0
    replaced: int = 0


def _ms(t: pd.Series | pd.Timestamp, up: bool = False) -> int:
    """The part-name bound of a time: in µs, despite the name (`Timestamp.value` is ns)."""
    us = pd.Timestamp(t).as_unit("us").value
    return -(-us // 1000) if up else us // 1000


# folder -> (its mtime when scanned, lowest and highest part bound in ms): enough to tell that a
# batch overlaps nothing stored (the recorder's every flush) without listing the folder; parts
# are listed only when a batch may overlap them. Kept for the most recent folders only.
_SPANS: dict[str, tuple[int, int, int]] = {}
_SPANS_KEPT = 1024
_OLD_BOUNDS: dict[str, tuple[int, int]] = {}  # parts named before names carried their bounds


def _bounds(path: Path, time_col: str) -> tuple[int, int]:
    fields = path.name[len("part-") : -len(".parquet")].split("-")
    if len(fields) >= 4:
        return int(fields[0]), int(fields[1])
    if str(path) not in _OLD_BOUNDS:  # an older part: read its times once
        t = pd.read_parquet(path, columns=[time_col])[time_col]
        _OLD_BOUNDS[str(path)] = (_ms(t.min()), _ms(t.max(), up=True)) if len(t) else (0, 0)
    return _OLD_BOUNDS[str(path)]


def _scan(folder: Path, time_col: str) -> dict[Path, tuple[int, int]]:
    """The live part files of one partition folder (`manifests.live_names`: none a running
    compaction replaced) with their time bounds (parsed from the names)."""
    if not folder.is_dir():
        return {}
    names = [e.name for e in os.scandir(folder)
             if e.name.startswith("part-") and e.name.endswith(".parquet")]  # fmt: skip
    names = manifests.live_names(folder, names)
    return {folder / n: _bounds(folder / n, time_col) for n in names}


def _span(folder: Path, time_col: str) -> tuple[int, int] | None:
    """(lowest, highest) ms bound of the folder's parts, None when it has none; scanned again
    only when the folder changed since (another process wrote)."""
    try:
        mtime = folder.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    cached = _SPANS.get(str(folder))
    if cached is None or cached[0] != mtime:
        b = list(_scan(folder, time_col).values())
        cached = (mtime, min(x[0] for x in b), max(x[1] for x in b)) if b else (mtime, 1, 0)
        _SPANS.pop(str(folder), None)
        _SPANS[str(folder)] = cached
        while len(_SPANS) > _SPANS_KEPT:
            _SPANS.pop(next(iter(_SPANS)))
    return None if cached[1] > cached[2] else (cached[1], cached[2])


def _put(path: Path, df: pd.DataFrame | pa.Table, bounds: tuple[int, int]) -> None:
    """Write `df` (a frame, or the same rows already in Arrow form) to `path` atomically and keep
    the folder's cached span current (when nothing else changed the folder since it was cached)."""
    folder = path.parent
    cached = _SPANS.get(str(folder))
    current = cached is not None and folder.stat().st_mtime_ns == cached[0]
    tmp = folder / f".{path.name}.tmp"
    if isinstance(df, pa.Table):
        pq.write_table(df, tmp)  # what `to_parquet(index=False)` writes, without its conversion
    else:
        df.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    if current:
        empty = cached[1] > cached[2]
        lo, hi = bounds if empty else (min(cached[1], bounds[0]), max(cached[2], bounds[1]))
        _SPANS[str(folder)] = (folder.stat().st_mtime_ns, lo, hi)


def _partition(root: Path, schema: RecordSchema, ex: str, sym: str, day: pd.Timestamp) -> Path:
    return Path(root) / schema.kind / f"exchange={ex}" / f"symbol={sym}" / f"date={day:%Y-%m-%d}"


def _read_overlapping(folder: Path, schema: RecordSchema, lo: int, hi: int) -> pd.DataFrame:
    """Stored rows of the parts in `folder` whose bounds overlap [lo, hi] ms, with `_part`."""
    span = _span(folder, schema.time_col)
    if span is None or span[0] > hi or span[1] < lo:  # nothing stored overlaps: no listing
        return pd.DataFrame()

    def read() -> pd.DataFrame:
        hits = [p for p, (a, b) in _scan(folder, schema.time_col).items() if a <= hi and b >= lo]
        frames = [schema.conform(pd.read_parquet(p), str(p)).assign(_part=str(p))
                  for p in sorted(hits)]  # fmt: skip
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    return manifests.retry_missing(read, str(folder))


def write_events(root: Path, kind: str, df: pd.DataFrame | pa.Table, *, time_col: str | None = None,
                 replace: bool = False, source: str = "") -> list[Path]:  # fmt: skip
    """Validate and store `df` as `kind` records; returns the part files written (`store_events`;
    an Arrow table in the store's columns: `store_arrow.store_table`)."""
    if isinstance(df, pa.Table):
        if not replace:
            from perpflow.data.store_arrow import store_table

            return store_table(root, kind, df, time_col=time_col).written
        df = df.to_pandas()
    return store_events(root, kind, df, time_col=time_col, replace=replace, source=source).written


def store_events(root: Path, kind: str, df: pd.DataFrame, *, time_col: str | None = None,
                 replace: bool = False, complete: bool = False, source: str = "") -> StoreResult:  # fmt: skip
    """Validate `df` against `kind`'s schema and store what is not stored yet, partitioned by
    exchange/symbol/day of the schema's time column (`time_col`, if given, must be that one).

    Nothing is written unless the whole batch passes: a `SchemaError` names the column and rule,
    a `ConflictError` the first event that differs from the stored one at its key (for unique-key
    kinds, or any kind when `complete`). `complete`: the batch is the complete record of each
    exchange/symbol's span from its first to its last event (an export): stored events inside
    that span that it lacks conflict too. `replace`: conflicting stored events are replaced by
    the batch's, and a `corrections` record (kind, key, old and new records, `source`) is
    written first."""
    schema = schema_for(kind)
    if time_col not in (None, schema.time_col):
        raise SchemaError(f"{kind} records are partitioned by {schema.time_col}, not {time_col}")
    result = StoreResult()
    if df.empty:
        return result
    batch, result.repeated = conflicts.dedupe_batch(schema, schema.validate(df))
    if result.repeated:
        logger.info("%s: %d repeated record(s) in one batch stored once", kind, result.repeated)
    tc = schema.time_col
    spans = None
    if complete:
        agg = batch.groupby(["exchange", "symbol"])[tc].agg(["min", "max"])
        spans = {k: (r["min"], r["max"]) for k, r in agg.iterrows()}
    plan = []
    batch, groups = day_groups(root, schema, batch, spans)
    for (ex, sym, day), part in groups:
        span = spans[(ex, sym)] if spans is not None else None
        lo, hi = span if span is not None else time_bounds(part[tc])
        folder = _partition(root, schema, ex, sym, day)
        stored = _read_overlapping(folder, schema, _ms(max(lo, day)), _ms(hi, up=True))
        cmp = conflicts.compare(
            schema, part, conflicts.public(stored) if len(stored) else stored, span=span
        )
        cmp.stale = stored[stored.index.isin(_stale_index(schema, stored, cmp.stale))]
        plan.append((folder, cmp, part))
    messages = [c.message for _, c, _ in plan if c.message]
    if messages and not replace:
        n = sum(max(len(c.stale), 1) for _, c, _ in plan if c.message)
        raise ConflictError(f"{messages[0]} ({n} stored event(s) differ from the new data): pass "
                            "--replace to store the new version (the replaced events are kept in "
                            "a corrections audit record), or fix the input")  # fmt: skip
    if messages:
        result.replaced = _replace(root, schema, plan, source)
    table = None  # the batch in Arrow form, converted once for all its parts (a recorder's flush)
    for folder, cmp, part in plan:
        result.already += cmp.already
        if len(cmp.fresh):
            whole = cmp.fresh is part  # nothing of it was stored: its rows are batch[a:b]
            if whole and table is None:
                table = pa.Table.from_pandas(conflicts.public(batch), preserve_index=False)
            result.written.append(_write_part(folder, schema, cmp.fresh, table if whole else None))
            result.new += len(cmp.fresh)
    return result


def _stale_index(schema: RecordSchema, stored: pd.DataFrame, stale: pd.DataFrame) -> pd.Index:
    """Index labels of `stored` rows that are in `stale` (the same identity)."""
    if stale.empty:
        return pd.Index([])
    _, ident = conflicts.hashes(schema, conflicts.public(stored))
    _, gone = conflicts.hashes(schema, stale)
    return stored.index[pd.Series(ident).isin(gone).to_numpy()]


def _write_part(folder: Path, schema: RecordSchema, rows: pd.DataFrame,
                table: pa.Table | None = None) -> Path:  # fmt: skip
    """Write `rows` as one part in `folder`, sorted by the time column; `table`: the whole batch
    in Arrow form, whose rows at `rows.index` are these (written from it, not converted again)."""
    t = rows[schema.time_col].array.asi8  # not to_numpy(): that boxes each time as a Timestamp
    if not (t[1:] >= t[:-1]).all():
        rows = rows.take(np.argsort(t, kind="stable"))
    key = rows["_kh"].to_numpy() if "_kh" in rows.columns else conflicts.hashes(schema, rows)[0]
    tag = hashlib.blake2b(key.tobytes(), digest_size=4).hexdigest()
    t = rows[schema.time_col]
    path = folder / f"part-{_ms(t.iloc[0])}-{_ms(t.iloc[-1], up=True)}-{len(rows)}-{tag}.parquet"
    folder.mkdir(parents=True, exist_ok=True)
    _span(folder, schema.time_col)  # cache the folder's span before the write updates it
    idx = rows.index.to_numpy()
    if table is not None and len(idx) == idx[-1] - idx[0] + 1 and (np.diff(idx) == 1).all():
        data = table.slice(idx[0], len(idx))  # a partition of a sorted batch: no copy
    elif table is not None:
        data = table.take(idx)
    else:
        data = conflicts.public(rows).reset_index(drop=True)
    _put(path, data, _bounds(path, schema.time_col))
    return path


def _replace(root: Path, schema: RecordSchema, plan: list, source: str) -> int:
    """Audit, then remove the stale stored rows from their parts (rewritten in place, or deleted
    when emptied); the new rows are written by the caller. Returns stored rows removed."""
    now = pd.Timestamp.now(tz="UTC")
    audit = []
    for _, cmp, _ in plan:
        if cmp.stale.empty:
            continue
        old = conflicts.public(cmp.stale)
        kcols = [c for c in schema.key if c not in ("exchange", "symbol")]
        for k, rows in old.groupby(list(schema.key), sort=False):
            k = k if isinstance(k, tuple) else (k,)
            keyed = dict(zip(schema.key, k, strict=True))
            new = conflicts.public(cmp.fresh)
            for c, v in keyed.items():
                new = new[new[c] == v]
            audit.append({"kind": schema.kind, "exchange": keyed.get("exchange", "-"),
                          "symbol": keyed.get("symbol", "-"),
                          "key": json.dumps({c: str(keyed[c]) for c in kcols}),
                          "old": rows.to_json(orient="records", date_format="iso", date_unit="us"),
                          "new": new.to_json(orient="records", date_format="iso", date_unit="us"),
                          "replaced_at": now, "source": source or None})  # fmt: skip
    if audit:
        frame = pd.DataFrame(audit).astype({"replaced_at": "datetime64[us, UTC]"})
        store_events(root, "corrections", frame)
    removed = 0
    with manifests.kind_lock(Path(root) / schema.kind, wait=True):  # not while a compaction runs
        for folder, cmp, _ in plan:
            if cmp.stale.empty:
                continue
            for part, rows in cmp.stale.groupby("_part"):
                removed += len(rows)
                _rewrite_without(Path(part), schema, conflicts.public(rows))
                _SPANS.pop(str(folder), None)
    marker = Path(root) / schema.kind / REPLACED
    marker.write_text(str(now.value))
    logger.warning(
        "%s: replaced %d stored record(s); audit in %s/corrections", schema.kind, removed, root
    )
    return removed


def _rewrite_without(path: Path, schema: RecordSchema, gone: pd.DataFrame) -> None:
    """Rewrite one part without the `gone` rows (same name: its bounds still bound it)."""
    rows = schema.conform(pd.read_parquet(path), str(path))
    _, ident = conflicts.hashes(schema, rows)
    _, drop = conflicts.hashes(schema, gone)
    keep = rows[~pd.Series(ident).isin(drop).to_numpy()]
    if keep.empty:
        path.unlink()
    else:
        _put(path, keep.reset_index(drop=True), _bounds(path, schema.time_col))


def stored_until(root: Path, kind: str, exchange: str, symbol: str, since_ms: int) -> int | None:
    """Where the stored `kind` events of one exchange/symbol stop: the latest part end (ms epoch,
    rounded up, from the part names) in the day partitions from `since_ms`'s UTC day to today's;
    None when no part ends after `since_ms`."""
    schema = schema_for(kind)
    first = pd.Timestamp(since_ms, unit="ms", tz="UTC").floor("D")
    days = pd.date_range(first, max(first, pd.Timestamp.now(tz="UTC").floor("D")), freq="D")
    folders = (_partition(root, schema, exchange, symbol, day) for day in days)
    end = max((hi for f in folders for _, hi in _scan(f, schema.time_col).values()), default=None)
    end = None if end is None else -(-end // 1000)  # names hold µs (see `_ms`)
    return end if end is not None and end > since_ms else None


def event_files(root: Path, kind: str, *, exchange: str | None = None,
                symbol: str | None = None, since: pd.Timestamp | None = None) -> list[Path]:  # fmt: skip
    """The live part files of `kind` (optionally one exchange/symbol, day partitions from
    `since`'s UTC day on), sorted; parts a running compaction replaced are left out
    (`perpflow.data.manifests`)."""
    pattern = f"exchange={exchange or '*'}/symbol={symbol or '*'}/date=*/part-*.parquet"
    files = sorted((Path(root) / kind).glob(pattern))
    if since is not None:
        first = f"date={pd.Timestamp(since).strftime('%Y-%m-%d')}"
        files = [f for f in files if f.parent.name >= first]
    return manifests.live_files(files)


def read_parts(files: list[Path], base: pd.DataFrame | None = None, *, kind: str) -> pd.DataFrame:
    """`base` plus the `kind` records in `files`, in the declared schema, sorted by exchange time
    (else the partition time), exact duplicates (the same event stored twice by an older
    perpflow) dropped."""
    schema = schema_for(kind)
    frames = [base] if base is not None and len(base) else []
    frames += parts.read_conformed(files, schema)
    if not frames:
        return schema.empty()
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    order = "ts_event" if "ts_event" in df.columns else schema.time_col
    return df.drop_duplicates().sort_values(order, kind="stable").reset_index(drop=True)


# (store, kind, exchange, symbol) -> (replace marker, part files already read, their events). A
# live bot re-analyses every candle: only parts written since are read, unless --replace rewrote
# parts (then everything is read again).
_READ: dict[tuple[str, str, str, str], tuple[str, set[Path], pd.DataFrame]] = {}


def _marker(root: Path, kind: str) -> str:
    try:
        return (Path(root) / kind / REPLACED).read_text()
    except FileNotFoundError:
        return ""


def read_new_parts(root: Path, kind: str, *, exchange: str, symbol: str,
                   since: pd.Timestamp | None) -> pd.DataFrame:  # fmt: skip
    """Events of `kind` of one symbol from `since`'s UTC day on, reading only the part files this
    process has not read before (`read_parts`' schema, order and duplicate rules)."""
    key = (str(root), kind, exchange, symbol)
    mark = _marker(root, kind)
    seen_mark, seen, events = _READ.get(key, (mark, set(), None))
    if seen_mark != mark:
        seen, events = set(), None

    def read() -> tuple[list[Path], pd.DataFrame]:
        files = event_files(root, kind, exchange=exchange, symbol=symbol, since=since)
        new = [f for f in files if f not in seen]
        return new, (read_parts(new, events, kind=kind) if new or events is None else events)

    new, read_ = manifests.retry_missing(read, f"{root}/{kind}/{exchange}/{symbol}")
    if new or events is None:  # a compacted day is read once more: its rows are exact duplicates
        events = read_
        _READ[key] = (mark, seen | set(new), events)
    if since is not None and len(events):
        tc = "ts_event" if "ts_event" in events.columns else schema_for(kind).time_col
        events = events[events[tc] >= pd.Timestamp(since).floor("D")]
    return events


def read_events(root: Path, kind: str, *, exchange: str | None = None,
                symbol: str | None = None, since: pd.Timestamp | None = None) -> pd.DataFrame:  # fmt: skip
    """All stored events of `kind` (optionally one exchange/symbol, and only day partitions from
    `since`'s UTC day on), in the declared schema, sorted, exact duplicates dropped."""
    return manifests.retry_missing(
        lambda: read_parts(
            event_files(root, kind, exchange=exchange, symbol=symbol, since=since), kind=kind
        ),  # fmt: skip
        f"{root}/{kind}",
    )


# coverage lived here before `perpflow.data.coverage`; still importable from here
from perpflow.data.coverage import covered_candles, read_coverage, write_coverage  # noqa: E402,F401
