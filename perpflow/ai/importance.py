"""`perpflow importance`: feature importance across FreqAI's walk-forward windows.

Reads every `<model>_importance.parquet` LightGBMEventClassifier wrote under a FreqAI model
folder (`user_data/models/<identifier>`), ranks features within each window (pair x training
window) and aggregates: mean share of gain, mean permutation importance and mean |SHAP|, the
mean and spread of each feature's rank, and an `unstable` flag for features whose rank moves
by more than a quarter of the feature count across windows (interquartile range).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from perpflow.ai.model import IMPORTANCE_SUFFIX  # noqa: E402

RANK_BY = ("shap", "gain")  # the first with values ranks features


def load_windows(models_dir: Path) -> pd.DataFrame:
    """All per-window importance rows under `models_dir`, with a `window` id (the file stem)."""
    files = sorted(Path(models_dir).rglob(f"*{IMPORTANCE_SUFFIX}"))
    if not files:
        raise FileNotFoundError(
            f"no *{IMPORTANCE_SUFFIX} under {models_dir}: run a FreqAI backtest of "
            "LiquiditySweepAI with --freqaimodel LightGBMEventClassifier first"
        )
    rows = pd.concat([pd.read_parquet(f).assign(window=f.name.removesuffix(IMPORTANCE_SUFFIX))
                      for f in files], ignore_index=True)  # fmt: skip
    # FreqAI names expanded features per pair ("%-pct-change_gen_BTC/USDTUSDT_5m"): one name
    # across pairs, so BTC's and ETH's windows rank the same feature
    rows["feature"] = rows["feature"].str.replace(r"_gen_[^_]+", "", regex=True)
    return rows


def rank_table(rows: pd.DataFrame, *, unstable_iqr: float = 0.25) -> pd.DataFrame:
    """One row per feature, best first: mean gain/permutation/SHAP, rank mean/IQR, windows,
    `unstable` (rank IQR > `unstable_iqr` x the number of features)."""
    key = next((k for k in RANK_BY if rows[k].notna().any()), "gain")
    r = rows.assign(rank=rows.groupby("window")[key].rank(ascending=False, method="average"))
    g = r.groupby("feature")
    q = g["rank"].quantile([0.25, 0.75]).unstack()
    table = pd.DataFrame({
        "mean_gain": g["gain"].mean(), "mean_permutation": g["permutation"].mean(),
        "mean_shap": g["shap"].mean(), "mean_rank": g["rank"].mean(),
        "rank_iqr": q[0.75] - q[0.25], "windows": g["window"].nunique(),
    })  # fmt: skip
    n_features = rows.groupby("window")["feature"].nunique().max()
    table["unstable"] = table["rank_iqr"] > unstable_iqr * n_features
    table.attrs["ranked_by"] = key
    return table.sort_values("mean_rank").reset_index()


def window_scores(rows: pd.DataFrame) -> pd.DataFrame:
    """The in-window held-out split's precision/recall per window (one row each)."""
    cols = ["window", "pair", "train_start", "train_end", "train_rows", "best_iteration",
            "test_rows", "positives", "predicted", "precision", "recall", "base_rate"]  # fmt: skip
    have = [c for c in cols if c in rows.columns]
    return (
        rows[have].drop_duplicates("window").sort_values(["pair", "train_end"], ignore_index=True)
    )


def importance_png(table: pd.DataFrame, path: Path, top: int = 20,
                   rows: pd.DataFrame | None = None) -> Path:  # fmt: skip
    """Top features by mean rank: mean importance bars (orange = unstable rank) and, with the
    per-window `rows`, the spread of each feature's rank across windows."""
    t = table.head(top).iloc[::-1]
    key = "mean_" + table.attrs.get("ranked_by", "gain")
    names = t["feature"].str.lstrip("%-")
    ncols = 2 if rows is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols + 2, 0.3 * len(t) + 1.8), sharey=True,
                             squeeze=False)  # fmt: skip
    ax = axes[0, 0]
    ys = list(range(len(t)))
    ax.barh(ys, t[key], color=["#f59e0b" if u else "#2563eb" for u in t["unstable"]])
    ax.set_xlabel(f"{key.replace('_', ' ')} (orange: unstable rank)")
    if rows is not None:
        ranked = rows.assign(rank=rows.groupby("window")[table.attrs.get("ranked_by", "gain")]
                             .rank(ascending=False))  # fmt: skip
        data = [ranked.loc[ranked["feature"] == f, "rank"].to_numpy() for f in t["feature"]]
        axes[0, 1].boxplot(data, positions=ys, orientation="horizontal", widths=0.6)
        axes[0, 1].set_xlabel("rank in each window (1 = most important)")
    ax.set_yticks(ys, list(names))  # after the boxplot, which resets the shared ticks
    fig.suptitle(f"Feature importance over {int(table['windows'].max())} walk-forward windows, "
                 "ordered by mean rank")  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def models_dir(config: dict, explicit: str | Path | None = None) -> Path:
    """`explicit`, else `<user_data_dir>/models/<freqai.identifier>` of a merged Freqtrade config."""
    from perpflow.errors import UserError

    if explicit:
        return Path(explicit)
    ident = (config.get("freqai") or {}).get("identifier")
    if not ident:
        raise UserError(
            "no --models and no freqai.identifier in the config (add -c config.freqai.json)"
        )
    return Path(config.get("user_data_dir", "user_data")) / "models" / ident


def importance_report(
    models: Path, out: Path, *, top: int = 20
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Rank the windows under `models` into `<out>/importance.csv`, `windows.csv` and
    `importance.png`; returns (rank table, per-window rows, picture path)."""
    rows = load_windows(models)
    table = rank_table(rows)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "importance.csv", index=False)
    window_scores(rows).to_csv(out / "windows.csv", index=False)
    return table, rows, importance_png(table, out / "importance.png", top=top, rows=rows)
