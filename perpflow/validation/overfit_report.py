"""Overfitting figures of a study for its report: trials recorded in the ledger, the Deflated
Sharpe Ratio and MinTRL of the chosen variant, PBO by CSCV over the variants' daily returns, and
the hyperopt epochs of a walk-forward window read back from Freqtrade's `.fthypt` file.

Sharpe ratios here are per day (`perpflow.validation.overfit`); the report tables say so.
"""

from __future__ import annotations

import html
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.validation import overfit
from perpflow.validation.trials import Ledger, Trial, daily_sharpe

logger = logging.getLogger(__name__)


def span_of(start, end) -> str:
    """Freqtrade-style timerange YYYYMMDD-YYYYMMDD of [start, end)."""
    return f"{pd.Timestamp(start):%Y%m%d}-{pd.Timestamp(end):%Y%m%d}"


def pbo_or_none(returns: pd.DataFrame, n_splits: int = 16) -> overfit.PBO | None:
    """CSCV PBO of `returns` (days x variants) with as many blocks (even, <= n_splits) as leave
    >= 4 days each; None for fewer than 2 variants or 8 days."""
    if returns.shape[1] < 2:
        return None
    s = min(n_splits, (returns.shape[0] // 4) // 2 * 2)
    return overfit.pbo_cscv(returns.to_numpy(), n_splits=s) if s >= 2 else None


def assess(ledger: Ledger, study: str, span: str, chosen: pd.Series,
           variants: pd.DataFrame | None = None) -> dict:  # fmt: skip
    """Overfitting figures of `chosen` (its daily returns) in `study` on `span`: n_trials and
    the trials' Sharpe spread from the ledger (so earlier runs count), DSR, MinTRL, and PBO over
    `variants` (days x variants) when given."""
    n = ledger.n_trials(study, span)
    dsr = overfit.deflated_sharpe(chosen.to_numpy(), sr_trials=ledger.sharpes(study, span),
                                  n_trials=max(n, 1))  # fmt: skip
    mintrl = overfit.min_track_record_length(dsr.sr, dsr.skew, dsr.kurt)
    pbo = pbo_or_none(variants) if variants is not None else None
    return {"study": study, "span": span, "n_trials": dsr.n_trials, "dsr": dsr, "pbo": pbo,
            "mintrl": mintrl, "n_obs": dsr.n_obs}  # fmt: skip


def record(ledger: Ledger, study: str, span: str, returns: dict[str, pd.Series],
           hashes: dict[str, str], meta: dict | None = None) -> int:  # fmt: skip
    """Record one trial per variant id of `returns` (daily returns) in the ledger."""
    trials = []
    for vid, ret in returns.items():
        sr, n_obs = daily_sharpe(ret)
        trials.append(Trial(study, vid, hashes[vid], span, n_obs, sr, meta=meta or {}))
    return ledger.record(trials)


def summary_row(a: dict) -> dict:
    """One table row of an assessment (per-day Sharpes)."""
    d, p = a["dsr"], a["pbo"]
    return {"trials recorded": a["n_trials"], "Sharpe/day": d.sr, "SR0/day (best of trials)": d.sr0,
            "DSR": d.dsr, "DSR >= 0.95": d.significant, "MinTRL days": a["mintrl"],
            "days": a["n_obs"], "PBO": p.pbo if p else np.nan}  # fmt: skip


def section(a: dict, what: str) -> tuple[str, str]:
    """("Overfitting", html) for a report: the figures and one plain line each."""
    df = pd.DataFrame([summary_row(a)])
    lines = overfit.explain(a["dsr"], a["pbo"], a["mintrl"], a["n_obs"])
    body = (f"<p>{html.escape(what)}; trials are counted from the ledger (every variant ever "
            f"evaluated in study <code>{html.escape(a['study'])}</code> on {a['span']}, earlier runs "
            "included, re-runs not twice).</p>"
            + df.to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-", border=0)
            + "".join(f"<p>{html.escape(x)}</p>" for x in lines))  # fmt: skip
    return "Overfitting (DSR, PBO, MinTRL)", body


def cli_lines(a: dict) -> list[str]:
    """Short CLI lines: trials recorded and the explanation sentences."""
    return [f"trials recorded ({a['study']}, {a['span']}): {a['n_trials']}",
            *overfit.explain(a["dsr"], a["pbo"], a["mintrl"], a["n_obs"])]  # fmt: skip


def _epoch_returns(metrics: dict, days: pd.DatetimeIndex) -> pd.Series:
    """Daily account returns of one hyperopt epoch from its `daily_profit` [(date, abs)]."""
    pnl = pd.Series(0.0, index=days)
    pairs = metrics.get("daily_profit") or []
    if pairs:
        got = pd.Series({pd.Timestamp(d): float(v) for d, v in pairs})
        pnl = got.reindex(days, fill_value=0.0)
    balance = float(metrics.get("starting_balance", 1000.0)) + pnl.cumsum().shift(1, fill_value=0)
    return pnl / balance


def hyperopt_epochs(vdir: Path, train_start, train_end) -> tuple[pd.DataFrame, dict, int | None]:
    """Every hyperopt epoch of a walk-forward window: (daily returns days x epochs over the train
    window, params per epoch, index of the chosen (lowest loss) epoch); empty when no `.fthypt`
    file is there. Reads Freqtrade's one-JSON-object-per-line results file."""
    files = sorted(Path(vdir).glob("ud/hyperopt_results/*.fthypt"))
    days = pd.date_range(pd.Timestamp(train_start), pd.Timestamp(train_end), freq="D",
                         inclusive="left")  # fmt: skip
    cols, params, losses = {}, {}, {}
    for line in files[-1].read_text().splitlines() if files else []:
        if not line.strip():
            continue
        ep = json.loads(line)
        i = int(ep.get("current_epoch", len(cols) + 1))
        cols[f"e{i:04d}"] = _epoch_returns(ep.get("results_metrics", {}), days)
        params[f"e{i:04d}"] = ep.get("params_dict", {})
        losses[f"e{i:04d}"] = float(ep.get("loss", np.inf))
    if not cols:
        return pd.DataFrame(index=days), {}, None
    chosen = min(losses, key=losses.get)
    return pd.DataFrame(cols), params, list(cols).index(chosen)


def _hash(base: dict, r, pairs: list[str], extra: dict | None = None) -> str:
    from perpflow.validation.trials import config_hash

    overlay = r.overlay if isinstance(r.overlay, dict) else json.loads(r.overlay)
    fee = getattr(r, "fee", None)
    return config_hash(config=base, overlay=overlay, pairs=pairs,
                       fee=None if fee is None or pd.isna(fee) else float(fee), extra=extra)  # fmt: skip


def robustness_overfit(out: Path, results: pd.DataFrame, kinds: dict[str, str], start, end, *,
                       ledger: Ledger, base: dict, pairs: list[str]) -> dict:  # fmt: skip
    """Record every variant (base/one/joint as `robustness`, latency/fee as
    `robustness-stress`) and assess the base config: DSR over the robustness trials on this
    span, PBO over the base/one/joint daily returns."""
    from perpflow.validation.metrics import daily_returns
    from perpflow.validation.study import variant_trades

    span = span_of(start, end)
    rets, hashes, family = {}, {}, {}
    for r in results[results["returncode"] == 0].itertuples():
        bal = float(r.starting_balance)
        rets[r.id] = daily_returns(variant_trades(out, r.id), bal, start, end)
        hashes[r.id] = _hash(base, r, pairs)
        family[r.id] = ("robustness" if kinds.get(r.id) in ("base", "one", "joint")
                        else "robustness-stress")  # fmt: skip
    for study in ("robustness", "robustness-stress"):
        ids = [i for i in rets if family[i] == study]
        record(ledger, study, span, {i: rets[i] for i in ids}, hashes)
    grid = pd.DataFrame({i: rets[i] for i in rets if family[i] == "robustness"})
    return assess(ledger, "robustness", span, rets["base"], grid)


def walk_forward_overfit(out: Path, windows, results: pd.DataFrame, oos: pd.DataFrame,
                         balance: float, *, ledger: Ledger, base: dict, pairs: list[str],
                         settings: dict) -> tuple[dict, pd.DataFrame]:  # fmt: skip
    """Record each test window, each hyperopt epoch and the stitched out-of-sample record;
    returns (assessment of the stitched record among every walk-forward run on the same span,
    per-window hyperopt table: epochs, PBO over the epochs' train-window daily returns, the
    chosen epoch's in-sample Sharpe/day and DSR)."""
    from perpflow.validation.metrics import daily_returns
    from perpflow.validation.study import variant_trades
    from perpflow.validation.trials import sha256_of

    by_id = {r.id: r for r in results.itertuples()}
    rows = []
    for w in windows:
        vid = f"wf{w.index:02d}"
        ret = daily_returns(variant_trades(out, vid), balance, w.test_start, w.test_end)
        record(ledger, "walk-forward-window", w.timerange, {vid: ret},
               {vid: _hash(base, by_id[vid], pairs, settings)})  # fmt: skip
        epochs, params, chosen = hyperopt_epochs(out / "variants" / vid, w.train_start, w.train_end)
        if chosen is None:
            continue
        train = span_of(w.train_start, w.train_end)
        hashes = {e: sha256_of({"config": base, "pairs": sorted(pairs), "params": params[e]})
                  for e in epochs}  # fmt: skip
        record(ledger, "hyperopt", train, dict(epochs.items()), hashes, {"window": w.index})
        a = assess(ledger, "hyperopt", train, epochs.iloc[:, chosen], epochs)
        rows.append({"window": w.index, "train": train, "epochs": epochs.shape[1],
                     "trials recorded": a["n_trials"], "chosen": epochs.columns[chosen],
                     "IS Sharpe/day": a["dsr"].sr, "IS DSR": a["dsr"].dsr,
                     "PBO": a["pbo"].pbo if a["pbo"] else np.nan})  # fmt: skip
    first, last = windows[0].test_start, windows[-1].test_end
    span = span_of(first, last)
    stitched = daily_returns(oos, balance, first, last)
    record(ledger, "walk-forward", span, {"oos": stitched},
           {"oos": sha256_of({"config": base, "pairs": sorted(pairs), **settings})})  # fmt: skip
    return assess(ledger, "walk-forward", span, stitched), pd.DataFrame(rows)
