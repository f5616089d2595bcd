"""Funnel and league charts: many small groups, named and ordered as the statistics say."""

from __future__ import annotations

import dataclasses
import gettext
import html
import itertools
import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from babel.support import Translations
from matplotlib.text import Text

import analysis
from analysis import charts

LOCALES = Path(__file__).resolve().parents[2] / "locales"

# Ten groups at 83%, and three of 400 responses (pooled 80%): one far below the 99.8%
# limits (50%), one between the 95% and the 99.8% limits (75%), one inside both (81%).
FUNNEL_TABLE = pd.DataFrame(
    {
        "group": [f"G{i}" for i in range(10)] + ["OUT", "EDGE", "IN"],
        "satisfied": [332] * 10 + [200, 300, 324],
        "total": [400] * 13,
    }
)
FUNNEL_NAMES = {"OUT": "Tỉnh Ngoài", "EDGE": "Tỉnh Biên", "IN": "Tỉnh Trong"}

# The small group with a perfect score is pulled below the large one at 95%:
# ordered by raw CSAT, SMALL would come first.
LEAGUE_TABLE = pd.DataFrame(
    {
        "group": ["MID", "SMALL", "LARGE", "LOW", "TINY"],
        "satisfied": [160, 10, 950, 120, 1],
        "total": [200, 10, 1000, 200, 4],
    }
)


class Marked(gettext.NullTranslations):
    """Every message comes back marked, so an untranslated string stands out."""

    def gettext(self, message):
        return "«" + message + "»"


def render_both(figure):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = charts.render(figure, "svg")
        assert charts.render(figure, "png").startswith(b"\x89PNG")
    ET.fromstring(svg)  # well-formed XML
    return svg


def svg_plain_texts(figure):
    # With svg.fonttype 'none', each Text is one <text> element holding its string.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        svg = charts.render(figure, "svg").decode()
    ET.fromstring(svg)
    return [html.unescape(s) for s in re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)]


def y_names_top_down(figure):
    ax = figure.axes[0]
    pairs = zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
    return [label.get_text() for _, label in sorted(pairs, key=lambda p: -p[0])]


def blank(result, rows=None):
    """``result`` with ``rows`` (default all) withheld the way a publication marks them."""
    groups = result.groups.copy()
    hidden = np.ones(len(groups), bool) if rows is None else groups["group"].isin(rows).to_numpy()
    values = [c for c in groups.columns if c != "group"]
    groups[values] = groups[values].astype(object)
    groups.loc[hidden, values] = np.nan
    groups["suppressed"] = hidden
    return dataclasses.replace(result, groups=groups)


def test_funnel_fixture_has_one_group_outside_each_limit():
    groups = analysis.funnel_plot(FUNNEL_TABLE).groups.set_index("group")
    assert groups.loc["OUT", "outside_998"]
    assert groups.loc["EDGE", "outside_95"]
    assert not groups.loc["EDGE", "outside_998"]
    assert not groups.loc["IN", "outside_95"]


@pytest.mark.parametrize("locale", ["vi", "en", "id"])
def test_both_charts_render_in_every_locale(locale):
    translations = Translations.load(str(LOCALES), [locale], domain="messages")
    figures = [
        charts.funnel_chart(
            analysis.funnel_plot(FUNNEL_TABLE), locale=locale, translations=translations
        ),
        charts.league_chart(
            analysis.shrink_satisfaction(LEAGUE_TABLE),
            locale=locale,
            translations=translations,
            ranks=analysis.rank_intervals(LEAGUE_TABLE, draws=500),
            target=0.9,
        ),
    ]
    for figure in figures:
        assert render_both(figure).startswith(b"<?xml")


def test_funnel_names_only_the_groups_outside_the_outer_limits():
    figure = charts.funnel_chart(analysis.funnel_plot(FUNNEL_TABLE), labels=FUNNEL_NAMES)
    texts = svg_plain_texts(figure)
    assert "Tỉnh Ngoài" in texts
    assert "Tỉnh Biên" not in texts
    assert "Tỉnh Trong" not in texts
    assert not any(t.startswith("G") for t in texts)


def test_funnel_names_fall_back_to_the_code():
    figure = charts.funnel_chart(analysis.funnel_plot(FUNNEL_TABLE), labels={"IN": "x"})
    assert "OUT" in svg_plain_texts(figure)


def test_funnel_draws_the_limit_curves_and_the_centre_line():
    funnel = analysis.funnel_plot(FUNNEL_TABLE)
    figure = charts.funnel_chart(funnel)
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert legend == ["95% control limits", "99.8% control limits", "Overall rate 80%"]
    lines = figure.axes[0].get_lines()
    upper = funnel.limits["upper_998"].to_numpy()
    assert any(np.array_equal(line.get_ydata(), upper) for line in lines)
    given = charts.funnel_chart(analysis.funnel_plot(FUNNEL_TABLE, target=0.85))
    assert "Target 85%" in [t.get_text() for t in given.legends[0].get_texts()]


