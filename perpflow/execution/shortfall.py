"""Implementation shortfall per trade, read from a bot's own Freqtrade sqlite database.

The bot (dry-run, or live against the local exchange's matching engine) writes per trade, with
`trade.set_custom_data`: `pf_decision_price` (the mid, or the signal candle's close, when the
entry was decided), `pf_exit_decision_price` (signal or target exits), `pf_stop` (the stop
level), the model's expected entry cost `pf_model_bps` with its band `pf_model_band_lo` /
`pf_model_band_hi` and `pf_model_source`, and the planned parent `pf_parent_notional` /
`pf_children`. The children are the trade's entry orders (the first entry and the
`adjust_trade_position` additions) in Freqtrade's `orders` table.

Shortfall in bps, positive = paid: entries `sign * (vwap / decision - 1) * 1e4` with sign +1
long, -1 short; exits mirrored. Stop exits are measured against the stop level (Freqtrade's
`stop_loss` column, the level that fired; `pf_stop` when the column is empty) and flagged.
Trades without a decision price are kept (NaN shortfall) and counted, never dropped.

The database is read with plain sqlite3 (read-only) and pandas; custom data values are typed
by Freqtrade's own `CustomDataWrapper`, filled orders are selected as Freqtrade's
`recalc_trade_from_orders` does (closed, `filled > 0`) and priced as `Order.safe_price`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.errors import UserError
from perpflow.features.sessions import SESSION_NAMES, ny_session_block

STOP_EXITS = ("stop_loss", "stoploss_on_exchange", "trailing_stop_loss")
FILLS_SQL = """
SELECT o.ft_trade_id AS trade_id, o.ft_pair AS pair, t.is_short AS is_short,
       o.ft_order_side AS ft_order_side, o.side AS order_side, o.order_type AS order_type,
       o.status AS status, o.filled AS filled,
       COALESCE(NULLIF(o.average, 0), NULLIF(o.price, 0), NULLIF(o.stop_price, 0), o.ft_price)
           AS average,
       COALESCE(o.order_filled_date, o.order_date) AS time, o.ft_order_tag AS tag,
       o.order_id AS order_id, o.id AS order_pk
FROM orders o JOIN trades t ON t.id = o.ft_trade_id
WHERE o.ft_is_open = 0 AND o.filled > 0
ORDER BY o.ft_trade_id, time, o.id
"""
TRADES_SQL = """
SELECT id AS trade_id, pair, is_short, is_open, open_date, close_date, exit_reason, stop_loss,
       enter_tag, contract_size, timeframe
FROM trades ORDER BY id
"""
CUSTOM_SQL = "SELECT ft_trade_id AS trade_id, cd_key, cd_type, cd_value FROM trade_custom_data"
FLOAT_KEYS = ("pf_decision_price", "pf_exit_decision_price", "pf_stop", "pf_model_bps",
              "pf_model_band_lo", "pf_model_band_hi", "pf_parent_notional", "pf_children")  # fmt: skip


def _connect(db_path) -> sqlite3.Connection:
    """A read-only connection to a Freqtrade database; a clear error when it is not one."""
    path = Path(db_path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; give the bot's sqlite database (its `db_url`, "
                        "e.g. tradesv3.sqlite or tradesv3.dryrun.sqlite)")  # fmt: skip
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        con.close()
        raise UserError(f"{path}: not a sqlite database ({exc})") from exc
    if not {"trades", "orders"} <= names:
        con.close()
        raise UserError(f"{path}: no `trades` and `orders` tables: not a Freqtrade trade "
                        "database (give the file of the bot's `db_url`)")  # fmt: skip
    return con


def _read(db_path, sql: str) -> pd.DataFrame:
    """One query's result from the database, read-only."""
    con = _connect(db_path)
    try:
        return pd.read_sql(sql, con)
    finally:
        con.close()


def _utc(s: pd.Series) -> pd.Series:
    """Freqtrade's naive UTC datetimes as tz-aware UTC."""
    return pd.to_datetime(s, utc=True, format="mixed")


def trade_fills(db_path) -> pd.DataFrame:
    """One row per filled order of the database (closed orders with `filled > 0`, partial fills
    of cancelled orders included): trade_id, pair, side (long/short), ft_order_side, order_side,
    is_entry, filled, average (Freqtrade's `Order.safe_price`), time (fill time, else the order
    time), tag (`ft_order_tag`), order_type, status, order_id."""
    df = _read(db_path, FILLS_SQL)
    short = df["is_short"].astype(bool)
    df = df.assign(side=np.where(short, "short", "long"),
                   is_entry=df["ft_order_side"] == np.where(short, "sell", "buy"),
                   filled=df["filled"].astype(float), average=df["average"].astype(float),
                   time=_utc(df["time"]))  # fmt: skip
    cols = ["trade_id", "pair", "side", "ft_order_side", "order_side", "is_entry", "filled",
            "average", "time", "tag", "order_type", "status", "order_id"]  # fmt: skip
    return df[cols].reset_index(drop=True)


