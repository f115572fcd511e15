"""What `perpflow heatmap` draws, read from files or an event store: book snapshots (one capture
session), trade and liquidation prints, and labelled events. Bad inputs raise `UserError`
naming the file and the fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from perpflow.errors import UserError


def _utc(value: str | None, default: pd.Timestamp | None = None) -> pd.Timestamp | None:
    if not value:
        return default
    t = pd.Timestamp(value)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def recorded_books(store: Path, exchange: str, symbol: str, since: str | None = None,
                   until: str | None = None) -> pd.DataFrame:  # fmt: skip
    """Snapshots of `symbol` recorded in an event store (`perpflow record`) as `ts` rows in
    [since, until]."""
    from perpflow.data.readers import book_snapshots

    books = book_snapshots(store, exchange, symbol, since=_utc(since), until=_utc(until))
    if books.empty:
        raise UserError(f"{store}: no recorded {exchange} books for {symbol} "
                        f"(record them with `perpflow record`)")  # fmt: skip
    return books


def book_rows(src: Path, symbol: str, *, exchange: str, since: str | None = None,
              until: str | None = None) -> pd.DataFrame:  # fmt: skip
    """`symbol`'s snapshot rows from a snapshots parquet or an event store directory."""
    src = Path(src)
    if not src.exists():
        raise UserError(f"{src}: no such book file (parquet with ts, bid_px_0, bid_sz_0, ...) "
                        "or event store")  # fmt: skip
    books = (
        recorded_books(src, exchange, symbol, since, until)
        if src.is_dir()
        else pd.read_parquet(src)
    )
    rows = books[books["symbol"] == symbol] if "symbol" in books.columns else books
    if rows.empty:
        found = sorted(books["symbol"].unique()) if "symbol" in books.columns else []
        raise UserError(f"{src}: no rows for symbol {symbol!r} (found {found})")
    return rows


def pick_session(rows: pd.DataFrame, session: int, *, src: Path, symbol: str):
    """(the `session`-th capture of `rows` as a Book, number of captures)."""
    from perpflow.features.orderbook import book_from_wide, capture_sessions

    sessions = capture_sessions(rows)
    if not 0 <= session < len(sessions):
        raise UserError(
            f"{src}: {symbol} has {len(sessions)} capture(s); --session 0..{len(sessions) - 1}"
        )
    return book_from_wide(sessions[session]), len(sessions)


def prints(path: str | None, *, store: Path | None, kind: str, exchange: str,
           symbol: str) -> pd.DataFrame | None:  # fmt: skip
    """Trades or liquidations (`kind`) to draw: from a CSV/parquet `path` (rows of `symbol` when
    it has a symbol column), else from the event store, else None."""
    if path:
        if not Path(path).exists():
            raise UserError(f"{path}: no such file (a CSV or parquet of ts, side, price, amount)")
        f = pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)
        return f[f["symbol"] == symbol] if "symbol" in f.columns else f
    if store is None:
        return None
    from perpflow.data.readers import store_prints

    return store_prints(store, kind, exchange, symbol)


def events(path: str | None, *, pair: str | None, timeframe: str) -> pd.DataFrame | None:
    """Marks from a `perpflow label` parquet (this pair's events) or a CSV of ts,text lines."""
    if not path:
        return None
    ev = Path(path)
    if not ev.exists():
        raise UserError(
            f"--events {ev}: no such file (a `perpflow label` parquet, or a CSV of ts,text)"
        )
    if ev.suffix != ".parquet":
        return pd.read_csv(ev)
    from perpflow.reports.heatmap import events_from_labels

    try:
        return events_from_labels(pd.read_parquet(ev), pair, timeframe)
    except ValueError as exc:
        raise UserError(f"--events {ev}: {exc}") from None