@pytest.mark.parametrize(("locale", "thousand"), [("en", "2,000"), ("vi", "2.000")])
def test_funnel_axis_numbers_follow_the_locale(locale, thousand):
    table = FUNNEL_TABLE.assign(
        total=FUNNEL_TABLE["total"] * 10, satisfied=lambda f: f.satisfied * 10
    )
    figure = charts.funnel_chart(analysis.funnel_plot(table), locale=locale)
    assert thousand in svg_plain_texts(figure)


def test_league_orders_groups_by_shrunken_csat():
    shrunken = analysis.shrink_satisfaction(LEAGUE_TABLE)
    groups = shrunken.groups
    by_shrunken = groups.sort_values("shrunken", ascending=False)["group"].tolist()
    by_raw = groups.sort_values("csat", ascending=False)["group"].tolist()
    assert by_shrunken != by_raw
    figure = charts.league_chart(shrunken)
    render_both(figure)
    assert y_names_top_down(figure) == by_shrunken


def test_league_shows_the_raw_csat_beside_the_shrunken_one():
    shrunken = analysis.shrink_satisfaction(LEAGUE_TABLE)
    figure = charts.league_chart(shrunken)
    hollow = [c for c in figure.axes[0].collections if c.get_label() == "Unadjusted share"]
    assert len(hollow) == 1
    offsets = hollow[0].get_offsets()
    assert sorted(offsets[:, 0]) == sorted(shrunken.groups["csat"])


def test_league_names_carry_their_rank_interval():
    ranks = analysis.rank_intervals(LEAGUE_TABLE, draws=500)
    names = {"LARGE": "Hà Giang"}
    figure = charts.league_chart(
        analysis.shrink_satisfaction(LEAGUE_TABLE), labels=names, ranks=ranks
    )
    row = ranks.groups.set_index("group").loc["LARGE"]
    low, high = int(row["rank_low"]), int(row["rank_high"])
    expected = f"Hà Giang (rank {low}–{high})" if low != high else f"Hà Giang (rank {low})"
    shown = y_names_top_down(figure)
    assert expected in shown
    assert all(re.fullmatch(r".+ \(rank \d+(–\d+)?\)", name) for name in shown)
    assert expected in svg_plain_texts(figure)


ODD_NAMES = {"OUT": "Cục $x$ Thuế", "IN": "Phí_5 $10", "LARGE": "50% $x$", "SMALL": "_ẩn"}


def test_names_with_dollar_underscore_and_percent_are_drawn_literally():
    funnel = charts.funnel_chart(analysis.funnel_plot(FUNNEL_TABLE), labels=ODD_NAMES, title="$x$")
    league = charts.league_chart(
        analysis.shrink_satisfaction(LEAGUE_TABLE),
        labels=ODD_NAMES,
        ranks=analysis.rank_intervals(LEAGUE_TABLE, draws=500),
        title="a_b $x$ 5%",
    )
    for figure, names in [
        (funnel, ["Cục $x$ Thuế", "$x$"]),
        (league, ["50% $x$", "_ẩn", "a_b $x$ 5%"]),
    ]:
        render_both(figure)
        texts = svg_plain_texts(figure)
        assert [n for n in names if not any(n in t for t in texts)] == []
        drawn = [t for t in figure.findobj(Text) if "$" in t.get_text()]
        assert drawn
        assert not [t.get_text() for t in drawn if t.get_parse_math()]


def every_group_withheld():
    funnel = analysis.funnel_plot(FUNNEL_TABLE)
    shrunken = analysis.shrink_satisfaction(LEAGUE_TABLE)
    ranks = analysis.rank_intervals(LEAGUE_TABLE, draws=200)
    return {
        "funnel, blanked": lambda: charts.funnel_chart(blank(funnel)),
        "funnel, published": lambda: charts.funnel_chart(
            analysis.suppress(funnel, min_count=10**9)
        ),
        "league, blanked": lambda: charts.league_chart(
            blank(shrunken), ranks=blank(ranks), target=0.9
        ),
        "league, published": lambda: charts.league_chart(
            analysis.suppress(shrunken, min_count=10**9),
            ranks=analysis.suppress(ranks, min_count=10**9),
            target=0.9,
        ),
        "funnel, no rows": lambda: charts.funnel_chart(
            dataclasses.replace(funnel, groups=funnel.groups.iloc[0:0])
        ),
        "league, no rows": lambda: charts.league_chart(
            dataclasses.replace(shrunken, groups=shrunken.groups.iloc[0:0])
        ),
    }