def custom_data(db_path) -> pd.DataFrame:
    """Freqtrade's `trade_custom_data` as one row per trade id (index) and one column per key
    (lower case), each value typed by Freqtrade's `CustomDataWrapper` (float, int, str, JSON)."""
    from freqtrade.persistence.custom_data import CustomDataWrapper, _CustomData

    tables = _read(db_path, "SELECT name FROM sqlite_master WHERE type='table'")["name"]
    raw = (_read(db_path, CUSTOM_SQL) if tables.eq("trade_custom_data").any()
           else pd.DataFrame(columns=["trade_id", "cd_key", "cd_type", "cd_value"]))  # fmt: skip
    values = [CustomDataWrapper._convert_custom_data(_CustomData(cd_key=k, cd_type=t, cd_value=v)).value
              for k, t, v in raw[["cd_key", "cd_type", "cd_value"]].itertuples(index=False)]  # fmt: skip
    raw = raw.assign(key=raw["cd_key"].str.lower(), value=pd.Series(values, index=raw.index,
                                                                     dtype=object))  # fmt: skip
    wide = raw.pivot_table(index="trade_id", columns="key", values="value", aggfunc="last")
    return wide.rename_axis(columns=None)


def _legs(fills: pd.DataFrame, entry: bool, prefix: str) -> pd.DataFrame:
    """Per trade: filled orders, quantity, VWAP, first and last fill time of one leg."""
    leg = fills[fills["is_entry"] == entry]
    g = leg.assign(cost=leg["filled"] * leg["average"]).groupby("trade_id")
    out = pd.DataFrame({f"{prefix}_orders": g.size(), f"{prefix}_qty": g["filled"].sum(),
                        f"{prefix}_vwap": g["cost"].sum() / g["filled"].sum(),
                        f"{prefix}_first_fill": g["time"].min(),
                        f"{prefix}_last_fill": g["time"].max()})  # fmt: skip
    return out


def shortfall(db_path) -> pd.DataFrame:
    """One row per trade of the database (open ones too): entry VWAP over its filled entry
    orders and their count, the decision price, `shortfall_bps`, the model's bps and band,
    `in_band`, `residual_bps`, and the exit VWAP with `exit_shortfall_bps` against the exit
    decision price (the stop level for stop exits, `exit_is_stop`)."""
    trades = _read(db_path, TRADES_SQL)
    fills = trade_fills(db_path)
    cd = custom_data(db_path)
    for key in FLOAT_KEYS:
        cd[key] = pd.to_numeric(cd[key], errors="coerce") if key in cd else np.nan
    cd["pf_model_source"] = cd["pf_model_source"] if "pf_model_source" in cd else None
    df = (trades.set_index("trade_id")
          .join(_legs(fills, True, "entry")).join(_legs(fills, False, "exit"))
          .join(cd[[*FLOAT_KEYS, "pf_model_source"]]).reset_index())  # fmt: skip
    return _frame(df)


def _frame(df: pd.DataFrame) -> pd.DataFrame:
    """The shortfall frame's columns from the joined trades, legs and custom data."""
    short = df["is_short"].astype(bool)
    reason = df["exit_reason"].fillna("").astype(str)
    is_stop = reason.isin(STOP_EXITS)
    stop_level = df["stop_loss"].where(df["stop_loss"] > 0, df["pf_stop"])
    exit_dec = stop_level.where(is_stop, df["pf_exit_decision_price"])
    contract = df["contract_size"].fillna(1.0).astype(float)
    out = pd.DataFrame({
        "trade_id": df["trade_id"], "pair": df["pair"],
        "side": np.where(short, "short", "long"), "is_open": df["is_open"].astype(bool),
        "enter_tag": df["enter_tag"], "exit_reason": df["exit_reason"],
        "timeframe_minutes": df["timeframe"],
        "decision_time": _utc(df["open_date"]), "close_date": _utc(df["close_date"]),
        "entry_orders": df["entry_orders"].fillna(0).astype(int),
        "children_planned": df["pf_children"],
        "entry_qty": df["entry_qty"], "entry_vwap": df["entry_vwap"],
        "entry_notional": df["entry_qty"] * df["entry_vwap"] * contract,
        "parent_notional": df["pf_parent_notional"],
        "entry_first_fill": df["entry_first_fill"], "entry_last_fill": df["entry_last_fill"],
        "decision_price": df["pf_decision_price"],
        "decision_source": np.where(df["pf_decision_price"].notna(), "pf_decision_price", None),
        "model_bps": df["pf_model_bps"], "model_band_lo": df["pf_model_band_lo"],
        "model_band_hi": df["pf_model_band_hi"], "model_source": df["pf_model_source"],
        "exit_orders": df["exit_orders"].fillna(0).astype(int), "exit_qty": df["exit_qty"],
        "exit_vwap": df["exit_vwap"], "exit_decision_price": exit_dec,
        "exit_decision_source": np.select([is_stop & df["stop_loss"].gt(0), is_stop & exit_dec.notna(),
                                           exit_dec.notna()], ["stop_loss", "pf_stop",
                                           "pf_exit_decision_price"], None),
        "exit_is_stop": is_stop,
    })  # fmt: skip
    return derive(out)


