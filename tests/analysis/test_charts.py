"""Charts render, in every language, with Vietnamese diacritics intact."""

from __future__ import annotations

import dataclasses
import html
import re
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from babel.numbers import format_percent
from babel.support import Translations
from matplotlib import font_manager
from matplotlib.collections import LineCollection
from matplotlib.text import Text

import analysis
from analysis import charts

LOCALES = Path(__file__).resolve().parents[2] / "locales"


def trend_result():
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    satisfied = [80, 82, 85, 60, 88, 86, 90, 91, 89, 92, 95, 93]
    return analysis.trend(
        pd.DataFrame({"period": months, "satisfied": satisfied, "total": [100] * 12})
    )


@pytest.mark.parametrize("locale", ["vi", "en", "id"])
def test_every_chart_renders_svg_and_png(locale):
    translations = Translations.load(str(LOCALES), [locale], domain="messages")
    satisfaction = analysis.compare_satisfaction(
        pd.DataFrame(
            {"group": ["MIC", "MOF", "HN"], "satisfied": [830, 912, 20], "total": [1000, 1000, 25]}
        )
    )
    reasons = analysis.reason_breakdown(
        pd.DataFrame(
            {
                "group": ["MIC"] * 2 + ["MOF"] * 2,
                "reason": ["portal_error", "other"] * 2,
                "count": [50, 10, 20, 40],
            }
        )
    )
    figures = [
        charts.trend_chart(trend_result(), locale=locale, translations=translations, target=0.95),
        charts.forest_chart(satisfaction, locale=locale, translations=translations, target=0.95),
        charts.reason_chart(reasons, group="MIC", locale=locale, translations=translations),
        charts.reason_chart(reasons, locale=locale, translations=translations),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph is a warning from matplotlib
        for figure in figures:
            svg = charts.render(figure, "svg")
            assert svg.startswith(b"<?xml")
            assert charts.render(figure, "png").startswith(b"\x89PNG")


VIETNAMESE_TITLE = "Mức độ hài lòng theo tháng — Bộ Tài chính"
VIETNAMESE_AGENCY = "Bộ Thông tin và Truyền thông"
# Letters only Vietnamese uses (ứ ộ ề ạ ả) are what a font with Latin-1 and a few
# Vietnamese letters (à ô ơ đ) lacks: without them the test could pass on such a font.
VIETNAMESE_LETTERS = set("ứộềạảàòôươđ")


def drawn_texts(figure):
    return [text for text in figure.findobj(Text) if text.get_visible() and text.get_text()]


def letters_without_glyph(text):
    # The first font of the resolved family, not matplotlib's per-glyph fallback:
    # a word whose accented letters come from another font is broken too, and
    # fallback_to_default=False fails loudly if the configured family is absent.
    # Precomposed letters, not just no warning: matplotlib 3.11 shapes text and
    # builds a missing ứ from u + marks without a warning, 3.9 and 3.10 (allowed
    # by pyproject) draw a box.
    path = font_manager.findfont(text.get_fontproperties(), fallback_to_default=False)
    font = font_manager.get_font(path)
    return {
        (char, font.family_name)
        for char in text.get_text()
        if not char.isspace() and font.get_char_index(ord(char)) == 0
    }


def test_vietnamese_title_renders_without_missing_glyphs():
    vi = Translations.load(str(LOCALES), ["vi"], domain="messages")
    agencies = analysis.compare_satisfaction(
        pd.DataFrame({"group": ["MIC", "MOF"], "satisfied": [830, 912], "total": [1000, 1000]})
    )
    figures = [
        charts.trend_chart(
            trend_result(), locale="vi", translations=vi, target=0.95, title=VIETNAMESE_TITLE
        ),
        charts.forest_chart(
            agencies,
            locale="vi",
            translations=vi,
            labels={"MIC": VIETNAMESE_AGENCY, "MOF": "Bộ Tài chính"},
            title=VIETNAMESE_TITLE,
        ),
    ]
    # "always": the default filter would hide a repeat of a warning already
    # shown elsewhere in the session.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for figure in figures:
            charts.render(figure, "svg")
            charts.render(figure, "png")
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []

    texts = [text for figure in figures for text in drawn_texts(figure)]
    shown = "\n".join(text.get_text() for text in texts)
    assert VIETNAMESE_TITLE in shown
    assert VIETNAMESE_AGENCY in shown
    assert VIETNAMESE_LETTERS - set(shown) == set()
    assert set().union(*map(letters_without_glyph, texts)) == set()


def test_unusual_period_is_marked():
    result = trend_result()
    assert result.periods["out_of_control"].any()
    figure = charts.trend_chart(result)
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "Unusual period" in labels


# Babel's percent pattern is "#,##0%" for vi and for en: no decimals, so ticks
# between 0% and 100% read the same in both, and the group separator (vi ".",
# en ",") of a value of 1000% or more is what tells the locales apart.
THOUSANDS_OF_PERCENT = 12.3456


def percent_axes(locale):
    trend = charts.trend_chart(trend_result(), locale=locale)
    forest = charts.forest_chart(
        analysis.compare_satisfaction(
            pd.DataFrame({"group": ["a", "b"], "satisfied": [50, 60], "total": [100, 100]})
        ),
        locale=locale,
    )
    return [(trend, trend.axes[0].yaxis), (forest, forest.axes[0].xaxis)]


@pytest.mark.parametrize("locale", ["vi", "en"])
def test_localized_number_format_on_axis(locale):
    other = "en" if locale == "vi" else "vi"
    expected = format_percent(THOUSANDS_OF_PERCENT, locale=locale)
    assert expected != format_percent(THOUSANDS_OF_PERCENT, locale=other)
    for figure, axis in percent_axes(locale):
        figure.canvas.draw()
        ticks = axis.get_majorticklocs()
        labels = [label.get_text() for label in axis.get_majorticklabels()]
        assert len(labels) == len(ticks) > 1
        assert labels == [format_percent(tick, locale=locale) for tick in ticks]
        assert axis.get_major_formatter()(THOUSANDS_OF_PERCENT, 0) == expected


def test_save_refuses_an_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="svg"):
        charts.save(charts.trend_chart(trend_result()), tmp_path / "x.gif", "gif")


