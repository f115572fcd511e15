"""`perpflow heatmap`: Bookmap-style resting liquidity over price and time, with trades and
liquidations on top; a PNG (matplotlib) and an interactive HTML (plotly, Freqtrade's plotting
library).

Resting size is binned on a price grid (`tick_bins` ticks per row) per time bin, from the book
snapshots' levels (vectorised: one bincount over all snapshot levels). Trades are dots (green
aggressive buys, red sells, area ~ size); liquidations are triangles; labelled events (e.g.
"price moved >= 1.5 ATR after a 90th-percentile liquidation cluster", from `perpflow label`)
are vertical lines with their text.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from perpflow.features.orderbook import Book, aggressor_is_buy  # noqa: E402

logger = logging.getLogger(__name__)


def liquidity_grid(book: Book, *, time_bins: int = 300, price_bins: int = 120,
                   price_range: tuple[float, float] | None = None) -> dict:  # fmt: skip
    """Resting size summed per (time bin, price bin), averaged over the snapshots in each time
    bin. Returns `t_edges` (datetime64), `p_edges`, `size` (time_bins, price_bins); when the
    price range spans fewer ticks than `price_bins`, one bin per tick instead. A time bin with no
    snapshot repeats the last one seen."""
    ts = pd.DatetimeIndex(pd.to_datetime(book.ts, utc=True)).as_unit("ns").asi8
    px = np.concatenate([book.bid_px, book.ask_px], axis=1)
    sz = np.concatenate([book.bid_sz, book.ask_sz], axis=1)
    lo, hi = price_range or (np.nanmin(px), np.nanmax(px))
    steps = np.diff(np.unique(px[np.isfinite(px)]))
    tick = float(steps[steps > 0].min()) if (steps > 0).any() else 0.0
    if tick > 0 and (hi - lo) / price_bins < tick:  # finer bins than the tick leave empty stripes:
        price_bins = max(1, int(round((hi - lo) / tick)) + 1)  # one bin per tick, centred on it
        lo, hi = lo - tick / 2, hi + tick / 2
    t_edges = np.linspace(ts.min(), ts.max() + 1, time_bins + 1)
    p_edges = np.linspace(lo, hi, price_bins + 1)
    ti = np.clip(np.searchsorted(t_edges, ts, side="right") - 1, 0, time_bins - 1)
    pi = np.searchsorted(p_edges, px, side="right") - 1
    pi = np.where(px == hi, price_bins - 1, pi)  # the top edge belongs to the last bin
    ok = ~np.isnan(px) & ~np.isnan(sz) & (pi >= 0) & (pi < price_bins)
    flat = (np.repeat(ti, px.shape[1]).reshape(px.shape) * price_bins + pi)[ok]
    size = np.bincount(flat, weights=sz[ok], minlength=time_bins * price_bins)
    counts = np.bincount(ti, minlength=time_bins).astype("float64")
    grid = size.reshape(time_bins, price_bins) / np.where(counts > 0, counts, np.nan)[:, None]
    # a time bin without a snapshot shows the book as last seen (it rests until the next one)
    last_seen = np.maximum.accumulate(np.where(counts > 0, np.arange(time_bins), 0))
    grid = grid[last_seen]
    return {"t_edges": pd.to_datetime(t_edges.astype("int64"), utc=True), "p_edges": p_edges,
            "size": grid}  # fmt: skip


def in_view(frame: pd.DataFrame | None, book: Book) -> pd.DataFrame | None:
    """Trades/liquidations inside the book's time span and price range (a capture file may hold
    another market's prints under the same symbol; those are left out, and counted)."""
    if frame is None or frame.empty:
        return frame
    lo = np.nanmin(np.r_[book.bid_px.ravel(), book.ask_px.ravel()])
    hi = np.nanmax(np.r_[book.bid_px.ravel(), book.ask_px.ravel()])
    ts = pd.to_datetime(frame["ts"], utc=True)
    t0, t1 = pd.to_datetime(book.ts, utc=True).min(), pd.to_datetime(book.ts, utc=True).max()
    keep = frame["price"].between(lo, hi) & (ts >= t0) & (ts <= t1)
    if (~keep).any():
        logger.info(
            "heatmap: %d of %d prints outside the book's price range or time span, not drawn",
            int((~keep).sum()),
            len(frame),
        )
    return frame[keep]


