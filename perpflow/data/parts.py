"""Read many small part files of one record kind at the cost of a few.

A day partition holds one or a few small parquet parts (the demo store: one a day and symbol, so
a 5-month backtest reads ~150 per pair); `pd.read_parquet` plus `RecordSchema.conform` per file
cost ~15 ms each, most of it per-call pandas work. Here each file is read to an Arrow table, the
tables of consecutive files with the same schema are joined, and each such run is converted and
conformed once: the same frames' rows, in file order, with the same dtypes (pyarrow >= 25
converts as `pd.read_parquet` does). A run that does not conform is done file by file again, so
the error names its file. Written by hand: pyarrow's dataset reader infers the hive partition
keys (`exchange=`, `symbol=`) and refuses them as a second copy of the stored columns.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from perpflow.data.errors import SchemaError
from perpflow.data.schemas import RecordSchema


def _table(path: Path) -> pa.Table:
    with open(path, "rb") as fh:  # a vanished part raises FileNotFoundError, as pandas does
        return pq.ParquetFile(fh).read(use_pandas_metadata=True)


def read_conformed(files: list[Path], schema: RecordSchema) -> list[pd.DataFrame]:
    """The records of `files` in `schema` (`schema.conform`), one frame per run of consecutive
    files with identical Parquet schemas (metadata included), in file order."""
    runs: list[tuple[list[Path], list[pa.Table]]] = []
    for f in files:
        t = _table(f)
        if runs and runs[-1][1][0].schema.equals(t.schema, check_metadata=True):
            runs[-1][0].append(f)
            runs[-1][1].append(t)
        else:
            runs.append(([f], [t]))
    frames = []
    for paths, tables in runs:
        joined = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        try:
            frames.append(schema.conform(joined.to_pandas(), str(paths[0])))
        except SchemaError:  # again per file: the error names the first file that fails
            frames += [schema.conform(t.to_pandas(), str(p)) for p, t in zip(paths, tables,
                                                                             strict=True)]  # fmt: skip
    return frames
