"""The trial ledger: every evaluated variant of every study, append-only, so a study's number of
trials (for the Deflated Sharpe Ratio) counts what was tried before too.

One JSON line per trial in `<results root>/trials.jsonl` (by default the parent of a study's
folder): study family, variant id, config hash, span (timerange), n_obs (days), daily Sharpe
(per day, not annualised), timestamp, and free `meta`. A trial is identified by (study, config
hash, span): recording a finished variant again (a resumed or re-run study) adds nothing, so it
never counts twice; a changed configuration, or changed trading code, on the same span is a new
trial. Lines are appended under an exclusive `flock`, never rewritten.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from perpflow.validation.code_hash import trading_code_hash

logger = logging.getLogger(__name__)
LEDGER_NAME = "trials.jsonl"


def canonical(obj) -> str:
    """Canonical JSON (sorted keys, no spaces, NaN as null) used for hashing."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, allow_nan=False)


def json_safe(obj):
    """`obj` with NaN/inf floats as None (canonical JSON has no NaN)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def sha256_of(obj) -> str:
    """sha256 hex digest of `obj`'s canonical JSON."""
    return hashlib.sha256(canonical(json_safe(obj)).encode()).hexdigest()


def config_hash(*, config: dict | None = None, overlay: dict | None = None, pairs=(),
                strategy: str = "", fee: float | None = None, hyperopt: dict | None = None,
                extra: dict | None = None, code: str | None = None) -> str:  # fmt: skip
    """Hash of what defines a variant's behaviour: the base config's content, the overlay, the
    pairs (sorted), strategy, fee, hyperopt settings, any `extra` study settings and the trading
    code (`code`, default `trading_code_hash()`: a strategy fix is a new trial)."""
    return sha256_of({"config": config or {}, "overlay": overlay or {}, "pairs": sorted(pairs),
                      "strategy": strategy, "fee": fee, "hyperopt": hyperopt or {},
                      "extra": extra or {}, "code": code or trading_code_hash()})  # fmt: skip


@dataclass(frozen=True)
class Trial:
    """One evaluated variant. `sharpe` per day (NaN when the record is flat), `n_obs` days."""

    study: str
    variant: str
    config_hash: str
    span: str
    n_obs: int
    sharpe: float
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    meta: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.study, self.config_hash, self.span)


class Ledger:
    """Append-only JSONL of trials at `path` (created on first record)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def beside(cls, study_dir: Path) -> Ledger:
        """The ledger of the results root holding `study_dir` (its parent folder)."""
        return cls(Path(study_dir).resolve().parent / LEDGER_NAME)

    def read(self) -> list[dict]:
        """Every recorded trial as a dict (a corrupt line raises ValueError naming the line)."""
        if not self.path.exists():
            return []
        out = []
        for no, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{self.path}:{no}: not a JSON trial record ({exc.msg}); the "
                                 "ledger is append-only: restore the line from a backup") from exc  # fmt: skip
        return out

    def record(self, trials: Iterable[Trial]) -> int:
        """Append the trials not already in the ledger (same study, hash, span); returns how
        many were new."""
        trials = list(trials)
        if not trials:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            seen = {(d["study"], d["config_hash"], d["span"])
                    for d in (json.loads(x) for x in fh.read().splitlines() if x.strip())}  # fmt: skip
            new = []
            for t in trials:
                if t.key not in seen:
                    seen.add(t.key)
                    new.append(json.dumps(json_safe(asdict(t)), sort_keys=True) + "\n")
            fh.seek(0, 2)
            fh.writelines(new)
            fh.flush()
        logger.info("ledger %s: %d new trial(s) of %d", self.path, len(new), len(trials))
        return len(new)

    def trials(self, study: str, span: str | None = None) -> list[dict]:
        """The unique trials of `study` (on `span` when given), first record of each key."""
        out: dict[tuple, dict] = {}
        for d in self.read():
            if d["study"] == study and (span is None or d["span"] == span):
                out.setdefault((d["config_hash"], d["span"]), d)
        return list(out.values())

    def n_trials(self, study: str, span: str | None = None) -> int:
        """Number of distinct variants (config hash, span) of `study` ever evaluated."""
        return len(self.trials(study, span))

    def sharpes(self, study: str, span: str | None = None) -> np.ndarray:
        """Daily Sharpe of each distinct trial (NaN where the record was flat)."""
        vals = [d.get("sharpe") for d in self.trials(study, span)]
        return np.array([np.nan if v is None else v for v in vals], dtype="float64")


def daily_sharpe(returns) -> tuple[float, int]:
    """(per-day Sharpe, n_obs) of a daily return series (NaN Sharpe when flat)."""
    from perpflow.validation.overfit import sharpe

    r = np.asarray(returns, dtype="float64")
    return sharpe(r), int(np.isfinite(r).sum())
