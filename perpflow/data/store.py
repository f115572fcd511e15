"""perpflow's event store: plain partitioned parquet that DuckDB, Spark or Dask read in place.

Layout: `<root>/<kind>/exchange=<ex>/symbol=<SYM>/date=<YYYY-MM-DD>/part-<first ms>-<rows>.parquet`.
Every record keeps the exchange time (`ts_event`) and the receive time (`ts_recv`). Writes are
atomic (temp file, then rename); a part is never rewritten, and events are checked (sorted,
required columns) before they are written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

BASE_COLUMNS = ("exchange", "symbol", "ts_event", "ts_recv")


def _validate(df: pd.DataFrame, kind: str) -> None:
    missing = [c for c in BASE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{kind} events lack column(s) {missing}")
    if df["ts_event"].isna().any():
        raise ValueError(
            f"{kind} events with no ts_event (row {int(df['ts_event'].isna().argmax())})"
        )


def write_events(root: Path, kind: str, df: pd.DataFrame, *, time_col: str = "ts_event") -> list[Path]:
    """Write events partitioned by exchange/symbol/day of `time_col`; returns the part files
    written. Samples taken by the recorder (book snapshots) pass `ts_recv`: a resting book keeps
    the exchange time of its last update, so only the sampling time tells two snapshots apart."""
    if df.empty:
        return []
    _validate(df, kind)
    if not df[time_col].is_monotonic_increasing:
        df = df.sort_values(time_col, kind="stable")
    day = df[time_col].dt.floor("D")  # not strftime per row: the recorder writes every second
    written = []
    for (ex, sym, d), part in df.groupby([df["exchange"], df["symbol"], day], sort=True):
        folder = Path(root) / kind / f"exchange={ex}" / f"symbol={sym}" / f"date={d:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        first = int(part[time_col].iloc[0].value // 1_000_000)
        path = folder / f"part-{first}-{len(part)}.parquet"
        if path.exists():  # the same batch again: already stored, never rewritten
            continue
        tmp = folder / f".{path.name}.tmp"
        part.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        written.append(path)
    return written


def event_files(root: Path, kind: str, *, exchange: str | None = None,
                symbol: str | None = None, since: pd.Timestamp | None = None) -> list[Path]:  # fmt: skip
    """The part files of `kind` (optionally one exchange/symbol, day partitions from `since`'s
    UTC day on), sorted."""
    pattern = f"exchange={exchange or '*'}/symbol={symbol or '*'}/date=*/part-*.parquet"
    files = sorted((Path(root) / kind).glob(pattern))
    if since is not None:
        first = f"date={pd.Timestamp(since).strftime('%Y-%m-%d')}"
        files = [f for f in files if f.parent.name >= first]
    return files


def read_parts(files: list[Path], base: pd.DataFrame | None = None) -> pd.DataFrame:
    """`base` plus the events in `files`, sorted, exact duplicates (the same event stored
    twice) dropped."""
    frames = [f for f in ([base] if base is not None and len(base) else [])]
    frames += [pd.read_parquet(f) for f in files]
    if not frames:
        return pd.DataFrame(columns=list(BASE_COLUMNS))
    df = pd.concat(frames, ignore_index=True)
    return df.drop_duplicates().sort_values("ts_event", kind="stable").reset_index(drop=True)


# (store, kind, exchange, symbol) -> (part files already read, their events). A live bot
# re-analyses every candle: parts are never rewritten, so only parts written since are read.
_READ: dict[tuple[str, str, str, str], tuple[set[Path], pd.DataFrame]] = {}


def read_new_parts(root: Path, kind: str, *, exchange: str, symbol: str,
                   since: pd.Timestamp | None) -> pd.DataFrame:  # fmt: skip
    """Events of `kind` of one symbol from `since`'s UTC day on, reading only the part files this
    process has not read before (`read_parts`' order and duplicate rules)."""
    key = (str(root), kind, exchange, symbol)
    seen, events = _READ.get(key, (set(), None))
    files = event_files(root, kind, exchange=exchange, symbol=symbol, since=since)
    new = [f for f in files if f not in seen]
    if new or events is None:
        events = read_parts(new, events)
        _READ[key] = (seen | set(new), events)
    if since is not None and len(events):
        events = events[events["ts_event"] >= pd.Timestamp(since).floor("D")]
    return events


def read_events(root: Path, kind: str, *, exchange: str | None = None,
                symbol: str | None = None, since: pd.Timestamp | None = None) -> pd.DataFrame:  # fmt: skip
    """All stored events of `kind` (optionally one exchange/symbol, and only day partitions from
    `since`'s UTC day on), sorted, exact duplicates dropped."""
    return read_parts(event_files(root, kind, exchange=exchange, symbol=symbol, since=since))


def write_coverage(root: Path, kind: str, exchange: str, start: pd.Timestamp,
                   end: pd.Timestamp) -> None:  # fmt: skip
    """Record that the `kind` stream of `exchange` was fully captured over [start, end].

    One small file per captured stretch, named by its start. A collector extends its current
    stretch at every flush by replacing that file atomically (it never shrinks): the one store
    record that changes, so coverage stays a handful of files instead of one per flush.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if end < start:
        raise ValueError(f"{kind} coverage ends ({end}) before it starts ({start})")
    folder = Path(root) / f"{kind}_coverage" / f"exchange={exchange}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"stretch-{int(start.value // 1_000_000)}.parquet"
    if path.exists():
        end = max(end, pd.read_parquet(path)["coverage_end"].iloc[0])
    tmp = folder / f".{path.name}.tmp"
    pd.DataFrame({"exchange": [exchange], "coverage_start": [start],
                  "coverage_end": [end]}).to_parquet(tmp, index=False)  # fmt: skip
    os.replace(tmp, path)


def read_coverage(root: Path, kind: str, exchange: str | None = None) -> np.ndarray:
    """Merged [start, end] ms intervals when the `kind` stream was captured: coverage records
    minus recorded gaps (`<kind>_gaps`). Written by hand: a few hundred intervals, no library
    needed for interval union/difference."""
    files = sorted((Path(root) / f"{kind}_coverage").glob(
        f"exchange={exchange or '*'}/stretch-*.parquet"))  # fmt: skip
    if not files:
        return np.empty((0, 2), dtype="int64")
    cov = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    spans = _merge(_ms(cov["coverage_start"]), _ms(cov["coverage_end"]))
    gaps = read_events(root, f"{kind}_gaps", exchange=exchange)
    if gaps.empty:
        return spans
    out: list[tuple[int, int]] = []
    g = _merge(_ms(gaps["ts_event"]), _ms(gaps["gap_end"]))
    for s, e in spans:
        cur = s
        for gs, ge in g[(g[:, 1] > s) & (g[:, 0] < e)]:
            if gs > cur:
                out.append((cur, int(gs)))
            cur = max(cur, int(ge))
        if cur < e:
            out.append((cur, e))
    return np.array(out, dtype="int64").reshape(-1, 2)


def _ms(col: pd.Series) -> np.ndarray:
    return pd.to_datetime(col, utc=True).astype("datetime64[ms, UTC]").astype("int64").to_numpy()


def _merge(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    order = np.argsort(starts, kind="stable")
    merged: list[list[int]] = []
    for s, e in zip(starts[order], ends[order], strict=True):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], int(e))
        else:
            merged.append([int(s), int(e)])
    return np.array(merged, dtype="int64").reshape(-1, 2)


def covered_candles(dates: pd.Series, spans: np.ndarray, timeframe: str) -> np.ndarray:
    """True where the whole candle period [t, t + timeframe) lies inside one coverage span."""
    t = pd.to_datetime(dates, utc=True).astype("datetime64[ms, UTC]").astype("int64").to_numpy()
    if len(spans) == 0:
        return np.zeros(len(t), dtype=bool)
    i = np.searchsorted(spans[:, 0], t, side="right") - 1
    end = t + int(pd.Timedelta(timeframe).total_seconds() * 1000)
    return (i >= 0) & (spans[np.maximum(i, 0), 1] >= end)
