"""Import Binance's daily `metrics` CSVs (data.binance.vision) into Freqtrade open_interest files.

Binance's REST API serves only ~30 days of open-interest history; its daily `metrics` files go
back years. Each row (5-minute cadence) has `create_time, symbol, sum_open_interest` (base
units), `sum_open_interest_value` (USDT) and long/short ratios. This writes Freqtrade's
`<PAIR>-5m-open_interest.feather` and `-1h-` (rows at minute 0) layout (schema
`open_interest`: `date, open_interest_amount, open_interest_value`).

Row rules: `create_time` is 'YYYY-MM-DD HH:MM:SS' on the 5-minute grid and not in the future;
both values are finite numbers > 0 and their ratio (the price) within 3x of the file's median;
the symbol is a Binance USDT-M id (BTCUSDT); one time holds one set of values. A broken rule
raises an `InputError` naming file and row, or with `skip_bad_rows` the row is skipped and
listed. The grid rule: Binance stamps some rows a few seconds late (October 2025 BTC: 2025-10-02
05:45:02 and 2025-10-18 04:15:02). A stamp within `SNAP_TOLERANCE` (10 s) of a grid point is
moved onto it and reported; anything further off the grid is refused.

The files of one command are checked against each other (the same time with other values in two
files: a `ConflictError` naming both rows) and then against the stored files: a stored value is
never rewritten unless `replace`, which first writes a `corrections` audit record (the old and
new values) to `<datadir>/store`. Nothing is written unless every file passes.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data.csv_rows import RowRules, nothing_left, parse_numbers, read_csv_rows
from perpflow.data.errors import ConflictError, RowProblem
from perpflow.data.schemas import schema_for
from perpflow.data.store import store_events

logger = logging.getLogger(__name__)
REQUIRED = ("create_time", "symbol", "sum_open_interest", "sum_open_interest_value")
OI_COLUMNS = ["date", "open_interest_amount", "open_interest_value"]
VALUES = OI_COLUMNS[1:]
GRID = pd.Timedelta("5min")
SNAP_TOLERANCE = pd.Timedelta("10s")
SYMBOL_PATTERN = r"[A-Z0-9]{1,24}USDT"


@dataclass
class MetricsFile:
    """One parsed metrics file: data rows read, the rows kept (`date, symbol, open_interest_*`,
    `_file`, `_row`), rows skipped, stamps snapped onto the grid, repeated rows kept once."""

    name: str
    rows: int
    frame: pd.DataFrame
    skipped: list[RowProblem] = field(default_factory=list)
    snapped: list[str] = field(default_factory=list)
    repeated: int = 0
    blank: int = 0


def parse_metrics(path: Path, *, now: pd.Timestamp | None = None,
                  skip_bad_rows: bool = False) -> MetricsFile:  # fmt: skip
    """One metrics CSV, every row rule checked (see the module doc); `now` bounds the times."""
    rows = read_csv_rows(path, REQUIRED, what="Binance metrics")
    raw, rules = rows.frame, RowRules(rows)
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    stamp = pd.to_datetime(
        raw["create_time"], format="%Y-%m-%d %H:%M:%S", errors="coerce", utc=True
    )
    rules.flag(
        stamp.isna(),
        lambda i: f"create_time {raw['create_time'].iat[i]!r} is not 'YYYY-MM-DD HH:MM:SS'",
    )
    date = stamp.dt.round(GRID)
    off = (stamp - date).abs()
    rules.flag(off > SNAP_TOLERANCE, lambda i: f"create_time {stamp.iat[i]:%Y-%m-%d %H:%M:%S} is "
               f"{off.iat[i].total_seconds():.0f} s off the 5-minute grid (more than "
               f"{SNAP_TOLERANCE.total_seconds():.0f} s: not a 5-minute metric)")  # fmt: skip
    rules.flag(
        date > now,
        lambda i: f"create_time {stamp.iat[i]} is in the future (now {now:%Y-%m-%d %H:%M} UTC)",
    )
    sym = raw["symbol"].astype("str")
    rules.flag(sym == "", "symbol is empty")
    rules.flag(~sym.str.fullmatch(SYMBOL_PATTERN).to_numpy(dtype=bool),
               lambda i: f"symbol {sym.iat[i]!r} is not a Binance USDT-M symbol like BTCUSDT")  # fmt: skip
    amount, value = (
        parse_numbers(raw["sum_open_interest"]),
        parse_numbers(raw["sum_open_interest_value"]),
    )
    for name, v in (("sum_open_interest", amount), ("sum_open_interest_value", value)):
        rules.flag(
            ~(np.isfinite(v) & (v > 0)),
            lambda i, n=name: f"{n} {raw[n].iat[i]!r} is not a number > 0",
        )
    with np.errstate(all="ignore"):
        price = value / amount
    med = np.median(price[~rules.bad]) if (~rules.bad).any() else np.nan
    rules.flag((price < med / 3) | (price > med * 3),
               "value / amount is far from the file's typical price (wrong units?)")  # fmt: skip
    out = pd.DataFrame({"date": date.astype("datetime64[ms, UTC]"), "symbol": sym.to_numpy(),
                        "open_interest_amount": amount, "open_interest_value": value,
                        "_file": rows.name, "_row": raw["_row"].to_numpy()})  # fmt: skip
    _same_time(out, rules)
    skipped = rules.finish(skip_bad_rows=skip_bad_rows)
    snapped = [f"{rows.name} row {r}: {s:%Y-%m-%d %H:%M:%S} snapped to {d:%H:%M:%S}"
               for r, s, d, o, bad in zip(out["_row"], stamp, date, off, rules.bad, strict=True)
               if not bad and o > pd.Timedelta(0)]  # fmt: skip
    keep = out[~rules.bad]
    if keep.empty:
        nothing_left(rows.name, skipped)
    repeated = keep.duplicated(["symbol", "date"])
    return MetricsFile(rows.name, len(raw) + len(rows.bad), keep[~repeated].sort_values("date").reset_index(drop=True),
                       skipped, snapped, int(repeated.sum()), rows.blank)  # fmt: skip


def _same_time(out: pd.DataFrame, rules: RowRules) -> None:
    """Flag rows whose symbol and (snapped) time another row of the file has with other values."""
    ok = out[~rules.bad]
    dup = ok.duplicated(["symbol", "date"], keep=False)
    if not dup.any():
        return
    d = ok[dup]
    distinct = d.groupby(["symbol", "date"])[VALUES].transform("nunique").max(axis=1) > 1
    rows = d.groupby(["symbol", "date"])["_row"].transform(lambda r: [list(r)] * len(r))
    clash = pd.Series(False, index=out.index)
    clash[d.index[distinct.to_numpy()]] = True

    def what(i: int) -> str:
        others = [r for r in rows[out.index[i]] if r != out["_row"].iat[i]]
        return (f"duplicate time with other values ({out['date'].iat[i]:%Y-%m-%d %H:%M} also at "
                f"row {', '.join(map(str, others))})")  # fmt: skip

    rules.flag(clash.to_numpy(), what)


def read_metrics(path: Path, *, now: pd.Timestamp | None = None) -> pd.DataFrame:
    """One metrics CSV as `date, symbol, open_interest_amount, open_interest_value` (plus `_file`,
    `_row`), every row rule checked; an `InputError` naming file and row otherwise."""
    return parse_metrics(path, now=now).frame


def _across(files: list[MetricsFile]) -> tuple[pd.DataFrame, int]:
    """The rows of all files, each (symbol, time) once; a `ConflictError` naming both files and
    rows where two files give one time different values."""
    data = pd.concat([f.frame for f in files], ignore_index=True)
    dup = data.duplicated(["symbol", "date"], keep=False)
    if dup.any():
        d = data[dup]
        differs = d.groupby(["symbol", "date"])[VALUES].transform("nunique").max(axis=1) > 1
        if differs.any():
            sym, t = d[differs.to_numpy()].iloc[0][["symbol", "date"]]
            pair = d[(d["symbol"] == sym) & (d["date"] == t)].drop_duplicates(VALUES)
            a, b = (pair.iloc[k] for k in (0, 1))
            raise ConflictError(
                f"{sym} {t:%Y-%m-%d %H:%M}: {a['_file']} row {a['_row']} says open interest "
                f"{a['open_interest_amount']:g} / {a['open_interest_value']:g}, {b['_file']} row "
                f"{b['_row']} says {b['open_interest_amount']:g} / {b['open_interest_value']:g}; "
                "the files of one import must agree: import the right one")  # fmt: skip
    once = data.drop_duplicates(["symbol", "date"]).sort_values("date", kind="stable")
    return once.reset_index(drop=True), int(
        dup.sum() - data[dup].drop_duplicates(["symbol", "date"]).shape[0]
    )


@dataclass
class MetricsReport:
    """What an import did: the files parsed, rows per written file, rows added and replaced per
    file, rows that several input files shared (stored once), and 5-minute gaps per symbol."""

    files: list[MetricsFile]
    written: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    replaced: dict[str, int] = field(default_factory=dict)
    across: int = 0
    gaps: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The report as printable lines (what the CLI shows)."""
        out = []
        for f in self.files:
            extra = [f"{f.repeated} repeated row(s) kept once"] if f.repeated else []
            extra += (
                [f"{len(f.snapped)} stamp(s) snapped to the 5-minute grid"] if f.snapped else []
            )
            extra += [f"{len(f.skipped)} bad row(s) skipped"] if f.skipped else []
            out.append(
                f"{f.name}: {f.rows} rows read, {len(f.frame)} imported"
                + (f" ({', '.join(extra)})" if extra else "")
            )
            out += [f"  {s}" for s in f.snapped] + [f"  skipped {p}" for p in f.skipped]
        if self.across:
            out.append(
                f"{self.across} row(s) appear in several of these files with the same values: stored once"
            )
        for name, rows in self.written.items():
            rep = (
                f", {self.replaced[name]} replaced (audit: store/corrections)"
                if self.replaced.get(name)
                else ""
            )
            out.append(f"{name}: {rows} rows ({self.added.get(name, 0)} new{rep})")
        out += [
            f"{s}: {n} gap(s) in the 5m series (kept as gaps, never filled)"
            for s, n in self.gaps.items()
            if n
        ]
        return out


