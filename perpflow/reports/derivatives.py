"""`perpflow report derivatives`: how often each funding extreme and OI regime occurs, and a
one-month picture of funding z, OI regime, basis and liquidation clusters over price.

Reads a Freqtrade data dir (futures 1h/5m candles, funding_rate, open_interest, quarterlies,
premiumIndex) and the event store; every missing input is reported as missing, never as zero.
Writes `<out>_frequencies.csv` and `<out>_<PAIR>_<month>.png`, and prints the table.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from perpflow.config import PerpflowConfig  # noqa: E402
from perpflow.data.coverage import covered_candles, read_coverage  # noqa: E402
from perpflow.data.files import load_candles, read_optional  # noqa: E402
from perpflow.data.quarterlies import load_quarterlies  # noqa: E402
from perpflow.data.readers import exchange_symbol  # noqa: E402
from perpflow.data.store import read_events  # noqa: E402
from perpflow.features.basis import front_basis  # noqa: E402
from perpflow.features.funding import funding_settlements, funding_zscore  # noqa: E402
from perpflow.features.liquidations import liquidation_features  # noqa: E402
from perpflow.features.open_interest import OI_REGIMES, oi_column, oi_regime  # noqa: E402

REGIME_COLORS = {0: "#e5e7eb", 1: "#16a34a", 2: "#dc2626", 3: "#2563eb", 4: "#f59e0b"}


def _window(df: pd.DataFrame | None, start, end) -> pd.DataFrame | None:
    if df is None:
        return None
    d = pd.to_datetime(df["date"], utc=True)
    return df[(d >= start) & (d < end)].reset_index(drop=True)


def funding_frame(datadir: Path, pair: str, cfg: PerpflowConfig) -> pd.DataFrame | None:
    """Settlements with their z-score (the strategy's lookback), or None without funding data."""
    raw = read_optional(datadir, pair, "1h-funding_rate")
    if raw is None:
        return None
    s = funding_settlements(raw)
    return s.assign(
        funding_z=funding_zscore(s["funding_rate"], lookback=cfg.filters.funding.lookback)
    )


def oi_frame(datadir: Path, pair: str, cfg: PerpflowConfig) -> pd.DataFrame | None:
    """OI regime per OI row (the strategy's settings), or None without OI history."""
    o = cfg.filters.open_interest
    raw = read_optional(datadir, pair, f"{o.timeframe}-open_interest")
    if raw is None or raw.empty:
        return None
    oi = oi_column(raw)
    price = raw["open_interest_value"].astype("float64") / oi.where(oi > 0)
    reg = oi_regime(price, oi, periods=o.change_periods, window=o.regime_window,
                    threshold=o.regime_threshold)  # fmt: skip
    known = reg["oi_z"].notna() & reg["price_z"].notna()
    return pd.DataFrame({"date": raw["date"], "oi_regime": reg["oi_regime"].where(known)})


def frequencies(datadir: Path, pairs: list[str], start, end, cfg: PerpflowConfig) -> pd.DataFrame:
    """One row per pair: funding-extreme shares (of settlements) and OI-regime shares (of OI
    rows) over [start, end); NaN with a count of 0 where the input is missing."""
    z = cfg.filters.funding.z_extreme
    rows = []
    for pair in pairs:
        row: dict = {"pair": pair}
        f = _window(funding_frame(datadir, pair, cfg), start, end)
        fz = f["funding_z"].dropna() if f is not None else pd.Series(dtype="float64")
        row["settlements"] = len(fz)
        row[f"funding_z>={z:g}"] = (fz >= z).mean() if len(fz) else np.nan
        row[f"funding_z<=-{z:g}"] = (fz <= -z).mean() if len(fz) else np.nan
        o = _window(oi_frame(datadir, pair, cfg), start, end)
        reg = o["oi_regime"].dropna() if o is not None else pd.Series(dtype="float64")
        row["oi_rows"] = len(reg)
        for code, name in OI_REGIMES.items():
            row[f"oi:{name.split(' (')[0]}"] = (reg == code).mean() if len(reg) else np.nan
        rows.append(row)
    return pd.DataFrame(rows).set_index("pair")


def _panel_missing(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#6b7280")
    ax.set_yticks([])


def month_chart(datadir: Path, pair: str, month: str, out: Path, cfg: PerpflowConfig,
                store: Path | None = None) -> Path:  # fmt: skip
    """PNG: price (+ liquidation clusters), funding z, OI regime band, basis for one month."""
    start = pd.Timestamp(month, tz="UTC")
    end = start + pd.offsets.MonthBegin(1)
    px = _window(load_candles(datadir, pair, "1h"), start, end)
    if px is None or px.empty:
        raise ValueError(f"no 1h candles of {pair} in {datadir} for {month}")
    fig, axes = plt.subplots(4, 1, figsize=(13, 9), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.2, 0.7, 1.2]})  # fmt: skip
    ax = axes[0]
    ax.plot(px["date"], px["close"], color="#111827", linewidth=0.9)
    ax.set_title(f"{pair} {month}: price, liquidation clusters, funding z, OI regime, basis")
    _liquidation_marks(ax, datadir, pair, start, end, cfg, store)
    f = _window(funding_frame(datadir, pair, cfg), start, end)
    z = cfg.filters.funding.z_extreme
    if f is None or f.empty:
        _panel_missing(axes[1], "no funding history in this data dir")
    else:
        axes[1].step(f["date"], f["funding_z"], where="post", color="#7c3aed")
        for lvl in (z, -z):
            axes[1].axhline(lvl, color="#9ca3af", linestyle="--", linewidth=0.8)
        hot, cold = f["funding_z"] >= z, f["funding_z"] <= -z
        axes[1].scatter(f["date"][hot], f["funding_z"][hot], color="#dc2626", s=12,
                        label="longs blocked", zorder=3)  # fmt: skip
        axes[1].scatter(f["date"][cold], f["funding_z"][cold], color="#16a34a", s=12,
                        label="shorts blocked", zorder=3)  # fmt: skip
        axes[1].legend(loc="upper left", fontsize=7)
        axes[1].set_ylabel("funding z")
    o = _window(oi_frame(datadir, pair, cfg), start, end)
    if o is None or o["oi_regime"].notna().sum() == 0:
        _panel_missing(
            axes[2], "no open-interest history here: OI filter would block (fail closed)"
        )
    else:
        _regime_band(axes[2], o, pd.Timedelta(cfg.filters.open_interest.timeframe))
        axes[2].set_yticks([])
        handles = [plt.Rectangle((0, 0), 1, 1, color=REGIME_COLORS[c]) for c in OI_REGIMES]
        axes[2].legend(handles, [n.split(" (")[0] for n in OI_REGIMES.values()], ncol=5,
                       fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 1.35))  # fmt: skip
    _basis_panel(axes[3], datadir, pair, px)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _regime_band(ax, o: pd.DataFrame, step: pd.Timedelta) -> None:
    """The OI regime band: one bar per run of equal regimes (one collection per regime), not
    one patch per candle (a month of 5m candles was ~9,000 patches and most of the report's
    time). Unknown regimes stay blank."""
    import matplotlib.dates as mdates

    reg = o["oi_regime"].reset_index(drop=True)
    new_run = reg.ne(reg.shift()).to_numpy()
    starts = np.flatnonzero(new_run)
    ends = np.r_[starts[1:], len(reg)]
    x0 = mdates.date2num(o["date"].iloc[starts])
    x1 = mdates.date2num(o["date"].iloc[ends - 1] + step)
    runs = pd.DataFrame({"regime": reg.iloc[starts].to_numpy(), "x0": x0, "w": x1 - x0})
    for regime, r in runs.dropna(subset=["regime"]).groupby("regime"):
        ax.broken_barh(list(zip(r["x0"], r["w"], strict=True)), (0, 1),
                       facecolors=REGIME_COLORS.get(regime, "#ffffff"))  # fmt: skip
    ax.set_ylim(0, 1)


