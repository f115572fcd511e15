"""The base of every `perpflow` config model (kept apart so section modules can share it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    """Frozen, no unknown keys, strict types (no "0.5" for 0.5, no 1 for true), finite numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def key_path(root: str, loc) -> str:
    """A validation error's key path: `root.name`, `[3]` for a list index, `['odd key']` (repr)
    for a key with blanks, dots, colons or unprintable characters, so it reads as one path."""
    out = root
    for key in loc:
        text = str(key)
        if isinstance(key, int):
            out += f"[{key}]"
        elif text and text.isprintable() and not any(c in text for c in ". :"):
            out += "." + text
        else:
            out += f"[{text!r}]"
    return out
