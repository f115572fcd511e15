"""Out-of-sample comparison of the event-ensemble members (rules, LightGBM, TCN) and their blend.

Reads the same FreqAI backtest prediction files as `perpflow.ai.oos`, where the ensemble model
adds each member's calibrated probability of "win" (`p_rules`, `p_lightgbm`, `p_tcn`, NaN where
the member could not predict) and raw score (`raw_<member>`) next to the blend (`win`). Truth is
relabelled from the candles exactly as `perpflow.ai.oos._score_window` does (triple barrier via
`event_outcome`; setups are rows with side != 0, a known outcome and `do_predict == 1`).

Within a window all members are scored on the SAME setups (every member present in that window
has a finite probability), so per-window differences are paired; unpaired setups are counted in
`dropped`. A member is present in a window when its column exists and has at least one finite
value on that window's setups; an absent member gets no row.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.ai.calibration import brier, log_loss, reliability
from perpflow.ai.features import EVENT_COLUMN
from perpflow.ai.model import scores
from perpflow.ai.oos import prediction_files, prediction_windows
from perpflow.ai.targets import event_outcome
from perpflow.config import PerpflowConfig

logger = logging.getLogger(__name__)

MEMBERS = ("rules", "lightgbm", "tcn")  # members with their own `p_<member>` column
ALL = (*MEMBERS, "ensemble", "without_tcn")  # "ensemble" is FreqAI's `win` column (the blend)
ABLATION = {"win_without_tcn": "without_tcn"}  # the same vote with the TCN left out
KEYS = ["pair", "train_end"]
MIN_WILCOXON = 5  # fewer windows: no test (with 5 the smallest two-sided p is 0.0625 anyway)
ALPHA = 0.05
WINDOW_COLUMNS = ["pair", "train_end", "member", "setups", "dropped", "scored", "positives",
                  "predicted", "precision", "recall", "base_rate", "true_positives", "brier",
                  "log_loss"]  # fmt: skip
# does the TCN add anything? the vote against the same vote without it, then the members alone
COMPARISONS = (("ensemble", "without_tcn"), ("ensemble", "lightgbm"), ("tcn", "lightgbm"))


def member_columns(models_dir: Path) -> list[str]:
    """The `p_<member>` columns found in any prediction file (schemas only, no data read)."""
    import pyarrow.ipc as ipc

    found: set[str] = set()
    for path in prediction_files(models_dir)["path"]:
        with ipc.open_file(path) as f:
            found |= {c for c in f.schema.names if c.removeprefix("p_") in MEMBERS}
    return [f"p_{m}" for m in MEMBERS if f"p_{m}" in found]


def window_setups(candles: pd.DataFrame, pred: pd.DataFrame, cfg: PerpflowConfig) -> pd.DataFrame:
    """One row per trusted setup of one window: date, `y` (was a win), each present member's
    calibrated probability (columns named by member; "ensemble" = `win`), `raw_<member>` where
    the file has it, and `paired` (every present member has a finite probability)."""
    cols = {f"p_{m}": m for m in MEMBERS} | {"win": "ensemble"} | ABLATION
    raw = [f"raw_{m}" for m in MEMBERS if f"raw_{m}" in pred.columns]
    keep = ["date", EVENT_COLUMN, "do_predict", *[c for c in cols if c in pred.columns], *raw]
    merged = candles.merge(pred[keep], on="date", how="left")
    side = merged[EVENT_COLUMN].fillna(0)
    truth = event_outcome(merged, side, cfg)
    setups = (side != 0) & truth.notna() & (merged["do_predict"] == 1)
    out = merged.loc[setups].rename(columns=cols)
    out = out.assign(y=(truth[setups] == "win").to_numpy())
    present = [m for m in ALL if m in out.columns and np.isfinite(out[m].astype(float)).any()]
    out["paired"] = np.isfinite(out[present].astype(float)).all(axis=1) if present else False
    return out[["date", "y", *present, *raw, "paired"]].reset_index(drop=True)


def paired_setups(models_dir: Path, datadir: Path, pairs: list[str], cfg: PerpflowConfig, *,
                  timeframe: str = "5m") -> pd.DataFrame:  # fmt: skip
    """`window_setups` of every prediction file of `pairs`, with `pair` and `train_end`."""
    parts = [window_setups(candles, pred, cfg).assign(pair=pair, train_end=train_end)
             for pair, candles, train_end, pred in prediction_windows(models_dir, datadir, pairs, cfg, timeframe)]  # fmt: skip
    if not parts:
        raise ValueError(f"no prediction files for {pairs} under {models_dir}")
    return pd.concat(parts, ignore_index=True)


def window_table(setups: pd.DataFrame, threshold: float = 0.5) -> pd.DataFrame:
    """One row per (pair, window, present member): setups, dropped (unpaired), scored,
    positives, predicted (p >= threshold), true_positives, precision, recall, base_rate, brier,
    log_loss; every member of a window scored on the same (paired) rows."""
    out = []
    for (pair, end), w in setups.groupby(KEYS, sort=True):
        ok = w[w["paired"]]
        y = ok["y"].to_numpy(dtype=bool)
        for m in ALL:
            if m not in w.columns or not np.isfinite(w[m].astype(float)).any():
                continue
            p = ok[m].to_numpy(dtype="float64")
            res = scores(p >= threshold, y)
            out.append({"pair": pair, "train_end": end, "member": m, "setups": len(w),
                        "dropped": int((~w["paired"]).sum()), "scored": res.pop("test_rows"),
                        **res, "true_positives": int(((p >= threshold) & y).sum()),
                        "brier": brier(p, y), "log_loss": log_loss(p, y)})  # fmt: skip
    return pd.DataFrame(out, columns=WINDOW_COLUMNS)


def member_windows(models_dir: Path, datadir: Path, pairs: list[str], cfg: PerpflowConfig, *,
                   timeframe: str = "5m", threshold: float = 0.5) -> pd.DataFrame:  # fmt: skip
    """`window_table` of the prediction files under `models_dir` (see the module docstring)."""
    return window_table(paired_setups(models_dir, datadir, pairs, cfg, timeframe=timeframe),
                        threshold)  # fmt: skip


def pooled(rows: pd.DataFrame) -> pd.DataFrame:
    """Per member over all its windows: counts summed, precision/recall from the summed counts,
    Brier and log loss as means weighted by scored rows. `brier_ref` is the climatology forecast
    (always predicting the member's pooled base rate, known only in hindsight, so the
    reference is the best constant forecast and the skill is conservative):
    `brier_skill = 1 - brier / brier_ref` (> 0: better than the base rate)."""
    out = []
    for m in [m for m in ALL if m in set(rows["member"])]:
        g = rows[rows["member"] == m]
        n, pos, pred, tp = (int(g[c].sum()) for c in ("scored", "positives", "predicted",
                                                       "true_positives"))  # fmt: skip
        base = pos / n if n else np.nan
        ref = base * (1 - base)
        out.append({"member": m, "windows": len(g), "scored": n, "dropped": int(g["dropped"].sum()),
                    "positives": pos, "predicted": pred,
                    "precision": tp / pred if pred else np.nan, "recall": tp / pos if pos else np.nan,
                    "base_rate": base, "brier": _weighted(g, "brier"),
                    "log_loss": _weighted(g, "log_loss"), "brier_ref": ref})  # fmt: skip
    df = pd.DataFrame(out)
    if len(df):
        df["brier_skill"] = 1 - df["brier"] / df["brier_ref"].where(df["brier_ref"] > 0)
    return df


def _weighted(g: pd.DataFrame, col: str) -> float:
    ok = g[col].notna() & (g["scored"] > 0)
    w = g.loc[ok, "scored"]
    return float((g.loc[ok, col] * w).sum() / w.sum()) if w.sum() else float("nan")


def paired_test(rows: pd.DataFrame, a: str, b: str, metric: str = "brier", *,
                n_boot: int = 10_000, seed: int = 0) -> dict:  # fmt: skip
    """Member `a` against `b` on `metric` (lower is better) over the windows both were scored
    in: per-window differences a - b, their mean, a seeded percentile-bootstrap 95% CI of the
    mean, and scipy's Wilcoxon signed-rank p (NaN with a `reason` under 5 windows or when every
    difference is 0). "beats"/"is worse than" needs p < 0.05 AND a CI excluding 0; otherwise
    `a` adds nothing measurable over `b`. Returns a dict with a one-line `verdict`."""
    wide = rows[rows["member"].isin([a, b])].pivot_table(index=KEYS, columns="member",
                                                          values=metric, aggfunc="first")  # fmt: skip
    have = {a, b} <= set(wide.columns)
    d = (wide[a] - wide[b]).dropna().to_numpy(dtype="float64") if have else np.array([])
    res = {"a": a, "b": b, "metric": metric, "windows": len(d),
           "mean_diff": float(d.mean()) if len(d) else np.nan, "ci_low": np.nan, "ci_high": np.nan,
           "p_value": np.nan, "reason": ""}  # fmt: skip
    if len(d) >= 2:
        rng = np.random.default_rng(seed)
        means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
        res["ci_low"], res["ci_high"] = (float(x) for x in np.percentile(means, [2.5, 97.5]))
    if len(d) < MIN_WILCOXON:
        res["reason"] = f"{len(d)} paired window(s), a Wilcoxon test needs {MIN_WILCOXON}"
    elif not np.any(d):
        res["reason"] = f"{a} and {b} have the same {metric} in every window"
    else:
        from scipy.stats import wilcoxon

        res["p_value"] = float(wilcoxon(d).pvalue)
    res["verdict"] = _verdict(res)
    return res


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN). Written out: scipy
    has only Benjamini-Hochberg, and a "beats" claim wants the family-wise error."""
    p = np.asarray(p, dtype="float64")
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    order = np.argsort(q)
    adj = np.maximum.accumulate((len(q) - np.arange(len(q))) * q[order])
    res = np.empty(len(q))
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out


