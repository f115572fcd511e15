"""`perpflow validate walk-forward | robustness`: studies from config to report."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from perpflow.errors import UserError
from perpflow.reports import html as rp
from perpflow.validation.metrics import summary
from perpflow.validation.overfit_report import (
    robustness_overfit,
    section,
    walk_forward_overfit,
)
from perpflow.validation.robustness import latency_variants, perturbation_variants, verdict
from perpflow.validation.study import run_study, variant_trades
from perpflow.validation.trials import Ledger
from perpflow.validation.walkforward import (
    make_windows,
    oos_equity,
    parameter_stability,
    stitch,
    walk_forward_variants,
)

STARTING_BALANCE_KEY = "starting_balance"


def _refuse_failed(results: pd.DataFrame, out: Path, ids: list[str] | None = None) -> None:
    """UserError naming the failed backtests (all, or those of `ids`) and the first one's
    error (e.g. Freqtrade's configuration error); their logs are in the study folder."""
    failed = results[results["returncode"] != 0]
    if ids is not None:
        failed = failed[failed["id"].isin(ids)]
    if len(failed):
        first = failed.iloc[0]
        why = str(first.get("error") or "").strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"{len(failed)} backtest(s) failed ({', '.join(failed['id'])}), first: "
                        f"{why[0]}; fix it and rerun: failed backtests run again (logs: "
                        f"{out}/variants/<id>/freqtrade.log)")  # fmt: skip


def walk_forward(*, config: Path, datadir: Path, pairs: list[str], start: str, end: str,
                 out: Path, train_months: int = 3, test_months: int = 1, purge: int = 2,
                 workers: int = 2, progress: bool = True, hyperopt_epochs: int = 0,
                 ledger: Path | None = None, scheduler: str | None = None) -> dict:  # fmt: skip
    """Run the walk-forward study and write `<out>/report.html`, PNGs and tables; every
    window, hyperopt epoch and the stitched record go to the trial ledger (default
    `<out>/../trials.jsonl`) and the report shows DSR, MinTRL and (hyperopt) PBO per window;
    `scheduler`: see `run_study`."""
    windows = make_windows(start, end, train_months=train_months, test_months=test_months,
                           purge=purge)  # fmt: skip
    results = run_study(walk_forward_variants(windows, hyperopt_epochs=hyperopt_epochs),
                        study_dir=out, datadir=datadir, pairs=pairs, workers=workers,
                        progress=progress, config=config, scheduler=scheduler)  # fmt: skip
    _refuse_failed(results, out)
    balance = float(results[STARTING_BALANCE_KEY].iloc[0])
    per_window, oos = stitch(out, windows, balance)
    first, last = windows[0].test_start, windows[-1].test_end
    total = summary(oos, starting_balance=balance, start=first, end=last)
    equity = oos_equity(oos, balance)
    per_window.to_csv(out / "windows.csv", index=False)
    if len(oos):
        oos.to_parquet(out / "oos_trades.parquet", index=False)
    sig = rp.significance(total["t_stat"], total["trades"])
    overall = pd.DataFrame([{"windows": len(windows), **total}])
    stability = parameter_stability(results)
    if len(stability):
        stability.to_csv(out / "parameters.csv")
    settings = {"train_months": train_months, "test_months": test_months, "purge": purge,
                "hyperopt_epochs": hyperopt_epochs}  # fmt: skip
    fit, hyper = walk_forward_overfit(
        out, windows, results, oos, balance, ledger=Ledger(ledger) if ledger else Ledger.beside(out),
        base=json.loads(Path(config).read_text()), pairs=pairs, settings=settings)  # fmt: skip
    method = (f"Parameters searched by Freqtrade's hyperopt ({hyperopt_epochs} epochs, "
              "SharpeHyperOptLoss) on each train window only, then frozen for its test window"
              if hyperopt_epochs else "Fixed parameters (the config as given)")  # fmt: skip
    sections = [
        ("Overall out-of-sample", rp.table(overall)),
        section(fit, "Deflated Sharpe Ratio of the stitched out-of-sample daily returns"),
        *([("Hyperopt per train window (PBO over the epochs, in sample)", rp.table(hyper) +
            "<p>PBO above 0.5: the epoch hyperopt picks is more likely than not below the median "
            "epoch on unseen days of the same train window.</p>")] if len(hyper) else []),
        ("Per window", rp.table(per_window)),
        ("Equity", rp.img(rp.equity_png(equity, per_window, out / "equity.png"))),
        ("Excursions", rp.img(rp.excursion_png(oos, out / "mae_mfe.png"))),
        ("Sessions", rp.img(rp.session_png(oos, out / "sessions.png"))),
        ("Parameter stability", stability.to_html(float_format=lambda v: f"{v:.3f}")
         if len(stability) else "<p>fixed parameters: nothing searched</p>"),
        ("Method", f"<p>{method}, evaluated on each test window; "
                   f"train {train_months} month(s), purge {purge} day(s), test {test_months} "
                   "month(s); every test window is its own <code>freqtrade backtesting</code> run "
                   "against the local exchange, with Freqtrade loading indicator warm-up "
                   "candles before the window but taking no trade outside it.</p>"),
    ]  # fmt: skip
    rp.write_html(out / "report.html", "Walk-forward study", sig, sections)
    return {
        "windows": per_window,
        "overall": total,
        "significant": sig[0],
        "parameters": stability,
        "overfit": fit,
        "hyperopt": hyper,
    }


