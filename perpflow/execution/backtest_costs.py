"""The slippage model's cost on the fills a Freqtrade backtest could not price.

With the policy on, entries, take-profit and partial exits are priced by the model inside the
backtest (Freqtrade's report shows their cost). Freqtrade fills stop exits at the stop level
(or the open when a candle gaps through it) with no callback to move that price, so their cost
is added here, per trade, from the model at the stop's time: the candle-proxy or profile cost of
the trade's notional (the stop is one market order), plus nothing for drift (a stop is decided
by the price itself). `legs="all"` also prices entries and every exit, for a backtest run with
the policy off (the cost it left out entirely).

Costs per trade are a loop over the trades (hundreds, not candles: `SlippageModel.cost` is one
call per leg); the candle inputs are the same causal `model_inputs` the strategy reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.errors import UserError
from perpflow.execution.calibrate import model_inputs
from perpflow.execution.slippage import SlippageModel

STOP_EXITS = ("stop_loss", "trailing_stop_loss", "stoploss_on_exchange", "liquidation")
LEGS = ("stops", "all")


def load_trades(path: str | Path) -> pd.DataFrame:
    """Trades of a Freqtrade backtest export (a result zip/json, or a results folder: its
    latest), with Freqtrade's own loader; a clear error when there is none."""
    from freqtrade.data.btanalysis import load_backtest_data

    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such backtest result (run `freqtrade backtesting --export "
                        "trades` and pass the zip or its folder)")  # fmt: skip
    try:
        trades = load_backtest_data(p)
    except Exception as exc:  # noqa: BLE001 (Freqtrade raises several kinds on bad files)
        raise UserError(f"{p}: not a Freqtrade backtest result ({exc})") from exc
    if trades.empty:
        raise UserError(f"{p}: the backtest made no trades; nothing to price")
    return trades


def _legs(trades: pd.DataFrame, legs: str) -> pd.DataFrame:
    """One row per priced leg: trade, pair, time, order side, notional, kind."""
    if legs not in LEGS:
        raise ValueError(f"legs must be one of {LEGS}, got {legs!r}")
    t = trades.reset_index(drop=True)
    short = t["is_short"].astype(bool).to_numpy()
    exits = pd.DataFrame({
        "trade": t.index, "pair": t["pair"], "time": pd.to_datetime(t["close_date"], utc=True),
        "side": np.where(short, "buy", "sell"), "notional": t["amount"] * t["close_rate"],
        "leg": np.where(t["exit_reason"].isin(STOP_EXITS), "stop exit", "exit"),
        "reason": t["exit_reason"],
    })  # fmt: skip
    if legs == "stops":
        return exits[exits["leg"] == "stop exit"].reset_index(drop=True)
    entries = pd.DataFrame({
        "trade": t.index, "pair": t["pair"], "time": pd.to_datetime(t["open_date"], utc=True),
        "side": np.where(short, "sell", "buy"), "notional": t["amount"] * t["open_rate"],
        "leg": "entry", "reason": t["enter_tag"].fillna(""),
    })  # fmt: skip
    return pd.concat([entries, exits], ignore_index=True)


def _inputs_at(candles: pd.DataFrame, timeframe: str, times: pd.Series) -> pd.DataFrame:
    """The model inputs as of each time: the last candle closed by then (causal)."""
    inp = model_inputs(candles, timeframe)
    inp["decided"] = (pd.to_datetime(candles["date"], utc=True) + pd.Timedelta(timeframe)).astype(
        "datetime64[ns, UTC]"
    )
    inp = inp.sort_values("decided")
    when = pd.DataFrame({"time": pd.to_datetime(times, utc=True).astype("datetime64[ns, UTC]")
                         .to_numpy(), "i": np.arange(len(times))}).sort_values("time")  # fmt: skip
    got = pd.merge_asof(when, inp, left_on="time", right_on="decided", direction="backward")
    return got.sort_values("i").reset_index(drop=True)


def leg_costs(trades: pd.DataFrame, candles: dict[str, pd.DataFrame], timeframe: str, *,
              model: SlippageModel | None = None, legs: str = "stops") -> pd.DataFrame:  # fmt: skip
    """Per priced leg: the model's cost in bps and quote (`cost_bps`, `cost_quote`, `source`).
    `candles` holds each pair's candles (date, high, low, close, volume)."""
    model = model or SlippageModel.empty()
    rows = _legs(trades, legs)
    out = []
    for pair, part in rows.groupby("pair", sort=False):
        if pair not in candles:
            raise UserError(f"no {timeframe} candles for {pair} in the data directory: pass the "
                            "--datadir the backtest used")  # fmt: skip
        inp = _inputs_at(candles[pair], timeframe, part["time"])
        costs = [model.cost(pair, blk if isinstance(blk, str) else "other", side, notional,
                            sigma_bps_1s=np.nan, candle_range_bps=rng, candle_quote_volume=qv)
                 for blk, side, notional, rng, qv in zip(
                     inp["session_block"], part["side"], part["notional"], inp["ex_range_bps"],
                     inp["ex_quote_volume"], strict=True)]  # fmt: skip
        part = part.assign(cost_bps=[c.total_bps for c in costs],
                           source=[c.source for c in costs])  # fmt: skip
        out.append(part)
    res = pd.concat(out, ignore_index=True) if out else rows.assign(cost_bps=[], source=[])
    return res.assign(cost_quote=res["notional"] * res["cost_bps"] / 1e4)


def summary(trades: pd.DataFrame, costs: pd.DataFrame) -> dict:
    """Reported and cost-adjusted profit, and the cost by leg (NaN costs counted, not zeroed)."""
    known = costs["cost_quote"].notna()
    reported = float(trades["profit_abs"].sum())
    extra = float(costs.loc[known, "cost_quote"].sum())
    by_leg = costs.groupby("leg").agg(legs=("cost_bps", "size"),
                                      median_bps=("cost_bps", "median"),
                                      quote=("cost_quote", "sum"))  # fmt: skip
    return {
        "trades": len(trades), "legs_priced": int(known.sum()),
        "legs_unpriced": int((~known).sum()), "reported_profit": reported,
        "modelled_extra_cost": extra, "adjusted_profit": reported - extra,
        "by_leg": by_leg.reset_index().to_dict(orient="records"),
    }  # fmt: skip
