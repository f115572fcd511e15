"""The pre-registered selection protocol: choose on a development span, freeze, confirm once.

`plan` evaluates every candidate of a candidates file (`select_spec`) on the DEVELOPMENT span
only (one real `freqtrade backtesting` run each, `perpflow.validation.study.run_study`), picks
one by the criterion the file declared before any result existed, and freezes everything that
led to the choice in `selection.json` with the sha256 of its canonical JSON. `confirm` refuses
a file whose hash does not match, evaluates the frozen choice once on the CONFIRMATION span
(disjoint from development) and reports it with the Deflated Sharpe Ratio over every trial the
ledger holds for the two spans, PBO over the development candidates, and MinTRL.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from perpflow.errors import UserError
from perpflow.research.select_spec import Plan, Span, check_disjoint, load_plan
from perpflow.validation import overfit
from perpflow.validation.metrics import daily_returns, summary
from perpflow.validation.overfit_report import pbo_or_none
from perpflow.validation.study import REPO, Variant, run_study, variant_trades
from perpflow.validation.trials import (
    Ledger,
    Trial,
    config_hash,
    daily_sharpe,
    json_safe,
    sha256_of,
)

logger = logging.getLogger(__name__)
DEV_STUDY, CONFIRM_STUDY = "select-dev", "select-confirm"
VERSION = 1


def _config_content(config: Path) -> dict:
    try:
        return json.loads(Path(config).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{config}: cannot read the base config ({exc})") from None


def evaluate(variants: list[Variant], span: Span, *, study_dir: Path, datadir: Path,
             pairs: list[str], config: Path, workers: int, progress: bool,
             scheduler: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Backtest `variants` on `span`; (summary per variant, daily returns: days x variants).
    A failed backtest is refused with its error (it runs again on the next call). `scheduler`:
    one Dask task per variant (`run_study`), else a local pool of `workers`."""
    results = run_study(variants, study_dir=study_dir, datadir=datadir, pairs=pairs,
                        workers=workers, progress=progress, config=config,
                        scheduler=scheduler)  # fmt: skip
    failed = results[results["returncode"] != 0]
    if len(failed):
        why = str(failed.iloc[0].get("error") or "").strip().splitlines()[-1:] or ["no output"]
        raise UserError(f"backtest(s) failed: {', '.join(failed['id'])}: {why[0]} (logs: "
                        f"{study_dir}/variants/<id>/freqtrade.log; rerun to retry)")  # fmt: skip
    rows, cols = [], {}
    for r in results.itertuples():
        t = variant_trades(study_dir, r.id)
        bal = float(r.starting_balance)
        ret = daily_returns(t, bal, span.start, span.end)
        sr, n_obs = daily_sharpe(ret)
        rows.append({"id": r.id, **summary(t, starting_balance=bal, start=span.start,
                                           end=span.end), "daily_sharpe": sr, "n_obs": n_obs})  # fmt: skip
        cols[r.id] = ret
    return pd.DataFrame(rows), pd.DataFrame(cols)


def _choose(table: pd.DataFrame, metric: str, min_trades: int) -> str:
    eligible = table[(table["trades"] >= min_trades) & np.isfinite(table[metric])]
    if eligible.empty:
        raise UserError(f"no candidate has >= {min_trades} trades and a finite {metric} on the "
                        "development span: nothing can be chosen (the criterion is frozen; "
                        "declare a new candidates file)")  # fmt: skip
    # ties go to the earlier candidate in the file (stable sort)
    return str(eligible.sort_values(metric, ascending=False, kind="stable")["id"].iloc[0])


def _pbo_dict(pbo: overfit.PBO | None) -> dict | None:
    if pbo is None:
        return None
    return {"pbo": pbo.pbo, "n_splits": pbo.n_splits, "splits": len(pbo.logits),
            "slope": pbo.slope, "prob_oos_loss": pbo.prob_oos_loss}  # fmt: skip


def plan(candidates: Path, *, out: Path, datadir: Path, pairs: list[str], config: Path,
         workers: int = 2, progress: bool = True, development: str | None = None,
         confirmation: str | None = None, ledger: Path | None = None,
         strategy: str = "LiquiditySweep", scheduler: str | None = None) -> dict:  # fmt: skip
    """Evaluate every candidate on development, choose by the declared criterion, record the
    trials and freeze `<out>/selection.json`; returns the frozen selection."""
    p: Plan = load_plan(candidates, development=development, confirmation=confirmation)
    out, config = Path(out), Path(config)
    base = _config_content(config)
    led = Ledger(ledger) if ledger else Ledger.beside(out)
    hashes = {c["id"]: config_hash(config=base, overlay=c["overlay"], pairs=pairs,
                                   strategy=strategy) for c in p.candidates}  # fmt: skip
    # the run folder carries the hash: a changed overlay never reads back a stale result
    runs = {f"{c['id']}-{hashes[c['id']][:10]}": c["id"] for c in p.candidates}
    variants = [Variant(r, p.development.timerange, c["overlay"])
                for r, c in zip(runs, p.candidates, strict=True)]  # fmt: skip
    table, rets = evaluate(variants, p.development, study_dir=out / "dev", datadir=datadir,
                           pairs=pairs, config=config, workers=workers, progress=progress,
                           scheduler=scheduler)  # fmt: skip
    table["id"] = table["id"].map(runs)
    rets = rets.rename(columns=runs)[[c["id"] for c in p.candidates]]
    table = table.set_index("id").loc[rets.columns].reset_index()
    led.record(Trial(DEV_STUDY, r.id, hashes[r.id], p.development.timerange, int(r.n_obs),
                     float(r.daily_sharpe), meta={"plan": p.name}) for r in table.itertuples())  # fmt: skip
    rets.to_parquet(out / "dev_returns.parquet")
    chosen = _choose(table, p.criterion.metric, p.criterion.min_trades)
    pbo = pbo_or_none(rets)
    selection = {
        "version": VERSION, "name": p.name, "strategy": strategy, "pairs": list(pairs),
        "datadir": str(Path(datadir).resolve()), "config": str(config.resolve()),
        "config_sha256": sha256_of(base),
        "development": str(p.development), "confirmation": str(p.confirmation),
        "criterion": p.criterion.as_dict(), "candidates": p.candidates,
        "dev_results": json.loads(table.to_json(orient="records")),
        "chosen": {"id": chosen, "overlay": next(c["overlay"] for c in p.candidates
                                                 if c["id"] == chosen),
                   "config_hash": hashes[chosen]},
        "n_trials_dev": led.n_trials(DEV_STUDY, p.development.timerange),
        "pbo_dev": _pbo_dict(pbo), "ledger": str(led.path.resolve()),
    }  # fmt: skip
    frozen = {"sha256": sha256_of(selection), "selection": selection}
    (out / "selection.json").write_text(json.dumps(frozen, indent=1, sort_keys=True))
    logger.info("chose %s of %d candidates; frozen to %s", chosen, len(p.candidates),
                out / "selection.json")  # fmt: skip
    return selection


