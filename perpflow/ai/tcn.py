"""A temporal convolutional network (TCN) for binary event outcomes, on JAX's CPU wheels.

Why JAX and not PyTorch: PyTorch's PyPI wheel for Linux pulls several GB of CUDA libraries even
for CPU use; `jax` + `optax` from PyPI are CPU-only (about 0.3 GB) and install in seconds. The
network is small enough to write as functions over a parameter dict (no Flax needed):
- residual blocks of two dilated causal 1-D convolutions (kernel 3, dilations 1, 2, 4, 8 by
  default: a receptive field of 61 candles), ReLU, a 1x1 projection on the skip path when the
  width changes; the last time step's channels feed a linear head (one logit);
- AdamW (optax), minibatches, class-weighted binary cross-entropy, early stopping on the
  validation loss with the best weights kept;
- seeded: the same data and seed give the same weights (JAX's PRNG; XLA on the CPU is
  deterministic).
The fitted model keeps its weights as NumPy arrays, so FreqAI pickles it with joblib like any
other model; inference jit-compiles once per batch-size bucket (powers of two).
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TCNSettings:
    """Architecture and training settings (`freqai.ensemble.tcn` in the config)."""

    window: int = 32  # candles of history per input (2 h 40 min of 5m)
    channels: int = 8
    kernel: int = 3
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    learning_rate: float = 3e-3
    weight_decay: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 40
    patience: int = 6
    seed: int = 1

    def receptive_field(self) -> int:
        """Candles one output can see: 1 + 2 * (kernel - 1) * sum(dilations)."""
        return 1 + 2 * (self.kernel - 1) * sum(self.dilations)


_CONFIGURED = False


def _jax():
    """jax and jax.numpy, configured once: CPU only (never probe for a GPU), and compiled
    programs cached on disk (`PERPFLOW_JAX_CACHE`, default ~/.cache/perpflow/jax) so every
    backtest or bot process after the first skips the ~10 s compilation of the training step."""
    global _CONFIGURED
    import jax
    import jax.numpy as jnp

    if not _CONFIGURED:
        jax.config.update("jax_platforms", "cpu")
        cache = os.environ.get("PERPFLOW_JAX_CACHE") or str(Path.home() / ".cache/perpflow/jax")
        if cache.lower() != "off":
            jax.config.update("jax_compilation_cache_dir", cache)
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
        _CONFIGURED = True
    return jax, jnp


def init_params(n_features: int, s: TCNSettings) -> dict:
    """He-initialised weights for `n_features` input channels (NumPy arrays)."""
    rng = np.random.default_rng(s.seed)
    blocks, c_in = [], n_features
    for _ in s.dilations:
        b = {"w1": rng.normal(0, math.sqrt(2 / (s.kernel * c_in)), (s.kernel, c_in, s.channels)),
             "b1": np.zeros(s.channels),
             "w2": rng.normal(0, math.sqrt(2 / (s.kernel * s.channels)), (s.kernel, s.channels, s.channels)),
             "b2": np.zeros(s.channels)}  # fmt: skip
        if c_in != s.channels:
            b["wr"] = rng.normal(0, math.sqrt(1 / c_in), (c_in, s.channels))
        blocks.append(b)
        c_in = s.channels
    head = {"w": rng.normal(0, math.sqrt(1 / s.channels), (s.channels,)), "b": np.zeros(())}
    tree = {"blocks": blocks, "head": head}
    return _map(tree, lambda a: np.asarray(a, dtype="float32"))


def _map(tree, fn):
    if isinstance(tree, dict):
        return {k: _map(v, fn) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_map(v, fn) for v in tree]
    return fn(tree)


def needed_positions(steps: int, kernel: int, dilations: tuple[int, ...]) -> list[tuple]:
    """Per block (in order), the time steps whose values the last step's output depends on:
    (block input, after the first convolution, block output), each a sorted int array. Only the
    last step feeds the head, so the upper layers need a few steps each (88 of 256 conv steps
    for 32 candles and dilations 1, 2, 4, 8); computed once per shape, at trace time."""
    out = np.array([steps - 1])
    plan = []
    for d in reversed(dilations):
        taps = np.arange(kernel) * d

        def back(pos: np.ndarray, taps: np.ndarray = taps) -> np.ndarray:
            p = (pos[:, None] - taps[None, :]).ravel()
            return np.unique(p[p >= 0])

        mid = back(out)
        inp = np.union1d(back(mid), out)
        plan.append((inp, mid, out))
        out = inp
    return plan[::-1]


def forward(params: dict, x, dilations: tuple[int, ...]):
    """Logits (n,) for inputs x (n, window, features); JAX-traceable. Each causal dilated
    convolution is one matmul over gathered taps (faster than XLA's CPU convolution for these
    narrow layers) and is evaluated only at the steps the last output needs
    (`needed_positions`); the result equals the full convolution stack's last step."""
    jax, jnp = _jax()
    kernel = params["blocks"][0]["w1"].shape[0]
    plan = needed_positions(x.shape[1], kernel, dilations)

    def conv(h, have: np.ndarray, want: np.ndarray, w, d):
        # h holds steps `have`; output at steps `want`; tap j reads step t - (k - 1 - j) * d,
        # which is zero padding when negative (index len(have): an appended zero row)
        hz = jnp.concatenate([h, jnp.zeros((h.shape[0], 1, h.shape[2]), h.dtype)], axis=1)
        cols = []
        for j in range(kernel):
            src = want - (kernel - 1 - j) * d
            idx = np.where(src >= 0, np.searchsorted(have, np.maximum(src, 0)), len(have))
            cols.append(hz[:, idx, :])
        return jnp.concatenate(cols, axis=-1) @ w.reshape(kernel * w.shape[1], w.shape[2])

    have = np.arange(x.shape[1])
    h = x
    for block, d, (inp, mid, out) in zip(params["blocks"], dilations, plan, strict=True):
        h = h[:, np.searchsorted(have, inp), :] if len(inp) != len(have) else h
        y = jax.nn.relu(conv(h, inp, mid, block["w1"], d) + block["b1"])
        y = jax.nn.relu(conv(y, mid, out, block["w2"], d) + block["b2"])
        skip = h[:, np.searchsorted(inp, out), :]
        skip = skip @ block["wr"] if "wr" in block else skip
        h, have = jax.nn.relu(y + skip), out
    return h[:, -1, :] @ params["head"]["w"] + params["head"]["b"]