def _verdict(r: dict) -> str:
    a, b, m = r["a"], r["b"], r["metric"]
    p = r.get("p_holm", r["p_value"])
    adjusted = f", Holm-adjusted over {r['family']} tests p={p:.3f}" if "p_holm" in r else ""
    stats = (f"mean {m} difference {r['mean_diff']:+.4f} (95% CI {r['ci_low']:+.4f}.."
             f"{r['ci_high']:+.4f}), Wilcoxon p={r['p_value']:.3f}{adjusted} over {r['windows']} windows")  # fmt: skip
    if r["reason"]:
        return f"{a} vs {b} on {m}: cannot tell ({r['reason']}); mean diff {r['mean_diff']:+.4f}"
    clear = p < ALPHA and (r["ci_high"] < 0 or r["ci_low"] > 0)
    if clear and r["mean_diff"] < 0:
        return f"{a} beats {b} on {m}: {stats}"
    if clear:
        return f"{a} is worse than {b} on {m}: {stats}"
    return f"{a} adds nothing measurable over {b} on {m}: {stats}"


def verdicts(rows: pd.DataFrame, metrics: tuple[str, ...] = ("brier", "log_loss")) -> pd.DataFrame:
    """`paired_test` of each of `COMPARISONS` (ensemble vs the vote without the TCN, ensemble vs
    lightgbm, tcn vs lightgbm) on each metric, for the pairs whose members both appear in
    `rows`; each verdict decides on its Holm-adjusted p over the whole family. Windows of
    different pairs in the same month are not independent (one market), so even an adjusted
    p is optimistic."""
    have = set(rows["member"]) if len(rows) else set()
    out = [paired_test(rows, a, b, m) for a, b in COMPARISONS if {a, b} <= have for m in metrics]
    adjusted = holm(np.array([r["p_value"] for r in out]))
    for r, p in zip(out, adjusted, strict=True):  # the verdicts are one family: Holm-adjusted
        r["p_holm"], r["family"] = p, int(np.isfinite(adjusted).sum())
        r["verdict"] = _verdict(r)
    cols = ["a", "b", "metric", "windows", "mean_diff", "ci_low", "ci_high", "p_value", "p_holm",
            "reason", "verdict"]  # fmt: skip
    return pd.DataFrame(out, columns=cols)


