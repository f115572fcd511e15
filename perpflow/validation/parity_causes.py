"""Match a replayed bot's trades to the backtest's, one to one, and name the cause of every
difference (reads the bot's analysed frames, its log and both trade lists; writes nothing).

A match is the same pair, side and entry candle (the candle whose open the backtest enters at;
the bot's order time floored to the timeframe). Prices are compared with the backtest's entry
price: `slippage_bps` (positive = the bot paid more), and `book_model_bps` is what the local
exchange's own book predicts for it (a market order of that size walking the book at the order
time: the drift since the candle's open, the half spread and the impact), so the residual says
whether the fill is explained.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

GATE_PREFIXES = ("ok_", "enter_", "sweep_", "pool_sweep_", "liq_reversal", "volatile", "rv_pct")


def _entries(trades: pd.DataFrame, tf: pd.Timedelta) -> pd.DataFrame:
    if trades is None or trades.empty:
        t = pd.Series(dtype="datetime64[ns, UTC]")
        return pd.DataFrame({"pair": pd.Series(dtype=object), "side": pd.Series(dtype=object),
                             "candle": t, "open_date": t, "open_rate": pd.Series(dtype=float),
                             "amount": pd.Series(dtype=float),
                             "tag": pd.Series(dtype=object)})  # fmt: skip
    opened = pd.to_datetime(trades["open_date"], utc=True)
    return pd.DataFrame({
        "pair": trades["pair"].to_numpy(),
        "side": np.where(trades["is_short"].astype(bool), "short", "long"),
        "candle": opened.dt.floor(tf).astype("datetime64[ns, UTC]").to_numpy(),
        "open_date": opened.astype("datetime64[ns, UTC]").to_numpy(),
        "open_rate": trades["open_rate"].astype(float).to_numpy(),
        "amount": trades["amount"].astype(float).to_numpy() if "amount" in trades else np.nan,
        "tag": trades["enter_tag"].to_numpy() if "enter_tag" in trades else None,
    })  # fmt: skip


def match_trades(live: pd.DataFrame, backtest: pd.DataFrame, *, timeframe: str,
                 start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:  # fmt: skip
    """One row per entry of either side within [start, end): `status` matched / live_only /
    backtest_only, both prices and the bot's slippage against the backtest in bps."""
    tf = pd.Timedelta(timeframe)
    keys = ["pair", "side", "candle"]
    a, b = _entries(live, tf), _entries(backtest, tf)
    a = a[(a["candle"] >= start) & (a["candle"] < end)]
    b = b[(b["candle"] >= start) & (b["candle"] < end)]
    m = a.merge(b, on=keys, how="outer", suffixes=("_live", "_bt"), indicator=True)
    m["status"] = m["_merge"].map({"both": "matched", "left_only": "live_only",
                                   "right_only": "backtest_only"}).astype(str)  # fmt: skip
    sign = np.where(m["side"] == "short", -1.0, 1.0)
    m["slippage_bps"] = sign * (m["open_rate_live"] / m["open_rate_bt"] - 1) * 1e4
    m["delay_s"] = (m["open_date_live"] - m["candle"]).dt.total_seconds()
    return m.drop(columns="_merge").sort_values(["candle", "pair"]).reset_index(drop=True)


def book_model_bps(m: pd.DataFrame, datadir) -> pd.Series:
    """The entry slippage the local exchange's own book predicts for each matched entry: a
    market order of the bot's amount walking the venue's book at the bot's order time, against
    the backtest's entry price (bps, positive = paid more). The bot's fill should equal it."""
    from perpflow.venue.venue import Venue

    out = pd.Series(np.nan, index=m.index)
    rows = m[m["status"] == "matched"]
    if rows.empty:
        return out
    now = [rows["open_date_live"].iloc[0].value / 1e9]
    venue = Venue(datadir, mode="replay", clock=lambda: now[0],
                  replay_date=f"{rows['open_date_live'].iloc[0]:%Y-%m-%d}")  # fmt: skip
    for i, r in rows.iterrows():
        now[0] = r["open_date_live"].value / 1e9
        symbol = r["pair"].split("/")[0] + "USDT"
        bids, asks, _ = venue._book(symbol, venue.spec(symbol), 100)
        vwap = _walk(asks if r["side"] == "long" else bids, r["amount_live"])
        sign = 1.0 if r["side"] == "long" else -1.0
        out[i] = sign * (vwap / r["open_rate_bt"] - 1) * 1e4
    return out


def _walk(levels: list, amount: float) -> float:
    """Average price of `amount` taken from `levels` ([[price, qty], ...], best first)."""
    left, cost = amount, 0.0
    for price, qty in levels:
        take = min(left, qty)
        cost += take * price
        left -= take
        if left <= 1e-12:
            return cost / amount
    return float("nan")  # deeper than the book


def _row(frames: dict[str, pd.DataFrame], pair: str, when: pd.Timestamp) -> pd.Series | None:
    df = frames.get(pair)
    if df is None or df.empty or "date" not in df:
        return None
    hit = df[df["date"] == when]
    return None if hit.empty else hit.iloc[-1]


