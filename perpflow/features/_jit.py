"""`jit`: numba's `njit` as perpflow's kernels use it (imported only by those kernels).

Options: `nogil` (a kernel may run on several threads) and NumPy's error model (x / 0 gives
inf/NaN, never raises). The machine code is cached on disk (`cache=True`: `__pycache__` beside
the module, or the user's cache dir when that is not writable; `NUMBA_CACHE_DIR` overrides both),
so later processes (every Freqtrade backtest or dry-run start) load it instead of compiling. If no
cache dir is writable, kernels still run, compiled once per process, and one warning says so.
"""

from __future__ import annotations

import logging

from numba import njit

logger = logging.getLogger(__name__)
OPTIONS = {"nogil": True, "error_model": "numpy"}
_cache = {"ok": True}  # False once numba found no writable cache dir (warned once)


def jit(fn):
    """`njit` with an on-disk cache, or without one (warned) where no cache dir is writable."""
    if _cache["ok"]:
        try:
            return njit(cache=True, **OPTIONS)(fn)
        except RuntimeError as exc:  # numba: "cannot cache function ...: no locator available"
            _cache["ok"] = False
            logger.warning("numba cache unavailable (%s): perpflow's kernels compile in every "
                           "process (set NUMBA_CACHE_DIR to a writable dir)", exc)  # fmt: skip
    return njit(**OPTIONS)(fn)
