"""Liquidation events: the normalised record and the importer for Binance `forceOrder` CSV exports.

Record (one row per liquidation order, cryptofeed-style): `exchange`, `symbol` (exchange id,
e.g. BTCUSDT), `side` ("sell" = a long was liquidated, "buy" = a short), `price`, `qty` (base),
`notional` (quote), `ts_event` (exchange time), `ts_recv` (receive time; equal to ts_event for
CSV exports that do not carry one).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CSV_COLUMNS = ("timestamp", "symbol", "side", "avg_price", "filled_qty", "usd_value")


def _bad(path: Path, mask: pd.Series, what: str) -> None:
    if mask.any():
        row = int(np.flatnonzero(mask.to_numpy())[0]) + 2
        raise ValueError(f"{path.name} row {row}: {what}; fix or remove the row")


def read_forceorder_csv(path: Path, *, exchange: str = "binance") -> pd.DataFrame:
    """A forceOrder CSV export as normalised liquidation records, validated.

    Errors name the file and the 1-based row (header = row 1): missing columns, bad times,
    sides other than BUY/SELL, non-positive numbers, and usd_value not equal to price x qty
    (within 1%, the unit check).
    """
    path = Path(path)
    raw = pd.read_csv(path, dtype=str)
    missing = [c for c in CSV_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {missing}; expected {list(CSV_COLUMNS)}")
    ts = pd.to_datetime(raw["timestamp"], errors="coerce", utc=True, format="ISO8601")
    _bad(path, ts.isna(), "timestamp is not an ISO time")
    side = raw["side"].str.upper()
    _bad(path, ~side.isin(["BUY", "SELL"]), "side is not BUY or SELL")
    price, qty, usd = (
        pd.to_numeric(raw[c], errors="coerce") for c in ("avg_price", "filled_qty", "usd_value")
    )
    for name, col in (("avg_price", price), ("filled_qty", qty), ("usd_value", usd)):
        _bad(path, col.isna() | (col <= 0), f"{name} is not a number > 0")
    _bad(
        path, (usd / (price * qty) - 1).abs() > 0.01, "usd_value != avg_price x filled_qty (units?)"
    )
    ts = ts.astype("datetime64[ms, UTC]")
    return pd.DataFrame({
        "exchange": exchange, "symbol": raw["symbol"], "side": side.str.lower(), "price": price,
        "qty": qty, "notional": usd, "ts_event": ts, "ts_recv": ts,
    }).sort_values("ts_event", kind="stable").reset_index(drop=True)  # fmt: skip
