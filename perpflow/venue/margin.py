"""Account math of a one-way USDT-M account: fills into positions, margins, liquidation prices.

Conventions (Binance's): the wallet balance includes isolated wallets; fees and funding and
realized PnL change the wallet; an isolated position's margin (`iw`) is set aside from it when
the position opens and released (with its realized PnL) when it closes.
"""

from __future__ import annotations

from perpflow.venue import tiers
from perpflow.venue.ledger import Position


def r8(x: float) -> float:
    return round(x, 8)


def apply_fill(pos: Position, signed_qty: float, price: float, leverage: int) -> float:
    """Book a fill of `signed_qty` (+ buy, - sell) at `price` into `pos`; returns realized PnL.
    Isolated: opening sets aside qty * price / leverage, closing releases the closed share."""
    amt = pos.amt
    realized = 0.0
    isolated = pos.margin_type == "isolated"
    if amt == 0 or (amt > 0) == (signed_qty > 0):
        new = amt + signed_qty
        pos.entry = (abs(amt) * pos.entry + abs(signed_qty) * price) / abs(new)
        pos.amt = new
        if isolated:
            pos.iw = r8(pos.iw + abs(signed_qty) * price / leverage)
        return 0.0
    close = min(abs(signed_qty), abs(amt))
    realized = r8(close * (price - pos.entry) * (1 if amt > 0 else -1))
    if isolated:
        pos.iw += realized
        pos.iw = r8(pos.iw - pos.iw * close / abs(amt))
    pos.amt = amt + signed_qty if abs(signed_qty) <= abs(amt) else 0.0
    rest = abs(signed_qty) - close
    if abs(pos.amt) < 1e-12:
        pos.amt, pos.entry = 0.0, 0.0
        pos.iw = 0.0 if isolated else pos.iw
    if rest > 1e-12:  # flipped
        pos.amt = rest if signed_qty > 0 else -rest
        pos.entry = price
        if isolated:
            pos.iw = r8(pos.iw + rest * price / leverage)
    pos.realized = r8(pos.realized + realized)
    return realized


def maint(spec: dict, notional: float) -> tuple[float, float]:
    """(maintenance margin ratio, maintenance amount `cum`) for a position notional."""
    b = tiers.bracket_for(spec, abs(notional))
    return float(b["maintMarginRatio"]), float(b["cum"])


def liquidation_price(pos: Position, spec: dict, wallet_for_position: float) -> float:
    """Binance's one-way liquidation price with `wallet_for_position` (isolated: its isolated
    wallet; cross: the cross wallet less other positions' maintenance plus their PnL)."""
    if pos.amt == 0:
        return 0.0
    size = abs(pos.amt)
    mmr, cum = maint(spec, size * pos.entry)
    side = 1 if pos.amt > 0 else -1
    lp = (wallet_for_position + cum - side * size * pos.entry) / (size * mmr - side * size)
    return max(lp, 0.0)


def upnl(pos: Position, mark: float) -> float:
    return (mark - pos.entry) * pos.amt if pos.amt else 0.0


def summary(positions: list[Position], marks: dict[str, float], leverage: dict[str, int],
            wallet: float, order_margin: float, specs: dict) -> dict:  # fmt: skip
    """Totals of an account: wallet, cross wallet, unrealized PnL, margins, available."""
    iso = sum(p.iw for p in positions if p.margin_type == "isolated" and p.amt)
    cross = [p for p in positions if p.margin_type != "isolated" and p.amt]
    cross_upnl = sum(upnl(p, marks[p.symbol]) for p in cross)
    all_upnl = sum(upnl(p, marks[p.symbol]) for p in positions if p.amt)
    cross_im = sum(abs(p.amt) * marks[p.symbol] / leverage.get(p.symbol, 20) for p in cross)
    pos_im = cross_im + iso
    maint_total = 0.0
    for p in positions:
        if p.amt:
            n = abs(p.amt) * marks[p.symbol]
            mmr, cum = maint(specs[p.symbol], n)
            maint_total += n * mmr - cum
    cross_wallet = wallet - iso
    available = cross_wallet + cross_upnl - cross_im - order_margin
    return {"wallet": wallet, "cross_wallet": cross_wallet, "upnl": all_upnl,
            "cross_upnl": cross_upnl, "position_im": pos_im, "order_im": order_margin,
            "maint": maint_total, "available": available,
            "margin_balance": wallet + all_upnl}  # fmt: skip
