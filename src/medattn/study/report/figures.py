"""The study report's figures, all in one style.

Style (:data:`STYLE`): PNG at 110 dpi, 9 pt text, a light grid, no top or right spines, and matplotlib's
``tab10`` palette (Tableau 10, chosen for colour-vision deficiencies). Colour is never the only cue: every
variant also has its own marker, and it keeps its colour and marker in every figure. Text is never read as
mathtext, so a ``$`` in a factor value stays a ``$``.

Figures are ``matplotlib.figure.Figure`` objects rendered by the Agg canvas, without pyplot: no global figure
registry, so nothing is left open, and rendering is safe from threads. Files are written atomically.
"""

import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, NullLocator

from medattn.io import write_atomic
from medattn.study.report.document import VERDICT_COLOURS

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "legend.fontsize": 8,
    "text.parse_math": False,
}
PALETTE = matplotlib.colormaps["tab10"].colors
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*", "p", "h")
PANEL_SIZE = (3.2, 2.6)  # inches per subplot


class FigureFolder:
    """Writes numbered PNG files into the report folder and remembers them (names stay unique and file-safe)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.written: list[Path] = []

    def path(self, name: str) -> Path:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "figure"
        path = self.folder / f"{len(self.written) + 1:02d}-{slug}.png"
        self.written.append(path)
        return path

    def save(self, figure: Figure, name: str) -> Path:
        path = self.path(name)
        with matplotlib.rc_context(STYLE):
            write_atomic(path, lambda tmp: figure.savefig(tmp, format="png"))
        return path

    def copy(self, source: Path, name: str) -> Path:
        data = source.read_bytes()
        return write_atomic(self.path(name), lambda tmp: Path(tmp).write_bytes(data))


def look(index: int) -> dict:
    """Colour and marker of the ``index``-th variant."""
    return {"color": PALETTE[index % len(PALETTE)], "marker": MARKERS[index % len(MARKERS)]}


def _panels(n: int, columns: int = 4) -> tuple[Figure, list]:
    columns = max(1, min(columns, n))
    rows = math.ceil(n / columns)
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows), layout="constrained")
        axes = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for unused in axes[n:]:
        unused.set_visible(False)
    return figure, axes[:n]


def _tick_style(labels) -> dict:
    """Slanted tick labels when they are long enough to overlap."""
    return {"rotation": 30, "ha": "right"} if max(map(len, labels), default=0) > 6 else {}


def box_strip(values: pd.DataFrame, metrics: list[tuple[str, bool]], order: list[str], title: str) -> Figure:
    """Per metric, a box per variant with every run as a dot (jittered sideways, seeded).

    Args:
        values: rows of one source with columns variant, metric, value.
        metrics: (metric, higher_is_better) in panel order.
        order: every variant of the study (fixes colours and the x order).
    """
    figure, axes = _panels(len(metrics))
    rng = np.random.default_rng(0)
    with matplotlib.rc_context(STYLE):
        for ax, (metric, higher) in zip(axes, metrics, strict=True):
            rows = values[values["metric"] == metric]
            shown = [v for v in order if v in set(rows["variant"])]
            data = [rows.loc[rows["variant"] == v, "value"].to_numpy() for v in shown]
            ax.boxplot(data, positions=range(len(shown)), widths=0.5, showfliers=False,
                       medianprops={"color": "black"})  # fmt: skip
            for x, (variant, points) in enumerate(zip(shown, data, strict=True)):
                style = look(order.index(variant))
                ax.scatter(x + rng.uniform(-0.15, 0.15, len(points)), points, s=14, zorder=3, alpha=0.8,
                           color=style["color"], marker=style["marker"])  # fmt: skip
            ax.set_xticks(range(len(shown)), shown, **_tick_style(shown))
            ax.set_title(f"{metric} ({'higher' if higher else 'lower'} is better)")
        figure.suptitle(title)
    return figure


def roc_figure(curves, grid: np.ndarray, order: list[str]) -> Figure:
    """Mean ROC curve per variant (``RocCurve`` objects), with the chance diagonal."""
    figure, (ax,) = _panels(1)
    with matplotlib.rc_context(STYLE):
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
        for curve in curves:
            label = f"{curve.variant}: AUC {curve.auc_mean:.3f}" + (
                f" ± {curve.auc_std:.3f}" if curve.n > 1 else ""
            ) + f" (n={curve.n})"  # fmt: skip
            ax.plot(grid, curve.tpr, label=label, markevery=10, markersize=4, **look(order.index(curve.variant)))
        ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
        ax.set_aspect("equal")
        ax.legend(loc="lower right")
    figure.set_size_inches(4.8, 4.4)
    return figure


def training_figure(curves: pd.DataFrame, order: list[str]) -> Figure:
    """Mean validation AUC and losses per epoch per variant (validation loss solid, training loss dashed)."""
    figure, (auc_ax, loss_ax) = _panels(2, columns=2)
    with matplotlib.rc_context(STYLE):
        for variant, rows in curves.groupby("variant", sort=False):
            style = look(order.index(variant)) | {"markersize": 3}
            if "val_auc_roc" in rows:
                auc_ax.plot(rows["epoch"], rows["val_auc_roc"], label=variant, **style)
            if "val_loss" in rows:
                loss_ax.plot(rows["epoch"], rows["val_loss"], **style)
            if "train_loss" in rows:
                loss_ax.plot(rows["epoch"], rows["train_loss"], linestyle="--", **style)
        auc_ax.set(xlabel="epoch", ylabel="validation AUC-ROC", title="validation AUC-ROC (mean over runs)")
        loss_ax.set(xlabel="epoch", ylabel="loss", title="loss (mean over runs)")
        auc_ax.legend()
        loss_ax.legend([Line2D([], [], color="black"), Line2D([], [], color="black", linestyle="--")],
                       ["validation", "training"])  # fmt: skip
        for ax in (auc_ax, loss_ax):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def ood_figure(drops: pd.DataFrame, metric: str, order: list[str]) -> Figure:
    """Per OOD split, the mean drop (test - OOD) of ``metric`` per variant, with the std over seeds."""
    splits = list(dict.fromkeys(drops["split"]))
    figure, axes = _panels(len(splits), columns=3)
    with matplotlib.rc_context(STYLE):
        for ax, split in zip(axes, splits, strict=True):
            rows = drops[(drops["split"] == split) & (drops["metric"] == metric)]
            colours = [look(order.index(v))["color"] for v in rows["variant"]]
            ax.bar(range(len(rows)), rows["drop"], yerr=rows["drop_std"].fillna(0), color=colours, capsize=3)
            ax.set_xticks(range(len(rows)), rows["variant"], **_tick_style(rows["variant"]))
            ax.axhline(0, color="black", linewidth=0.8)
            ax.set(title=f"{split}: drop in {metric} (test - OOD)", ylabel=f"{metric} drop")
    return figure


def _regime_axis(ax, regimes: pd.Series) -> None:
    """Log scale when the regimes span a factor of 10 or more; ticks at the regimes, as plain numbers."""
    if regimes.min() > 0 and regimes.max() / regimes.min() >= 10:
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
    ticks = sorted(set(regimes))
    ax.set_xticks(ticks, [f"{tick:g}" for tick in ticks])


def regime_figure(curves: pd.DataFrame, metrics: list[str]) -> Figure:
    """Test metric (mean ± std over seeds) against the data regime, one line per variant without the regime."""
    groups = list(dict.fromkeys(curves["group"]))
    figure, axes = _panels(len(metrics), columns=2)
    with matplotlib.rc_context(STYLE):
        for ax, metric in zip(axes, metrics, strict=True):
            for group, rows in curves[curves["metric"] == metric].groupby("group", sort=False):
                ax.errorbar(pd.to_numeric(rows["regime"]), rows["mean"], yerr=rows["std"].fillna(0), label=group,
                            capsize=3, markersize=4, **look(groups.index(group)))  # fmt: skip
            _regime_axis(ax, pd.to_numeric(curves["regime"]))
            ax.set(xlabel="data regime (training fraction)", ylabel=f"test {metric}", title=metric)
            ax.legend()
    return figure


VERDICT_MARKERS = {"better": "P", "equivalent": "s", "worse": "X", "undecided": "o"}
ROW_HEIGHT = 0.24  # inches per forest-plot row
ROPE_GREY = "0.85"


def forest_figure(rows: pd.DataFrame, order: list[str], title: str) -> Figure:
    """Mean paired differences with their 95 % intervals, one panel per measure (each on its own scale, with its
    ROPE shaded around 0), one line per comparison in ``order`` (top to bottom), dots coloured by verdict.

    Args:
        rows: one per comparison and measure, columns panel (its title), row (a label in ``order``), difference,
            ci_low, ci_high (None or NaN: no interval, fewer than 3 pairs), rope, verdict.
        order: the row labels, top to bottom; every panel uses the same positions.
    """
    panels = list(dict.fromkeys(rows["panel"]))
    columns = min(4, len(panels))
    figure, axes = _panels(len(panels), columns=columns)
    with matplotlib.rc_context(STYLE):
        for index, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
            _forest_panel(ax, rows[rows["panel"] == panel], order)
            ax.set_yticks(range(len(order)), order if index % columns == 0 else [""] * len(order))
            ax.set_title(panel)
        shown = [v for v in VERDICT_MARKERS if v in set(rows["verdict"])]
        handles = [Line2D([], [], marker=VERDICT_MARKERS[v], color=VERDICT_COLOURS[v], linestyle="") for v in shown]
        figure.legend([*handles, Patch(color=ROPE_GREY)], [*shown, "±ROPE (region of practical equivalence)"],
                      loc="outside lower center", ncols=len(handles) + 1)  # fmt: skip
        figure.suptitle(f"{title}: mean paired difference (variant - baseline) and its 95 % BCa interval")
    height = (ROW_HEIGHT * len(order) + 0.9) * math.ceil(len(panels) / columns) + 0.9
    figure.set_size_inches(PANEL_SIZE[0] * columns + 1.5, height)
    return figure


def _forest_panel(ax, rows: pd.DataFrame, order: list[str]) -> None:
    """One measure: its ROPE band and 0, then per comparison its interval and a dot in its verdict's look."""
    rope = float(rows["rope"].iloc[0])
    ax.axvspan(-rope, rope, color=ROPE_GREY, linewidth=0, zorder=0)
    ax.axvline(0, color="0.4", linewidth=0.8, zorder=1)
    for item in rows.itertuples():
        y, colour = order.index(item.row), VERDICT_COLOURS[item.verdict]
        if pd.notna(item.ci_low) and pd.notna(item.ci_high):
            ax.plot([item.ci_low, item.ci_high], [y, y], color=colour, linewidth=1.6, zorder=2)
        ax.plot(item.difference, y, marker=VERDICT_MARKERS[item.verdict], color=colour, markersize=6,
                markeredgecolor="white", markeredgewidth=0.5, linestyle="", zorder=3)  # fmt: skip
    ends = pd.concat([rows["difference"], rows["ci_low"], rows["ci_high"], pd.Series([-rope, rope])]).dropna()
    pad = 0.15 * (ends.max() - ends.min())
    ax.set_xlim(ends.min() - pad, ends.max() + pad)
    ax.set_ylim(len(order) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
