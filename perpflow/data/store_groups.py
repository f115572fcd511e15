"""How a batch of store records splits into partitions (exchange / symbol / UTC day of the kind's
time column): `day_groups` for `perpflow.data.store.store_events`. A recorder's flush is one batch
of every symbol it records, so this runs on every flush: NumPy grouping and one sort of the batch,
after which each partition is a slice of it (pandas' groupby, or a take per group, cost
milliseconds per partition)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.data.schemas import RecordSchema


def time_bounds(s: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(first, last) of a UTC datetime column, without pandas' boxed reductions."""
    a = s.array.asi8
    return (pd.Timestamp(a.min(), unit=s.array.unit, tz="UTC"),
            pd.Timestamp(a.max(), unit=s.array.unit, tz="UTC"))  # fmt: skip


def day_groups(root: Path, schema: RecordSchema, batch: pd.DataFrame,
               spans: dict | None) -> tuple[pd.DataFrame, list]:  # fmt: skip
    """`batch` sorted by partition (stable: each partition's rows keep their order; index 0..n-1)
    and ((exchange, symbol, day), rows) per partition, `rows` a slice of it, plus (with `spans`)
    every stored day inside each exchange/symbol span, with no rows: stored events there must be
    checked against a complete batch too."""
    t = batch[schema.time_col].dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    ec, eu = pd.factorize(np.asarray(batch["exchange"], dtype=object))
    sc, su = pd.factorize(np.asarray(batch["symbol"], dtype=object))
    if len(eu) == 1 and len(su) == 1 and t.min() == t.max():  # one partition
        groups = {(eu[0], su[0], pd.Timestamp(t[0], tz="UTC")): batch}
    else:
        dc, du = pd.factorize(t)
        code = (ec.astype("int64") * len(su) + sc) * len(du) + dc
        order = np.argsort(code, kind="stable")
        if not (order[1:] > order[:-1]).all():
            batch = batch.take(order).reset_index(drop=True)
        code = code[order]
        starts = np.concatenate([[0], np.flatnonzero(np.diff(code)) + 1])
        ends = np.append(starts[1:], len(code))
        groups = {}
        for a, b in zip(starts, ends, strict=True):
            c = code[a]
            k = (eu[c // (len(su) * len(du))], su[(c // len(du)) % len(su)],
                 pd.Timestamp(du[c % len(du)], tz="UTC"))  # fmt: skip
            groups[k] = batch.iloc[a:b]
    for (ex, sym), (lo, hi) in (spans or {}).items():
        folder = Path(root) / schema.kind / f"exchange={ex}" / f"symbol={sym}"
        stored = sorted(p.name[5:] for p in folder.glob("date=*")) if folder.is_dir() else []
        for day in (pd.Timestamp(d, tz="UTC") for d in stored):
            if lo.floor("D") <= day <= hi.floor("D"):
                groups.setdefault((ex, sym, day), batch.iloc[:0])
    return batch, sorted(groups.items(), key=lambda kv: kv[0])
