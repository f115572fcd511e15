"""The `perpflow.execution` config section: order policy, child orders, cost gate, block sizing
(docs/execution.md, docs/configuration.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from perpflow.config_base import _Frozen


class ChildOrdersConfig(_Frozen):
    """When and how a parent order is split into children (`perpflow.execution.policy`)."""

    max_depth_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description=(
            "split when the parent exceeds this share of the book depth within depth_bps on its side"
        ),
    )
    depth_bps: float = Field(10.0, gt=0, le=500, description="depth band from mid, bps")
    max_participation: float = Field(
        0.1,
        gt=0,
        le=1,
        description=(
            "split when the parent exceeds this share of the traded volume expected over the window"
        ),
    )
    window_minutes: float = Field(15.0, gt=0, le=24 * 60, description="TWAP window of the children")
    max_children: int = Field(6, ge=1, le=50, description="most children per parent")
    iceberg_visible: float = Field(
        0.25,
        gt=0,
        le=1,
        description=(
            "resting (maker) parents: each visible slice is at most this share of the parent"
        ),
    )


class ExecutionConfig(_Frozen):
    """Order policy, child orders, slippage model and the cost gate (docs/execution.md). Needs
    `config.execution.json` (limit orders, position adjustment) when enabled."""

    enabled: bool = Field(False, description="price entries/exits by the policy and split parents")
    model_path: str | None = Field(
        None,
        description=(
            "slippage model JSON from `perpflow execution calibrate`; none: the candle proxy"
        ),
    )
    latency_s: float = Field(1.0, gt=0, le=600, description="decision-to-book latency, seconds")
    patient_tags: tuple[str, ...] = Field(("sweep_", "pool_sweep_", "liq_reversal"), strict=False,
                                          description="entry tag prefixes that may rest as maker")  # fmt: skip
    rest_candles: int = Field(
        1,
        ge=0,
        le=12,
        description=("candles a resting maker entry waits before on_timeout applies"),
    )
    on_timeout: Literal["cross", "cancel"] = Field(
        "cross",
        description=("unfilled maker entry after rest_candles: cross the spread or give up"),
    )
    taker_cap_bps: float = Field(
        30.0,
        gt=0,
        le=500,
        description=("a marketable limit goes at most this far beyond the touch"),
    )
    taker_timeout_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description=("an unfilled marketable remainder is cancelled after this many seconds"),
    )
    children: ChildOrdersConfig = ChildOrdersConfig()
    cost_gate: bool = Field(True, description="refuse entries whose round-trip cost eats the edge")
    max_cost_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description=(
            "largest modelled round-trip cost (slippage + fees) as a share of the expected edge"
        ),
    )
    block_sizing: bool = Field(False, description="scale stakes by the session block's cost")
    block_floor: float = Field(0.5, gt=0, le=1, description="smallest block size scale")
