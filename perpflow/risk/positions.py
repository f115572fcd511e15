"""Positions on the exchange against the bot's open trades: orphans and mismatches.

An order the exchange applied but whose answer was lost (-1007 "execution status unknown", a
timeout, a restart) leaves a position the bot never recorded: Freqtrade creates its trade only
from a successful answer. `position_gaps` finds, per pair,
- "orphan": a position on a pair with no open trade (the bot must not open a second one on top);
- "excess": a position larger than, or opposite to, the bot's trade on that pair;
- "ghost": an open trade, filled and idle, with no position behind it (an exit the exchange
  applied unseen, or a stop that fired and the bot has not polled yet; confirm before acting);
- "order" (found by the caller): an open order or stop on the exchange the bot never stored.
Pure: ccxt position dicts and plain trade records in, gaps out.
"""

from __future__ import annotations

from dataclasses import dataclass

ORPHAN, EXCESS, GHOST, ORDER = "orphan", "excess", "ghost", "order"


@dataclass(frozen=True)
class BotTrade:
    """What the check needs of an open Freqtrade trade: pair, side ("long"/"short"), filled
    amount (base units), and whether an order of it is still open (its size may be moving)."""

    pair: str
    side: str
    amount: float
    busy: bool = False


@dataclass(frozen=True)
class PositionGap:
    pair: str
    kind: str
    exchange_side: str | None
    exchange_amount: float
    bot_amount: float
    detail: str = ""  # kind "order": which open order

    def describe(self) -> str:
        held = (f"{self.exchange_side} {self.exchange_amount:g}" if self.exchange_amount
                else "no position")  # fmt: skip
        if self.kind == ORDER:
            return (
                f"exchange holds an {self.detail} ({self.exchange_side} "
                f"{self.exchange_amount:g}) on {self.pair}, unknown to the bot"
            )
        if self.kind == ORPHAN:
            return f"exchange holds {held} on {self.pair}, unknown to the bot"
        if self.kind == EXCESS:
            return f"exchange holds {held} on {self.pair}, the bot's trade {self.bot_amount:g}"
        return f"the bot's trade on {self.pair} ({self.bot_amount:g}) has {held} on the exchange"


def _held(position: dict) -> tuple[str | None, float]:
    """(side, amount in base units) of a ccxt position; (None, 0) when flat."""
    contracts = float(position.get("contracts") or 0.0)
    size = float(position.get("contractSize") or 1.0)
    side = position.get("side")
    if not contracts or side not in ("long", "short"):
        return None, 0.0
    return side, abs(contracts) * size


def position_gaps(positions: list[dict], trades: list[BotTrade], *,
                  rel_tol: float = 1e-6) -> list[PositionGap]:  # fmt: skip
    """Every pair where the exchange's positions and the bot's open trades disagree. Pairs whose
    trade has an open order are skipped (fills in flight)."""
    held = {}
    for p in positions:
        side, amount = _held(p)
        if side is not None:
            held[p["symbol"]] = (side, amount)
    mine = {t.pair: t for t in trades}
    out = []
    for pair in sorted(set(held) | set(mine)):
        side, amount = held.get(pair, (None, 0.0))
        trade = mine.get(pair)
        if trade is None:
            out.append(PositionGap(pair, ORPHAN, side, amount, 0.0))
            continue
        if trade.busy:
            continue
        tol = rel_tol * max(trade.amount, amount, 1e-12)
        if side is None and trade.amount > tol:
            out.append(PositionGap(pair, GHOST, None, 0.0, trade.amount))
        elif side is not None and (side != trade.side or amount > trade.amount + tol):
            out.append(PositionGap(pair, EXCESS, side, amount, trade.amount))
    return out
