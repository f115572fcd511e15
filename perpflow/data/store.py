"""perpflow's event store: plain partitioned parquet that DuckDB, Spark or Dask read in place.

Layout: `<root>/<kind>/exchange=<ex>/symbol=<SYM>/date=<YYYY-MM-DD>/part-<first ms>-<rows>.parquet`.
Every record keeps the exchange time (`ts_event`) and the receive time (`ts_recv`). Writes are
atomic (temp file, then rename); a part is never rewritten, and events are checked (sorted,
required columns) before they are written.
"""

from __future__ import annotations

import os
from pathlib import Path

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


def write_events(root: Path, kind: str, df: pd.DataFrame) -> list[Path]:
    """Write events partitioned by exchange/symbol/day; returns the part files written."""
    if df.empty:
        return []
    _validate(df, kind)
    df = df.sort_values("ts_event", kind="stable")
    day = df["ts_event"].dt.strftime("%Y-%m-%d")
    written = []
    for (ex, sym, d), part in df.groupby([df["exchange"], df["symbol"], day], sort=True):
        folder = Path(root) / kind / f"exchange={ex}" / f"symbol={sym}" / f"date={d}"
        folder.mkdir(parents=True, exist_ok=True)
        first = int(part["ts_event"].iloc[0].value // 1_000_000)
        path = folder / f"part-{first}-{len(part)}.parquet"
        if path.exists():  # the same batch again: already stored, never rewritten
            continue
        tmp = folder / f".{path.name}.tmp"
        part.to_parquet(tmp, index=False)
        os.replace(tmp, path)
        written.append(path)
    return written


def read_events(root: Path, kind: str, *, exchange: str | None = None,
                symbol: str | None = None) -> pd.DataFrame:  # fmt: skip
    """All stored events of `kind` (optionally one exchange/symbol), sorted, exact duplicates
    (the same event stored twice) dropped."""
    base = Path(root) / kind
    pattern = f"exchange={exchange or '*'}/symbol={symbol or '*'}/date=*/part-*.parquet"
    files = sorted(base.glob(pattern))
    if not files:
        return pd.DataFrame(columns=list(BASE_COLUMNS))
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return df.drop_duplicates().sort_values("ts_event", kind="stable").reset_index(drop=True)
