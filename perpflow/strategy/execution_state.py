"""A parent order's plan, kept on its Freqtrade trade so a restart picks the children up again.

`ParentPlan` is decided once when an entry is priced (`perpflow.strategy.execution`); it is held
in memory per pair until the trade exists, then written to the trade's custom data (dry-run and
live; backtests keep it in memory only, Freqtrade's custom-data store scans every value on each
write there). The keys are the contract `perpflow execution shortfall` reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from perpflow.execution.policy import ChildPlan

PREFIX = "pf_"


@dataclass(frozen=True, slots=True)
class ParentPlan:
    """What one entry decided: its style, split, decision price, modelled cost and risk."""

    style: str  # 'maker' or 'taker'
    children: int
    child_mode: str  # 'single', 'twap', 'iceberg'
    child_interval_s: float
    decision_price: float  # mid (live book) or the candle open (backtest) at the decision
    model_bps: float  # modelled cost of the parent's entry, bps of the decision price
    model_band_lo: float
    model_band_hi: float
    model_source: str
    parent_notional: float  # planned notional (quote), before Freqtrade's stake checks
    planned_stop: float  # the stop planned at the decision (a resting entry is cancelled beyond it)
    parent_stake: float = float("nan")  # margin stake of the whole parent (set with the stake)
    parent_risk: float = float("nan")  # quote loss at the stop of the whole parent (fees aside)

    @property
    def child(self) -> ChildPlan:
        return ChildPlan(self.children, self.child_mode, self.child_interval_s, "")

    def with_stake(self, stake: float, risk: float) -> ParentPlan:
        return replace(self, parent_stake=stake, parent_risk=risk)


def plan_items(plan: ParentPlan) -> dict[str, Any]:
    """The plan as custom-data items (`pf_` + field name)."""
    return {PREFIX + k: v for k, v in asdict(plan).items()}


def plan_from_trade(trade) -> ParentPlan | None:
    """The plan stored on a trade's custom data, None when it has none (or only part of one)."""
    values = {}
    for f in fields(ParentPlan):
        v = trade.get_custom_data(PREFIX + f.name)
        if v is None:
            return None
        values[f.name] = v
    try:
        return ParentPlan(**{
            k: (str(v) if k in ("style", "child_mode", "model_source") else
                int(v) if k == "children" else float(v)) for k, v in values.items()
        })  # fmt: skip
    except (TypeError, ValueError):
        return None
