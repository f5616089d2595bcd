"""Charts for ministries: trend with interval ribbon and control limits, reason bars,
a ranked forest plot of agencies, and for many small groups (provinces) a funnel plot
and a league chart of shrunken estimates. Matplotlib (Agg), labels through gettext and
numbers through Babel, so a Vietnamese or Indonesian reader sees their own formats.
"""

from __future__ import annotations

import gettext as gettext_module
import io
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from babel.numbers import format_decimal, format_percent
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from matplotlib.transforms import Bbox

from analysis.funnel import FUNNEL_LEVELS, FunnelPlot
from analysis.intervals import ALPHA
from analysis.league import RankIntervals, ShrunkenSatisfaction
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
    if result.overall.csat is not None:  # None when every group is withheld
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
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    return _literal(figure)


def _shown(frame: pd.DataFrame, *columns: str) -> np.ndarray:
    """Rows to draw: not withheld (``suppressed``) and a number in every column."""
    keep = np.ones(len(frame), dtype=bool)
    if "suppressed" in frame.columns:
        keep &= ~_flags(frame["suppressed"])
    for column in columns:
        keep &= np.isfinite(_numbers(frame[column]))
    return keep


def _exact_percent(value: float, locale: str) -> str:
    # 99.8%, not the locale pattern's rounded 100%.
    return format_percent(value, locale=locale, decimal_quantization=False)


def _nothing_to_show(ax, t: gettext_module.NullTranslations) -> None:  # type: ignore[no-untyped-def]
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(
        0.5,
        0.5,
        t.gettext("No published figures to show"),
        transform=ax.transAxes,
        ha="center",
        va="center",
        color=GREY,
    )


def _legend_below(figure: Figure, handles: list, columns: int) -> None:
    # Below the axes, not on them: with dozens of groups no corner is empty.
    handles = [h for h in handles if h is not None]
    if handles:
        figure.legend(
            handles,
            [h.get_label() for h in handles],
            loc="outside lower center",
            ncols=min(columns, len(handles)),
            fontsize=8,
            frameon=False,
        )


# Where a group's name may go, in points from its dot: beside it, then above or below,
# then further away with a leader line.
NAME_PLACES = [
    (5, 0, "left", "center"),
    (-5, 0, "right", "center"),
    (4, 4, "left", "bottom"),
    (4, -4, "left", "top"),
    (-4, 4, "right", "bottom"),
    (-4, -4, "right", "top"),
    *[
        (dx, dy, "left" if dx > 0 else "right", "bottom" if dy > 0 else "top")
        for distance in (12, 20, 28, 36)
        for dy in (distance, -distance)
        for dx in (8, -8)
    ],
]


def _name_note(ax, text: str, xy, colour: str, place: tuple) -> Text:  # type: ignore[no-untyped-def]
    dx, dy, ha, va = place
    note = ax.annotate(
        text,
        xy,
        xytext=(dx, dy),
        textcoords="offset points",
        ha=ha,
        va=va,
        fontsize=8,
        color=colour,
        parse_math=False,
        annotation_clip=False,
        bbox={
            "boxstyle": "square,pad=0.1",
            "facecolor": "white",
            "edgecolor": "none",
            "alpha": 0.75,
        },
        arrowprops=(
            {
                "arrowstyle": "-",
                "color": colour,
                "linewidth": 0.6,
                "shrinkA": 0,
                "shrinkB": 3,
                # from the corner of the name nearest the dot
                "relpos": ({"left": 0.0, "right": 1.0}.get(ha, 0.5), 0.0 if dy > 0 else 1.0),
            }
            if abs(dy) > 6
            else None
        ),
    )
    note.set_in_layout(False)
    return note


def _overlap(box, others: list) -> float:  # type: ignore[no-untyped-def]
    return sum(
        max(0.0, min(box.x1, o.x1) - max(box.x0, o.x0))
        * max(0.0, min(box.y1, o.y1) - max(box.y0, o.y0))
        for o in others
    )


