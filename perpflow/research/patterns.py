"""The declared grammar of two-step session patterns: a trigger, then an outcome later on.

A pattern is (trigger event, trigger direction, where, outcome):

- trigger event: every event name in the events file, plus every family (the name's first
  `_`-token, e.g. `sweep` for `sweep_low_swing`) that groups two or more names;
- direction: `any`, `up` (the move that made the event was up, dir +1) or `down` (-1);
- where: a named session block (`ny_open`, `ny_close`, `asia_london`; "other" is not a session)
  anywhere in it, in its first hour, or, for `asia_london` only, in the London open hour
  (08:00-09:00 London time, which lies inside that block);
- outcome, over the rest of the SAME block or over the NEXT named block, from the trigger
  candle's close (labels in `perpflow.labels.session_outcomes`):
  `trend_cont` / `trend_rev` the block closes >= k ATR beyond the trigger close in / against
  the trigger's direction (rates), `move` that signed distance in ATR (a mean),
  `range_expansion` the block's high-low >= k x its trailing median (a rate), and
  `revert_open` price trades back to the block's open before it ends (a rate, same block).

Signed outcomes (`trend_*`, `move`) need a direction: a dir-0 event never counts for them.
One instance per block: the first trigger of a pattern in a block run is its instance, so the
instances of a cell never share a block outcome.

The grammar (WHERES, OUTCOMES, DIRS, k values) was declared before any result on real data was
seen and is not tuned to it; every combination is enumerated and counted as a test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIRS: dict[str, int] = {"any": 0, "up": 1, "down": -1}


@dataclass(frozen=True)
class Trigger:
    """An event `name` (kind "name") or a family prefix (kind "family"), and a direction."""

    event: str
    kind: str
    dir: str

    def matches(self, names: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """True per event (name, dir) this trigger fires on."""
        if self.kind == "family":
            hit = np.char.startswith(names.astype(str), self.event + "_")
        else:
            hit = names == self.event
        d = DIRS[self.dir]
        return hit & (dirs == d) if d else hit


@dataclass(frozen=True)
class Where:
    """A session block and a window in it: `all`, `first_hour` or `london_open`."""

    block: str
    window: str


@dataclass(frozen=True)
class Outcome:
    """What is measured after the trigger; `column` is its label in session_outcomes."""

    kind: str
    scope: str
    k: float = float("nan")

    @property
    def column(self) -> str:
        if self.kind in ("trend_cont", "trend_rev", "move"):
            return f"ret_{self.scope}_atr"
        if self.kind == "range_expansion":
            return f"range_x_{self.scope}"
        return "revisit_open"

    @property
    def signed(self) -> bool:
        return self.kind in ("trend_cont", "trend_rev", "move")

    def values(self, label: np.ndarray, d: np.ndarray) -> np.ndarray:
        """The outcome from its label values and trigger directions (+1/-1; 0: NaN if signed):
        1.0/0.0 for rates, the signed ATR distance for `move`, NaN where unknown."""
        label = np.asarray(label)
        label = label if label.dtype.kind == "f" else label.astype("float64")
        if self.signed:
            x = np.where(d != 0, d * label, np.nan).astype(label.dtype)
            if self.kind == "move":
                return x
            x = x if self.kind == "trend_cont" else -x
        else:
            x = label
        if self.kind == "revert_open":
            return x
        return np.where(np.isnan(x), np.nan, x >= self.k).astype(label.dtype)


WHERES: tuple[Where, ...] = (
    Where("asia_london", "all"), Where("asia_london", "first_hour"),
    Where("asia_london", "london_open"),
    Where("ny_open", "all"), Where("ny_open", "first_hour"),
    Where("ny_close", "all"), Where("ny_close", "first_hour"),
)  # fmt: skip
OUTCOMES: tuple[Outcome, ...] = (
    Outcome("trend_cont", "same", 1.0), Outcome("trend_rev", "same", 1.0),
    Outcome("trend_cont", "next", 1.0), Outcome("trend_rev", "next", 1.0),
    Outcome("move", "same"), Outcome("move", "next"),
    Outcome("range_expansion", "same", 1.5), Outcome("range_expansion", "next", 1.5),
    Outcome("revert_open", "same"),
)  # fmt: skip


@dataclass(frozen=True)
class Pattern:
    """One declared pattern: trigger, where, outcome."""

    trigger: Trigger
    where: Where
    outcome: Outcome

    @property
    def name(self) -> str:
        t, w, o = self.trigger, self.where, self.outcome
        k = "" if np.isnan(o.k) else f">={o.k:g}"
        return f"{t.event}[{t.dir}]@{w.block}/{w.window} -> {o.kind}{k}@{o.scope}"

    def fields(self) -> dict:
        """Flat declared fields for a results table."""
        t, w, o = self.trigger, self.where, self.outcome
        return {"pattern": self.name, "trigger": t.event, "trigger_kind": t.kind, "dir": t.dir,
                "block": w.block, "window": w.window, "outcome": o.kind, "scope": o.scope,
                "k": o.k}  # fmt: skip


def trigger_events(names) -> list[tuple[str, str]]:
    """(event, kind) of every trigger event: each name, then each family of >= 2 names."""
    names = sorted({str(n) for n in names})
    families: dict[str, int] = {}
    for n in names:
        if "_" in n:
            families[n.split("_", 1)[0]] = families.get(n.split("_", 1)[0], 0) + 1
    fams = [(f, "family") for f, count in sorted(families.items()) if count >= 2]
    return [(n, "name") for n in names] + fams


def triggers(names) -> list[Trigger]:
    """Every (trigger event, direction) of the grammar for these event names."""
    return [Trigger(e, kind, d) for e, kind in trigger_events(names) for d in DIRS]


def enumerate_patterns(names) -> list[Pattern]:
    """Every pattern of the grammar for these event names, in a fixed order:
    len(trigger_events) x len(DIRS) x len(WHERES) x len(OUTCOMES) of them."""
    return [Pattern(t, w, o) for t in triggers(names) for w in WHERES for o in OUTCOMES]
