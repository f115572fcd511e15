"""The `perpflow` command's one error handler.

Expected user errors (a missing or unreadable file, a corrupt data file, a bad date, a busy
port, a bad config, a `UserError` or a ValueError raised by perpflow's own code, whose
messages say what to do) become one line on stderr and exit code 2. Anything else is a bug and
keeps its traceback; `--debug` keeps the traceback for every error.

Corrupt files: pyarrow's errors do not name the file, so the file is looked up in the failing
frames' local variables (written by hand: no library offers it; the innermost frame whose
`path`-like local names a data file wins).
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from types import TracebackType

from perpflow.errors import UserError

EXIT_USER_ERROR = 2
DATA_SUFFIXES = (".feather", ".parquet", ".json", ".csv", ".zip", ".zst", ".sqlite")
PATH_LOCALS = ("path", "p", "f", "file", "fn", "source", "src", "filename")


def _one_line(text: str) -> str:
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _perpflow_raised(exc: BaseException) -> bool:
    """The innermost frame of the traceback is perpflow's own code (its messages are for users)."""
    tb: TracebackType | None = exc.__traceback__
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last is not None and "/perpflow/" in last.tb_frame.f_code.co_filename.replace("\\", "/")


def file_in_traceback(exc: BaseException) -> str | None:
    """The data file a failing frame was reading (see the module docstring), or None."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        for name in PATH_LOCALS:
            value = frame.f_locals.get(name)
            if isinstance(value, str | Path) and str(value).endswith(DATA_SUFFIXES):
                return str(value)
    return None


def _corrupt_file(exc: BaseException) -> str | None:
    """A message for a data file pyarrow or a JSON parser could not read, or None."""
    import pyarrow as pa

    if not isinstance(exc, pa.ArrowException | json.JSONDecodeError):
        return None
    where = file_in_traceback(exc) or "a data file"
    return (f"{where}: not a readable {Path(where).suffix.lstrip('.') or 'data'} file "
            f"({_one_line(exc)}); restore or re-create it (download or import it again)")  # fmt: skip


def _os_error(exc: OSError) -> str | None:
    from perpflow.data.durable import StoreNotWritable

    if isinstance(exc, StoreNotWritable):
        return _one_line(exc)
    if exc.errno == errno.EADDRINUSE:
        return (f"address already in use ({exc.strerror or exc}): another process listens on that "
                "port; stop it or pick another --port")  # fmt: skip
    if isinstance(
        exc, FileNotFoundError | IsADirectoryError | NotADirectoryError | PermissionError
    ):
        if exc.filename is None:
            return _one_line(exc)
        return f"{exc.filename}: {exc.strerror}; check the path"
    return None


def user_message(exc: BaseException) -> str | None:
    """The one line for an expected user error, None for a bug."""
    from freqtrade.exceptions import OperationalException
    from pandas.errors import OutOfBoundsDatetime

    if isinstance(exc, SystemExit):
        return _one_line(exc.code) if isinstance(exc.code, str) else None
    message = _corrupt_file(exc)
    if message:
        return message
    if isinstance(exc, OSError):
        return _os_error(exc)
    if isinstance(exc, UserError | OperationalException):
        return _one_line(exc)
    if isinstance(exc, OutOfBoundsDatetime):
        return f"date out of range: {_one_line(exc)}"
    if isinstance(exc, ValueError) and _perpflow_raised(exc):
        return _one_line(exc)
    return None


def handle(exc: BaseException, *, prog: str, debug: bool) -> int:
    """Print the one line for a user error and return its exit code; re-raise a bug (or any
    error with `debug`) so Python prints the traceback."""
    import sys

    if isinstance(exc, KeyboardInterrupt):
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    if isinstance(exc, SystemExit) and not isinstance(exc.code, str):
        return int(exc.code or 0)
    message = None if debug else user_message(exc)
    if message is None:
        raise exc
    print(f"{prog}: {message}", file=sys.stderr)
    return EXIT_USER_ERROR
