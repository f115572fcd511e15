"""The slippage model's JSON file (`perpflow execution calibrate --out`): a pydantic schema,
checked on load so a bad file is one error naming the file and the field.

Layout (format `perpflow-slippage/1`): `exchange`, `grid_bps` (increasing, > 0),
`min_snapshots`, `cadence_s` (the sampling step the books were taken at, null = as stored),
`source`, and `profiles`: one per (symbol, block) with `snapshots`, `captures`, `first_ts`,
`last_ts`, `spread_bps` [p10, p50, p90] and per side (`bid`, `ask`) `touch` [p10, p50, p90],
`depth_p10` / `depth_p50` / `depth_p90` (one value per grid point, null = not observed),
`reach_bps` and `visible` [p10, p50, p90]. NaN is written as null (JSON has no NaN).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from perpflow.errors import UserError
from perpflow.execution.profile import Profile
from perpflow.features.sessions import SESSION_NAMES

FORMAT = "perpflow-slippage/1"
Block = Literal[tuple(SESSION_NAMES.values())]
NonNeg = Annotated[float, Field(ge=0)]
Triple = tuple[NonNeg, NonNeg, NonNeg]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _ordered(values, what: str) -> None:
    v = [x for x in values if x is not None]
    if any(b < a for a, b in zip(v, v[1:], strict=False)):
        raise ValueError(f"{what} must not decrease, got {list(values)}")


class SideFile(_Strict):
    touch: Triple
    depth_p10: list[NonNeg | None]
    depth_p50: list[NonNeg | None]
    depth_p90: list[NonNeg | None]
    reach_bps: NonNeg | None
    visible: Triple

    @model_validator(mode="after")
    def _quantiles(self) -> SideFile:
        _ordered(self.touch, "touch p10/p50/p90")
        _ordered(self.visible, "visible p10/p50/p90")
        for q in ("depth_p10", "depth_p50", "depth_p90"):
            _ordered(getattr(self, q), f"{q} over the grid")
        return self


class ProfileFile(_Strict):
    symbol: str = Field(min_length=1, max_length=40)
    block: Block
    snapshots: int = Field(ge=0)
    captures: int = Field(ge=1)
    first_ts: datetime
    last_ts: datetime
    spread_bps: Triple
    bid: SideFile
    ask: SideFile

    @model_validator(mode="after")
    def _checks(self) -> ProfileFile:
        _ordered(self.spread_bps, "spread_bps p10/p50/p90")
        if self.last_ts < self.first_ts:
            raise ValueError("last_ts is before first_ts")
        return self


class ModelFile(_Strict):
    format: Literal["perpflow-slippage/1"]
    exchange: str = Field(pattern=r"^[a-z0-9]*$", max_length=32)
    grid_bps: list[Annotated[float, Field(gt=0)]] = Field(min_length=1)
    min_snapshots: int = Field(ge=1)
    cadence_s: Annotated[float, Field(gt=0)] | None = None
    source: str = ""
    profiles: list[ProfileFile]

    @model_validator(mode="after")
    def _checks(self) -> ModelFile:
        if any(b <= a for a, b in zip(self.grid_bps, self.grid_bps[1:], strict=False)):
            raise ValueError(f"grid_bps must increase, got {self.grid_bps}")
        seen: set[tuple[str, str]] = set()
        for i, p in enumerate(self.profiles):
            key = (p.symbol, p.block)
            if key in seen:
                raise ValueError(f"profiles[{i}]: a second profile for {key}")
            seen.add(key)
            for side in ("bid", "ask"):
                s = getattr(p, side)
                for q in ("depth_p10", "depth_p50", "depth_p90"):
                    if len(getattr(s, q)) != len(self.grid_bps):
                        raise ValueError(f"profiles[{i}].{side}.{q} has {len(getattr(s, q))} "
                                         f"values for {len(self.grid_bps)} grid points")  # fmt: skip
        return self


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype="float64")


def _none(values) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in values]


def profile_from_file(p: ProfileFile, grid: np.ndarray) -> Profile:
    """A validated file profile as a `Profile`."""
    sides = {s: getattr(p, s) for s in ("bid", "ask")}
    return Profile(
        symbol=p.symbol, block=p.block, snapshots=p.snapshots, captures=p.captures,
        first_ts=p.first_ts.isoformat(), last_ts=p.last_ts.isoformat(), grid_bps=grid,
        spread_bps=_arr(p.spread_bps), touch={s: _arr(f.touch) for s, f in sides.items()},
        depth={s: np.vstack([_arr(f.depth_p10), _arr(f.depth_p50), _arr(f.depth_p90)])
               for s, f in sides.items()},
        reach_bps={s: np.nan if f.reach_bps is None else f.reach_bps for s, f in sides.items()},
        visible={s: _arr(f.visible) for s, f in sides.items()},
    )  # fmt: skip


def profile_to_dict(p: Profile) -> dict:
    """A `Profile` as the file's JSON object."""
    side = {s: {"touch": _none(p.touch[s]), "depth_p10": _none(p.depth[s][0]),
                "depth_p50": _none(p.depth[s][1]), "depth_p90": _none(p.depth[s][2]),
                "reach_bps": _none([p.reach_bps[s]])[0], "visible": _none(p.visible[s])}
            for s in ("bid", "ask")}  # fmt: skip
    return {"symbol": p.symbol, "block": p.block, "snapshots": int(p.snapshots),
            "captures": int(p.captures), "first_ts": p.first_ts, "last_ts": p.last_ts,
            "spread_bps": _none(p.spread_bps), **side}  # fmt: skip


def read_model_file(path: str | Path) -> ModelFile:
    """The validated file; `UserError` naming the file (and the field) when it is missing, not
    JSON or not a slippage model."""
    path = Path(path)
    hint = "write it with `perpflow execution calibrate --out`"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: slippage model file not found; {hint}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable JSON slippage model ({exc}); {hint}") from None
    try:
        return ModelFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise UserError(f"{path}: field {field}: {err['msg']} ({exc.error_count()} error(s)); "
                        f"{hint}") from None  # fmt: skip
