"""The base of every `perpflow` config model (kept apart so section modules can share it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    """Frozen, no unknown keys, strict types (no "0.5" for 0.5, no 1 for true), finite numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)