def load_selection(path: Path) -> dict:
    """The frozen selection of `path` after checking its sha256 (UserError when changed)."""
    path = Path(path)
    try:
        frozen = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such selection file (made by `perpflow research select "
                        "plan`)") from None  # fmt: skip
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: not valid JSON ({exc.msg}): refused") from None
    if not isinstance(frozen, dict) or not isinstance(frozen.get("selection"), dict):
        raise UserError(f"{path}: not a selection file (no 'selection' object): refused")
    got = sha256_of(frozen["selection"])
    if got != frozen.get("sha256"):
        raise UserError(f"{path}: sha256 mismatch ({got[:12]} != frozen "
                        f"{str(frozen.get('sha256'))[:12]}): the selection was changed after it "
                        "was frozen: refused; run `select plan` again for a new choice")  # fmt: skip
    return frozen["selection"]


def confirm(selection_file: Path, *, workers: int = 1, progress: bool = True,
            datadir: Path | None = None, ledger: Path | None = None,
            scheduler: str | None = None) -> dict:  # fmt: skip
    """Evaluate the frozen choice once on the confirmation span; returns and writes
    `<selection dir>/confirmation.json` with its result, DSR, PBO and MinTRL."""
    sel = load_selection(selection_file)
    dev = Span.parse(sel["development"], "development")
    conf = Span.parse(sel["confirmation"], "confirmation")
    check_disjoint(dev, conf)
    config = Path(sel["config"])
    if sha256_of(_config_content(config)) != sel["config_sha256"]:
        raise UserError(f"{config}: the base config changed since the selection was frozen: "
                        "refused; restore it or run `select plan` again")  # fmt: skip
    chosen = sel["chosen"]
    led = Ledger(ledger or sel["ledger"])
    vid = f"{chosen['id']}-{chosen['config_hash'][:10]}"  # a changed choice never reuses a result
    here = Path(selection_file).resolve().parent
    table, rets = evaluate([Variant(vid, conf.timerange, chosen["overlay"])], conf,
                           study_dir=here / "confirm", datadir=Path(datadir or sel["datadir"]),
                           pairs=sel["pairs"], config=config, workers=workers,
                           progress=progress, scheduler=scheduler)  # fmt: skip
    row = table.iloc[0]
    led.record([Trial(CONFIRM_STUDY, chosen["id"], chosen["config_hash"], conf.timerange,
                      int(row["n_obs"]), float(row["daily_sharpe"]),
                      meta={"plan": sel["name"]})])  # fmt: skip
    n_dev = led.n_trials(DEV_STUDY, dev.timerange)
    n_conf = led.n_trials(CONFIRM_STUDY, conf.timerange)
    sharpes = np.r_[
        led.sharpes(DEV_STUDY, dev.timerange), led.sharpes(CONFIRM_STUDY, conf.timerange)
    ]
    ret = rets.iloc[:, 0]
    dsr = overfit.deflated_sharpe(ret.to_numpy(), sr_trials=sharpes, n_trials=n_dev + n_conf)
    mintrl = overfit.min_track_record_length(dsr.sr, dsr.skew, dsr.kurt)
    result = {
        "chosen": chosen["id"], "confirmation": str(conf),
        **{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
           for k, v in row.to_dict().items() if k != "id"},
        "n_trials": dsr.n_trials, "n_trials_dev": n_dev, "n_confirmations": n_conf,
        "dsr": dsr.dsr, "sr0_daily": dsr.sr0, "dsr_significant": dsr.significant,
        "mintrl_days": mintrl, "pbo_dev": sel["pbo_dev"], "selection_sha256": sha256_of(sel),
    }  # fmt: skip
    result["explain"] = overfit.explain(dsr, None, mintrl, int(row["n_obs"]))
    (here / "confirmation.json").write_text(json.dumps(json_safe(result), indent=1, default=float))
    return result


def default_config() -> Path:
    """The repository's config.json."""
    return REPO / "config.json"
