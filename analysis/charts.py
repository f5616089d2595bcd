"""Charts for ministries: trend with interval ribbon and control limits, reason bars,
and a ranked forest plot of agencies. Matplotlib (Agg), labels through gettext and
numbers through Babel, so a Vietnamese or Indonesian reader sees their own formats.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from pathlib import Path
from typing import IO

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from babel.numbers import format_percent
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter

from analysis.intervals import ALPHA
from analysis.reasons import ReasonBreakdown
from analysis.satisfaction import SatisfactionComparison
from analysis.trend import TrendResult

BLUE, GREY, RED, GREEN = "#0b57a4", "#6e7781", "#b3261e", "#1a7f37"
# DejaVu Sans ships with matplotlib and covers Vietnamese diacritics.
FONT = {"family": "DejaVu Sans", "size": 10}


def _t(translations: gettext_module.NullTranslations | None) -> gettext_module.NullTranslations:
    return translations or gettext_module.NullTranslations()


def _level(locale: str) -> str:
    return format_percent(1 - ALPHA, locale=locale)


def _percent_axis(axis, locale: str) -> None:  # type: ignore[no-untyped-def]
    axis.set_major_formatter(FuncFormatter(lambda v, _: format_percent(v, locale=locale)))


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    with matplotlib.rc_context({"font.family": FONT["family"]}):
        figure.add_subplot()
    return figure


def _numbers(column: pd.Series) -> np.ndarray:
    # A published (suppressed) result holds its blanks as NaN in object columns.
    return pd.to_numeric(column, errors="coerce").to_numpy(float)


def _flags(column: pd.Series) -> np.ndarray:
    # NaN, a suppressed flag, is truthy: bool(nan) would mark the row.
    return column.eq(True).to_numpy(bool)


def _low_limit(*values: object) -> float:
    shown = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values])
    shown = shown[np.isfinite(shown)]
    return max(0.0, float(shown.min()) - 0.05) if shown.size else 0.0


def _literal(figure: Figure) -> Figure:
    """Agency names, reason labels and titles are data: a "$" in them must not start
    mathtext, which garbles the text between two of them or fails on render."""
    for text in figure.findobj(Text):
        text.set_parse_math(False)
    return figure


def target_label(t: gettext_module.NullTranslations, target: float, locale: str) -> str:
    return t.gettext("Target %(target)s") % {"target": format_percent(target, locale=locale)}


def trend_chart(
    result: TrendResult,
    *,
    locale: str = "en",
    translations: gettext_module.NullTranslations | None = None,
    target: float | None = None,
    title: str | None = None,
    comparison: TrendResult | None = None,
    comparison_label: str | None = None,
) -> Figure:
    """CSAT per period with its 95% interval as a ribbon, p-chart limits and the target."""
    t = _t(translations)
    figure = _figure(7.5, 3.6)
    ax = figure.axes[0]
    periods = result.periods
    x = np.arange(len(periods))
    csat, ci_low, lcl = (_numbers(periods[c]) for c in ("csat", "ci_low", "lcl"))
    ax.fill_between(
        x,
        ci_low,
        _numbers(periods["ci_high"]),
        color=BLUE,
        alpha=0.18,
        linewidth=0,
        label=t.gettext("%(level)s confidence interval") % {"level": _level(locale)},
    )
    ax.plot(x, csat, color=BLUE, marker="o", label=t.gettext("Satisfaction"))
    ax.step(
        x,
        _numbers(periods["ucl"]),
        where="mid",
        color=GREY,
        linestyle=":",
        linewidth=1,
        label=t.gettext("Control limits (3 sigma)"),
    )
    ax.step(x, lcl, where="mid", color=GREY, linestyle=":", linewidth=1)
    flagged = _flags(periods["out_of_control"])
    if flagged.any():
        ax.scatter(
            x[flagged],
            csat[flagged],
            s=90,
            facecolors="none",
            edgecolors=RED,
            linewidths=2,
            zorder=5,
            label=t.gettext("Unusual period"),
        )
    other = np.full(len(x), np.nan)
    if comparison is not None:
        other = _numbers(comparison.periods.set_index("period")["csat"].reindex(periods["period"]))
        ax.plot(
            x,
            other,
            color=GREY,
            marker=".",
            linestyle="--",
            label=comparison_label or t.gettext("National"),
        )
    if target is not None:
        ax.axhline(
            target,
            color=GREEN,
            linestyle="--",
            linewidth=1.2,
            label=target_label(t, target, locale),
        )
    ax.set_xticks(
        x,
        periods["period"],
        rotation=45 if len(x) > 8 else 0,
        ha="right" if len(x) > 8 else "center",
    )
    ax.set_ylabel(t.gettext("Share satisfied (ratings 4-5)"))
    _percent_axis(ax.yaxis, locale)
    # Everything drawn, not only the ribbon: a national line or a target far
    # below a good agency's intervals would fall outside the axis.
    ax.set_ylim(_low_limit(ci_low, csat, lcl, other, [] if target is None else [target]), 1.0)
    ax.set_title(title or t.gettext("Satisfaction over time"))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8, frameon=False, ncols=2)
    return _literal(figure)


def reason_chart(
    result: ReasonBreakdown,
    *,
    group: str | None = None,
    locale: str = "en",
    translations: gettext_module.NullTranslations | None = None,
    labels: dict[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """Reason shares as horizontal bars with 95% interval whiskers (overall or one group).

    In a group's chart, reasons significantly over- or under-represented
    compared with the other groups are drawn in red or green.
    """
    t = _t(translations)
    if group is None:
        data = result.overall.assign(significant=False, adjusted_residual=np.nan)
    else:
        data = result.cells[result.cells["group"] == str(group)]
        if data.empty:
            raise ValueError(f"no group {group!r} in this breakdown")
    data = data.assign(share=_numbers(data["share"])).sort_values("share", na_position="first")
    figure = _figure(7.5, 0.5 * len(data) + 1.4)
    ax = figure.axes[0]
    y = np.arange(len(data))
    share = data["share"].to_numpy(float)
    low, high = _numbers(data["ci_low"]), _numbers(data["ci_high"])
    residual = np.nan_to_num(_numbers(data["adjusted_residual"]))
    colours = [
        (RED if r > 0 else GREEN) if s else BLUE
        for s, r in zip(_flags(data["significant"]), residual, strict=True)
    ]
    # A Wilson bound at a share of 0 or 1 can sit a rounding error on the wrong
    # side of the share, and matplotlib refuses a negative whisker; a missing
    # bound (no respondents, suppressed) gets no whisker.
    errors = np.nan_to_num(np.clip(np.vstack([share - low, high - share]), 0.0, None))
    ax.barh(y, share, color=colours, xerr=errors, capsize=3, ecolor="#333")
    names = [(labels or {}).get(r, r) for r in data["reason"]]
    ax.set_yticks(y, names)
    for yi, value in zip(y, share, strict=True):
        if np.isfinite(value):
            ax.text(value, yi + 0.3, format_percent(value, locale=locale), fontsize=8, color="#333")
    _percent_axis(ax.xaxis, locale)
    shown = np.concatenate([high, share])
    shown = shown[np.isfinite(shown)]
    ax.set_xlim(0, min(1.0, float(shown.max()) + 0.1) if shown.size else 1.0)
    ax.set_xlabel(t.gettext("Share of responses"))
    ax.set_title(title or t.gettext("Reasons for dissatisfaction"))
    ax.grid(axis="x", alpha=0.3)
    return _literal(figure)


def forest_chart(
    result: SatisfactionComparison,
    *,
    locale: str = "en",
    translations: gettext_module.NullTranslations | None = None,
    labels: dict[str, str] | None = None,
    target: float | None = None,
    title: str | None = None,
) -> Figure:
    """Agencies ranked by CSAT, each a dot with its 95% interval; the national line,
    significant differences from the rest marked, small groups greyed."""
    t = _t(translations)
    data = result.groups[result.groups["total"] > 0].sort_values("csat")
    figure = _figure(7.5, 0.4 * len(data) + 1.6)
    ax = figure.axes[0]
    y = np.arange(len(data))
    for yi, row in zip(y, data.itertuples(index=False), strict=True):
        colour = (
            GREY
            if row.insufficient
            else ((GREEN if row.diff > 0 else RED) if row.significant else BLUE)
        )
        ax.plot([row.ci_low, row.ci_high], [yi, yi], color=colour, linewidth=2)
        ax.plot(
            [row.csat], [yi], marker="D" if row.significant else "o", color=colour, markersize=6
        )
    ax.axvline(
        result.overall.csat,
        color="#333",
        linestyle="--",
        linewidth=1,
        label=t.gettext("All agencies %(value)s")
        % {"value": format_percent(result.overall.csat, locale=locale)},
    )
    if target is not None:
        ax.axvline(
            target, color=GREEN, linestyle=":", linewidth=1.2, label=target_label(t, target, locale)
        )
    names = [(labels or {}).get(g, g) for g in data["group"]]
    few_label = t.gettext("few responses")
    marks = [
        f"{name} *" if significant else (f"{name} ({few_label})" if few else name)
        for name, significant, few in zip(
            names, data["significant"], data["insufficient"], strict=True
        )
    ]
    ax.set_yticks(y, marks)
    _percent_axis(ax.xaxis, locale)
    ax.set_xlabel(
        t.gettext("Share satisfied (ratings 4-5), %(level)s interval") % {"level": _level(locale)}
    )
    ax.set_title(title or t.gettext("Satisfaction by agency (* significant difference)"))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return _literal(figure)


def save(figure: Figure, target: str | Path | IO[bytes], format: str = "svg") -> None:
    """Write ``figure`` as SVG or PNG to a path or a binary file object."""
    if format not in ("svg", "png"):
        raise ValueError("format must be 'svg' or 'png'")
    figure.savefig(target, format=format, metadata={"Date": None} if format == "svg" else None)


def render(figure: Figure, format: str = "svg") -> bytes:
    buffer = io.BytesIO()
    save(figure, buffer, format)
    return buffer.getvalue()