def _merge(existing: pd.DataFrame | None, new: pd.DataFrame, path: Path,
           replace: bool) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """(stored union new, stored rows the new data contradicts, their new rows); a
    `ConflictError` naming the file and first date unless `replace`."""
    new = new[OI_COLUMNS]
    if existing is None or existing.empty:
        return new.reset_index(drop=True), new.iloc[:0], new.iloc[:0]
    old = schema_for("open_interest").conform(existing, str(path))
    both = old.merge(new, on="date", how="inner", suffixes=("_old", "_new"))
    diff = np.zeros(len(both), dtype=bool)
    for c in VALUES:
        diff |= ~np.isclose(both[f"{c}_old"], both[f"{c}_new"], rtol=1e-9, equal_nan=True)
    stale = old[old["date"].isin(both.loc[diff, "date"])]
    fresh = new[new["date"].isin(stale["date"])]
    if diff.any() and not replace:
        r = both[diff].iloc[0]
        raise ConflictError(
            f"{path.name}: stored open interest at {r['date']} is {r['open_interest_amount_old']:g} / "
            f"{r['open_interest_value_old']:g}, the new data says {r['open_interest_amount_new']:g} / "
            f"{r['open_interest_value_new']:g} ({int(diff.sum())} date(s) differ); refusing to rewrite "
            "stored data: pass --replace to store the new values (an audit record keeps the stored "
            "ones), or fix the input")  # fmt: skip
    kept = old[~old["date"].isin(stale["date"])]
    merged = pd.concat([kept, new[~new["date"].isin(kept["date"])]]).sort_values("date")
    return merged.reset_index(drop=True), stale, fresh


