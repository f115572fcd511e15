"""Coverage: when a stream was captured, per exchange and symbol, so features tell "no events"
from "not recorded".

Records (schema `coverage`) live in `<root>/<stream>_coverage/exchange=<ex>/symbol=<SYM>/
stretch-<start ms>.parquet`; symbol `ALL` is an all-market stream (every symbol of the exchange;
older stores kept those directly under `exchange=<ex>/`). A collector extends its current stretch
at every flush by replacing that file atomically (it never shrinks). Imports claim coverage only
from what they stored: per symbol, from its first to its last imported event, split wherever the
symbol was quiet for longer than `MAX_QUIET` (`coverage_spans`), so one mistyped time cannot mark
a symbol, let alone every symbol, as recorded with no events for years. Recorded gaps
(`<stream>_gaps`, symbol `ALL` or the symbol) are subtracted when coverage is read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data.schemas import ALL_SYMBOLS, schema_for

MAX_QUIET = pd.Timedelta("1h")  # an import claims no coverage across a longer quiet stretch


def write_coverage(root: Path, stream: str, exchange: str, start: pd.Timestamp,
                   end: pd.Timestamp, *, symbol: str = ALL_SYMBOLS) -> None:  # fmt: skip
    """Record that the `stream` of `exchange` (`symbol`, or every symbol: `ALL`) was fully
    captured over [start, end]; a stretch with the same start is extended, never shrunk."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if end < start:
        raise ValueError(f"{stream} coverage ends ({end}) before it starts ({start})")
    folder = Path(root) / f"{stream}_coverage" / f"exchange={exchange}" / f"symbol={symbol}"
    rec = schema_for("coverage").validate(pd.DataFrame({
        "exchange": [exchange], "symbol": [symbol], "coverage_start": [start], "coverage_end": [end]}))  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"stretch-{int(start.value // 1_000_000)}.parquet"
    if path.exists():
        rec["coverage_end"] = max(
            rec["coverage_end"].iloc[0], pd.read_parquet(path)["coverage_end"].iloc[0]
        )
    tmp = folder / f".{path.name}.tmp"
    rec.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def coverage_spans(events: pd.DataFrame, *, time_col: str = "ts_event",
                   max_quiet: pd.Timedelta = MAX_QUIET) -> pd.DataFrame:  # fmt: skip
    """Per exchange and symbol of `events`, the stretches [start, end] between their events,
    split where two consecutive events are more than `max_quiet` apart (`exchange, symbol,
    coverage_start, coverage_end`); what an import may claim it covered."""
    if events.empty:
        return pd.DataFrame(columns=["exchange", "symbol", "coverage_start", "coverage_end"])
    e = events[["exchange", "symbol", time_col]].sort_values(["exchange", "symbol", time_col])
    t = e[time_col]
    new = (e["exchange"] != e["exchange"].shift()) | (e["symbol"] != e["symbol"].shift())
    new |= (t - t.shift()) > max_quiet
    g = e.assign(stretch=new.cumsum()).groupby("stretch")
    return pd.DataFrame({"exchange": g["exchange"].first(), "symbol": g["symbol"].first(),
                         "coverage_start": g[time_col].min(), "coverage_end": g[time_col].max()}
                        ).reset_index(drop=True)  # fmt: skip


def _files(root: Path, stream: str, exchange: str | None,
           symbol: str | None) -> tuple[list[Path], list[Path]]:  # fmt: skip
    """The coverage files of `symbol` and the all-market ones, and the older all-market files
    kept directly under `exchange=<ex>/` (before per-symbol coverage)."""
    base = Path(root) / f"{stream}_coverage" / f"exchange={exchange or '*'}"
    wanted = [ALL_SYMBOLS] if symbol is None else sorted({ALL_SYMBOLS, symbol})
    files = [f for s in wanted
             for f in sorted(base.parent.glob(f"{base.name}/symbol={s}/stretch-*.parquet"))]  # fmt: skip
    return files, sorted(base.parent.glob(f"{base.name}/stretch-*.parquet"))


# (root, stream, exchange, symbol) -> (what its files were when read, the spans read from them)
_READ: dict[tuple, tuple[tuple, np.ndarray]] = {}


def read_coverage(root: Path, stream: str, exchange: str | None = None,
                  symbol: str | None = None) -> np.ndarray:  # fmt: skip
    """Merged [start, end] ms intervals when the `stream` of `exchange` was captured for `symbol`
    (its own records and the all-market ones; only the all-market ones when `symbol` is None),
    minus recorded gaps (read-only array). Read again only when a coverage or gap file changed
    (path, inode, mtime, size) since the last call with the same arguments: a live bot asks every
    candle. Written by hand: a few hundred intervals, no library needed."""
    from perpflow.data import manifests
    from perpflow.data.store import event_files  # store re-exports this module

    key = (str(root), stream, exchange, symbol)

    def read() -> np.ndarray:
        files, old = _files(root, stream, exchange, symbol)
        gap_files = event_files(root, f"{stream}_gaps", exchange=exchange)
        seen = tuple((str(f), st.st_ino, st.st_mtime_ns, st.st_size)
                     for f in (*files, *old, *gap_files) for st in (f.stat(),))  # fmt: skip
        hit = _READ.get(key)
        if hit is None or hit[0] != seen:
            spans = _spans(files, old, gap_files, f"{stream}_gaps", symbol)
            spans.setflags(write=False)
            hit = _READ[key] = (seen, spans)
        return hit[1]

    return manifests.retry_missing(read, f"{root}/{stream}_coverage")


def _spans(files: list[Path], old: list[Path], gap_files: list[Path], gap_kind: str,
           symbol: str | None) -> np.ndarray:  # fmt: skip
    """`read_coverage`'s intervals from the files it listed."""
    from perpflow.data.store import read_parts

    frames = [pd.read_parquet(f) for f in files]
    frames += [pd.read_parquet(f).assign(symbol=ALL_SYMBOLS) for f in old]
    if not frames:
        return np.empty((0, 2), dtype="int64")
    cov = pd.concat(frames, ignore_index=True)
    spans = _merge(_ms(cov["coverage_start"]), _ms(cov["coverage_end"]))
    gaps = read_parts(gap_files, kind=gap_kind) if gap_files else pd.DataFrame()
    if len(gaps):
        gaps = gaps[gaps["symbol"].isin([ALL_SYMBOLS, symbol or ALL_SYMBOLS])]
    if gaps.empty:
        return spans
    end = gaps["gap_end"] if "gap_end" in gaps.columns else gaps["ts_recv"]
    out: list[tuple[int, int]] = []
    g = _merge(_ms(gaps["ts_event"]), _ms(end))
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