@pytest.mark.parametrize("case", list(every_group_withheld()))
def test_every_group_withheld_draws_an_empty_chart(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = every_group_withheld()[case]()
    render_both(figure)
    assert "No published figures to show" in svg_plain_texts(figure)
    ax = figure.axes[0]
    # Nothing drawn from the withheld responses: no dot, line or limit.
    assert not ax.get_lines()
    assert not ax.collections
    assert not figure.legends


def test_withheld_groups_are_left_out():
    funnel = blank(analysis.funnel_plot(FUNNEL_TABLE), ["OUT"])
    texts = svg_plain_texts(charts.funnel_chart(funnel, labels=FUNNEL_NAMES))
    assert "Tỉnh Ngoài" not in texts
    shrunken = blank(analysis.shrink_satisfaction(LEAGUE_TABLE), ["SMALL"])
    ranks = blank(analysis.rank_intervals(LEAGUE_TABLE, draws=200), ["SMALL"])
    figure = charts.league_chart(shrunken, ranks=ranks)
    render_both(figure)
    shown = y_names_top_down(figure)
    assert len(shown) == 4
    assert not any(name.startswith("SMALL") for name in shown)


def one_group():
    table = pd.DataFrame({"group": ["A"], "satisfied": [30], "total": [40]})
    shrunken = analysis.shrink_satisfaction(LEAGUE_TABLE)
    ranks = analysis.rank_intervals(LEAGUE_TABLE, draws=200)
    return {
        "funnel": lambda: charts.funnel_chart(analysis.funnel_plot(table), labels={"A": "$a$"}),
        "funnel, one group with responses": lambda: charts.funnel_chart(
            analysis.funnel_plot(
                pd.DataFrame({"group": ["A", "B"], "satisfied": [3, 0], "total": [4, 0]})
            )
        ),
        "league": lambda: charts.league_chart(
            dataclasses.replace(shrunken, groups=shrunken.groups.iloc[[2]]), ranks=ranks, target=0.5
        ),
        "league, the others withheld": lambda: charts.league_chart(
            blank(shrunken, ["MID", "SMALL", "LOW", "TINY"]), ranks=ranks
        ),
    }


@pytest.mark.parametrize("case", list(one_group()))
def test_one_group(case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = one_group()[case]()
    render_both(figure)
    assert "No published figures to show" not in svg_plain_texts(figure)


NUMBER = re.compile(r"[\d.,\s%–-]+")


def unmarked(figure, names):
    """Drawn strings that are neither a number, a group name nor translated."""
    return [
        text
        for text in svg_plain_texts(figure)
        if not (NUMBER.fullmatch(text) or text in names or text.startswith("«"))
    ]


def test_every_added_string_is_translated():
    marked = Marked()
    funnel = charts.funnel_chart(
        analysis.funnel_plot(FUNNEL_TABLE), translations=marked, labels=FUNNEL_NAMES
    )
    funnel_target = charts.funnel_chart(
        analysis.funnel_plot(FUNNEL_TABLE, target=0.85), translations=marked
    )
    ranks = analysis.rank_intervals(LEAGUE_TABLE, draws=500)
    league = charts.league_chart(
        analysis.shrink_satisfaction(LEAGUE_TABLE), translations=marked, ranks=ranks, target=0.9
    )
    texts = svg_plain_texts(funnel) + svg_plain_texts(league) + svg_plain_texts(funnel_target)
    for expected in [
        "«Number of responses»",
        "«Share satisfied (ratings 4-5)»",
        "«Satisfaction by number of responses»",
        "«95% control limits»",
        "«99.8% control limits»",
        "«Overall rate 80%»",
        "«Target 85%»",
        "«Satisfaction by group, adjusted for group size»",
        "«Share satisfied (ratings 4-5), 95% interval»",
        "«Adjusted estimate and interval»",
        "«Unadjusted share»",
        "«Target 90%»",
    ]:
        assert expected in texts
    assert any(t.startswith("«Mean across groups ") for t in texts)
    assert [
        t for t in y_names_top_down(league) if not re.fullmatch(r"«\w+ \(rank [\d–]+\)»", t)
    ] == []
    for figure in (funnel, funnel_target, league):
        assert unmarked(figure, {*FUNNEL_NAMES.values(), *FUNNEL_TABLE["group"]}) == []
    empty = charts.league_chart(
        blank(analysis.shrink_satisfaction(LEAGUE_TABLE)), translations=marked
    )
    assert unmarked(empty, set()) == []
    assert "«No published figures to show»" in svg_plain_texts(empty)


def test_the_league_chart_grows_with_the_number_of_groups():
    rng = np.random.default_rng(1)
    total = rng.integers(20, 2000, 63)
    table = pd.DataFrame(
        {
            "group": [f"P{i:02d}" for i in range(63)],
            "satisfied": rng.binomial(total, 0.8),
            "total": total,
        }
    )
    small = charts.league_chart(analysis.shrink_satisfaction(LEAGUE_TABLE))
    large = charts.league_chart(analysis.shrink_satisfaction(table))
    assert large.get_figheight() > 3 * small.get_figheight()
    # Each row at least as tall as its tick label: no two names overlap.
    render_both(large)
    boxes = [label.get_window_extent() for label in large.axes[0].get_yticklabels()]
    boxes.sort(key=lambda b: b.y0)
    assert all(a.y1 <= b.y0 for a, b in itertools.pairwise(boxes))
