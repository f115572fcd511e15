"""Shortfall in shadow mode: the bot's entries paired with the backtest's by
`perpflow.validation.parity_causes.match_trades` (what `perpflow validate shadow | parity` write
to `<out>/<mode>/parity.csv`), measured like `perpflow.execution.shortfall`.

The decision price of a paired entry is the signal candle's close (the candle before the entry
candle, read from the data dir: `decision_source='candle_close'`) or, without candles, the
backtest's entry price (the next candle's open: `'backtest_entry'`). The model is the local
exchange's own book walk of `parity_causes.book_model_bps` (`model_source='venue_book_walk'`),
moved from the backtest's price to the decision price. `fill_decision` lends these decisions
to the trades of a bot database that carry none (a bot without perpflow's custom data).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.execution.shortfall import derive

PAIR_KEYS = ["pair", "side", "candle"]


def read_pairing(path) -> pd.DataFrame:
    """A `parity.csv` of `perpflow validate shadow | parity` with its times as UTC."""
    from perpflow.errors import UserError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; give the parity.csv that `perpflow validate "
                        "shadow` or `validate parity` wrote (<out>/<mode>/parity.csv)")  # fmt: skip
    m = pd.read_csv(path)
    missing = {"pair", "side", "candle", "status", "open_rate_live", "open_rate_bt"} - set(m)
    if missing:
        raise UserError(f"{path}: not a parity.csv (no column {', '.join(sorted(missing))})")
    for col in ("candle", "open_date_live", "open_date_bt"):
        if col in m:
            m[col] = pd.to_datetime(m[col], utc=True, format="mixed")
    return m


def signal_closes(m: pd.DataFrame, datadir, timeframe: str) -> pd.Series:
    """Close of each row's signal candle (the candle before `candle`) from the data dir's
    futures candles of `timeframe`; NaN where the data dir has no such candle."""
    from perpflow.data.files import load_candles

    signal_at = m["candle"] - pd.Timedelta(timeframe)
    out = pd.Series(np.nan, index=m.index, dtype=float)
    for pair, idx in m.groupby("pair").groups.items():
        c = load_candles(Path(datadir), pair, timeframe)
        closes = pd.Series(c["close"].to_numpy(float), index=pd.to_datetime(c["date"], utc=True))
        out[idx] = closes.reindex(signal_at[idx]).to_numpy()
    return out


def shadow_shortfall(m: pd.DataFrame, *, signal_close: pd.Series | None = None) -> pd.DataFrame:
    """The matched rows of `match_trades` (with `model_bps` of `book_model_bps` when present)
    as a shortfall frame: the bot's fill against the signal candle's close (`signal_close`,
    aligned on `m`) or the backtest's entry price; `vs_backtest_bps` keeps parity's own
    slippage against the backtest fill. Columns as `shortfall.shortfall` (exits not measured)."""
    r = m[m["status"] == "matched"]
    sign = np.where(r["side"] == "short", -1.0, 1.0)
    use_close = signal_close is not None
    decision = signal_close.loc[r.index] if use_close else r["open_rate_bt"]
    model_bt = r["model_bps"] if "model_bps" in r else pd.Series(np.nan, index=r.index)
    model_vwap = r["open_rate_bt"] * (1 + sign * model_bt / 1e4)
    nan = np.full(len(r), np.nan)
    out = pd.DataFrame({
        "trade_id": nan, "pair": r["pair"], "side": r["side"], "candle": r["candle"],
        "decision_time": r["open_date_live"], "entry_orders": 1,
        "entry_qty": r["amount_live"] if "amount_live" in r else nan,
        "entry_vwap": r["open_rate_live"].astype(float), "entry_notional": nan,
        "parent_notional": nan, "entry_first_fill": r["open_date_live"],
        "entry_last_fill": r["open_date_live"], "decision_price": decision.astype(float),
        "decision_source": "candle_close" if use_close else "backtest_entry",
        "model_bps": sign * (model_vwap / decision - 1) * 1e4, "model_band_lo": nan,
        "model_band_hi": nan, "model_source": np.where(model_bt.notna(), "venue_book_walk", None),
        "exit_orders": 0, "exit_vwap": nan, "exit_decision_price": nan, "exit_is_stop": False,
        "backtest_price": r["open_rate_bt"].astype(float), "vs_backtest_bps": r["slippage_bps"],
    })  # fmt: skip
    return derive(out).reset_index(drop=True)


def fill_decision(sf: pd.DataFrame, paired: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """`sf` (of `shortfall.shortfall`) with the decision price, and the model where it has none,
    of its paired entry in `paired` (of `shadow_shortfall`) for every trade without a decision
    price: same pair, side and entry candle (the decision time floored to `timeframe`). Their
    `decision_source` / `model_source` say where each came from; the rest stay NaN."""
    key = sf.assign(candle=sf["decision_time"].dt.floor(pd.Timedelta(timeframe)))
    lend = paired[[*PAIR_KEYS, "decision_price", "decision_source", "model_bps", "model_source"]]
    lend = lend.drop_duplicates(PAIR_KEYS)
    j = key.merge(lend, on=PAIR_KEYS, how="left", suffixes=("", "_pair"), validate="m:1")
    need = j["decision_price"].isna() & j["decision_price_pair"].notna()
    need_model = need & j["model_bps"].isna() & j["model_bps_pair"].notna()
    out = sf.assign(
        decision_price=j["decision_price"].where(~need, j["decision_price_pair"]).to_numpy(),
        decision_source=j["decision_source"].where(~need, j["decision_source_pair"]).to_numpy(),
        model_bps=j["model_bps"].where(~need_model, j["model_bps_pair"]).to_numpy(),
        model_source=j["model_source"].where(~need_model, j["model_source_pair"]).to_numpy(),
    )
    return derive(out)
