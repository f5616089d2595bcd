"""The dashboard's charts drawn and rendered (matplotlib) from analysis results: a pure
function of picklable values, so it runs in a statistics worker process, off the loop.

Translations are not picklable (their plural rule is a compiled function): each worker
loads the catalogs once from the locales directory.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from analysis import DEFAULT_TARGET, charts
from survey_app.lib.i18n import Catalogs


@cache
def _catalogs(locales_dir: Path) -> Catalogs:
    return Catalogs(locales_dir)


def draw(stem: str, ext: str, locale: str, locales_dir: Path, inputs: dict[str, Any]) -> bytes:
    """Chart ``stem`` (see ``dashboard.controller.CHARTS``) as SVG or PNG bytes."""
    translations = _catalogs(locales_dir).get(locale)
    common = {"locale": locale, "translations": translations}
    if stem == "trend":
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
