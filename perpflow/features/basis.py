"""Basis: perpetual vs dated quarterly futures (annualised, z-scored), premium index as fallback.

The front contract at each candle is the nearest delivery more than `roll_days` away (rolled a
week before delivery, as desks do, so the expiry convergence does not pollute the signal).
Reads candles <= t only, and no files: the caller passes the contracts
(`perpflow.data.quarterlies.load_quarterlies`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

YEAR_DAYS = 365.0


def front_basis(perp: pd.DataFrame, contracts: dict[pd.Timestamp, pd.DataFrame], *,
                roll_days: float = 7.0, lookback: int = 720) -> pd.DataFrame:  # fmt: skip
    """Per perp candle (`date`, `close`; same timeframe as the contracts): `basis` (F/P - 1 of
    the front contract), `basis_ann` (basis x 365 / days to delivery), `days_to_expiry`,
    `front_expiry` and `basis_z` (z of `basis_ann` over `lookback` candles, full window only).
    NaN where no contract more than `roll_days` from delivery has a candle at that date."""
    dates = pd.to_datetime(perp["date"], utc=True)
    p = perp["close"].to_numpy(dtype="float64")
    n, k = len(dates), len(contracts)
    if k == 0:
        nan = np.full(n, np.nan)
        cols = {"basis": nan, "basis_ann": nan, "days_to_expiry": nan,
                "front_expiry": pd.Series(pd.NaT, index=perp.index, dtype="datetime64[ns, UTC]")}  # fmt: skip
        return pd.DataFrame(cols, index=perp.index).assign(basis_z=nan)
    expiries = sorted(contracts)
    f = np.full((n, k), np.nan)
    days = np.full((n, k), np.nan)
    for j, e in enumerate(expiries):
        c = contracts[e]
        s = pd.Series(
            c["close"].to_numpy(dtype="float64"), index=pd.to_datetime(c["date"], utc=True)
        )
        f[:, j] = s.reindex(dates).to_numpy()
        days[:, j] = (e - dates).dt.total_seconds().to_numpy() / 86400.0
    usable = np.isfinite(f) & (days > roll_days)
    pick = np.argmin(np.where(usable, days, np.inf), axis=1)
    has = usable[np.arange(n), pick]
    rows = np.arange(n)
    basis = np.where(has, f[rows, pick] / p - 1.0, np.nan)
    dte = np.where(has, days[rows, pick], np.nan)
    ann = basis * YEAR_DAYS / dte
    roll = pd.Series(ann).rolling(lookback, min_periods=lookback)
    z = (pd.Series(ann) - roll.mean()) / roll.std()
    front = pd.Series(pd.DatetimeIndex(expiries)[pick])
    return pd.DataFrame({
        "basis": basis, "basis_ann": ann, "days_to_expiry": dte,
        "front_expiry": front.where(has).to_numpy(), "basis_z": z.to_numpy(),
    }, index=perp.index)  # fmt: skip


def premium_zscore(premium_close: pd.Series, *, lookback: int = 720) -> pd.Series:
    """z of the premium index (perp vs spot index) over `lookback` candles: the basis fallback
    where no quarterly is listed."""
    roll = premium_close.rolling(lookback, min_periods=lookback)
    return ((premium_close - roll.mean()) / roll.std()).rename("premium_z")


def basis_signal(basis: pd.DataFrame, premium_z: pd.Series | None) -> pd.DataFrame:
    """`basis_signal_z`: the quarterly basis z where known, else the premium z; `basis_source`:
    1 quarterly, 2 premium index, 0 none."""
    pz = premium_z if premium_z is not None else pd.Series(np.nan, index=basis.index)
    q = basis["basis_z"].notna()
    z = basis["basis_z"].where(q, pz)
    source = np.select([q, pz.notna()], [1, 2], default=0).astype("int8")
    return pd.DataFrame({"basis_signal_z": z, "basis_source": source}, index=basis.index)