def forward_full(params: dict, x, dilations: tuple[int, ...]):
    """The same network evaluated at every step (the reference `forward` is tested against)."""
    jax, jnp = _jax()

    def conv(h, w, d):
        k, steps = w.shape[0], h.shape[1]
        hp = jnp.pad(h, ((0, 0), ((k - 1) * d, 0), (0, 0)))
        taps = jnp.concatenate([hp[:, j * d : j * d + steps, :] for j in range(k)], axis=-1)
        return taps @ w.reshape(k * w.shape[1], w.shape[2])

    h = x
    for block, d in zip(params["blocks"], dilations, strict=True):
        y = jax.nn.relu(conv(h, block["w1"], d) + block["b1"])
        y = jax.nn.relu(conv(y, block["w2"], d) + block["b2"])
        skip = h @ block["wr"] if "wr" in block else h
        h = jax.nn.relu(y + skip)
    return h[:, -1, :] @ params["head"]["w"] + params["head"]["b"]


@dataclass
class TCNModel:
    """A fitted TCN: weights (NumPy), settings, and how training went."""

    params: dict
    settings: TCNSettings
    n_features: int
    history: dict = field(default_factory=dict)

    def predict_proba(self, x: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """P(positive) for inputs x (n, window, features)."""
        x = np.asarray(x, dtype="float32")
        out = np.empty(len(x), dtype="float64")
        if self.__dict__.get("_device") is None:  # weights as JAX arrays, once per process
            _, jnp = _jax()
            self._device = _map(self.params, jnp.asarray)
        for i in range(0, len(x), chunk):
            part = x[i : i + chunk]
            out[i : i + len(part)] = _predict_bucket(self._device, part, self.settings.dilations)
        return out

    def __getstate__(self) -> dict:
        """Pickle the NumPy weights only (the JAX copies are rebuilt on first use)."""
        return {k: v for k, v in self.__dict__.items() if k != "_device"}


_PREDICT_CACHE: dict = {}


def _predict_bucket(params: dict, x: np.ndarray, dilations: tuple[int, ...]) -> np.ndarray:
    """Pad the batch to the next power of two (one compile per size bucket), predict, unpad."""
    jax, jnp = _jax()
    n = len(x)
    size = 1 << max(0, (n - 1).bit_length())
    if size != n:
        x = np.concatenate([x, np.zeros((size - n, *x.shape[1:]), dtype=x.dtype)])
    fn = _PREDICT_CACHE.get(dilations)
    if fn is None:
        fn = _PREDICT_CACHE[dilations] = jax.jit(
            lambda p, xb: jax.nn.sigmoid(forward(p, xb, dilations))
        )
    return np.asarray(fn(params, jnp.asarray(x)))[:n].astype("float64")


def _balanced_weights(y: np.ndarray) -> np.ndarray:
    """scikit-learn's "balanced" class weights per row."""
    pos = max(int(y.sum()), 1)
    neg = max(int(len(y) - y.sum()), 1)
    return np.where(y, len(y) / (2 * pos), len(y) / (2 * neg)).astype("float32")


def fit_tcn(x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None, settings: TCNSettings | None = None) -> TCNModel:  # fmt: skip
    """Fit on windows x (n, window, features) and boolean outcomes y; early-stop on the
    validation windows when given (at least one of each class), else run `max_epochs`."""
    jax, jnp = _jax()
    s = settings or TCNSettings()
    x, y = np.asarray(x, dtype="float32"), np.asarray(y, dtype=bool)
    params = jax.tree_util.tree_map(jnp.asarray, init_params(x.shape[2], s))
    opt, step, val_loss = _compiled(s)
    state = opt.init(params)
    w = _balanced_weights(y)
    early = x_val is not None and y_val is not None and 0 < np.sum(y_val) < len(y_val)
    if early:
        yv = np.asarray(y_val, bool)
        val = _pad(np.asarray(x_val, "float32"), yv, _balanced_weights(yv))
    rng = np.random.default_rng(s.seed)
    best, best_loss, bad, losses, t0 = params, np.inf, 0, [], time.perf_counter()
    bs = min(s.batch_size, 1 << max(0, (len(x) - 1).bit_length()))
    epoch = 0
    for epoch in range(1, s.max_epochs + 1):  # noqa: B007 (reported below)
        order = rng.permutation(len(x))
        for i in range(0, len(order), bs):
            idx = order[i : i + bs]
            xb, yb, wb = _pad(x[idx], y[idx], w[idx], size=bs)
            params, state = step(params, state, xb, yb, wb)
        if not early:
            best = params
            continue
        loss = float(val_loss(params, *val))
        losses.append(loss)
        if loss < best_loss - 1e-4:
            best, best_loss, bad = params, loss, 0
        else:
            bad += 1
            if bad >= s.patience:
                break
    history = {"epochs": epoch, "best_val_loss": best_loss if early else float("nan"),
               "val_losses": losses, "seconds": time.perf_counter() - t0, "rows": len(x)}  # fmt: skip
    numpy_params = jax.tree_util.tree_map(lambda a: np.asarray(a, dtype="float32"), best)
    return TCNModel(numpy_params, s, x.shape[2], history)


def _pad(x: np.ndarray, y: np.ndarray, w: np.ndarray, size: int | None = None):
    """Pad a batch to `size` rows (default: the next power of two) with zero-weight rows, so
    the jit-compiled step sees few distinct shapes."""
    n = len(x)
    size = size or 1 << max(0, (n - 1).bit_length())
    if size > n:
        x = np.concatenate([x, np.zeros((size - n, *x.shape[1:]), dtype=x.dtype)])
        y = np.concatenate([y, np.zeros(size - n, dtype=bool)])
        w = np.concatenate([w, np.zeros(size - n, dtype=w.dtype)])
    return x, y.astype("float32"), w


_STEP_CACHE: dict = {}


def _compiled(s: TCNSettings):
    """(optimiser, train step, validation loss), jit-compiled and cached per architecture and
    optimiser settings, so every training window of a process reuses one compilation."""
    key = (s.dilations, s.learning_rate, s.weight_decay)
    if key in _STEP_CACHE:
        return _STEP_CACHE[key]
    jax, jnp = _jax()
    import optax

    dilations = s.dilations
    opt = optax.adamw(s.learning_rate, weight_decay=s.weight_decay)

    def loss_fn(p, xb, yb, wb):
        losses = optax.sigmoid_binary_cross_entropy(forward(p, xb, dilations), yb)
        return jnp.sum(losses * wb) / jnp.maximum(jnp.sum(wb), 1e-9)

    def step(p, st, xb, yb, wb):
        grads = jax.grad(loss_fn)(p, xb, yb, wb)
        updates, st = opt.update(grads, st, p)
        return optax.apply_updates(p, updates), st

    _STEP_CACHE[key] = (opt, jax.jit(step), jax.jit(loss_fn))
    return _STEP_CACHE[key]