def render_both(figure):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert charts.render(figure, "svg").startswith(b"<?xml")
        assert charts.render(figure, "png").startswith(b"\x89PNG")


def test_reason_chart_draws_zero_shares():
    # Shares of respondents: MIC never mentions "slow", HN mentions only
    # "portal_error" and every HN respondent does, so its interval ends at 0 and 1.
    breakdown = analysis.reason_breakdown(
        pd.DataFrame(
            {
                "group": ["MIC"] * 3 + ["HN"] * 3,
                "reason": ["slow", "portal_error", "other"] * 2,
                "count": [0, 5, 7, 0, 0, 9],
            }
        ),
        respondents={"MIC": 20, "HN": 9},
    )
    for group in ("MIC", "HN", None):
        render_both(charts.reason_chart(breakdown, group=group))


def test_reason_chart_whiskers_never_negative_or_missing():
    breakdown = analysis.reason_breakdown(
        pd.DataFrame({"group": ["MIC"] * 4, "reason": list("abcd"), "count": [3, 4, 5, 6]})
    )
    cells = breakdown.cells.copy()
    # Bounds a rounding error past the share, and bounds that are missing.
    cells["ci_low"] = cells["share"] + [1e-17, 0.0, float("nan"), float("nan")]
    cells["ci_high"] = cells["share"] - [0.0, 1e-16, float("nan"), 0.0]
    figure = charts.reason_chart(dataclasses.replace(breakdown, cells=cells), group="MIC")
    render_both(figure)
    whiskers = [
        segment
        for collection in figure.findobj(LineCollection)
        for segment in collection.get_segments()
    ]
    assert whiskers
    assert all(np.isfinite(segment).all() for segment in whiskers)


DOLLAR_NAMES = ["Cục $ Thuế", "Phí $5 $10", "Phí $5 và $10", "Phí $5_$10"]


def svg_plain_texts(figure):
    # As real <text> elements, one string per Text, the SVG shows what the
    # reader sees: mathtext would split the string into styled glyphs.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        svg = charts.render(figure, "svg").decode()
    return {html.unescape(s) for s in re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)}


