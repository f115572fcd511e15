"""`perpflow validate freqai`: the walk-forward report for a FreqAI strategy.

FreqAI runs its own sliding windows inside one `freqtrade backtesting` run (train
`train_period_days`, predict the next `backtest_period_days`, slide). This reads what that run
left behind and reports it like a rule-strategy walk-forward:
- per backtest window: trades, profit, drawdown, Sharpe, profit factor, MAE/MFE (trades opened
  in the window, from the exported backtest);
- per window and pair: the model's out-of-sample precision/recall of "win" on the window's
  setups (`perpflow.ai.oos`) against the base rate;
- feature importance across windows with unstable ranks flagged (`perpflow.ai.importance`);
- when the prediction files carry the ensemble members' probabilities (`p_rules`, `p_lightgbm`,
  `p_tcn`): a paired comparison of the members and the blend (`perpflow.ai.compare`).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import pandas as pd

from perpflow.ai import compare as cmp
from perpflow.ai import importance as imp
from perpflow.ai.oos import overall, window_oos
from perpflow.config import PerpflowConfig
from perpflow.reports import html as rp
from perpflow.validation.metrics import summary


def trade_windows(trades: pd.DataFrame, windows: pd.DataFrame, balance: float) -> pd.DataFrame:
    """`summary` of the trades opened in each [test_start, test_end] window."""
    opened = pd.to_datetime(trades["open_date"], utc=True)
    rows = []
    for i, w in enumerate(windows.itertuples(), 1):
        t = trades[(opened >= w.test_start) & (opened <= w.test_end)]
        rows.append({"window": i, "test": f"{w.test_start:%Y-%m-%d}..{w.test_end:%Y-%m-%d}",
                     **summary(t, starting_balance=balance, start=w.test_start, end=w.test_end)})  # fmt: skip
    return pd.DataFrame(rows)


def oos_png(oos: pd.DataFrame, path: Path) -> str:
    """Per pair and window: the model's precision against the base rate of wins (no skill =
    precision on the base-rate line)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 3.8))
    for (pair, g), color in zip(oos.groupby("pair"), ("#2563eb", "#dc2626", "#16a34a", "#9333ea"),
                                strict=False):  # fmt: skip
        x = pd.to_datetime(g["test_start"])
        ax.plot(x, g["precision"], marker="o", color=color, label=f"{pair} precision")
        ax.plot(
            x, g["base_rate"], linestyle="--", color=color, alpha=0.6, label=f"{pair} base rate"
        )
    ax.set_ylim(0, 1)
    ax.set_title("out-of-sample precision of 'win' per window vs the base rate (dashed)")
    ax.legend(fontsize=8, ncol=2)
    return rp._png(fig, path)


def model_comparison(*, models_dir: Path, datadir: Path, pairs: list[str], cfg: PerpflowConfig,
                     out: Path, threshold: float, timeframe: str) -> tuple[str | None, dict]:  # fmt: skip
    """When any prediction file has a `p_<member>` column: write `model_comparison.csv` (per
    window and member), `model_comparison_pooled.csv`, `model_reliability.csv` and
    `reliability.png` to `out`; return the "Model comparison" section's HTML and
    {"comparison", "comparison_pooled", "verdicts"}. (None, {}) for files without members."""
    if not cmp.member_columns(models_dir):
        return None, {}
    setups = cmp.paired_setups(models_dir, datadir, pairs, cfg, timeframe=timeframe)
    rows = cmp.window_table(setups, threshold)
    pool, verdicts = cmp.pooled(rows), cmp.verdicts(rows)
    rel = cmp.reliability_table(setups)
    rows.to_csv(out / "model_comparison.csv", index=False)
    pool.to_csv(out / "model_comparison_pooled.csv", index=False)
    rel.to_csv(out / "model_reliability.csv", index=False)
    lines = list(verdicts["verdict"])
    if "tcn" not in set(rows["member"]):
        lines.append("no TCN probabilities in these predictions: nothing to say about the TCN")
    items = "".join(f"<li>{escape(v)}</li>" for v in lines)
    dropped = int(rows.groupby(cmp.KEYS)["dropped"].first().sum()) if len(rows) else 0
    html = (f"<ul>{items}</ul><p>Every member is scored on the same setups of each window "
            f"({dropped} setup(s) dropped where a member had no probability). Brier skill is "
            "against always predicting the pooled base rate. Per-window differences (a - b, "
            "lower is better) are tested with a Wilcoxon signed-rank test and a bootstrap 95% "
            "CI; 'beats' needs a Holm-adjusted p &lt; 0.05 over all the verdicts below and a CI "
            "excluding 0. 'ensemble vs without_tcn' is the "
            "question whether the TCN adds anything: the same vote with the TCN left out "
            "(`win_without_tcn`, written by EventEnsembleClassifier); 'ensemble vs lightgbm' "
            "also includes what the rules add.</p>"
            + rp.table(pool) + rp.img(cmp.reliability_png(rel, out / "reliability.png"))
            + rp.table(rows))  # fmt: skip
    return html, {"comparison": rows, "comparison_pooled": pool, "verdicts": verdicts}