def _audit(datadir: Path, symbol: str, path: Path, stale: pd.DataFrame, fresh: pd.DataFrame,
           source: str) -> None:  # fmt: skip
    """One `corrections` record per replaced date in `<datadir>/store`."""
    now = pd.Timestamp.now(tz="UTC")
    new = fresh.set_index("date")
    rows = [{"kind": "open_interest", "exchange": "binance", "symbol": symbol,
             "key": json.dumps({"file": path.name, "date": r.date.isoformat()}),
             "old": json.dumps([{c: getattr(r, c) for c in VALUES}]),
             "new": json.dumps([{c: float(new.loc[r.date, c]) for c in VALUES}]),
             "replaced_at": now, "source": source} for r in stale.itertuples()]  # fmt: skip
    store_events(Path(datadir) / "store", "corrections",
                 pd.DataFrame(rows).astype({"replaced_at": "datetime64[us, UTC]"}))  # fmt: skip


def _write(df: pd.DataFrame, path: Path) -> None:
    df = schema_for("open_interest").validate(df[OI_COLUMNS])
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        df.reset_index(drop=True).to_feather(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def import_metrics(paths: list[Path], datadir: Path, *, replace: bool = False, skip_bad_rows: bool = False,
                   now: pd.Timestamp | None = None) -> MetricsReport:  # fmt: skip
    """Import metrics CSVs into `<datadir>/futures` (see the module doc for the rules)."""
    report = MetricsReport([parse_metrics(p, now=now, skip_bad_rows=skip_bad_rows) for p in paths])
    data, report.across = _across(report.files)
    out_dir = Path(datadir) / "futures"
    plan = []
    source = ", ".join(f.name for f in report.files)
    for symbol, rows in data.groupby("symbol"):
        prefix = f"{str(symbol)[:-4]}_USDT_USDT"
        report.gaps[str(symbol)] = _log_gaps(str(symbol), rows)
        for tf, sel in (("5m", rows), ("1h", rows[rows["date"].dt.minute == 0])):
            path = out_dir / f"{prefix}-{tf}-open_interest.feather"
            existing = pd.read_feather(path) if path.exists() else None
            merged, stale, fresh = _merge(existing, sel, path, replace)
            plan.append(
                (str(symbol), path, merged, stale, fresh, 0 if existing is None else len(existing))
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    for symbol, path, merged, stale, fresh, before in plan:  # every check passed: now write
        if len(stale):
            _audit(Path(datadir), symbol, path, stale, fresh, source)
        _write(merged, path)
        report.written[path.name] = len(merged)
        report.added[path.name] = len(merged) - before
        report.replaced[path.name] = len(stale)
    return report


def _log_gaps(symbol: str, rows: pd.DataFrame) -> int:
    gaps = rows["date"].diff() > GRID
    if gaps.any():
        first = rows[gaps.to_numpy()].iloc[0]
        logger.warning(
            "%s: %d gap(s) in the 5m series (kept as gaps, never filled); the first ends at "
            "%s row %d (%s)", symbol, int(gaps.sum()), first["_file"], first["_row"], first["date"],
        )  # fmt: skip
    return int(gaps.sum())