def events_from_labels(
    labels: pd.DataFrame, pair: str | None = None, timeframe: str = "5m"
) -> pd.DataFrame:
    """Marks (`ts`, `text`) from a `perpflow label` dataset: each event at its candle's close
    (when it is known), with what followed: a liquidation cluster's >= 1.5 ATR move and its
    direction (the brief's label), a sweep's reversal, an entry's triple-barrier result. Rows of
    other pairs are left out when `pair` is given (label files hold several)."""
    missing = [c for c in ("date", "event") if c not in labels.columns]
    if missing:
        raise ValueError(f"label data lacks {missing}: make it with `perpflow label`")
    rows = labels if pair is None or "pair" not in labels else labels[labels["pair"] == pair]
    text = pd.Series("", index=rows.index, dtype=object)
    liq = rows["event"] == "liq_cluster"
    if liq.any():
        moved = rows.get("liq_move", pd.Series(np.nan, index=rows.index))
        way = (
            rows.get("liq_move_dir", pd.Series(0, index=rows.index))
            .map({1: " up", -1: " down"})
            .fillna("")
        )
        text[liq] = np.where(moved[liq].isna(), "liq cluster (data ends)",
                             np.where(moved[liq] == 1, "liq cluster: moved >= 1.5 ATR" + way[liq],
                                      "liq cluster: no 1.5 ATR move"))  # fmt: skip
    sweep = rows["event"] == "sweep"
    if sweep.any():
        rev = rows.get("sweep_reversal", pd.Series(np.nan, index=rows.index))[sweep]
        text[sweep] = np.where(
            rev == 1, "sweep: reversed", np.where(rev == 0, "sweep: no reversal", "sweep")
        )
    entry = rows["event"] == "entry"
    if entry.any():
        tb = rows.get("tb_label", pd.Series(np.nan, index=rows.index))[entry]
        text[entry] = "entry: " + tb.map(
            {1: "target first", -1: "stop first", 0: "timed out"}
        ).fillna("open")
    ts = pd.to_datetime(rows["date"], utc=True) + pd.Timedelta(timeframe)
    return pd.DataFrame({"ts": ts, "text": text}).reset_index(drop=True)


def events_in_span(events: pd.DataFrame | None, book: Book) -> pd.DataFrame | None:
    """The marks inside the book's time span (counted in the log when some are not)."""
    if events is None or events.empty:
        return events
    ts = pd.to_datetime(events["ts"], utc=True)
    span = pd.to_datetime(book.ts, utc=True)
    keep = (ts >= span.min()) & (ts <= span.max())
    if (~keep).any():
        logger.info(
            "heatmap: %d of %d events outside the book's time span, not drawn",
            int((~keep).sum()),
            len(events),
        )
    kept = events[keep].assign(ts=ts[keep])
    # several events of one candle close share a line: one label, texts joined
    return kept.groupby("ts", sort=True)["text"].agg(lambda t: "\n".join(map(str, t))).reset_index()


def _mid(book: Book) -> tuple[pd.DatetimeIndex, np.ndarray]:
    return pd.DatetimeIndex(pd.to_datetime(book.ts, utc=True)), (
        book.bid_px[:, 0] + book.ask_px[:, 0]
    ) / 2