def _liquidation_marks(ax, datadir, pair, start, end, cfg, store) -> None:
    lc = cfg.filters.liquidations
    root = Path(store) if store else Path(datadir) / "store"
    if not root.exists():
        return
    five = _window(load_candles(datadir, pair, "5m"), start, end)
    sym = exchange_symbol(pair)
    ev = read_events(root, "liquidations", exchange=lc.exchange, symbol=sym, since=start)
    cov = covered_candles(five["date"], read_coverage(root, "liquidation", lc.exchange, sym), "5m")
    if not cov.any():
        return
    feats = liquidation_features(five["date"], ev, pct=lc.pct, lookback=lc.lookback, covered=cov)
    total = feats["liq_long_notional"] + feats["liq_short_notional"]
    # the strategy's clusters are the top 10% of candles; the picture marks the top 2%
    big = (feats["liq_cluster"] & (total >= total.quantile(0.98))).to_numpy()
    longs = big & (feats["liq_long_notional"] >= feats["liq_short_notional"]).to_numpy()
    shorts = big & ~longs
    size = 8 + 60 * (total / total[big].max()).to_numpy() if big.any() else 10
    ax.scatter(five["date"][longs], five["low"][longs], marker="^", s=size[longs] if big.any()
               else 10, color="#dc2626", label="longs liquidated (top 2% of 5m candles)")  # fmt: skip
    ax.scatter(five["date"][shorts], five["high"][shorts], marker="v", s=size[shorts] if big.any()
               else 10, color="#16a34a", label="shorts liquidated (top 2%)")  # fmt: skip
    ax.legend(loc="upper right", fontsize=8)