def dollar_figures():
    first, second, third, fourth = DOLLAR_NAMES
    agencies = analysis.compare_satisfaction(
        pd.DataFrame({"group": ["a", "b"], "satisfied": [50, 60], "total": [100, 100]})
    )
    reasons = analysis.reason_breakdown(
        pd.DataFrame({"group": ["a", "a"], "reason": ["fee", "tax"], "count": [3, 4]})
    )
    return {
        "trend": (
            charts.trend_chart(
                trend_result(), title=first, comparison=trend_result(), comparison_label=second
            ),
            {first, second},
        ),
        "forest": (
            charts.forest_chart(agencies, labels={"a": first, "b": fourth}, title=third),
            {first, third, fourth},
        ),
        "reasons": (
            charts.reason_chart(
                reasons, group="a", labels={"fee": second, "tax": fourth}, title=third
            ),
            {second, third, fourth},
        ),
    }


@pytest.mark.parametrize("kind", ["trend", "forest", "reasons"])
def test_dollar_signs_are_drawn_literally(kind):
    figure, names = dollar_figures()[kind]
    render_both(figure)
    texts = [text for text in drawn_texts(figure) if "$" in text.get_text()]
    assert {name for name in names if any(name in t.get_text() for t in texts)} == names
    assert [t.get_text() for t in texts if t.get_parse_math()] == []
    plain = svg_plain_texts(figure)
    assert [name for name in names if not any(name in s for s in plain)] == []


def suppressed(result, attribute):
    # What a publication would show: every row resting on too few responses blanked.
    frame = analysis.suppress(getattr(result, attribute), min_count=10**9)
    return dataclasses.replace(result, **{attribute: frame})


def without_intervals(result):
    periods = result.periods.assign(csat=np.nan, ci_low=np.nan, ci_high=np.nan)
    return dataclasses.replace(result, periods=periods.assign(lcl=np.nan, ucl=np.nan))


def one_period():
    return analysis.trend(pd.DataFrame({"period": ["2026-01"], "satisfied": [8], "total": [10]}))


def edge_cases():
    one_agency = analysis.compare_satisfaction(
        pd.DataFrame({"group": ["MIC"], "satisfied": [8], "total": [10]})
    )
    reasons = analysis.reason_breakdown(
        pd.DataFrame(
            {"group": ["MIC", "MIC", "HN", "HN"], "reason": ["a", "b"] * 2, "count": [3, 4, 0, 0]}
        )
    )
    return {
        "trend with one period": lambda: charts.trend_chart(
            one_period(), target=0.95, comparison=one_period()
        ),
        "trend without any interval": lambda: charts.trend_chart(
            without_intervals(trend_result()), target=0.95
        ),
        "trend, every period suppressed": lambda: charts.trend_chart(
            suppressed(trend_result(), "periods"), comparison=suppressed(trend_result(), "periods")
        ),
        "forest with one agency": lambda: charts.forest_chart(one_agency, target=0.95),
        "forest, every agency suppressed": lambda: charts.forest_chart(
            suppressed(one_agency, "groups")
        ),
        "reasons of a group without answers": lambda: charts.reason_chart(reasons, group="HN"),
        "reasons, every cell suppressed": lambda: charts.reason_chart(
            suppressed(reasons, "cells"), group="MIC"
        ),
    }


@pytest.mark.parametrize("case", list(edge_cases()))
def test_charts_draw_every_valid_input(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = edge_cases()[case]()
    render_both(figure)


def test_suppressed_periods_are_not_marked_unusual():
    figure = charts.trend_chart(suppressed(trend_result(), "periods"))
    legend = figure.axes[0].get_legend()
    assert "Unusual period" not in [t.get_text() for t in legend.get_texts()]


def test_trend_axis_shows_the_comparison_and_the_target():
    months = [f"2026-{m:02d}" for m in range(1, 7)]
    own = analysis.trend(
        pd.DataFrame({"period": months, "satisfied": [960, 955, 970, 965, 962, 968], "total": 1000})
    )
    national = analysis.trend(
        pd.DataFrame({"period": months, "satisfied": [700, 720, 710, 690, 705, 715], "total": 1000})
    )
    figure = charts.trend_chart(own, comparison=national, target=0.8)
    bottom, top = figure.axes[0].get_ylim()
    assert bottom <= national.periods["csat"].min()
    assert top >= 0.97