def _name_points(figure: Figure, ax, points: np.ndarray, names: list) -> None:  # type: ignore[no-untyped-def]
    """Name some of the dots at ``points`` (data coordinates; ``names`` holds
    ``(text, colour)`` or None per dot), each at the first of NAME_PLACES inside the
    axes where it overlaps neither another name nor a dot, or where it overlaps least."""
    if not any(names):
        return
    # Settle the layout first: the places are checked in display coordinates.
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    frame = ax.get_window_extent(renderer)
    scale = figure.dpi / 72
    radius = 3.5 * scale
    dots = ax.transData.transform(points)
    taken = [Bbox.from_extents(x - radius, y - radius, x + radius, y + radius) for x, y in dots]
    for xy, (x, y), name in zip(points, dots, names, strict=True):
        if name is None:
            continue
        text, colour = name
        probe = _name_note(ax, text, xy, colour, (0, 0, "center", "center"))
        size = probe.get_window_extent(renderer)
        probe.remove()
        width, height = size.width, size.height
        best = None
        for place in NAME_PLACES:
            dx, dy, ha, va = place
            left = x + dx * scale - {"left": 0, "center": width / 2, "right": width}[ha]
            bottom = y + dy * scale - {"bottom": 0, "center": height / 2, "top": height}[va]
            box = Bbox.from_bounds(left, bottom, width, height)
            if not (frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)):
                continue
            cost = _overlap(box, taken)
            if best is None or cost < best[0]:
                best = (cost, place, box)
            if cost == 0:
                break
        if best is None:
            note = _name_note(ax, text, xy, colour, NAME_PLACES[0])
            taken.append(note.get_window_extent(renderer))
        else:
            _name_note(ax, text, xy, colour, best[1])
            taken.append(best[2])


