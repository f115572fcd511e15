"""What `perpflow venue serve` streams besides candles: stored liquidations for `!forceOrder@arr`
and the order-book diff feed for `<symbol>@depth` (synthetic, captured snapshots or a raw
Binance capture). Bad paths and names raise `UserError` naming the flag and the fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from perpflow.errors import UserError


def load_liquidations(path: str | Path | None) -> pd.DataFrame | None:
    """Liquidation events from a forceOrder CSV or an event-store root (None when not given)."""
    if not path:
        return None
    from perpflow.data.liquidations import read_forceorder_csv
    from perpflow.data.store import read_events

    p = Path(path)
    if p.is_file():
        return read_forceorder_csv(p)
    if not p.is_dir():
        raise UserError(f"--liquidations {p}: no such file or store (a forceOrder CSV or an "
                        "event store root)")  # fmt: skip
    events = read_events(p, "liquidations")
    if events.empty:
        raise UserError(f"{p}: no stored liquidations (import some with `perpflow import "
                        "liquidations` or collect them)")  # fmt: skip
    return events


def depth_as(pairs: list[str] | None) -> dict[str, str]:
    """`--depth-as SUSHIUSDT=BTCUSDT ...` as {captured: served}, upper case."""
    out = {}
    for item in pairs or []:
        src, sep, dst = item.partition("=")
        if not sep or not src or not dst:
            raise UserError(
                f"--depth-as {item!r}: expected CAPTURED=SERVED, e.g. SUSHIUSDT=BTCUSDT"
            )
        out[src.upper()] = dst.upper()
    return out


def synthetic_sources(datadir: Path, minutes: float) -> dict[str, tuple]:
    """`minutes` of 100 ms random-walk diffs around each listed perpetual's last price."""
    from perpflow.venue.depth import synthetic_stream
    from perpflow.venue.venue import Venue

    venue = Venue(Path(datadir))
    sources = {}
    for i, sym in enumerate(s for s in venue.specs if "_" not in s):
        cur = venue.current(sym)
        if cur is not None:
            tick = float(venue.specs.filter_value(sym, "PRICE_FILTER", "tickSize"))
            sources[sym] = synthetic_stream(cur[0], tick=tick, n=int(minutes * 600), seed=i)
    return sources


def captured_sources(path: Path, rename: dict[str, str]) -> dict[str, tuple]:
    """Depth sources from a snapshots parquet (ts, symbol, bid_px_0, ...; each symbol replayed
    from its first capture) or a raw Binance USDT-M `.jsonl.zst` capture (its own update ids),
    keeping only (and renaming) the symbols of `rename` when it is given."""
    from perpflow.features.orderbook import capture_sessions
    from perpflow.venue.depth import raw_binance_capture, updates_from_snapshots

    path = Path(path)
    if not path.exists():
        raise UserError(
            f"--depth {path}: no such file (a snapshots parquet or a raw .jsonl.zst capture)"
        )
    if path.name.endswith(".jsonl.zst"):
        try:
            sources = raw_binance_capture(path, rename)
        except ValueError as exc:
            raise UserError(f"--depth: {exc}") from None
    else:
        rows = pd.read_parquet(path)
        sources = {rename.get(sym, sym): updates_from_snapshots(capture_sessions(g)[0])
                   for sym, g in rows.groupby("symbol") if not rename or sym in rename}  # fmt: skip
    missing = sorted(src for src, dst in rename.items() if dst not in sources)
    if not sources or missing:
        raise UserError(f"--depth {path}: {missing or 'no symbol'} not in this capture")
    return sources


def depth_feed(datadir: Path, depth: str | None, *, rename: list[str] | None = None,
               minutes: float = 60.0, speed: float = 1.0, skip_every: int = 0):  # fmt: skip
    """The venue's `DepthFeed` for `--depth` ("synthetic" or a capture path), None without."""
    if not depth:
        return None
    from perpflow.venue.depth import DepthFeed

    if depth == "synthetic":
        sources = synthetic_sources(Path(datadir), minutes)
    else:
        sources = captured_sources(Path(depth), depth_as(rename))
    return DepthFeed(sources, speed=speed, skip_every=skip_every)