def derive(df: pd.DataFrame) -> pd.DataFrame:
    """(Re)compute the measured columns from prices: shortfall_bps, exit_shortfall_bps,
    in_band (nullable boolean: NA without shortfall or band), residual_bps, fill_share,
    entry_span_s and the session block name of the decision time."""
    sign = np.where(df["side"] == "short", -1.0, 1.0)
    sf = sign * (df["entry_vwap"] / df["decision_price"] - 1) * 1e4
    known = sf.notna() & df["model_band_lo"].notna() & df["model_band_hi"].notna()
    inside = (sf >= df["model_band_lo"]) & (sf <= df["model_band_hi"])
    block = ny_session_block(df["decision_time"]).map(SESSION_NAMES)
    return df.assign(
        shortfall_bps=sf,
        exit_shortfall_bps=-sign * (df["exit_vwap"] / df["exit_decision_price"] - 1) * 1e4,
        in_band=inside.astype("boolean").where(known, pd.NA),
        residual_bps=sf - df["model_bps"],
        fill_share=df["entry_notional"] / df["parent_notional"],
        entry_span_s=(df["entry_last_fill"] - df["entry_first_fill"]).dt.total_seconds(),
        session=block.where(df["decision_time"].notna()),
    )


def _dist(s: pd.Series) -> dict:
    """n, median, mean and 90th percentile of a bps column (NaN skipped; None when empty)."""
    s = s.dropna().astype(float)
    if s.empty:
        return {"n": 0, "median": None, "mean": None, "p90": None}
    return {"n": int(s.size), "median": float(s.median()), "mean": float(s.mean()),
            "p90": float(s.quantile(0.9))}  # fmt: skip


def _share(b: pd.Series) -> float | None:
    """Share of True among the known values of a nullable boolean column (None when none)."""
    b = b.dropna()
    return float(b.astype(bool).mean()) if len(b) else None


def _groups(df: pd.DataFrame, by: str) -> list[dict]:
    """Per value of `by`: trades, entry shortfall distribution, share in band, median residual."""
    rows = []
    for key, g in df.groupby(by, dropna=False, sort=True):
        d = _dist(g["shortfall_bps"])
        rows.append({by: key if key == key else "unknown", "trades": len(g), "measured": d["n"],
                     "median_bps": d["median"], "mean_bps": d["mean"], "p90_bps": d["p90"],
                     "exit_median_bps": _dist(g["exit_shortfall_bps"])["median"],
                     "in_band_share": _share(g["in_band"]),
                     "residual_median_bps": _dist(g["residual_bps"])["median"]})  # fmt: skip
    return rows


def summary(df: pd.DataFrame) -> dict:
    """Counts (trades, measured entries and exits, those without a decision price or model),
    entry and exit shortfall distributions (n, median, mean, p90 bps), the share of measured
    entries inside the model's band, the median residual, and the same per pair and per New
    York session block of the decision time (JSON-ready)."""
    exits = df["exit_orders"] > 0
    return {
        "trades": len(df),
        "entries_measured": int(df["shortfall_bps"].notna().sum()),
        "without_decision_price": int(df["decision_price"].isna().sum()),
        "without_entry_fill": int((df["entry_orders"] == 0).sum()),
        "with_model": int(df["model_bps"].notna().sum()),
        "exits": int(exits.sum()),
        "exits_measured": int(df["exit_shortfall_bps"].notna().sum()),
        "exits_without_decision_price": int((exits & df["exit_decision_price"].isna()).sum()),
        "stop_exits": int((exits & df["exit_is_stop"].astype(bool)).sum()),
        "multi_child_entries": int((df["entry_orders"] > 1).sum()),
        "decision_sources": df["decision_source"].fillna("none").value_counts().to_dict(),
        "entry": _dist(df["shortfall_bps"]),
        "exit": _dist(df["exit_shortfall_bps"]),
        "exit_stop": _dist(df.loc[df["exit_is_stop"].astype(bool), "exit_shortfall_bps"]),
        "in_band_share": _share(df["in_band"]),
        "in_band_known": int(df["in_band"].notna().sum()),
        "residual_median_bps": _dist(df["residual_bps"])["median"],
        "by_pair": _groups(df, "pair"),
        "by_session": _groups(df, "session"),
    }