def heatmap_png(book: Book, path: Path, *, title: str, trades: pd.DataFrame | None = None,
                liquidations: pd.DataFrame | None = None, events: pd.DataFrame | None = None,
                time_bins: int = 300, price_bins: int = 120) -> Path:  # fmt: skip
    """Write the PNG; `trades`/`liquidations` need ts, price, amount, side; `events` ts, text."""
    g = liquidity_grid(book, time_bins=time_bins, price_bins=price_bins)
    trades, liquidations = in_view(trades, book), in_view(liquidations, book)
    events = events_in_span(events, book)
    fig, ax = plt.subplots(figsize=(13, 6.5))
    ax.set_facecolor("black")  # empty price bins read as no liquidity, as on Bookmap
    size = np.where(g["size"] > 0, g["size"], np.nan)
    mesh = ax.pcolormesh(g["t_edges"], g["p_edges"], size.T, cmap="magma",
                         norm=LogNorm(vmin=np.nanpercentile(size, 5), vmax=np.nanmax(size)),
                         shading="flat")  # fmt: skip
    fig.colorbar(mesh, ax=ax, label="resting size per price bin (log)")
    t, mid = _mid(book)
    ax.plot(t, mid, color="#38bdf8", linewidth=0.8, label="mid")
    for frame, marker, label in ((trades, "o", "trades"), (liquidations, "^", "liquidations")):
        if frame is None or frame.empty:
            continue
        buy = aggressor_is_buy(frame["side"])
        s = 8 + 120 * (frame["amount"] / frame["amount"].max()) ** 0.5
        ax.scatter(pd.to_datetime(frame["ts"], utc=True), frame["price"], s=s, marker=marker,
                   c=np.where(buy, "#22c55e", "#ef4444"), edgecolors="white", linewidths=0.3,
                   label=f"{label} (green buy, red sell)", zorder=3)  # fmt: skip
    if events is not None:
        for e in events.itertuples():
            ax.axvline(pd.Timestamp(e.ts), color="#facc15", linestyle="--", linewidth=1)
            ax.text(pd.Timestamp(e.ts), g["p_edges"][-1], f" {e.text}", color="#facc15",
                    va="top", fontsize=8, rotation=90)  # fmt: skip
    ax.set_title(title)
    ax.set_ylabel("price")
    ax.legend(loc="upper left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def heatmap_html(book: Book, path: Path, *, title: str, trades: pd.DataFrame | None = None,
                 liquidations: pd.DataFrame | None = None, events: pd.DataFrame | None = None,
                 time_bins: int = 300, price_bins: int = 120) -> Path:  # fmt: skip
    """Write the interactive HTML (zoom, hover values), plotly loaded from its CDN."""
    import plotly.graph_objects as go

    g = liquidity_grid(book, time_bins=time_bins, price_bins=price_bins)
    trades, liquidations = in_view(trades, book), in_view(liquidations, book)
    centres_t = (g["t_edges"][:-1] + (g["t_edges"][1:] - g["t_edges"][:-1]) / 2).floor("ms")
    centres_p = (g["p_edges"][:-1] + g["p_edges"][1:]) / 2
    fig = go.Figure(go.Heatmap(x=centres_t, y=centres_p, z=np.log10(g["size"].T + 1e-12),
                               colorscale="Magma", colorbar={"title": "log10 size"}))  # fmt: skip
    t, mid = _mid(book)
    fig.add_trace(go.Scatter(x=t, y=mid, mode="lines", name="mid", line={"color": "#38bdf8"}))
    for frame, symbol, name in (
        (trades, "circle", "trades"),
        (liquidations, "triangle-up", "liquidations"),
    ):
        if frame is not None and not frame.empty:
            buy = aggressor_is_buy(frame["side"])
            fig.add_trace(go.Scatter(
                x=pd.to_datetime(frame["ts"], utc=True), y=frame["price"], mode="markers", name=name,
                marker={"symbol": symbol, "color": np.where(buy, "#22c55e", "#ef4444"),
                        "size": 5 + 20 * (frame["amount"] / frame["amount"].max()) ** 0.5},
                text=[f"{'buy' if b else 'sell'} {a}" for b, a in zip(buy, frame["amount"], strict=True)],
            ))  # fmt: skip
    events = events_in_span(events, book)
    for e in events.itertuples() if events is not None else ():
        fig.add_vline(
            x=pd.Timestamp(e.ts).to_pydatetime(),
            line={"color": "#facc15", "dash": "dash", "width": 1},
        )
        fig.add_annotation(x=pd.Timestamp(e.ts).to_pydatetime(), y=1, yref="paper", text=e.text.replace("\n", "<br>"), showarrow=False,
                           textangle=-90, xanchor="left", yanchor="top", font={"color": "#facc15", "size": 10})  # fmt: skip
    fig.update_layout(title=title, template="plotly_dark", yaxis_title="price")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs="cdn")
    return path
