"""Inputs of pattern mining: the events file (checked) and one candle table for every pair.

The candle table holds, per candle of each pair on the events' span: its session block context,
a causal volatility decile and the forward outcome labels of `perpflow.labels.session_outcomes`.
The volatility decile is the event study's (`perpflow.research.events.vol_decile`: ATR / close
ranked over the trailing 30 days); it is computed here for EVERY candle, the pattern instances'
included, so that instances and their matched random candles share one definition (the events
file's own `vol_decile` is compared with it and the agreement logged).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data.files import load_candles, pair_file
from perpflow.errors import UserError
from perpflow.features.sessions import SESSION_CODES, session_context
from perpflow.features.volatility import atr
from perpflow.labels.session_outcomes import session_outcomes
from perpflow.research.events import vol_decile as study_decile

log = logging.getLogger(__name__)

EVENT_COLUMNS = ("pair", "date", "event", "dir", "block", "vol_decile")
BUCKET_MINUTES = 15  # position buckets of the matched baseline: quarter hours of the block
LONDON_BUCKET = 1000  # + quarter of the London open hour (its own buckets, inside asia_london)
LABELS = ("ret_same_atr", "ret_next_atr", "range_x_same", "range_x_next", "revisit_open")


def load_events(path: Path) -> pd.DataFrame:
    """The events file (`perpflow research events`' schema, EVENT_COLUMNS) with a UTC `date`,
    an int8 `dir` in {-1, 0, 1}, exact duplicates dropped, sorted by pair and date. A missing,
    unreadable or mis-shaped file is a UserError naming the file (and the column)."""
    path = Path(path)
    hint = "build it with `perpflow research events`"
    if not path.is_file():
        raise UserError(f"{path}: events file not found; {hint}")
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise UserError(f"{path}: not a readable parquet events file ({exc}); {hint}") from exc
    missing = [c for c in EVENT_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; an events file has "
                        f"{', '.join(EVENT_COLUMNS)} ({hint})")  # fmt: skip
    if df.empty:
        raise UserError(f"{path}: no events in the file; nothing to mine ({hint})")
    try:
        date = pd.to_datetime(df["date"], utc=True)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path}: column date is not a date-time ({exc})") from exc
    dirs = pd.to_numeric(df["dir"], errors="coerce")
    if not dirs.isin([-1, 0, 1]).all():
        raise UserError(f"{path}: column dir must be -1, 0 or +1 in every row")
    out = df[list(EVENT_COLUMNS)].assign(date=date, dir=dirs.astype("int8"),
                                         pair=df["pair"].astype(str), event=df["event"].astype(str))  # fmt: skip
    out = out.drop_duplicates(["pair", "date", "event", "dir"])
    return out.sort_values(["pair", "date"], kind="stable").reset_index(drop=True)


def vol_decile(df: pd.DataFrame, timeframe: str) -> np.ndarray:
    """Causal volatility decile 0..9 per candle (-1 during the warm-up): the event study's own
    definition (`perpflow.research.events.vol_decile`, ATR / close ranked over the trailing 30
    days), so an events file's deciles and the baseline's strata agree."""
    d = study_decile(df["close"], atr(df), timeframe=timeframe).to_numpy()
    return np.where(np.isfinite(d), d, -1).astype("int8")


def pair_table(df: pd.DataFrame, pair: str, timeframe: str) -> pd.DataFrame:
    """One pair's candles with block context, volatility decile, London-open flag, position
    bucket (quarter hour of the block; LONDON_BUCKET + quarter in the London open hour: the
    hour's place in the block moves when only one of the US and UK is on summer time) and
    outcome labels."""
    df = df.sort_values("date").drop_duplicates("date").reset_index(drop=True)
    so = session_outcomes(df, atr(df), timeframe=timeframe)
    london = session_context(df["date"])["london_open"].to_numpy() & (
        so["block"].to_numpy() == SESSION_CODES["asia_london"]
    )
    bph = max(1, pd.Timedelta("1h") // pd.Timedelta(timeframe))
    bpb = max(1, pd.Timedelta(minutes=BUCKET_MINUTES) // pd.Timedelta(timeframe))
    ldn_min = pd.to_datetime(df["date"], utc=True).dt.tz_convert("Europe/London").dt.minute
    quarter = ldn_min.to_numpy() // BUCKET_MINUTES
    bucket = np.where(london, LONDON_BUCKET + quarter, so["block_pos"].to_numpy() // bpb)
    return pd.DataFrame({
        "pair": pair, "date": pd.to_datetime(df["date"], utc=True),
        "block": so["block"].to_numpy(), "block_run": so["block_run"].to_numpy(),
        "first_hour": so["block_pos"].to_numpy() < bph, "london_open": london,
        "bucket": bucket.astype("int64"), "complete": so["block_complete"].to_numpy(),
        "vol_decile": vol_decile(df, timeframe), **{c: so[c].to_numpy() for c in LABELS},
    })  # fmt: skip


def candle_table(datadir: Path, pairs, timeframe: str, start: pd.Timestamp,
                 end: pd.Timestamp) -> pd.DataFrame:  # fmt: skip
    """`pair_table` of every pair from the Freqtrade futures candles in `datadir`, cut to
    [start, end] after the features' warm-up on all earlier data; one frame, pairs stacked."""
    frames = []
    for pair in pairs:
        try:
            df = load_candles(Path(datadir), pair, timeframe)
        except FileNotFoundError as exc:
            path = pair_file(Path(datadir), pair, f"{timeframe}-futures")
            raise UserError(f"{path}: no {timeframe} candles for {pair} (a pair of the events "
                            "file); pass the --datadir and --timeframe the events were built on") from exc  # fmt: skip
        t = pair_table(df, pair, timeframe)
        frames.append(t[(t["date"] >= start) & (t["date"] <= end)])
    return pd.concat(frames, ignore_index=True)
