"""A SYNTHETIC data dir of pairs outside the venue's snapshot: demo pairs renamed and rescaled.

BTC becomes BCH (prices x 450/95000 at 0.01, volumes at 0.001) and ETH becomes LTC (prices x
85/3300 at 0.001, volumes at 0.1), so each pair's prices and volumes carry its own decimals,
written in Freqtrade's layout (`BCH_USDT_USDT-5m-futures.feather`, mark, premiumIndex,
funding_rate, open_interest). Dated contracts are left out.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pandas as pd

from perpflow.data.demo import generate_demo_market

# demo base -> (new base, price factor, price decimals, volume decimals)
RENAMES = {"BTC": ("BCH", 450 / 95_000, 2, 3), "ETH": ("LTC", 85 / 3_300, 3, 1)}
PRICES = ["open", "high", "low", "close"]
_NAME = re.compile(r"^([A-Z]+)_USDT_USDT-(\d+[mhdw])-(\w+)\.feather$")


def _rescale(df: pd.DataFrame, kind: str, factor: float, pdp: int, qdp: int) -> pd.DataFrame:
    if kind == "futures":
        return df.assign(**{c: (df[c] * factor).round(pdp) for c in PRICES},
                         volume=(df["volume"] / factor).round(qdp))  # fmt: skip
    if kind == "mark":
        return df.assign(**{c: (df[c] * factor).round(6) for c in PRICES})
    if kind == "open_interest":
        return df.assign(open_interest_amount=(df["open_interest_amount"] / factor).round(3))
    return df  # premiumIndex and funding_rate are ratios


def write_renamed_market(out: Path, *, days: int = 30, seed: int = 11) -> Path:
    """BCH/USDT:USDT and LTC/USDT:USDT futures data in `out/futures` (see the module doc)."""
    fut = Path(out) / "futures"
    fut.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        generate_demo_market(Path(tmp), days=days, seed=seed,
                             pairs=("BTC/USDT:USDT", "ETH/USDT:USDT"))  # fmt: skip
        for p in sorted((Path(tmp) / "futures").glob("*.feather")):
            m = _NAME.match(p.name)
            if not m:  # dated contracts
                continue
            base, factor, pdp, qdp = RENAMES[m[1]]
            df = _rescale(pd.read_feather(p), m[3], factor, pdp, qdp)
            df.to_feather(fut / f"{base}_USDT_USDT-{m[2]}-{m[3]}.feather", compression="lz4")
    return Path(out)
