"""Stress tests: can a wick liquidate what the rules allow?

Scenarios, each applied to every position of a backtest and to the most leveraged position the
rules allow per pair:
- `wick_5pct`: a 5% adverse wick during the pair's least liquid New York session block (its
  highest Amihud illiquidity in the session profile), with the stop's fill slippage taken from
  that block's candle-based estimate, tripled for the stress;
- `worst_<block>`: the worst adverse 5m wick seen in the data in that session block.
A position is liquidated when the wick reaches its liquidation distance (Binance's isolated
formula with Freqtrade's 5% liquidation buffer). The stop "fills first" when stop distance plus
slippage is inside the liquidation distance. Backtest exports do not carry perpflow's stop, so
the stop distance is the rules' worst case (`risk.max_stop_distance`). A result whose trades do
not carry their leverage cannot be tested: `require_leverage` refuses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perpflow.errors import UserError
from perpflow.features.sessions import SESSION_NAMES, ny_session_block
from perpflow.risk.leverage import capped_leverage, liquidation_safe_leverage
from perpflow.risk.liquidity import block_stats


def liquidation_distance(leverage, mmr: float = 0.005, exchange_buffer: float = 0.05):
    """Fraction of entry price to liquidation (isolated, worst side, after Freqtrade's buffer)."""
    lev = np.asarray(leverage, dtype="float64")
    return (1.0 / lev - mmr) / (1.0 + mmr) * (1.0 - exchange_buffer)


def worst_wicks(candles: pd.DataFrame) -> pd.DataFrame:
    """Worst adverse wick per session block of 5m candles: `long` = (open - low) / open (hurts a
    long), `short` = (high - open) / open."""
    block = ny_session_block(candles["date"]).map(SESSION_NAMES)
    frame = pd.DataFrame({
        "block": block, "long": (candles["open"] - candles["low"]) / candles["open"],
        "short": (candles["high"] - candles["open"]) / candles["open"],
    })  # fmt: skip
    return frame.groupby("block")[["long", "short"]].max()


def thinnest_block(candles: pd.DataFrame, notional: float) -> tuple[str, float]:
    """The least liquid session block (highest Amihud) and its slippage estimate (bps) for an
    order of `notional` quote."""
    stats = block_stats(candles, order_quote=notional)
    name = str(stats["amihud_bps_per_musd"].idxmax())
    return name, float(stats.loc[name, "slippage_bps"])


def stress_positions(positions: pd.DataFrame, *, wick: float, slippage_bps: float,
                     stop_distance: float, mmr: float) -> pd.DataFrame:  # fmt: skip
    """Per position (`leverage`): liquidation distance, margin buffer left after the wick
    (liquidation distance - wick; < 0 = liquidated), and whether the stop fills first."""
    ld = liquidation_distance(positions["leverage"].to_numpy(), mmr=mmr)
    fill = stop_distance + 3.0 * slippage_bps / 1e4
    return positions.assign(
        liquidation_distance=ld, margin_buffer=ld - wick, liquidated=wick >= ld,
        stop_fills_first=fill < ld,
    )  # fmt: skip


def run_stress(trades: pd.DataFrame, candles: dict[str, pd.DataFrame], *, allowed_leverage:
               dict[str, float], wick: float = 0.05, stop_distance: float = 0.06,
               mmr: float = 0.005) -> pd.DataFrame:  # fmt: skip
    """One row per scenario and pair: positions tested, the smallest margin buffer, how many
    were liquidated and how many stops would not fill before liquidation."""
    rows = []
    for pair, df in candles.items():
        mine = trades[trades["pair"] == pair]
        allowed = pd.DataFrame({"leverage": [allowed_leverage.get(pair, 1.0)], "is_short": [False]})
        book = pd.concat([mine[["leverage", "is_short"]], allowed], ignore_index=True)
        book["allowed_max"] = [False] * len(mine) + [True]
        notional = float((mine["stake_amount"] * mine["leverage"]).median()) if len(mine) else 1e4
        block, slip = thinnest_block(df, notional)
        scenarios = [(f"wick_{wick:.0%} in {block}", wick, slip)]
        ww = worst_wicks(df)
        for name, r in ww.iterrows():
            scenarios.append((f"worst_{name}", float(max(r["long"], r["short"])), slip))
        for name, w, s in scenarios:
            res = stress_positions(book, wick=w, slippage_bps=s, stop_distance=stop_distance,
                                   mmr=mmr)  # fmt: skip
            rows.append({
                "scenario": name, "pair": pair, "wick": w, "positions": len(res),
                "max_leverage": float(res["leverage"].max()),
                "min_margin_buffer": float(res["margin_buffer"].min()),
                "liquidated": int(res["liquidated"].sum()),
                "stop_not_first": int((~res["stop_fills_first"]).sum()),
            })  # fmt: skip
    return pd.DataFrame(rows)


def require_leverage(trades: pd.DataFrame, missing: frozenset[str] | set[str], source: str) -> None:
    """UserError unless every trade carries its leverage (`missing` = fields the export lacked,
    which Freqtrade's loader fills with 1.0) and stake: without them a stress test would
    report a pass it cannot know."""
    absent = sorted({"leverage", "is_short"} & set(missing))
    absent += [
        c for c in ("leverage", "stake_amount") if c not in trades.columns and c not in absent
    ]
    if not absent and len(trades) and trades[["leverage", "stake_amount"]].isna().any().any():
        absent = ["leverage/stake_amount (null in some trades)"]
    if absent:
        raise UserError(f"{source}: the trades carry no {', '.join(absent)}, so their liquidation "
                        "distance is unknown; stress a futures backtest exported by Freqtrade "
                        "(--export trades) that records it")  # fmt: skip


def allowed_leverage(risk, *, exchange_max: float | None, exchange_mmr: float | None) -> float:
    """The most leverage the rules allow on a market: the config cap, the exchange's cap and the
    leverage that keeps liquidation beyond the tightest stop with the buffer (`risk` is the
    `perpflow.risk` config; the exchange's maintenance margin rate counts when higher)."""
    mmr = max(risk.maintenance_margin_rate, exchange_mmr or 0.0)
    safe = liquidation_safe_leverage(risk.min_stop_distance, maintenance_margin_rate=mmr,
                                     buffer=risk.liquidation_buffer)  # fmt: skip
    return capped_leverage(risk.max_leverage, exchange_max or risk.max_leverage, safe)


def stress_backtest(trades: pd.DataFrame, datadir, risk, *, wick: float = 0.05,
                    timeframe: str = "5m") -> pd.DataFrame:  # fmt: skip
    """`run_stress` of a backtest's trades over the `timeframe` candles of `datadir`, with each
    pair's allowed leverage from the market specs the local exchange serves for that data dir."""
    from pathlib import Path

    from perpflow.data.files import load_candles
    from perpflow.data.readers import exchange_symbol
    from perpflow.venue.markets import MarketBook

    book = MarketBook.load(Path(datadir))
    candles, allowed = {}, {}
    for pair in sorted(trades["pair"].unique()):
        candles[pair] = load_candles(Path(datadir), pair, timeframe)
        sym = exchange_symbol(pair)
        allowed[pair] = allowed_leverage(risk, exchange_max=book.max_leverage(sym),
                                         exchange_mmr=book.maint_margin_rate(sym))  # fmt: skip
    return run_stress(
        trades,
        candles,
        allowed_leverage=allowed,
        wick=wick,
        stop_distance=risk.max_stop_distance,
        mmr=risk.maintenance_margin_rate,
    )