def reliability_table(setups: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """`calibration.reliability` on the paired setups of every member present, calibrated
    (`kind` "calibrated") and, where the files carry `raw_<member>`, raw ("raw")."""
    ok = setups[setups["paired"]]
    parts = []
    for m in ALL:
        for kind, col in (("calibrated", m), ("raw", f"raw_{m}")):
            if col in ok.columns and np.isfinite(ok[col].astype(float)).any():
                t = reliability(ok[col].to_numpy(dtype="float64"), ok["y"].to_numpy(), bins)
                parts.append(t.assign(member=m, kind=kind))
    cols = ["member", "kind", "lo", "hi", "rows", "predicted", "observed"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


COLORS = {"rules": "#9333ea", "lightgbm": "#2563eb", "tcn": "#dc2626", "ensemble": "#111827"}


def reliability_png(table: pd.DataFrame, path: Path) -> str:
    """Reliability diagram of `reliability_table`: observed win rate against mean predicted
    probability per bin (diagonal = perfectly calibrated), one colour per member, calibrated
    solid, raw dashed, marker area by rows; below, the rows per bin. Returns base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from perpflow.reports.html import _png

    fig, (ax, hx) = plt.subplots(2, 1, figsize=(7, 7.5), sharex=True,
                                 gridspec_kw={"height_ratios": [3, 1]})  # fmt: skip
    ax.plot([0, 1], [0, 1], color="#9ca3af", linewidth=1, label="perfect")
    scale = 300 / max(float(table["rows"].max()), 1.0) if len(table) else 1.0
    for (m, kind), g in table.groupby(["member", "kind"], sort=False):
        style = "-" if kind == "calibrated" else "--"
        c = COLORS.get(m, "#6b7280")
        ax.plot(g["predicted"], g["observed"], style, color=c, label=f"{m} ({kind})")
        ax.scatter(g["predicted"], g["observed"], s=10 + g["rows"] * scale, color=c, alpha=0.5)
        if kind == "calibrated":
            hx.step((g["lo"] + g["hi"]) / 2, g["rows"], where="mid", color=c, label=m)
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="observed win rate",
           title="reliability: out-of-sample win rate per probability bin")  # fmt: skip
    ax.legend(fontsize=8)
    hx.set(xlabel="predicted probability of win", ylabel="setups")
    return _png(fig, path)
