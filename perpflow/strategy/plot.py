"""FreqUI plot configs of the perpflow strategies: a compact default and the full set.

`perpflow.plot` picks one: "compact" (price with pools and the POC, plus four panels: funding
and OI regime, liquidations, conviction, live risk) keeps the price chart readable; "full" adds
the value area, liquidation wall, FVG zones and every derivative, session, regime and leverage
panel. FreqUI shows them with the plot configurator's "From strategy".
"""

from __future__ import annotations

import copy

_MAIN_COMPACT = {
    "pool_high_level": {"color": "#d62728"},
    "pool_low_level": {"color": "#2ca02c"},
    "vp_poc": {"color": "#1f77b4"},
}
_MAIN_FULL = {
    **_MAIN_COMPACT,
    "vp_vah": {"color": "#aec7e8"},
    "vp_val": {"color": "#aec7e8"},
    "liq_wall": {"color": "#ff7f0e"},
    "fvg_bull_top": {"color": "rgba(44,160,44,0.3)", "fill_to": "fvg_bull_bottom"},
    "fvg_bear_top": {"color": "rgba(214,39,40,0.3)", "fill_to": "fvg_bear_bottom"},
}
_RISK = {"risk (live)": {"pf_drawdown": {"color": "#b91c1c"},
                         "pf_risk_scale": {"color": "#2563eb"}}}  # fmt: skip
_SUB_COMPACT = {
    "funding z / OI regime": {
        "funding_z": {"color": "#9467bd"},
        "oi_regime": {"color": "#e377c2", "type": "bar"},
    },
    "liquidations": {
        "liq_long_notional": {"color": "#d62728", "type": "bar"},
        "liq_short_notional": {"color": "#2ca02c", "type": "bar"},
    },
    "conviction": {
        "conviction_long": {"color": "#16a34a"},
        "conviction_short": {"color": "#dc2626"},
    },
    **_RISK,
}
_SUB_FULL = {
    "funding z": {"funding_z": {"color": "#9467bd"}},
    "OI regime": {
        "oi_z": {"color": "#8c564b"},
        "price_z": {"color": "#7f7f7f"},
        "oi_regime": {"color": "#e377c2", "type": "bar"},
    },
    "liquidations": _SUB_COMPACT["liquidations"],
    "session / blackout": {
        "session_block": {"color": "#7f7f7f", "type": "bar"},
        "macro_blackout": {"color": "#ff7f0e", "type": "bar"},
    },
    "regime": {"rv_pct": {"color": "#17becf"}},
    "conviction": _SUB_COMPACT["conviction"],
    "leverage cap": {
        "pf_leverage_long": {"color": "#16a34a"},
        "pf_leverage_short": {"color": "#dc2626"},
    },
    **_RISK,
}
PLOTS = {
    "compact": {"main_plot": _MAIN_COMPACT, "subplots": _SUB_COMPACT},
    "full": {"main_plot": _MAIN_FULL, "subplots": _SUB_FULL},
}


def plot_config(kind: str = "compact", *, extra_subplots: dict | None = None) -> dict:
    """A fresh FreqUI plot config (`kind` "compact" or "full"), `extra_subplots` first."""
    base = copy.deepcopy(PLOTS[kind])
    base["subplots"] = {**copy.deepcopy(extra_subplots or {}), **base["subplots"]}
    return base