def _basis_panel(ax, datadir, pair, px) -> None:
    contracts = load_quarterlies(datadir, pair, "1h")
    b = front_basis(px, contracts, lookback=168)
    if b["basis_ann"].notna().any():
        ax.plot(px["date"], 100 * b["basis_ann"], color="#0891b2")
        ax.set_ylabel("basis % ann.")
        return
    span = (px["date"].iloc[0], px["date"].iloc[-1] + pd.Timedelta("1h"))
    prem = _window(read_optional(datadir, pair, "1h-premiumIndex"), *span)
    label = "premium index"
    if prem is None or prem.empty:  # mark vs last: the premium the venue derives too
        mark = _window(read_optional(datadir, pair, "1h-mark"), *span)
        if mark is not None and len(mark):
            last = px.set_index("date")["close"]
            prem = mark.assign(close=mark["close"].to_numpy()
                               / last.reindex(mark["date"]).to_numpy() - 1)  # fmt: skip
            label = "mark / last - 1"
    if prem is not None and len(prem):
        ax.plot(prem["date"], 1e4 * prem["close"], color="#0891b2", linewidth=0.8)
        ax.set_ylabel("premium bp")
        ax.set_title(f"no quarterlies stored: {label} shown (the basis fallback)", fontsize=8)
        return
    _panel_missing(ax, "no quarterlies, premium index or mark price in this data dir")


def derivatives_report(datadir: Path, pairs: list[str], start, end, cfg: PerpflowConfig, out: Path,
                       *, month: str | None = None, store: Path | None = None) -> tuple[pd.DataFrame, list[Path]]:  # fmt: skip
    """`frequencies` over [start, end) written to `<out>_frequencies.csv`, and one month chart
    per pair (`month`, default the start's) as `<out>_<BASE>_<month>.png`; (table, files)."""
    start, end = pd.Timestamp(start, tz="UTC"), pd.Timestamp(end, tz="UTC")
    table = frequencies(Path(datadir), pairs, start, end, cfg)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = [Path(f"{out}_frequencies.csv")]
    table.to_csv(written[0])
    month = month or start.strftime("%Y-%m")
    for pair in pairs:
        png = Path(f"{out}_{pair.split('/')[0]}_{month}.png")
        written.append(month_chart(Path(datadir), pair, month, png, cfg, store=store))
    return table, written
