"""Hypothesis fuzzing of the importers: arbitrary CSV rows give a clean `InputError` (naming the
file) or an import that accounts for every data row (imported, repeated or listed as skipped);
never another exception, never a silent drop. Kept small: unit-speed examples, no deadline."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from perpflow.data.binance_metrics import import_metrics, parse_metrics
from perpflow.data.errors import InputError
from perpflow.data.liquidations import import_liquidations, parse_forceorder
from perpflow.data.store import read_events

NOW = pd.Timestamp("2026-01-01", tz="UTC")
LIQ_HEADER = ["timestamp", "symbol", "side", "avg_price", "filled_qty", "usd_value"]
OI_HEADER = ["create_time", "symbol", "sum_open_interest", "sum_open_interest_value"]
SETTINGS = settings(max_examples=60, deadline=None)

junk = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e309", "0", "-1", "NULL", '"', ",", "\n", "\x00",
                     "BTCUSDT", "btc/usdt", "SELL", "buy", "2025-10-22T09:36:00", "2025-13-40 25:61:00"]),
)  # fmt: skip
number = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64).map(repr), junk)


@st.composite
def liq_row(draw):
    """A row that is often valid and otherwise wrong in one or more cells."""
    t = draw(
        st.datetimes(
            pd.Timestamp("2005-01-01").to_pydatetime(), pd.Timestamp("2030-01-01").to_pydatetime()
        )
    )
    price = draw(st.floats(1e-6, 1e6))
    qty = draw(st.floats(1e-6, 1e4))
    row = [t.isoformat(), draw(st.sampled_from(["BTCUSDT", "ETHUSDT", "1000PEPEUSDT"])),
           draw(st.sampled_from(["BUY", "SELL", "sell"])), repr(price), repr(qty), repr(price * qty)]  # fmt: skip
    for i in draw(st.sets(st.integers(0, 5), max_size=3)):
        row[i] = draw(number if i >= 3 else junk)
    return row[: draw(st.sampled_from([6, 6, 6, 5, 7]))] if draw(st.booleans()) else row


@st.composite
def oi_row(draw):
    t = pd.Timestamp("2025-10-01") + pd.Timedelta(minutes=5 * draw(st.integers(0, 400)))
    t += pd.Timedelta(seconds=draw(st.sampled_from([0, 0, 0, 2, 10, 11, -3, 150])))
    oi = draw(st.floats(1e3, 1e5))
    row = [
        f"{t:%Y-%m-%d %H:%M:%S}",
        draw(st.sampled_from(["BTCUSDT", "ETHUSDT"])),
        repr(oi),
        repr(oi * 1e5),
    ]
    for i in draw(st.sets(st.integers(0, 3), max_size=2)):
        row[i] = draw(number if i >= 2 else junk)
    return row


def _write(path: Path, header: list[str], rows: list[list[str]], quoted: bool) -> int:
    """Write a CSV (quoted by the csv module, or joined raw); returns its data rows as a CSV
    reader sees them (blank lines are not rows)."""
    if quoted:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([header, *rows])
        text = buf.getvalue()
    else:
        text = "\n".join(",".join(r) for r in [header, *rows]) + "\n"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        parsed = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return -1
    return sum(1 for r in parsed[1:] if any(c.strip() for c in r))


def _parse_accounts_for_every_row(parse, header, rows, quoted, skip):
    """`parse` of the written rows: a clean `InputError` naming the file, or a result whose rows
    are all imported, repeated or skipped (skipped only with `skip`); returns its kept frame."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "in.csv"
        data_rows = _write(path, header, rows, quoted)
        try:
            f = parse(path, now=NOW, skip_bad_rows=skip)
        except InputError as exc:
            assert "in.csv" in str(exc)
            return None
    kept = f.events if hasattr(f, "events") else f.frame
    assert f.rows == len(kept) + f.repeated + len(f.skipped), "every row accounted for"
    assert data_rows in (-1, f.rows)
    assert skip or not f.skipped
    return kept


@SETTINGS
@given(rows=st.lists(liq_row(), max_size=12), quoted=st.booleans(), skip=st.booleans())
def test_forceorder_rows_give_clean_errors_and_no_silent_drop(rows, quoted, skip):
    _parse_accounts_for_every_row(parse_forceorder, LIQ_HEADER, rows, quoted, skip)


@SETTINGS
@given(rows=st.lists(oi_row(), max_size=12), quoted=st.booleans(), skip=st.booleans())
def test_metrics_rows_give_clean_errors_and_no_silent_drop(rows, quoted, skip):
    kept = _parse_accounts_for_every_row(parse_metrics, OI_HEADER, rows, quoted, skip)
    if kept is not None:
        assert (kept["date"].dt.second == 0).all() and (kept["date"].dt.minute % 5 == 0).all()


@settings(max_examples=25, deadline=None)
@given(files=st.lists(st.lists(liq_row(), min_size=1, max_size=8), min_size=1, max_size=3),
       replace=st.booleans())  # fmt: skip
def test_liquidation_imports_store_what_they_report(files, replace):
    with tempfile.TemporaryDirectory() as d:
        paths = [Path(d) / f"f{i}.csv" for i in range(len(files))]
        for p, rows in zip(paths, files, strict=True):
            _write(p, LIQ_HEADER, rows, True)
        for _ in range(2):  # the second run finds everything stored
            try:
                rep = import_liquidations(
                    paths, Path(d) / "store", now=NOW, skip_bad_rows=True, replace=replace
                )
            except InputError:
                return
        assert rep.stored.new == 0
        assert rep.stored.already == len(read_events(Path(d) / "store", "liquidations"))


@settings(max_examples=25, deadline=None)
@given(files=st.lists(st.lists(oi_row(), min_size=1, max_size=8), min_size=1, max_size=3))
def test_metrics_imports_store_what_they_report(files):
    with tempfile.TemporaryDirectory() as d:
        paths = [Path(d) / f"m{i}.csv" for i in range(len(files))]
        for p, rows in zip(paths, files, strict=True):
            _write(p, OI_HEADER, rows, False)
        try:
            rep = import_metrics(paths, Path(d), now=NOW, skip_bad_rows=True)
        except InputError:
            return
        kept = sum(len(f.frame) for f in rep.files) - rep.across
        stored = sum(n for name, n in rep.written.items() if "-5m-" in name)
        assert stored == kept
