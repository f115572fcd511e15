"""Liquidation events: the normalised record and the importer for Binance `forceOrder` CSV exports.

Record (schema `liquidations`, one row per liquidation order, cryptofeed-style): `exchange`,
`symbol` (exchange id, e.g. BTCUSDT), `side` ("sell" = a long was liquidated, "buy" = a short),
`price`, `qty` (base), `notional` (quote), `ts_event` (exchange time), `ts_recv` (receive time;
equal to ts_event for CSV exports that do not carry one).

Row rules of an export: an ISO 8601 `timestamp` not in the future (nor before 2010), a symbol (an exchange market
id), side BUY or SELL, `avg_price`, `filled_qty`, `usd_value` finite numbers > 0 and `usd_value`
= price x qty within 1% (the unit check). A broken rule raises an `InputError` naming file and
row, or with `skip_bad_rows` the row is skipped and listed. A row repeated in a file, or in
several files of one import, is one event, stored once and counted. An export is the complete
record of its span: files of one import, and the store, must agree on every event inside each
symbol's span from its first to its last event (`store_events(complete=True)`); a corrected
re-export is refused with the differing event named, or with `replace` stored in place of the
old events after a `corrections` audit record. Coverage is claimed per symbol from what was
imported (`perpflow.data.coverage.coverage_spans`), never one span for the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data import conflicts
from perpflow.data.coverage import MAX_QUIET, coverage_spans, write_coverage
from perpflow.data.csv_rows import RowRules, nothing_left, parse_numbers, read_csv_rows
from perpflow.data.errors import ConflictError, RowProblem
from perpflow.data.schemas import ID_PATTERN, schema_for
from perpflow.data.store import StoreResult, store_events

CSV_COLUMNS = ("timestamp", "symbol", "side", "avg_price", "filled_qty", "usd_value")
SCHEMA = schema_for("liquidations")
EARLIEST = pd.Timestamp("2010-01-01", tz="UTC")  # no perpetual-futures exchange is older


@dataclass
class ForceOrderFile:
    """One parsed export: data rows read, its events (with `_file`, `_row`), rows skipped, rows
    repeated in the file (stored once) and blank lines."""

    name: str
    rows: int
    events: pd.DataFrame
    skipped: list[RowProblem] = field(default_factory=list)
    repeated: int = 0
    blank: int = 0


def parse_forceorder(path: Path, *, exchange: str = "binance", now: pd.Timestamp | None = None,
                     skip_bad_rows: bool = False) -> ForceOrderFile:  # fmt: skip
    """A forceOrder CSV export as `liquidations` records (see the module doc for the rules)."""
    rows = read_csv_rows(path, CSV_COLUMNS, what="forceOrder liquidations")
    raw, rules = rows.frame, RowRules(rows)
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    ts = pd.to_datetime(raw["timestamp"], errors="coerce", utc=True, format="ISO8601")
    rules.flag(
        ts.isna(), lambda i: f"timestamp {raw['timestamp'].iat[i]!r} is not an ISO 8601 time"
    )
    rules.flag(
        ts > now, lambda i: f"timestamp {ts.iat[i]} is in the future (now {now:%Y-%m-%d %H:%M} UTC)"
    )
    rules.flag(
        ts < EARLIEST, lambda i: f"timestamp {ts.iat[i]} is before {EARLIEST:%Y} (a mistyped date?)"
    )
    sym = raw["symbol"].astype("str")
    rules.flag(sym == "", "symbol is empty")
    rules.flag(~sym.str.fullmatch(ID_PATTERN).to_numpy(dtype=bool),
               lambda i: f"symbol {sym.iat[i]!r} is not an exchange market id like BTCUSDT")  # fmt: skip
    side = raw["side"].astype("str").str.upper()
    rules.flag(
        ~side.isin(["BUY", "SELL"]), lambda i: f"side {raw['side'].iat[i]!r} is not BUY or SELL"
    )
    price, qty, usd = (parse_numbers(raw[c]) for c in ("avg_price", "filled_qty", "usd_value"))
    for name, col in (("avg_price", price), ("filled_qty", qty), ("usd_value", usd)):
        rules.flag(
            ~(np.isfinite(col) & (col > 0)),
            lambda i, n=name: f"{n} {raw[n].iat[i]!r} is not a number > 0",
        )
    with np.errstate(all="ignore"):
        rules.flag(
            np.abs(usd / (price * qty) - 1) > 0.01, "usd_value != avg_price x filled_qty (units?)"
        )
    events = pd.DataFrame({
        "exchange": exchange, "symbol": sym.to_numpy(), "side": side.str.lower().to_numpy(),
        "price": price, "qty": qty, "notional": usd, "ts_event": ts, "ts_recv": ts,
        "_file": rows.name, "_row": raw["_row"].to_numpy(),
    })  # fmt: skip
    skipped = rules.finish(skip_bad_rows=skip_bad_rows)
    events = events[~rules.bad]
    if events.empty:
        nothing_left(rows.name, skipped)
    events = events.astype({"ts_event": "datetime64[us, UTC]", "ts_recv": "datetime64[us, UTC]"})
    repeated = events.duplicated([*SCHEMA.key, *SCHEMA.values])
    events = events[~repeated].sort_values("ts_event", kind="stable").reset_index(drop=True)
    return ForceOrderFile(
        rows.name, len(raw) + len(rows.bad), events, skipped, int(repeated.sum()), rows.blank
    )


def read_forceorder_csv(path: Path, *, exchange: str = "binance") -> pd.DataFrame:
    """A forceOrder CSV export as normalised liquidation records, every row rule checked; an
    `InputError` naming the file and the 1-based row (header = row 1) otherwise."""
    return conflicts.public(parse_forceorder(path, exchange=exchange).events)


def _agree(files: list[ForceOrderFile]) -> tuple[pd.DataFrame, int]:
    """The events of all files, each once; a `ConflictError` naming both files' rows where two
    files disagree about an event inside both of their spans (complete-export rule)."""
    merged, shared = files[0].events, 0
    for f in files[1:]:
        kept = []
        for (ex, sym), new in f.events.groupby(["exchange", "symbol"], sort=False):
            old = merged[(merged["exchange"] == ex) & (merged["symbol"] == sym)]
            span = (new["ts_event"].min(), new["ts_event"].max())
            cmp = conflicts.compare(SCHEMA, new, old, span=span)
            if cmp.message:
                first = cmp.stale.iloc[0] if len(cmp.stale) else None
                where = (
                    f" (stored from {first['_file']} row {first['_row']})"
                    if first is not None
                    else ""
                )
                raise ConflictError(f"{f.name} and earlier files of this import disagree: {cmp.message}"
                                    f"{where}; the files of one import must agree: import the right one")  # fmt: skip
            shared += cmp.already
            kept.append(cmp.fresh)
        merged = pd.concat([merged, *kept], ignore_index=True)
    return merged, shared


@dataclass
class LiquidationImport:
    """What an import did: the files parsed, events shared by several files (stored once), the
    store's result and the coverage stretches written (exchange, symbol, start, end)."""

    files: list[ForceOrderFile]
    shared: int = 0
    stored: StoreResult = field(default_factory=StoreResult)
    coverage: pd.DataFrame = field(default_factory=pd.DataFrame)
    store: Path = Path(".")

    def lines(self) -> list[str]:
        """The report as printable lines (what the CLI shows)."""
        out = []
        for f in self.files:
            extra = [f"{f.repeated} repeated row(s) stored once"] if f.repeated else []
            extra += [f"{len(f.skipped)} bad row(s) skipped"] if f.skipped else []
            out.append(
                f"{f.name}: {f.rows} rows, {len(f.events)} liquidations"
                + (f" ({', '.join(extra)})" if extra else "")
            )
            out += [f"  skipped {p}" for p in f.skipped]
        if self.shared:
            out.append(f"{self.shared} event(s) appear in several of these files: stored once")
        s = self.stored
        rep = f", {s.replaced} replaced (audit: {self.store}/corrections)" if s.replaced else ""
        out.append(f"{s.new} new liquidation(s) stored, {s.already} already stored{rep}; "
                   f"{len(s.written)} new part file(s)")  # fmt: skip
        cov = self.coverage
        out.append(f"coverage: {len(cov)} stretch(es) over {cov['symbol'].nunique() if len(cov) else 0} symbol(s) "
                   f"(per symbol, split where it was quiet for over {MAX_QUIET})")  # fmt: skip
        return out


def import_liquidations(paths: list[Path], store: Path, *, exchange: str = "binance",
                        replace: bool = False, skip_bad_rows: bool = False,
                        now: pd.Timestamp | None = None,
                        max_quiet: pd.Timedelta = MAX_QUIET) -> LiquidationImport:  # fmt: skip
    """Import forceOrder exports into the event store at `store` (see the module doc)."""
    files = [
        parse_forceorder(p, exchange=exchange, now=now, skip_bad_rows=skip_bad_rows) for p in paths
    ]
    events, shared = _agree(files)
    report = LiquidationImport(files, shared, store=Path(store))
    report.stored = store_events(store, "liquidations", conflicts.public(events), complete=True,
                                 replace=replace, source=", ".join(f.name for f in files))  # fmt: skip
    spans = coverage_spans(events, max_quiet=max_quiet)
    report.coverage = spans[spans["coverage_end"] > spans["coverage_start"]].reset_index(drop=True)
    for r in report.coverage.itertuples():
        write_coverage(
            store, "liquidation", r.exchange, r.coverage_start, r.coverage_end, symbol=r.symbol
        )
    return report
