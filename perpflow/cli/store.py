"""`perpflow store compact`: merge the event store's closed day partitions into one zstd file
each (`perpflow.data.compact`), reporting files, bytes and bytes per event before and after."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import DEFAULT_STORE, command, group


def _per_event(size: int, rows: int) -> str:
    return f"{size / rows:,.0f}" if rows else "-"


def _compact(args: argparse.Namespace) -> int:
    from perpflow.data.compact import compact

    r = compact(Path(args.root), args.kind, before=args.before)
    what = "snapshot" if args.kind == "book" else "event"
    print(
        f"compacted {r.compacted} of {r.partitions} closed day partition(s) in {args.root}"
        + (f" ({r.recovered} interrupted compaction(s) finished or undone)" if r.recovered else "")
    )
    print(f"  files: {r.files_before:,} -> {r.files_after:,}")
    print(f"  bytes: {r.bytes_before:,} -> {r.bytes_after:,}")
    print(f"  bytes per {what}: {_per_event(r.bytes_before, r.rows)} -> "
          f"{_per_event(r.bytes_after, r.rows)} ({r.rows:,} {what}s)")  # fmt: skip
    return 0


def register(sub) -> None:
    """store compact."""
    ssub = group(sub, "store", "maintain the event store", "store_cmd")
    p = command(ssub, "compact", _compact,
                "merge each closed day partition's part files into one zstd parquet file "
                "(atomic: readers never see half a compaction; a rerun finishes a killed one)")  # fmt: skip
    p.add_argument(
        "--root", default=DEFAULT_STORE, help=f"the event store (default {DEFAULT_STORE})"
    )
    p.add_argument("--kind", default=None, help="one record kind (book, trades, ...); default all")
    p.add_argument("--before", default=None, metavar="YYYY-MM-DD",
                   help="compact day partitions before this UTC day (default today: a recorder "
                        "may still be writing today's)")  # fmt: skip
