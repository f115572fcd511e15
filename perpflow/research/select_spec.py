"""The candidates file of the pre-registered selection protocol (`perpflow research select`):
candidates, the declared selection criterion and the two spans, read and checked once.

A JSON file:

    {"name": "liquiditysweep-knobs",
     "criterion": {"metric": "sharpe", "min_trades": 30},
     "development": "2025-01-01..2025-09-30",      (optional, inclusive UTC dates)
     "confirmation": "2025-10-01..2026-02-18",     (optional)
     "candidates": [{"id": "shipped", "overlay": {}},
                    {"id": "trail-1.5", "overlay": {"perpflow": {"risk": {"trail_atr": 1.5}}}}]}

An overlay is merged over the base config like `freqtrade -c config.json -c overlay.json`
(strategy parameters, or rules of event-study survivors expressed as config overlays).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from perpflow.errors import UserError

DEVELOPMENT = "2025-01-01..2025-09-30"
CONFIRMATION = "2025-10-01..2026-02-18"
# metrics of `perpflow.validation.metrics.summary` a criterion may rank by (higher is better)
METRICS = ("sharpe", "sortino", "profit_pct", "profit_factor", "t_stat")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Span:
    """Inclusive UTC dates [first, last]; `timerange` is Freqtrade's (end exclusive)."""

    first: pd.Timestamp
    last: pd.Timestamp

    @classmethod
    def parse(cls, text: str, what: str) -> Span:
        m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", str(text).strip())
        try:
            first, last = (pd.Timestamp(m[1]), pd.Timestamp(m[2])) if m else (None, None)
        except ValueError:
            first = last = None
        if first is None or last < first:
            raise UserError(f"{what} span {text!r}: expected FIRST..LAST inclusive dates with "
                            "FIRST <= LAST, e.g. 2025-01-01..2025-09-30")  # fmt: skip
        return cls(first, last)

    @property
    def start(self) -> pd.Timestamp:
        return self.first

    @property
    def end(self) -> pd.Timestamp:
        """Exclusive end (the day after `last`)."""
        return self.last + pd.Timedelta(days=1)

    @property
    def timerange(self) -> str:
        return f"{self.start:%Y%m%d}-{self.end:%Y%m%d}"

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def __str__(self) -> str:
        return f"{self.first:%Y-%m-%d}..{self.last:%Y-%m-%d}"


def check_disjoint(development: Span, confirmation: Span) -> None:
    """Refuse a confirmation span that shares any day with the development span."""
    if development.overlaps(confirmation):
        raise UserError(f"the confirmation span {confirmation} overlaps the development span "
                        f"{development}: a confirmation must use days the selection never saw")  # fmt: skip


@dataclass(frozen=True)
class Criterion:
    """Highest `metric` among candidates with at least `min_trades` trades on development."""

    metric: str = "sharpe"
    min_trades: int = 30

    def as_dict(self) -> dict:
        return {"metric": self.metric, "min_trades": self.min_trades,
                "rule": f"highest development {self.metric} among candidates with >= "
                        f"{self.min_trades} trades"}  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """A checked candidates file."""

    name: str
    candidates: list[dict]
    criterion: Criterion
    development: Span
    confirmation: Span


def _criterion(raw, path: Path) -> Criterion:
    if not isinstance(raw, dict) or raw.get("metric", "sharpe") not in METRICS:
        raise UserError(f"{path}: 'criterion' must be an object with 'metric' one of {METRICS} "
                        "and 'min_trades', e.g. {\"metric\": \"sharpe\", \"min_trades\": 30}")  # fmt: skip
    n = raw.get("min_trades", 30)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise UserError(f"{path}: criterion.min_trades must be a whole number >= 0, got {n!r}")
    return Criterion(raw.get("metric", "sharpe"), n)


def _candidates(raw, path: Path) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{path}: 'candidates' must be a non-empty list of "
                        "{\"id\": ..., \"overlay\": {...}}")  # fmt: skip
    out, seen = [], set()
    for i, c in enumerate(raw):
        cid = c.get("id") if isinstance(c, dict) else None
        if not isinstance(cid, str) or not _ID.fullmatch(cid):
            raise UserError(f"{path}: candidates[{i}].id must be a name of letters, digits, "
                            f"'.', '_' or '-', got {cid!r}")  # fmt: skip
        if cid in seen:
            raise UserError(f"{path}: candidate id {cid!r} appears twice; ids must be unique")
        if not isinstance(c.get("overlay", {}), dict):
            raise UserError(f"{path}: candidates[{i}].overlay must be a config object (as a "
                            "freqtrade -c file)")  # fmt: skip
        seen.add(cid)
        out.append({"id": cid, "overlay": c.get("overlay", {}),
                    **({"note": str(c["note"])} if "note" in c else {})})  # fmt: skip
    return out


def load_plan(path: Path, *, development: str | None = None,
              confirmation: str | None = None) -> Plan:  # fmt: skip
    """Read and check a candidates file; span arguments override the file's, which override
    the defaults. Refuses overlapping spans."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such candidates file") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a JSON object with 'candidates' and 'criterion'")
    if "criterion" not in raw:
        raise UserError(f"{path}: declare the selection 'criterion' before seeing any result, "
                        "e.g. {\"metric\": \"sharpe\", \"min_trades\": 30}")  # fmt: skip
    dev = Span.parse(development or raw.get("development", DEVELOPMENT), "development")
    conf = Span.parse(confirmation or raw.get("confirmation", CONFIRMATION), "confirmation")
    check_disjoint(dev, conf)
    return Plan(str(raw.get("name", path.stem)), _candidates(raw.get("candidates"), path),
                _criterion(raw["criterion"], path), dev, conf)  # fmt: skip


def default_pairs(datadir: Path) -> list[str]:
    """Every futures pair with 5m candles in `datadir` (e.g. BTC/USDT:USDT)."""
    files = sorted(Path(datadir).glob("futures/*-5m-futures.feather"))
    pairs = []
    for f in files:
        base, quote, settle = f.name.split("-")[0].split("_")[:3]
        pairs.append(f"{base}/{quote}:{settle}")
    if not pairs:
        raise UserError(f"{datadir}: no futures/*-5m-futures.feather candles; pass --pairs or "
                        "--datadir with Freqtrade's futures data")  # fmt: skip
    return pairs
