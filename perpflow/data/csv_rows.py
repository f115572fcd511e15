"""CSV exports read row by row with their line numbers, and row rules that name file and row.

Read with Python's `csv` module rather than `pandas.read_csv`: it keeps each row's line number in
the file (header = line 1; blank lines kept in the count, a quoted field over several lines
counted from its first), never drops a short or long row, and fails on a binary or NUL-laden file
with an error this module turns into one naming the file. Rules then run vectorised on the
parsed columns (`RowRules`); every broken rule is a `RowProblem`, raised as an `InputError`
naming the first one, or, with `skip_bad_rows`, the rows are dropped and listed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data.errors import InputError, RowProblem, raise_for_rows


@dataclass
class CsvRows:
    """The wanted columns of one CSV file as strings (plus `_row`, its line number), the count of
    blank lines ignored, and rows whose field count does not match the header."""

    name: str
    frame: pd.DataFrame
    blank: int = 0
    bad: list[RowProblem] = field(default_factory=list)


def read_csv_rows(path: Path, columns: tuple[str, ...], *, what: str) -> CsvRows:
    """`path`'s rows as `CsvRows`; an `InputError` naming the file when it is missing, empty,
    not text, lacks one of `columns`, or has a header but no data rows (`what` names the
    expected kind of file in the message)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    cells: dict[str, list[str]] = {c: [] for c in columns}
    lines: list[int] = []
    out = CsvRows(path.name, pd.DataFrame())
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise InputError(
                    f"{path.name}: empty file; expected a {what} CSV with columns {list(columns)}"
                )
            index = _header(path.name, header, columns, what)
            end = reader.line_num
            for row in reader:
                start, end = end + 1, reader.line_num
                if not any(c.strip() for c in row):
                    out.blank += 1
                elif len(row) != len(header):
                    out.bad.append(
                        RowProblem(
                            path.name, start, f"has {len(row)} fields, the header {len(header)}"
                        )
                    )
                else:
                    lines.append(start)
                    for c, i in index.items():
                        cells[c].append(row[i].strip())
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(
            f"{path.name}: not a readable CSV text file ({exc}); expected a {what} CSV"
        ) from None
    if not lines and not out.bad:
        raise InputError(f"{path.name}: has a header but no data rows; nothing to import")
    out.frame = pd.DataFrame({**{c: np.array(v, dtype=object) for c, v in cells.items()},
                              "_row": np.array(lines, dtype="int64")})  # fmt: skip
    return out


def _header(name: str, header: list[str], columns: tuple[str, ...], what: str) -> dict[str, int]:
    names = [h.strip() for h in header]
    missing = [c for c in columns if c not in names]
    if missing:
        raise InputError(f"{name}: missing column(s) {missing}; is this a {what} file? "
                         f"(its header: {names[:10]})")  # fmt: skip
    twice = sorted({c for c in columns if names.count(c) > 1})
    if twice:
        raise InputError(f"{name}: column(s) {twice} appear more than once in the header")
    return {c: names.index(c) for c in columns}


class RowRules:
    """Collects broken row rules of one file's frame (with `_row`): `flag(mask, what)` records a
    problem for every masked row; `what` may be a function of the row's position."""

    def __init__(self, rows: CsvRows):
        self.name = rows.name
        self.lines = rows.frame["_row"].to_numpy()
        self.problems: list[RowProblem] = list(rows.bad)
        self.bad = np.zeros(len(self.lines), dtype=bool)

    def flag(self, mask, what) -> None:
        mask = np.asarray(mask, dtype=bool)
        for i in np.flatnonzero(mask & ~self.bad):  # one problem per row: its first
            self.problems.append(
                RowProblem(self.name, int(self.lines[i]), what(i) if callable(what) else what)
            )
        self.bad |= mask

    def finish(self, *, skip_bad_rows: bool) -> list[RowProblem]:
        """The problems, sorted by row; raises (`raise_for_rows`) unless `skip_bad_rows`."""
        problems = sorted(self.problems, key=lambda p: p.row)
        if not skip_bad_rows:
            raise_for_rows(problems)
        return problems


def parse_numbers(values: pd.Series) -> np.ndarray:
    """Strings to float64 (NaN where not a number)."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")


def nothing_left(name: str, skipped: list[RowProblem]) -> None:
    """An `InputError` for a file whose every row was skipped."""
    raise InputError(f"{name}: every data row was skipped ({len(skipped)}: first {skipped[0]}); "
                     "nothing to import")  # fmt: skip
