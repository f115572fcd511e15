"""`perpflow risk report`: exposure, leverage, funding paid and drawdown of a backtest result or
of a running bot (its REST API, via Freqtrade's own `freqtrade_client`); for a backtest also the
drawdown of the equity curve with open profit against the hard cap, and every trip and re-arm,
from the governor history written next to the result (`perpflow.strategy.governor_state`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.errors import UserError
from perpflow.risk.governor import is_governor_lock
from perpflow.strategy.governor_state import HISTORY_PREFIX


def max_concurrent_notional(trades: pd.DataFrame) -> float:
    """Largest sum of open notional (stake x leverage) at any moment (sweep over open/close)."""
    if trades.empty:
        return 0.0
    notional = (trades["stake_amount"] * trades["leverage"]).to_numpy()
    opened = pd.to_datetime(trades["open_date"], utc=True)
    closed = pd.to_datetime(trades["close_date"], utc=True).fillna(
        pd.Timestamp.max.tz_localize("UTC")
    )
    events = pd.DataFrame({"t": pd.concat([opened, closed], ignore_index=True),
                           "d": np.r_[notional, -notional]})  # fmt: skip
    # closes before opens at the same instant: a position closed and re-opened is not doubled
    events = events.sort_values(["t", "d"], kind="stable")
    return float(events["d"].cumsum().max())


def _known(t: pd.DataFrame, col: str) -> pd.Series | None:
    """The column as float, or None when the trades do not carry it (absent, or null in a trade):
    a figure computed from it would be a guess."""
    if col not in t.columns or (len(t) and t[col].isna().any()):
        return None
    return t[col].astype("float64")


def _stat(values: pd.Series | None, how: str) -> float | None:
    """min/median/max of known values (NaN when there are none), None when unknown."""
    if values is None:
        return None
    return float(getattr(values, how)()) if len(values) else np.nan


def risk_summary(trades: pd.DataFrame, *, starting_balance: float,
                 locks: list[dict] | None = None) -> dict:  # fmt: skip
    """Key risk figures of a set of trades (Freqtrade's trade columns). Figures whose input
    field the trades lack (`leverage`, `funding_fees`) are None ("unknown"), never 0."""
    t = trades.sort_values("close_date", kind="stable")
    closed = t[~t.get("is_open", pd.Series(False, index=t.index)).astype(bool)]
    equity = starting_balance + closed["profit_abs"].cumsum()
    peak = np.maximum.accumulate(np.r_[starting_balance, equity.to_numpy()])
    dd = 1.0 - np.r_[starting_balance, equity.to_numpy()] / peak
    lev, funding = _known(t, "leverage"), _known(t, "funding_fees")
    locks = locks or []
    return {
        "trades": int(len(t)), "open_trades": int(len(t) - len(closed)),
        "longs": int((~t["is_short"].astype(bool)).sum()), "shorts": int(t["is_short"].sum()),
        "leverage_min": _stat(lev, "min"), "leverage_median": _stat(lev, "median"),
        "leverage_max": _stat(lev, "max"),
        "max_exposure_x_balance": max_concurrent_notional(t) / starting_balance if lev is not None else None,
        "funding_paid": float(-funding.sum()) if funding is not None else None,
        "profit_abs": float(closed["profit_abs"].sum()),
        "max_drawdown": float(dd.max()),
        "governor_trips": sum(1 for lk in locks if is_governor_lock(lk.get("reason"))),
        "exit_reasons": t["exit_reason"].value_counts().to_dict() if "exit_reason" in t else {},
    }  # fmt: skip


def summary_lines(summary: dict) -> list[str]:
    """The summary as aligned text lines; an unknown figure says so and why."""
    lines = []
    for key, value in summary.items():
        if value is None:
            shown = "unknown (the trades do not carry this field)"
        elif key == "max_drawdown":
            shown = f"{value:.2%}"
        else:
            shown = f"{value:,.2f}" if isinstance(value, float) else value
        lines.append(f"  {key:24s} {shown}")
    return lines


def trades_from_api(url: str) -> tuple[pd.DataFrame, float, list[dict]]:
    """Trades (open and closed), starting balance and locks of a running bot; credentials from
    FREQTRADE__API_SERVER__USERNAME / __PASSWORD."""
    from freqtrade_client import FtRestClient

    user = os.environ.get("FREQTRADE__API_SERVER__USERNAME")
    password = os.environ.get("FREQTRADE__API_SERVER__PASSWORD")
    if not user or not password:
        raise UserError("export FREQTRADE__API_SERVER__USERNAME and FREQTRADE__API_SERVER__PASSWORD "
                        "(the bot's API credentials) first")  # fmt: skip
    client = FtRestClient(url, user, password)
    closed = (client.trades(limit=500) or {}).get("trades", [])
    opened = client.status() or []
    rows = pd.DataFrame([*closed, *[{**o, "is_open": True} for o in opened]])
    if rows.empty:
        rows = pd.DataFrame(columns=["pair", "stake_amount", "leverage", "open_date",
                                     "close_date", "profit_abs", "is_short", "is_open"])  # fmt: skip
    if "profit_abs" not in rows:
        rows["profit_abs"] = rows.get("close_profit_abs", 0.0)
    rows["profit_abs"] = rows["profit_abs"].fillna(0.0)
    balance = client.balance() or {}
    start = float(balance.get("starting_capital") or balance.get("total") or 0.0)
    locks = (client.locks() or {}).get("locks", [])
    return rows, start, locks


def curve_drawdown(equity: pd.Series | np.ndarray) -> float:
    """Largest fall of an equity curve from its running peak (share of the peak)."""
    e = np.asarray(equity, dtype="float64")
    if e.size == 0:
        return float("nan")
    return float(np.max(1.0 - e / np.maximum.accumulate(e)))


def governor_history(result: Path, strategy: str, stats: dict) -> pd.DataFrame | None:
    """The governor history CSV written during the run of `result` (its wall-clock stamp lies
    between the strategy stats' `backtest_run_start_ts` and `backtest_run_end_ts`), or None."""
    start, end = stats.get("backtest_run_start_ts"), stats.get("backtest_run_end_ts")
    if start is None or end is None:
        return None
    prefix = f"{HISTORY_PREFIX}{strategy}-"
    for path in sorted(result.parent.glob(f"{prefix}*.csv"), reverse=True):
        stamp = path.stem[len(prefix) :].rsplit("-", 1)[0]
        try:
            t = datetime.strptime(stamp, "%Y-%m-%d_%H-%M-%S").replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
        if start - 1 <= t <= end + 1:
            hist = pd.read_csv(path, keep_default_na=False, na_values={"equity": [""]})
            hist["date"] = pd.to_datetime(hist["date"], utc=True, format="ISO8601")
            return hist
    return None


def cap_summary(history: pd.DataFrame | None, *, starting_balance: float,
                closed_drawdown: float) -> dict:  # fmt: skip
    """Drawdowns against the hard cap and the governor's trips/re-arms.

    `equity_drawdown`: the equity curve with open profit, from the running peak of the whole
    run (re-arms do not re-base it); `governor_drawdown`: from the governor's own peak (re-based
    only by re-arms); `closed_drawdown`: Freqtrade's closed-trade account drawdown."""
    out = {"hard_cap": float("nan"), "equity_drawdown": float("nan"),
           "governor_drawdown": float("nan"), "closed_drawdown": closed_drawdown, "events": []}  # fmt: skip
    if history is None or history.empty:
        return out
    equity = np.r_[starting_balance, history["equity"].to_numpy(dtype="float64")]
    events = history[history["event"].isin(["hard", "rearm"])]
    out.update({
        "hard_cap": float(history["cap"].iloc[0]), "equity_drawdown": curve_drawdown(equity),
        "governor_drawdown": float(history["drawdown"].max()),
        "events": [{"time": r.date.isoformat(), "event": "trip" if r.event == "hard" else "rearm",
                    "drawdown": float(r.drawdown), "equity": float(r.equity), "note": r.note}
                   for r in events.itertuples()],
    })  # fmt: skip
    return out


def cap_lines(cap: dict, history_known: bool) -> list[str]:
    """`cap_summary` as text: the drawdowns against the hard cap and every trip/re-arm."""
    lines = ["drawdown against the hard cap"]
    if not history_known:
        lines.append("  (no governor history next to this result: governor off, --export none, or "
                     "a result from before perpflow wrote one; only the closed-trade drawdown is known)")  # fmt: skip
    else:
        lines += [f"  {'hard cap':24s} {cap['hard_cap']:.2%}",
                  f"  {'equity (open profit)':24s} {cap['equity_drawdown']:.2%} max, from the "
                  "running peak of the whole run",
                  f"  {'governor (its peak)':24s} {cap['governor_drawdown']:.2%} max, peak "
                  "re-based only by re-arms"]  # fmt: skip
    closed = cap["closed_drawdown"]
    shown = f"{closed:.2%}" if closed == closed else "unknown (not in this result)"
    lines.append(f"  {'closed trades (Freqtrade)':24s} {shown} max_drawdown_account")
    for ev in cap["events"]:
        lines.append(f"  {ev['event']:6s} {ev['time']}  drawdown {ev['drawdown']:.2%}  equity "
                     f"{ev['equity']:,.2f}  {ev['note']}")  # fmt: skip
    if history_known and not cap["events"]:
        lines.append("  the cap was never reached")
    return lines
