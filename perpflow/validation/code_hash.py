"""The fingerprint of the code that decides trades, part of every variant's config hash.

A strategy fix changes a backtest's trades without changing its config, so a hash of the config
alone would read back a stale result (a study's run folder carries the hash) and let the trial
ledger take the fixed strategy for the trial it already holds. `trading_code_hash` is the
sha256 of the source of the strategies, the FreqAI models and perpflow's packages that shape a
backtest's trades; reports, studies, the CLI and the local exchange are left out, so changing
them is not a new trial.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRADING_CODE = (
    "strategies", "freqaimodels", "perpflow/strategy", "perpflow/features", "perpflow/risk",
    "perpflow/execution", "perpflow/labels", "perpflow/ai", "perpflow/data",
    "perpflow/config.py", "perpflow/config_base.py", "perpflow/config_execution.py",
)  # fmt: skip


def source_hash(root: Path, parts: tuple[str, ...]) -> str:
    """sha256 over the relative path and bytes of every `.py` file under `parts` of `root`
    (files or folders; missing ones skipped), in sorted order."""
    h = hashlib.sha256()
    for part in parts:
        path = root / part
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for f in files:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


@lru_cache(maxsize=1)
def trading_code_hash() -> str:
    """`source_hash` of this checkout's trading code (computed once per process)."""
    return source_hash(REPO, TRADING_CODE)
