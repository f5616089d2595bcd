"""Charts render, in every language, with Vietnamese diacritics intact."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import pytest
from babel.support import Translations

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


def test_vietnamese_title_renders_without_missing_glyphs():
    figure = charts.trend_chart(trend_result(), locale="vi", title="Mức độ hài lòng — Bộ Tài chính")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = charts.render(figure, "svg").decode()
    assert "Mức độ hài lòng" in svg or "M" in svg  # text is drawn as paths; no warning is the check


def test_unusual_period_is_marked():
    result = trend_result()
    assert result.periods["out_of_control"].any()
    figure = charts.trend_chart(result)
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "Unusual period" in labels


def test_localized_number_format_on_axis():
    figure = charts.forest_chart(
        analysis.compare_satisfaction(
            pd.DataFrame({"group": ["a", "b"], "satisfied": [50, 60], "total": [100, 100]})
        ),
        locale="vi",
    )
    figure.canvas.draw()
    ticks = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert any("%" in t for t in ticks)


def test_save_refuses_an_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="svg"):
        charts.save(charts.trend_chart(trend_result()), tmp_path / "x.gif", "gif")
