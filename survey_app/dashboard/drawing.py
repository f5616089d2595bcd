"""The dashboard's charts drawn and rendered (matplotlib) from analysis results: a pure
function of picklable values, so it runs in a statistics worker process, off the loop.

Translations are not picklable (their plural rule is a compiled function): each worker
loads the catalogs once from the locales directory.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from analysis import DEFAULT_TARGET, charts
from survey_app.lib.i18n import N_, Catalogs


@cache
def _catalogs(locales_dir: Path) -> Catalogs:
    return Catalogs(locales_dir)


EMPTY_ID = "nothing-to-draw"
NOTHING = N_("Not enough published responses to draw this chart for this selection.")


def nothing_to_draw(text: str) -> Figure:
    """A chart that says why it is empty, where a broken image would say nothing."""
    figure = Figure(figsize=(7.5, 1.2))
    figure.set_gid(EMPTY_ID)  # marks the SVG, whose text is drawn as paths
    figure.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=11)
    return figure


def draw(
    stem: str, ext: str, locale: str, locales_dir: Path, inputs: dict[str, Any] | None
) -> bytes:
    """Chart ``stem`` (see ``dashboard.controller.CHARTS``) as SVG or PNG bytes; ``inputs``
    None: nothing published to draw."""
    translations = _catalogs(locales_dir).get(locale)
    common = {"locale": locale, "translations": translations}
    if inputs is None:
        figure = nothing_to_draw(translations.gettext(NOTHING))
    elif stem == "trend":
        own, national = inputs["own"], inputs["national"]
        figure = charts.trend_chart(
            own or national,
            target=DEFAULT_TARGET,
            title=inputs["title"],
            comparison=national if own else None,
            comparison_label=translations.gettext("National") if own else None,
            **common,
        )
    elif stem == "funnel":
        figure = charts.funnel_chart(inputs["league"].funnel_plot, labels=inputs["names"], **common)
    elif stem == "league":
        league = inputs["league"]
        figure = charts.league_chart(
            league.shrunken,
            ranks=league.ranks,
            labels=inputs["names"],
            target=DEFAULT_TARGET,
            **common,
        )
    elif stem == "agencies":
        figure = charts.forest_chart(
            inputs["comparison"], labels=inputs["names"], target=DEFAULT_TARGET, **common
        )
    else:
        figure = charts.reason_chart(
            inputs["breakdown"], group=inputs["agency"], labels=inputs["labels"], **common
        )
    return charts.render(figure, ext)
