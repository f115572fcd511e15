"""Truncation parity: a causal feature's value at t is unchanged when rows after t are removed."""

from __future__ import annotations

import numpy as np
import pandas as pd


def assert_truncation_parity(fn, df: pd.DataFrame, cut: int) -> None:
    """fn(df) restricted to the first `cut` rows must equal fn(df[:cut]) (NaN == NaN)."""
    full = fn(df)
    part = fn(df.iloc[:cut].copy())
    full = full.to_frame() if isinstance(full, pd.Series) else full
    part = part.to_frame() if isinstance(part, pd.Series) else part
    head = full.iloc[:cut]
    assert list(head.columns) == list(part.columns)
    for col in head.columns:
        a = head[col].to_numpy()
        b = part[col].to_numpy()
        if a.dtype.kind in "fc":
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, equal_nan=True, err_msg=col)
        else:
            assert pd.Series(a).equals(pd.Series(b)), f"{col} differs after truncation at {cut}"