def freqai_study(*, models_dir: Path, trades: pd.DataFrame, datadir: Path, pairs: list[str],
                 cfg: PerpflowConfig, out: Path, starting_balance: float, threshold: float = 0.5,
                 timeframe: str = "5m") -> dict:  # fmt: skip
    """Write `<out>/report.html` (+ CSVs and PNGs); return the tables."""
    out.mkdir(parents=True, exist_ok=True)
    oos = window_oos(models_dir, datadir, pairs, cfg, timeframe=timeframe, threshold=threshold)
    windows = (oos.groupby("train_end").agg(test_start=("test_start", "min"), test_end=("test_end", "max"))
               .reset_index().sort_values("test_start"))  # fmt: skip
    per_window = trade_windows(trades, windows, starting_balance)
    start, end = windows["test_start"].min(), windows["test_end"].max()
    total = summary(trades, starting_balance=starting_balance, start=start, end=end)
    pooled = overall(oos)
    rows = imp.load_windows(models_dir)
    ranks = imp.rank_table(rows)
    imp.importance_png(ranks, out / "importance.png", rows=rows)
    oos.to_csv(out / "oos_precision_recall.csv", index=False)
    per_window.to_csv(out / "windows.csv", index=False)
    ranks.to_csv(out / "importance.csv", index=False)
    equity = starting_balance + trades.sort_values("close_date").set_index(
        pd.to_datetime(trades.sort_values("close_date")["close_date"], utc=True))["profit_abs"].cumsum()  # fmt: skip
    sig = rp.significance(total["t_stat"], total["trades"])
    model_line = (f"Pooled over {pooled['windows']} window(s): precision {pooled['precision']:.2f} "
                  f"vs base rate {pooled['base_rate']:.2f} (recall {pooled['recall']:.2f}) on "
                  f"{pooled['setups']} out-of-sample setups.")  # fmt: skip
    if pooled["setups"] < 100:
        model_line += " Under 100 setups: too few to judge the model."
    sections = [
        ("Overall out-of-sample trades", rp.table(pd.DataFrame([total]))),
        ("Model out-of-sample", f"<p>{model_line}</p>" + rp.img(oos_png(oos, out / "oos.png"))
         + rp.table(oos)),
        ("Per window (trades)", rp.table(per_window)),
        ("Equity", rp.img(rp.equity_png(equity, None, out / "equity.png")) if len(trades)
         else "<p>no trades</p>"),
        ("Excursions", rp.img(rp.excursion_png(trades, out / "mae_mfe.png")) if len(trades) else ""),
        ("Feature importance", rp.img(rp.png_file(out / "importance.png")) + rp.table(ranks.head(25))),
        ("Method", "<p>FreqAI's sliding windows inside one backtest: each window's model was "
                   "trained only on data before the window (targets computed on data cut at the "
                   "training end, and in-window early stopping purged by the label horizon), "
                   "then predicted the window. Precision/recall relabel each window's setups "
                   "from the candles with the same triple barrier.</p>"),
    ]  # fmt: skip
    comparison, extra = model_comparison(models_dir=models_dir, datadir=datadir, pairs=pairs,
                                         cfg=cfg, out=out, threshold=threshold, timeframe=timeframe)  # fmt: skip
    if comparison is not None:
        sections.insert(2, ("Model comparison", comparison))
    rp.write_html(out / "report.html", "FreqAI walk-forward study", sig, sections)
    return {
        **extra,
        "windows": per_window,
        "oos": oos,
        "overall": total,
        "model": pooled,
        "importance": ranks,
    }
