"""The event study (`perpflow research events`): every event's forward outcomes against a matched
baseline, per cell, with block-bootstrap intervals, empirical p-values and BH q-values.

Inputs per pair: the feature frame (`perpflow.research.events.pair_features`), its events, and
forward outcomes of every candle (`perpflow.labels.forward`). Studied: events whose date lies in
the timerange, whose volatility decile is known and whose every horizon has an outcome; the
baseline draws from candles meeting the same conditions. Cells and statistics:
`perpflow.research.cells`. Writes `events.parquet`, `cells.parquet` and `report.html`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from perpflow.config import PerpflowConfig
from perpflow.errors import UserError
from perpflow.features.sessions import SESSION_NAMES
from perpflow.labels.forward import (
    DEFAULT_TAKER_FEE,
    forward_outcomes,
    forward_path_bps,
    horizon_candles,
)
from perpflow.research.baseline import stratum_codes
from perpflow.research.events import EVENT_COLUMNS, detect_events, pair_features

logger = logging.getLogger(__name__)

BLOCKS = tuple(SESSION_NAMES[c] for c in sorted(SESSION_NAMES))  # other, ny_open, ...
PATH_STEP = pd.Timedelta(hours=1)  # fan charts: one point an hour over the longest horizon


@dataclass
class StudyInputs:
    """Everything the cells need, all pairs concatenated.

    `events`: the event table (`EVENT_COLUMNS`) plus `stratum`, signed outcome columns
    (`<outcome>_<horizon>`) and, per event, its row in `paths` (signed bps at `offsets`).
    `base`: per candle, the long (unsigned) `ret_bps` of each horizon; `stratum` and `usable`
    per candle; `path_mean`, `path_var`: per stratum, the usable candles' path mean and variance.
    """

    events: pd.DataFrame
    paths: np.ndarray
    base: np.ndarray
    stratum: np.ndarray
    usable: np.ndarray
    path_mean: np.ndarray
    path_var: np.ndarray
    offsets: np.ndarray
    offset_hours: np.ndarray
    horizons: tuple[str, ...]
    horizon_candles: dict[str, int]
    tf_ns: int
    n_strata: int
    candles: int


def parse_timerange(text: str | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """`YYYYMMDD-YYYYMMDD` (either side may be empty) -> UTC [start, end); UserError if bad."""
    if not text:
        return None, None
    try:
        a, b = text.split("-")
        start = pd.Timestamp(a, tz="UTC") if a else None
        end = pd.Timestamp(b, tz="UTC") if b else None
    except ValueError:
        raise UserError(
            f"--timerange {text!r}: expected YYYYMMDD-YYYYMMDD, e.g. 20250101-20260218"
        ) from None
    if start is not None and end is not None and start >= end:
        raise UserError(f"--timerange {text!r}: the start must be before the end")
    return start, end


def _in_range(dates: pd.Series, start, end) -> np.ndarray:
    ok = np.ones(len(dates), dtype=bool)
    if start is not None:
        ok &= (dates >= start).to_numpy()
    if end is not None:
        ok &= (dates < end).to_numpy()
    return ok


def _ns(dates: pd.Series) -> np.ndarray:
    """Epoch nanoseconds (tz-aware `to_numpy` builds a Timestamp object per row: seconds)."""
    return pd.DatetimeIndex(dates).as_unit("ns").asi8


def _pair_inputs(f: pd.DataFrame, ev: pd.DataFrame, *, code: int, timeframe: str, fee: float,
                 span: tuple, offsets: np.ndarray) -> dict:  # fmt: skip
    """One pair's events with signed outcomes and paths, and its candles' baseline arrays."""
    ks = horizon_candles(timeframe)
    longest = max(ks.values())
    base_out = forward_outcomes(f, f["atr"], timeframe=timeframe, fee=fee)
    base = base_out[[f"ret_bps_{h}" for h in ks]].to_numpy()
    decile = f["vol_decile"].to_numpy(dtype="float64")
    n = len(f)
    usable = (_in_range(f["date"], *span) & ~np.isnan(decile) & np.isfinite(base).all(axis=1)
              & (np.arange(n) + longest < n))  # fmt: skip
    block = f["block"].map({b: i for i, b in enumerate(BLOCKS)}).to_numpy()
    stratum = stratum_codes(np.full(n, code), block, np.nan_to_num(decile), n_blocks=len(BLOCKS))
    rows = np.searchsorted(_ns(f["date"]), _ns(ev["date"]))
    keep = usable[rows]
    ev, rows = ev[keep].reset_index(drop=True), rows[keep]
    out = forward_outcomes(f, f["atr"], timeframe=timeframe, rows=rows,
                           direction=ev["dir"].to_numpy(), fee=fee)  # fmt: skip
    ev = pd.concat([ev, out.reset_index(drop=True)], axis=1)
    ev["stratum"] = stratum[rows]
    close = f["close"].to_numpy(dtype="float64")
    sign = np.where(ev["dir"].to_numpy() < 0, -1.0, 1.0)
    paths = forward_path_bps(close, rows, offsets) * sign[:, None]
    all_paths = forward_path_bps(close, np.flatnonzero(usable), offsets)
    grp = pd.DataFrame(all_paths).groupby(stratum[usable])
    return {"events": ev, "paths": paths, "base": base, "stratum": stratum, "usable": usable,
            "path_mean": grp.mean(), "path_var": grp.var(ddof=0)}  # fmt: skip


def build_inputs(datadir: Path, pairs: list[str], *, timeframe: str = "5m",
                 timerange: str | None = None, fee: float = DEFAULT_TAKER_FEE,
                 cfg: PerpflowConfig | None = None, progress: bool = True,
                 candles: dict[str, pd.DataFrame] | None = None) -> StudyInputs:  # fmt: skip
    """Features, events and baseline arrays of every pair (`candles` may supply the frames)."""
    cfg = cfg or PerpflowConfig()
    span = parse_timerange(timerange)
    frames = []
    for pair in tqdm(pairs, desc="features and events", unit="pair", disable=not progress):
        f = pair_features(datadir, pair, cfg, timeframe, candles=(candles or {}).get(pair))
        if not _in_range(f["date"], *span).any():
            raise UserError(f"{pair}: no {timeframe} candles in the timerange {timerange} "
                            f"(data covers {f['date'].iloc[0]:%Y-%m-%d}..{f['date'].iloc[-1]:%Y-%m-%d})")  # fmt: skip
        frames.append((f, detect_events(f, pair=pair, cfg=cfg)))
    return inputs_from_frames(frames, timeframe=timeframe, fee=fee, timerange=timerange)


def inputs_from_frames(frames: list[tuple[pd.DataFrame, pd.DataFrame]], *, timeframe: str = "5m",
                       fee: float = DEFAULT_TAKER_FEE, timerange: str | None = None) -> StudyInputs:  # fmt: skip
    """`StudyInputs` from (feature frame, event table) per pair: frames need `date`, `high`,
    `low`, `close`, `atr`, `block`, `vol_decile`; event tables `EVENT_COLUMNS`."""
    span = parse_timerange(timerange)
    ks = horizon_candles(timeframe)
    offsets = np.arange(0, max(ks.values()) + 1, max(1, int(PATH_STEP // pd.Timedelta(timeframe))))
    parts = []
    for code, (f, ev) in enumerate(frames):
        parts.append(_pair_inputs(f, ev, code=code, timeframe=timeframe, fee=fee, span=span,
                                  offsets=offsets))  # fmt: skip
        logger.info("%d candles, %d events studied", len(f), len(parts[-1]["events"]))
    hours = offsets * (pd.Timedelta(timeframe) / pd.Timedelta(hours=1))
    return _concat(parts, offsets, hours, ks, pd.Timedelta(timeframe).value,
                   len(frames) * len(BLOCKS) * 10)  # fmt: skip


def _concat(parts: list[dict], offsets, hours, ks, tf_ns, n_strata) -> StudyInputs:
    """Join the pairs' pieces: events get global positions, strata tables are filled."""
    events = pd.concat([p["events"] for p in parts], ignore_index=True)
    paths = np.vstack([p["paths"] for p in parts])
    order = np.argsort(_ns(events["date"]), kind="stable")
    events, paths = events.iloc[order].reset_index(drop=True), paths[order]
    mean = np.full((n_strata, len(offsets)), np.nan)
    var = np.full((n_strata, len(offsets)), np.nan)
    for p in parts:
        mean[p["path_mean"].index.to_numpy()] = p["path_mean"].to_numpy()
        var[p["path_var"].index.to_numpy()] = p["path_var"].to_numpy()
    return StudyInputs(
        events=events, paths=paths, base=np.vstack([p["base"] for p in parts]),
        stratum=np.concatenate([p["stratum"] for p in parts]),
        usable=np.concatenate([p["usable"] for p in parts]), path_mean=mean, path_var=var,
        offsets=offsets, offset_hours=hours, horizons=tuple(ks),
        horizon_candles=ks, tf_ns=tf_ns, n_strata=n_strata,
        candles=int(sum(p["usable"].sum() for p in parts)),
    )  # fmt: skip


