"""Performance figures of a set of trades (Freqtrade's exported trade columns).

Sharpe and Sortino use daily returns of the account (profit of trades closed that day over the
balance at the start of the day), annualised with 365 days; MAE/MFE use each trade's min/max
rate. `t_stat` is the t statistic of the mean trade return: below 2 the result is not
statistically significant.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from perpflow.features.sessions import SESSION_NAMES, ny_session_block


def excursions(trades: pd.DataFrame) -> pd.DataFrame:
    """`mae` and `mfe` per trade as fractions of the open rate (adverse >= 0, favourable >= 0)."""
    o, lo, hi = trades["open_rate"], trades["min_rate"], trades["max_rate"]
    short = trades["is_short"].astype(bool)
    mae = np.where(short, hi / o - 1, 1 - lo / o)
    mfe = np.where(short, 1 - lo / o, hi / o - 1)
    return pd.DataFrame({"mae": np.maximum(mae, 0), "mfe": np.maximum(mfe, 0)}, index=trades.index)


def daily_returns(trades: pd.DataFrame, starting_balance: float, start, end) -> pd.Series:
    """Account return per calendar day in [start, end) from trades closed that day."""
    days = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end), freq="D",
                         inclusive="left")  # fmt: skip
    if trades.empty:
        return pd.Series(0.0, index=days)
    closed = pd.to_datetime(trades["close_date"], utc=True).dt.tz_localize(None).dt.normalize()
    pnl = trades.groupby(closed)["profit_abs"].sum().reindex(days.tz_localize(None), fill_value=0.0)
    balance = starting_balance + pnl.cumsum().shift(1, fill_value=0.0)
    return (pnl / balance).set_axis(days)


def summary(trades: pd.DataFrame, *, starting_balance: float, start, end) -> dict:
    """Trade count, profit, profit factor, win rate, Sharpe, Sortino, max drawdown, MAE/MFE and
    the t statistic of the mean trade return."""
    n = len(trades)
    ret = daily_returns(trades, starting_balance, start, end)
    equity = starting_balance * (1 + ret).cumprod()
    peak = np.maximum.accumulate(np.r_[starting_balance, equity.to_numpy()])
    dd = float((1 - np.r_[starting_balance, equity.to_numpy()] / peak).max())
    std, down = ret.std(), ret[ret < 0].std()
    out = {
        "trades": n, "profit_abs": float(trades["profit_abs"].sum()) if n else 0.0,
        "profit_pct": float(equity.iloc[-1] / starting_balance - 1) if len(equity) else 0.0,
        "max_drawdown": dd,
        "sharpe": float(ret.mean() / std * math.sqrt(365)) if std > 0 else float("nan"),
        "sortino": float(ret.mean() / down * math.sqrt(365)) if down > 0 else float("nan"),
    }  # fmt: skip
    if n:
        wins, losses = trades.loc[trades["profit_abs"] > 0, "profit_abs"], trades.loc[
            trades["profit_abs"] <= 0, "profit_abs"]  # fmt: skip
        r = trades["profit_ratio"].astype("float64")
        ex = excursions(trades)
        out |= {
            "win_rate": len(wins) / n,
            "profit_factor": float(wins.sum() / -losses.sum()) if losses.sum() < 0 else float("inf"),
            "avg_win": float(r[r > 0].mean()) if (r > 0).any() else float("nan"),
            "avg_loss": float(r[r <= 0].mean()) if (r <= 0).any() else float("nan"),
            "mae_mean": float(ex["mae"].mean()), "mfe_mean": float(ex["mfe"].mean()),
            "t_stat": float(r.mean() / r.std() * math.sqrt(n)) if n > 1 and r.std() > 0 else 0.0,
        }  # fmt: skip
    else:
        out |= {k: float("nan") for k in ("win_rate", "profit_factor", "avg_win", "avg_loss",
                                          "mae_mean", "mfe_mean")} | {"t_stat": 0.0}  # fmt: skip
    return out


def by_session(trades: pd.DataFrame) -> pd.DataFrame:
    """Trades, win rate and profit per New York session block of the entry."""
    if trades.empty:
        return pd.DataFrame(columns=["trades", "win_rate", "profit_abs"])
    block = ny_session_block(pd.to_datetime(trades["open_date"], utc=True)).map(SESSION_NAMES)
    g = trades.assign(block=block.to_numpy(), win=trades["profit_abs"] > 0).groupby("block")
    return pd.DataFrame({"trades": g.size(), "win_rate": g["win"].mean(),
                         "profit_abs": g["profit_abs"].sum()})  # fmt: skip
