"""Datasets and FreqAI views: `perpflow label` (labelled event dataset, `perpflow.labels`) and
`perpflow importance` (feature importance across FreqAI windows, `perpflow.ai.importance`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from perpflow.cli.args import DEFAULT_DEMO_DIR, command, config_files, files_of

FREQAI_CONFIGS = ["config.json", "config.freqai.json"]


def _label(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.config_files import perpflow_section
    from perpflow.labels.dataset import label_pair, summarise

    cfg = perpflow_section(files_of(args))
    data = pd.concat(
        [label_pair(Path(args.datadir), p, cfg) for p in args.pairs], ignore_index=True
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data.to_parquet(out, index=False)
    summary = summarise(data)
    summary.to_csv(out.with_suffix(".summary.csv"), index=False)
    with pd.option_context("display.width", 160):
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {len(data)} labelled events to {out}")
    return 0


def _importance(args: argparse.Namespace) -> int:
    import pandas as pd

    from perpflow.ai.importance import importance_report, models_dir
    from perpflow.config_files import merged_config

    models = models_dir(merged_config(files_of(args)), args.models)
    table, rows, png = importance_report(models, Path(args.out), top=args.top)
    with pd.option_context("display.width", 160):
        print(table.head(args.top).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(
        f"{rows['window'].nunique()} windows, ranked by mean {table.attrs['ranked_by']}; "
        f"{int(table['unstable'].sum())} feature(s) with unstable rank"
    )
    print(f"table: {Path(args.out) / 'importance.csv'}  picture: {png}")
    return 0


def register(sub) -> None:
    """label, importance."""
    lb = command(sub, "label", _label, "labelled event dataset (sweeps, clusters, entries)")
    lb.add_argument("--pairs", nargs="+", required=True)
    lb.add_argument("--datadir", default=str(DEFAULT_DEMO_DIR))
    config_files(lb, ["config.json"], "settings from the perpflow section")
    lb.add_argument("--out", default="user_data/labels/events.parquet")

    im = command(
        sub, "importance", _importance, "feature importance across FreqAI walk-forward windows"
    )
    config_files(im, FREQAI_CONFIGS, "freqai.identifier names the model folder")
    im.add_argument("--models", default=None, help="FreqAI model folder (default from identifier)")
    im.add_argument("--top", type=int, default=20)
    im.add_argument("--out", default="user_data/plot/importance")
