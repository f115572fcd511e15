"""Freqtrade data-dir files: paths by pair, optional reads, and append-only merges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from freqtrade.misc import pair_to_filename

from perpflow.data.errors import ConflictError


def pair_file(datadir: Path, pair: str, name: str) -> Path:
    """`<datadir>/futures/<PAIR>-<name>.feather`, `name` like `5m-futures` or `1h-funding_rate`
    (Freqtrade's own pair-to-file naming, dated contracts included)."""
    return Path(datadir) / "futures" / f"{pair_to_filename(pair)}-{name}.feather"


def read_optional(datadir: Path, pair: str, name: str) -> pd.DataFrame | None:
    """That file's frame, or None when the data dir does not have it."""
    path = pair_file(datadir, pair, name)
    return pd.read_feather(path) if path.exists() else None


def read_required(datadir: Path, pair: str, name: str) -> pd.DataFrame:
    """That file's frame; a clear error naming the file when it is missing."""
    path = pair_file(datadir, pair, name)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: download or build data for {pair} first")
    return pd.read_feather(path)


def load_candles(datadir: Path, pair: str, timeframe: str = "5m") -> pd.DataFrame:
    """Freqtrade futures candles of `pair` from `datadir` (clear error when absent)."""
    return read_required(datadir, pair, f"{timeframe}-futures")


def merge_append_only(existing: pd.DataFrame | None, new: pd.DataFrame, where: Path,
                      columns: list[str]) -> pd.DataFrame:  # fmt: skip
    """Union by `date`; a stored value of `columns` that the new data contradicts (beyond 1e-9
    relative) is an error naming the file and date: stored data is never rewritten."""
    if existing is None or existing.empty:
        return new
    both = existing.merge(new, on="date", how="inner", suffixes=("_old", "_new"))
    for col in columns:
        diff = ~np.isclose(both[f"{col}_old"], both[f"{col}_new"], rtol=1e-9, equal_nan=True)
        if diff.any():
            t = both.loc[diff, "date"].iloc[0]
            raise ConflictError(f"{where.name}: stored {col} at {t} differs from the new data; "
                             "refusing to rewrite stored data (move the file aside to replace it)")  # fmt: skip
    merged = pd.concat([existing, new[~new["date"].isin(existing["date"])]])
    return merged.sort_values("date").reset_index(drop=True)