def _busy(trades: pd.DataFrame, pair: str, when: pd.Timestamp) -> str | None:
    """'open from A to B' if the pair had a trade open at `when` in `trades`."""
    if trades is None or trades.empty:
        return None
    t = trades[trades["pair"] == pair]
    opened = pd.to_datetime(t["open_date"], utc=True)
    closed = pd.to_datetime(t["close_date"], utc=True).fillna(pd.Timestamp.max.tz_localize("UTC"))
    hit = t[(opened < when) & (closed > when)]
    if hit.empty:
        return None
    return f"open from {opened[hit.index[0]]:%m-%d %H:%M} to {closed[hit.index[0]]:%m-%d %H:%M}"


def _log_reason(log_text: str, pair: str, side: str, when: pd.Timestamp,
                tf: pd.Timedelta) -> str | None:  # fmt: skip
    """The bot's own log line about this entry (a refusal, timeout or lock) in that candle."""
    lo, hi = when, when + tf
    pat = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ - \S+ - \w+ - (.*)$")
    for line in log_text.splitlines():
        m = pat.match(line)
        if not m or pair not in line:
            continue
        t = pd.Timestamp(m[1], tz="UTC")
        if lo <= t < hi and re.search(r"refused|timed out|locked|cancel|insufficient|stake", m[2],
                                      re.IGNORECASE):  # fmt: skip
            return m[2][:240]
    return None


def _differences(live_row: pd.Series | None, bt_row: pd.Series | None) -> str:
    """Gate and trigger columns whose values differ between the two signal rows."""
    if live_row is None or bt_row is None:
        return ""
    out = []
    for col in bt_row.index:
        if col not in live_row.index or not col.startswith(GATE_PREFIXES):
            continue
        a, b = live_row[col], bt_row[col]
        same = (pd.isna(a) and pd.isna(b)) or (
            not pd.isna(a) and not pd.isna(b) and (a == b or _close(a, b))
        )
        if not same:
            out.append(f"{col}: live {a} vs backtest {b}")
    return "; ".join(out[:8])


def _close(a, b) -> bool:
    try:
        return bool(np.isclose(float(a), float(b), rtol=1e-6, atol=1e-9))
    except (TypeError, ValueError):
        return False


def explain(m: pd.DataFrame, *, live_frames: dict[str, pd.DataFrame], bt_signals: dict,
            live_trades: pd.DataFrame, bt_trades: pd.DataFrame, log_text: str,
            timeframe: str) -> pd.Series:  # fmt: skip
    """A cause for every unmatched row of `match_trades` (empty for matched rows)."""
    tf = pd.Timedelta(timeframe)
    causes = []
    for r in m.itertuples():
        signal_at = r.candle - tf
        live_row = _row(live_frames, r.pair, signal_at)
        sig = bt_signals.get(r.pair)
        bt_row = None
        if sig is not None and len(sig):
            hit = sig[pd.to_datetime(sig["date"], utc=True) == signal_at]
            bt_row = None if hit.empty else hit.iloc[-1]
        if r.status == "matched":
            causes.append("")
        elif r.status == "backtest_only":
            causes.append(_why_not_live(r, live_row, bt_row, live_trades, log_text, signal_at, tf))
        else:
            busy = _busy(bt_trades, r.pair, r.candle)
            causes.append(f"pair busy in the backtest ({busy})" if busy else
                          "no backtest entry at this candle although the live signal fired"
                          + (f" ({_differences(live_row, bt_row)})" if bt_row is not None else ""))  # fmt: skip
    return pd.Series(causes, index=m.index, dtype="object")


def _why_not_live(r, live_row, bt_row, live_trades, log_text, signal_at, tf) -> str:
    if live_row is None:
        return "the bot had not analysed this candle (before its first candle or a missed loop)"
    col = "enter_short" if r.side == "short" else "enter_long"
    fired = live_row.get(col) == 1
    if not fired:
        diff = _differences(live_row, bt_row)
        return f"no live {r.side} signal at {signal_at:%m-%d %H:%M}" + (f": {diff}" if diff else "")
    busy = _busy(live_trades, r.pair, r.candle)
    if busy:
        return f"pair busy in the bot ({busy})"
    reason = _log_reason(log_text, r.pair, r.side, r.candle, tf)
    return f"live signal fired but no trade: {reason}" if reason else (
        "live signal fired but no trade and no log line says why")  # fmt: skip


def summary(m: pd.DataFrame) -> dict:
    """Counts and the slippage distribution of the matched entries."""
    matched = m[m["status"] == "matched"]
    n_bt = int((m["status"] != "live_only").sum())
    return {
        "backtest_trades": n_bt,
        "live_trades": int((m["status"] != "backtest_only").sum()),
        "matched": len(matched),
        "live_only": int((m["status"] == "live_only").sum()),
        "backtest_only": int((m["status"] == "backtest_only").sum()),
        "matched_share": len(matched) / n_bt if n_bt else float("nan"),
        "slippage_bps_median": float(matched["slippage_bps"].median()) if len(matched) else None,
        "slippage_bps_max_abs": float(matched["slippage_bps"].abs().max()) if len(matched) else None,
        "model_residual_bps_max_abs": (float((matched["slippage_bps"] - matched["model_bps"]).abs().max())
                                       if "model_bps" in matched and len(matched) else None),
        "delay_s_median": float(matched["delay_s"].median()) if len(matched) else None,
    }  # fmt: skip