def funnel_chart(
    funnel: FunnelPlot,
    *,
    locale: str = "en",
    translations: gettext_module.NullTranslations | None = None,
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Figure:
    """CSAT against the number of responses, one dot per group, inside the funnel of
    95% and 99.8% control limits around the overall rate (or target); the groups
    outside the 99.8% limits are named. The responses axis is logarithmic."""
    t = _t(translations)
    figure = _figure(7.5, 5.0)
    ax = figure.axes[0]
    ax.set_title(title or t.gettext("Satisfaction by number of responses"))
    ax.set_xlabel(t.gettext("Number of responses"))
    ax.set_ylabel(t.gettext("Share satisfied (ratings 4-5)"))
    groups = funnel.groups
    keep = _shown(groups, "csat", "total") & (np.nan_to_num(_numbers(groups["total"])) > 0)
    data = groups[keep]
    if data.empty:
        # Not even the centre line: when every group is withheld, the rate and the
        # limits may still be those of the withheld responses.
        _nothing_to_show(ax, t)
        return _literal(figure)
    n, csat = _numbers(data["total"]), _numbers(data["csat"])
    drawn = funnel.limits
    at = _numbers(drawn["total"])
    outer_name = f"{100 * FUNNEL_LEVELS[-1]:g}".replace(".", "")
    for level, style in zip(FUNNEL_LEVELS, ("--", ":"), strict=True):
        name = f"{100 * level:g}".replace(".", "")
        label = t.gettext("%(level)s control limits") % {"level": _exact_percent(level, locale)}
        for side in ("lower", "upper"):
            ax.plot(
                at,
                _numbers(drawn[f"{side}_{name}"]),
                color=GREY,
                linestyle=style,
                linewidth=1.1,
                label=label if side == "lower" else None,
            )
    centre = funnel.target
    ax.axhline(
        centre,
        color="#333",
        linewidth=1,
        label=(
            t.gettext("Overall rate %(value)s") % {"value": format_percent(centre, locale=locale)}
            if funnel.target_pooled
            else target_label(t, centre, locale)
        ),
    )
    outside = _flags(data[f"outside_{outer_name}"])
    colours = [
        (GREEN if value > centre else RED) if out else BLUE
        for value, out in zip(csat, outside, strict=True)
    ]
    ax.scatter(n, csat, s=22, c=colours, zorder=4, clip_on=False)
    ax.set_xscale("log")
    shown_at = at[np.isfinite(at) & (at > 0)]
    left = min(float(n.min()), float(shown_at.min()) if shown_at.size else np.inf)
    right = max(float(n.max()), float(shown_at.max()) if shown_at.size else 0.0)
    ax.set_xlim(left / 1.15, right * 1.15)
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_decimal(v, locale=locale)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    _percent_axis(ax.yaxis, locale)
    in_view = (at >= left) & (at <= right)
    ax.set_ylim(_low_limit(csat, [centre], _numbers(drawn[f"lower_{outer_name}"])[in_view]), 1.0)
    ax.grid(alpha=0.3)
    _legend_below(figure, ax.get_legend_handles_labels()[0], 3)
    _literal(figure)
    _name_points(
        figure,
        ax,
        np.column_stack([n, csat]),
        [
            ((labels or {}).get(str(group), str(group)), colour) if out else None
            for group, colour, out in zip(data["group"], colours, outside, strict=True)
        ],
    )
    return figure


def _rank_text(
    t: gettext_module.NullTranslations, name: str, low: float, high: float, locale: str
) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return name
    first, last = (format_decimal(round(v), locale=locale) for v in (low, high))
    if first == last:
        return t.gettext("%(name)s (rank %(rank)s)") % {"name": name, "rank": first}
    return t.gettext("%(name)s (rank %(low)s–%(high)s)") % {
        "name": name,
        "low": first,
        "high": last,
    }


def league_chart(
    shrunken: ShrunkenSatisfaction,
    *,
    locale: str = "en",
    translations: gettext_module.NullTranslations | None = None,
    labels: Mapping[str, str] | None = None,
    target: float | None = None,
    ranks: RankIntervals | None = None,
    title: str | None = None,
) -> Figure:
    """Groups ranked by shrunken (empirical-Bayes) CSAT, best at the top, each with its
    posterior interval, and the raw CSAT as a hollow marker: how far a small group
    was pulled toward the mean. With ``ranks``, each name carries its rank interval."""
    t = _t(translations)
    groups = shrunken.groups
    keep = _shown(groups, "shrunken")
    data = groups[keep].assign(_value=_numbers(groups["shrunken"])[keep])
    data = data.sort_values("_value", ascending=False, kind="stable")
    figure = _figure(7.5, 0.26 * max(len(data), 2) + 2.0)
    ax = figure.axes[0]
    ax.set_title(title or t.gettext("Satisfaction by group, adjusted for group size"))
    ax.set_xlabel(
        t.gettext("Share satisfied (ratings 4-5), %(level)s interval")
        % {"level": _exact_percent(shrunken.level, locale)}
    )
    if data.empty:
        _nothing_to_show(ax, t)
        return _literal(figure)
    # Best at the top: the first row gets the highest y.
    y = np.arange(len(data))[::-1]
    value = data["_value"].to_numpy(float)
    low, high, raw = (_numbers(data[c]) for c in ("ci_low", "ci_high", "csat"))
    errors = np.nan_to_num(np.clip(np.vstack([value - low, high - value]), 0.0, None))
    mean = shrunken.prior.mean
    mean_line = ax.axvline(
        mean,
        color="#333",
        linestyle="--",
        linewidth=1,
        label=t.gettext("Mean across groups %(value)s")
        % {"value": format_percent(mean, locale=locale)},
    )
    target_line = None
    if target is not None:
        target_line = ax.axvline(
            target, color=GREEN, linestyle=":", linewidth=1.2, label=target_label(t, target, locale)
        )
    estimates = ax.errorbar(
        value,
        y,
        xerr=errors,
        fmt="o",
        color=BLUE,
        markersize=5,
        elinewidth=2,
        capsize=0,
        zorder=3,
        label=t.gettext("Adjusted estimate and interval"),
    )
    has_raw = np.isfinite(raw)
    unadjusted = None
    if has_raw.any():
        unadjusted = ax.scatter(
            raw[has_raw],
            y[has_raw],
            s=30,
            facecolors="none",
            edgecolors="#222",
            linewidths=1.1,
            zorder=4,
            clip_on=False,
            label=t.gettext("Unadjusted share"),
        )
    names = [(labels or {}).get(str(g), str(g)) for g in data["group"]]
    if ranks is not None:
        rows = ranks.groups
        rows = rows[_shown(rows, "rank_low", "rank_high")].drop_duplicates("group")
        bounds = {
            str(g): (lo, hi)
            for g, lo, hi in zip(
                rows["group"], _numbers(rows["rank_low"]), _numbers(rows["rank_high"]), strict=True
            )
        }
        names = [
            _rank_text(t, name, *bounds.get(str(g), (np.nan, np.nan)), locale)
            for name, g in zip(names, data["group"], strict=True)
        ]
    ax.set_yticks(y, names, fontsize=8 if len(data) > 20 else 9)
    ax.set_ylim(-0.7, len(data) - 0.3)
    _percent_axis(ax.xaxis, locale)
    ax.set_xlim(_low_limit(low, value, raw, [mean], [] if target is None else [target]), 1.0)
    ax.grid(axis="x", alpha=0.3)
    _legend_below(figure, [estimates, unadjusted, mean_line, target_line], 2)
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
