"""Errors for bad input a user can fix: every message names the file (and row) or the record kind
and column, and says what to do. All are `ValueError`s, so existing `except ValueError` paths keep
working; the CLI turns them into one line instead of a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class InputError(ValueError):
    """Bad input: a file, a row or a value that cannot be stored as it is."""


class SchemaError(InputError):
    """A write whose records do not match their kind's declared schema (`perpflow.data.schemas`)."""


class ConflictError(InputError):
    """New data that contradicts stored data (or other files of the same command): refused unless
    the caller asked to replace (and an audit record keeps what was replaced)."""


@dataclass(frozen=True)
class RowProblem:
    """One rejected (or, with `skip_bad_rows`, skipped) row: file name, 1-based line (header =
    line 1) and what is wrong with it."""

    file: str
    row: int
    what: str

    def __str__(self) -> str:
        return f"{self.file} row {self.row}: {self.what}"


SKIP_HINT = "fix or remove the row, or pass --skip-bad-rows to skip such rows"


def raise_for_rows(problems: list[RowProblem], *, hint: str = SKIP_HINT) -> None:
    """Raise an `InputError` naming the first bad row (and how many more there are); no-op when
    `problems` is empty."""
    if not problems:
        return
    first = sorted(problems, key=lambda p: (p.file, p.row))[0]
    more = len({(p.file, p.row) for p in problems}) - 1
    tail = f" ({more} more bad row{'s' if more != 1 else ''})" if more else ""
    raise InputError(f"{first}; {hint}{tail}")
