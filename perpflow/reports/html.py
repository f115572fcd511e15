"""Study reports: one self-contained HTML file (tables, embedded PNGs) plus the PNGs themselves.

Every report states whether the result is statistically significant (t statistic of the mean
trade return >= 2) in plain words at the top.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from perpflow.validation.metrics import by_session, excursions  # noqa: E402

CSS = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
       "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 6px;"
       "text-align:right}.warn{background:#fef3c7;padding:.6em;border-left:4px solid #f59e0b}"
       ".ok{background:#dcfce7;padding:.6em;border-left:4px solid #16a34a}")  # fmt: skip


def significance(t_stat: float, trades: int) -> tuple[bool, str]:
    """(significant, plain sentence) for the mean trade return."""
    if trades < 30:
        return False, (f"Only {trades} trades: too few to say anything; this result is NOT "
                       "statistically significant.")  # fmt: skip
    if abs(t_stat) < 2:
        return False, (f"t = {t_stat:.2f} over {trades} trades: the mean trade return is NOT "
                       "statistically distinguishable from zero.")  # fmt: skip
    if t_stat > 0:
        return (
            True,
            f"t = {t_stat:.2f} over {trades} trades: the mean trade return is positive beyond noise.",
        )
    return True, (
        f"t = {t_stat:.2f} over {trades} trades: the mean trade return is NEGATIVE beyond "
        "noise: as configured, this strategy loses money on this data."
    )


def _png(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return base64.b64encode(path.read_bytes()).decode()


def png_file(path: Path) -> str:
    """Base64 of a PNG already on disk (for embedding)."""
    return base64.b64encode(Path(path).read_bytes()).decode()


def equity_png(equity: pd.Series, windows: pd.DataFrame | None, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(11, 4))
    ax.plot(equity.index, equity.to_numpy(), color="#111827", linewidth=1)
    if windows is not None:
        for _, w in windows.iterrows():
            a = pd.Timestamp(w["test"].split("..")[0], tz="UTC")
            ax.axvline(a, color="#9ca3af", linewidth=0.6, linestyle=":")
    ax.set_title("stitched out-of-sample equity (dotted: test window starts)")
    ax.set_ylabel("equity")
    return _png(fig, path)


def excursion_png(trades: pd.DataFrame, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(6, 5))
    if len(trades):
        ex = excursions(trades)
        win = trades["profit_abs"] > 0
        ax.scatter(100 * ex["mae"][win], 100 * ex["mfe"][win], s=6, color="#16a34a", label="win")
        ax.scatter(100 * ex["mae"][~win], 100 * ex["mfe"][~win], s=6, color="#dc2626",
                   label="loss")  # fmt: skip
        ax.legend()
    ax.set_xlabel("MAE %")
    ax.set_ylabel("MFE %")
    ax.set_title("adverse vs favourable excursion per trade")
    return _png(fig, path)


def session_png(trades: pd.DataFrame, path: Path) -> str:
    fig, ax = plt.subplots(figsize=(6, 4))
    s = by_session(trades)
    ax.bar(s.index.astype(str), s["profit_abs"], color=np.where(s["profit_abs"] >= 0, "#16a34a",
                                                                "#dc2626"))  # fmt: skip
    ax.set_title("profit by New York session block of entry")
    return _png(fig, path)


def distribution_png(values: pd.Series, base: float, path: Path, label: str) -> str:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(values.dropna(), bins=min(30, max(5, len(values) // 2)), color="#93c5fd")
    ax.axvline(base, color="#111827", label="base")
    ax.axvline(0, color="#dc2626", linestyle="--", linewidth=0.8)
    ax.set_xlabel(label)
    ax.set_title(f"{label} across perturbed variants")
    ax.legend()
    return _png(fig, path)


def write_html(path: Path, title: str, verdict: tuple[bool, str], sections: list[tuple[str, str]],
               ) -> Path:  # fmt: skip
    """Sections are (heading, html body) pairs; tables come from DataFrame.to_html."""
    ok, sentence = verdict
    good = ok and "positive" in sentence
    parts = [f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>",
             f"<style>{CSS}</style><h1>{html.escape(title)}</h1>",
             f"<p class={'ok' if good else 'warn'}>{html.escape(sentence)}</p>"]  # fmt: skip
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    Path(path).write_text("\n".join(parts))
    return Path(path)


def img(b64: str) -> str:
    return f'<img src="data:image/png;base64,{b64}" style="max-width:100%">'


def table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-", border=0)