def robustness(*, config: Path, datadir: Path, pairs: list[str], timerange: str, out: Path,
               params: list[str] | None = None, pct: float = 0.1, joint: int = 0,
               latency: bool = True, workers: int = 2, progress: bool = True,
               ledger: Path | None = None, scheduler: str | None = None) -> dict:  # fmt: skip
    """Perturbation + latency/fee study; writes `<out>/report.html`, PNGs, verdict CSV; every
    variant goes to the trial ledger (default `<out>/../trials.jsonl`) and the report shows the
    base config's DSR and MinTRL and PBO over the perturbed variants; `scheduler`: see
    `run_study`."""
    base = json.loads(Path(config).read_text()).get("perpflow", {})
    variants, skipped = perturbation_variants(base, timerange, params=params, pct=pct,
                                              joint=joint)  # fmt: skip
    if latency:
        variants += latency_variants(base, timerange)
    results = run_study(variants, study_dir=out, datadir=datadir, pairs=pairs, workers=workers,
                        progress=progress, config=config, scheduler=scheduler)  # fmt: skip
    _refuse_failed(results, out, ids=["base"])
    start, end = (pd.Timestamp(x) for x in timerange.split("-"))
    rows = []
    for r in results.itertuples():
        t = variant_trades(out, r.id)
        s = summary(t, starting_balance=float(getattr(r, STARTING_BALANCE_KEY, 1000.0) or 1000.0),
                    start=start, end=end)  # fmt: skip
        meta = r.meta if isinstance(r.meta, dict) else json.loads(r.meta)
        rows.append({"id": r.id, "ok": r.returncode == 0, **meta, **s})
    table = pd.DataFrame(rows)
    table.to_csv(out / "variants.csv", index=False)
    v = verdict(table) if (table["kind"] == "one").any() else pd.DataFrame()
    v.to_csv(out / "verdict.csv", index=False)
    base_row = table[table["id"] == "base"].iloc[0]
    pert = table[table["kind"].isin(["one", "joint"])]
    share = float((pert["profit_pct"] > 0).mean()) if len(pert) else float("nan")
    sig = rp.significance(base_row["t_stat"], int(base_row["trades"]))
    fit = robustness_overfit(out, results, dict(zip(table["id"], table["kind"], strict=True)),
                             start, end, ledger=Ledger(ledger) if ledger else Ledger.beside(out),
                             base=json.loads(Path(config).read_text()), pairs=pairs)  # fmt: skip
    sections = [
        ("Summary", rp.table(pd.DataFrame([{
            "variants": len(table), "skipped (invalid)": len(skipped),
            "base profit %": 100 * base_row["profit_pct"], "share of perturbed still profitable":
            share, "fragile parameters": int(v["fragile"].sum()) if len(v) else 0}]))),
        section(fit, "The base config among its perturbed variants (base, one at a time, joint)"),
        ("Verdict per parameter (profit % at -/base/+)", rp.table(v) if len(v) else "<p>-</p>"),
        ("Distribution", rp.img(rp.distribution_png(100 * pert["profit_pct"],
                                                    100 * base_row["profit_pct"],
                                                    out / "perturbation.png", "profit %"))),
        ("Latency and fees", rp.table(table[table["kind"].isin(["base", "latency", "fee"])][
            ["id", "trades", "profit_pct", "max_drawdown", "sharpe"]])),
        ("Skipped perturbations", rp.table(pd.DataFrame(skipped)) if skipped else "<p>none</p>"),
    ]  # fmt: skip
    rp.write_html(out / "report.html", "Robustness study", sig, sections)
    return {
        "variants": table,
        "verdict": v,
        "skipped": skipped,
        "profitable_share": share,
        "overfit": fit,
    }
