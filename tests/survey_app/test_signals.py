"""The dashboard's signals, on data where the truth is known, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from survey_app.agencies import directory
from survey_app.dashboard.signals import BELOW_TARGET, CHANGE, UNUSUAL, signals
from survey_app.db.bulk import Synthetic, insert_responses
from survey_app.db.tables import AgencyKind
from survey_app.statistics.filters import Filters

MONTHS = [dt.datetime(2026, m, 10, 5, tzinfo=dt.UTC) for m in range(1, 9)]


async def _agency(code: str, shares: list[float], size: int = 200) -> None:
    """``size`` responses a month, the given share of them satisfied (rated 5, else 2)."""
    agency_id = await directory.add_agency(code, AgencyKind.ministry, code, {})
    service_id = await directory.add_service(f"{code}-S", code, "S", {}, True)
    rows = []
    for when, share in zip(MONTHS, shares, strict=True):
        satisfied = round(share * size)
        rows += [
            Synthetic(
                agency_id,
                service_id,
                "web",
                "vi",
                when + dt.timedelta(minutes=i),
                5 if i < satisfied else 2,
            )
            for i in range(size)
        ]
    await insert_responses(rows)


async def _seed() -> None:
    # Steady at 90%, then a fall to 70% in the last month: a real change, and the
    # last month's interval falls under a 0.80 target where the month before's did not.
    await _agency("FALL", [0.90] * 7 + [0.70])
    # Steady at 85% with the usual wobble: nothing to report.
    await _agency("STEADY", [0.85, 0.86, 0.84, 0.85, 0.87, 0.84, 0.85, 0.86])
    # One month far under its ordinary level, then back: an unusual point, no change.
    await _agency("SPIKE", [0.80, 0.81, 0.79, 0.55, 0.80, 0.81, 0.80, 0.79])
    # Too few responses to publish a month: never a signal.
    await _agency("TINY", [1.0] * 7 + [0.0], size=5)


def test_signals_find_the_real_movements_and_only_those(live) -> None:
    live.run(_seed())
    found = live.run(signals(Filters(), target=0.80))
    by_kind = {(s.kind, s.agency, s.period) for s in found}
    assert (CHANGE, "FALL", "2026-08") in by_kind
    assert (BELOW_TARGET, "FALL", "2026-08") in by_kind
    assert (UNUSUAL, "SPIKE", "2026-04") in by_kind
    assert {s.agency for s in found} == {"FALL", "SPIKE"}  # nothing for STEADY or TINY
    change = next(s for s in found if s.kind == CHANGE)
    assert change.previous == "2026-07"
    assert change.diff is not None
    assert -0.25 < change.diff < -0.15
    assert change.p_adjusted is not None
    assert change.p_adjusted < 0.05
    spike = next(s for s in found if s.kind == UNUSUAL and s.agency == "SPIKE")
    assert spike.high is False
    # Newest first: the August signals before April's.
    assert [s.period for s in found] == sorted((s.period for s in found), reverse=True)


def test_signals_follow_the_filters(live) -> None:
    live.run(_seed())
    march = Filters(date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 3, 31))
    assert live.run(signals(march, target=0.80)) == []
    only_spike = Filters(agency="SPIKE")
    assert {s.agency for s in live.run(signals(only_spike, target=0.5))} == {"SPIKE"}
