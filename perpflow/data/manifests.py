"""Compaction manifests: which part files a partition folder's readers must skip right now.

A compaction (`perpflow.data.compact`) publishes `.compact.json` in a partition folder (by atomic
rename) before it moves the merged file into place; the manifest names that output and the parts
it replaces. Readers apply `live` to what they listed: while the manifest exists and its output
is in place, the replaced parts are not read (they are being deleted); before the output is in
place, the manifest is ignored (the old parts still hold every event). A part file that vanishes
between listing and reading means the folder changed under the reader: `retry_missing` lists and
reads again. Hidden names (leading dot) keep manifests and temp files out of DuckDB's and
Polars' `*.parquet` globs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

logger = logging.getLogger(__name__)
MANIFEST = ".compact.json"
LOCK = ".compact.lock"  # per kind: one compaction (or --replace rewrite) at a time
RETRIES = 50  # a partition's deletes take milliseconds; 50 re-lists cover ~2.5 s of them
T = TypeVar("T")


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest ({"output": name, "replaces": [names]}), None when there is none."""
    try:
        text = (Path(folder) / MANIFEST).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        m = json.loads(text)
        return {"output": str(m["output"]), "replaces": [str(n) for n in m["replaces"]]}
    except (ValueError, KeyError, TypeError) as exc:  # published by rename: never half written
        raise ValueError(f"{folder / MANIFEST}: unreadable compaction manifest ({exc}); run "
                         "`perpflow store compact` again to finish or undo it") from exc  # fmt: skip


def write_manifest(folder: Path, output: str, replaces: list[str]) -> Path:
    """Publish the manifest atomically (temp file, fsync, rename, fsync of the folder)."""
    path = Path(folder) / MANIFEST
    tmp = path.with_name(MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"output": output, "replaces": sorted(replaces)}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(folder)
    return path


def fsync_dir(folder: Path) -> None:
    """Make renames and deletes in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def live_names(folder: Path, names: list[str]) -> list[str]:
    """`names` (part files listed in `folder`) minus the parts an in-progress compaction already
    replaced, plus its output when it is in place but was listed before it was."""
    m = read_manifest(folder)
    if m is None:
        return names
    if not (Path(folder) / m["output"]).exists():  # not published: the old parts hold the data
        return [n for n in names if n != m["output"]]
    gone = set(m["replaces"])
    out = [n for n in names if n not in gone]
    return out if m["output"] in out else [*out, m["output"]]


def live_files(files: list[Path]) -> list[Path]:
    """`files` (sorted part paths, any folders) with `live_names` applied per folder, sorted."""
    by_folder: dict[Path, list[str]] = {}
    for f in files:
        by_folder.setdefault(f.parent, []).append(f.name)
    out = []
    for folder, names in by_folder.items():
        if (folder / MANIFEST).exists():
            names = live_names(folder, names)
        out += [folder / n for n in names]
    return sorted(out)


def retry_missing(fn: Callable[[], T], what: str) -> T:
    """`fn()` (list then read part files), again while a part vanished between the two (a
    compaction or a --replace rewrite deleted it); the last attempt's error is raised."""
    for attempt in range(RETRIES):
        try:
            return fn()
        except FileNotFoundError as exc:
            if attempt == RETRIES - 1:
                raise
            logger.debug("%s: %s vanished while reading; listing again", what, exc.filename)
            time.sleep(0.002 * (1 + attempt))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def kind_lock(kind_dir: Path, *, wait: bool) -> Iterator[bool]:
    """Hold `<kind_dir>/.compact.lock` (an flock: the kernel drops it when the holder dies, even
    by SIGKILL). Yields False without waiting when `wait` is off and another process holds it."""
    Path(kind_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(kind_dir) / LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