@dataclass
class StudyResult:
    cells: pd.DataFrame
    events: pd.DataFrame
    fans: dict
    report: Path | None
    seconds: float
    candles: int


def run_study(datadir: Path, pairs: list[str], *, out: Path | None, timeframe: str = "5m",
              timerange: str | None = None, draws: int = 1000, min_events: int = 30,
              fee: float = DEFAULT_TAKER_FEE, seed: int = 0, progress: bool = True,
              candles: dict[str, pd.DataFrame] | None = None) -> StudyResult:  # fmt: skip
    """The whole study; writes `events.parquet`, `cells.parquet`, `report.html` under `out`
    (nothing written when `out` is None)."""
    from perpflow.research.cells import cell_stats, fan_data

    t0 = time.perf_counter()
    inputs = build_inputs(datadir, pairs, timeframe=timeframe, timerange=timerange, fee=fee,
                          progress=progress, candles=candles)  # fmt: skip
    if inputs.events.empty:
        raise UserError(f"no events in {datadir} for {pairs} in the timerange {timerange}")
    cells = cell_stats(inputs, pairs=pairs, draws=draws, min_events=min_events, fee=fee, seed=seed,
                       progress=progress)  # fmt: skip
    fans = fan_data(inputs, seed=seed)
    report = None
    events = inputs.events[list(EVENT_COLUMNS)]
    if out is not None:
        from perpflow.reports.events import events_report

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        events.to_parquet(out / "events.parquet", index=False)
        cells.to_parquet(out / "cells.parquet", index=False)
        meta = {"pairs": pairs, "timeframe": timeframe, "timerange": timerange, "draws": draws,
                "min_events": min_events, "fee": fee, "seed": seed, "candles": inputs.candles}  # fmt: skip
        report = events_report(cells, fans, out / "report.html", meta=meta)
    return StudyResult(cells=cells, events=events, fans=fans, report=report,
                       seconds=time.perf_counter() - t0, candles=inputs.candles)  # fmt: skip
