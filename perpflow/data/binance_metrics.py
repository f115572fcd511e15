"""Import Binance's daily `metrics` CSVs (data.binance.vision) into Freqtrade open_interest files.

Binance's REST API serves only ~30 days of open-interest history; its daily `metrics` files go
back years. Each row (5-minute cadence) has `create_time, symbol, sum_open_interest` (base
units), `sum_open_interest_value` (USDT) and long/short ratios. This writes Freqtrade's
`<PAIR>-5m-open_interest.feather` and `-1h-` (rows at minute 0) layout
(`date, open_interest_amount, open_interest_value`), validated, merged with existing files
without losing or silently rewriting data.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data.files import merge_append_only

logger = logging.getLogger(__name__)
REQUIRED = ("create_time", "symbol", "sum_open_interest", "sum_open_interest_value")
OI_COLUMNS = ["date", "open_interest_amount", "open_interest_value"]


def read_metrics(path: Path) -> pd.DataFrame:
    """One metrics CSV as `date, symbol, open_interest_amount, open_interest_value`, validated.

    Raises ValueError naming the file (and the 1-based row, header = row 1) for missing
    columns, unparsable times, negative or non-numeric values, conflicting duplicates and
    implausible units (value / amount must look like a price, consistent across the file).
    """
    path = Path(path)
    raw = pd.read_csv(path, dtype=str)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise ValueError(
            f"{path.name}: missing column(s) {missing}; is this a Binance metrics file?"
        )
    date = pd.to_datetime(raw["create_time"], format="%Y-%m-%d %H:%M:%S", errors="coerce", utc=True)
    _first_bad(path, date.isna(), "create_time is not 'YYYY-MM-DD HH:MM:SS'")
    amount = pd.to_numeric(raw["sum_open_interest"], errors="coerce")
    value = pd.to_numeric(raw["sum_open_interest_value"], errors="coerce")
    _first_bad(path, amount.isna() | (amount < 0), "sum_open_interest is not a number >= 0")
    _first_bad(path, value.isna() | (value < 0), "sum_open_interest_value is not a number >= 0")
    price = value / amount.where(amount > 0)
    med = price.median()
    _first_bad(path, (price < med / 3) | (price > med * 3),
               "value / amount is far from the file's typical price (wrong units?)")  # fmt: skip
    out = pd.DataFrame({"date": date, "symbol": raw["symbol"], "open_interest_amount": amount,
                        "open_interest_value": value, "_file": path.name,
                        "_row": np.arange(len(raw)) + 2})  # fmt: skip
    dup = out.duplicated("date", keep=False)
    if dup.any():
        same = out[dup].duplicated(
            ["date", "open_interest_amount", "open_interest_value"], keep=False
        )
        _first_bad(
            path,
            dup & ~same.reindex(out.index, fill_value=True),
            "duplicate time with other values",
        )
        out = out.drop_duplicates("date")
    return out.sort_values("date").reset_index(drop=True)


def _first_bad(path: Path, mask: pd.Series, what: str) -> None:
    if mask.any():
        row = int(np.flatnonzero(mask.to_numpy())[0]) + 2
        raise ValueError(f"{path.name} row {row}: {what}; fix or remove the row")


def _write(df: pd.DataFrame, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df[OI_COLUMNS].reset_index(drop=True).to_feather(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def import_metrics(paths: list[Path], datadir: Path) -> dict[str, int]:
    """Import metrics CSVs into `<datadir>/futures`; returns rows per written file."""
    frames = [read_metrics(p) for p in paths]
    data = pd.concat(frames).drop_duplicates(["symbol", "date"]).sort_values("date")
    out_dir = Path(datadir) / "futures"
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for symbol, rows in data.groupby("symbol"):
        if not str(symbol).endswith("USDT"):
            raise ValueError(f"symbol {symbol!r}: only USDT-margined perpetuals are supported")
        prefix = f"{str(symbol)[:-4]}_USDT_USDT"
        gaps = rows["date"].diff() > pd.Timedelta("5min")
        if gaps.any():
            first = rows[gaps.to_numpy()].iloc[0]
            logger.warning(
                "%s: %d gap(s) in the 5m series (kept as gaps, never filled); the first ends at "
                "%s row %d (%s)", symbol, int(gaps.sum()), first["_file"], first["_row"],
                first["date"],
            )  # fmt: skip
        for tf, sel in (("5m", rows), ("1h", rows[rows["date"].dt.minute == 0])):
            path = out_dir / f"{prefix}-{tf}-open_interest.feather"
            existing = pd.read_feather(path) if path.exists() else None
            merged = merge_append_only(existing, sel[OI_COLUMNS].astype({"date": "datetime64[ms, UTC]"}),
                                       path, OI_COLUMNS[1:])
            _write(merged, path)
            written[path.name] = len(merged)
    return written
