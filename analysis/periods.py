"""Period labels in time order, whatever their spelling (days, ISO weeks, months, quarters,
running numbers): text order would put 2026-10 before 2026-2."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd

# The spellings the service writes (statistics.filters.period_label), month and day
# numbers with or without a leading zero, and one running number ("7", "2026", "p07").
_DAY = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_WEEK = re.compile(r"(\d{4})-?W(\d{1,2})", re.IGNORECASE)
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_QUARTER = re.compile(r"(\d{4})-?Q([1-4])", re.IGNORECASE)
_NUMBERED = re.compile(r"(\D*?)([+-]?\d+)(\D*)")
SPELLINGS = "2026-03-07, 2026-W10, 2026-03 or 2026-3, 2026-Q1, or numbers (2026, 7, p07)"


def _period_key(label: object) -> tuple[tuple[str, ...], int] | None:
    """(kind of spelling, position in time) of one label; None when it names no position."""
    if isinstance(label, bool | np.bool_):
        return None
    if isinstance(label, pd.Period):
        return ("period", label.freqstr), int(label.ordinal)
    if isinstance(label, dt.datetime | np.datetime64):
        return ("date and time",), int(pd.Timestamp(label).value)
    if isinstance(label, dt.date):
        return ("day",), label.toordinal()
    if isinstance(label, int | np.integer):
        return ("number", "", ""), int(label)
    if isinstance(label, float | np.floating):
        return (("number", "", ""), int(label)) if float(label).is_integer() else None
    text = str(label).strip()
    try:
        if m := _DAY.fullmatch(text):
            return ("day",), dt.date(int(m[1]), int(m[2]), int(m[3])).toordinal()
        if m := _WEEK.fullmatch(text):
            return ("ISO week",), dt.date.fromisocalendar(int(m[1]), int(m[2]), 1).toordinal()
        if m := _MONTH.fullmatch(text):
            return ("month",), dt.date(int(m[1]), int(m[2]), 1).toordinal()
        if m := _QUARTER.fullmatch(text):
            return ("quarter",), dt.date(int(m[1]), 3 * int(m[2]) - 2, 1).toordinal()
    except ValueError:  # month 13, ISO week 54, 31 February...
        return None
    if m := _NUMBERED.fullmatch(text):
        # "p07" and "wave 7" count on one scale only with the same prefix and suffix.
        return ("number", m[1], m[3]), int(m[2])
    return None


def _kind_name(kind: tuple[str, ...]) -> str:
    if kind[0] == "number" and (kind[1] or kind[2]):
        return f"numbered {kind[1]}#{kind[2]}"
    return kind[0]


def period_positions(labels: pd.Series, *, what: str) -> np.ndarray:
    """Where each period label lies in time (an integer per label, larger is later).

    Labels are read as dates, ISO weeks, months, quarters or running numbers, so
    that ``2026-10`` comes after ``2026-9`` and ``2026-W9`` before ``2026-W10``;
    text order would scramble them. Every label must use one kind of spelling;
    ValueError otherwise, or when a label names no point in time.
    """
    kinds: dict[tuple[str, ...], str] = {}
    positions, unplaced = [], set()
    for label in labels:
        key = _period_key(label)
        if key is None:
            unplaced.add(str(label))
            continue
        kinds.setdefault(key[0], str(label))
        positions.append(key[1])
    if unplaced:
        raise ValueError(
            f"{what}: period label(s) {', '.join(sorted(unplaced)[:3])} cannot be put in "
            f"time order; write periods as {SPELLINGS}"
        )
    if len(kinds) > 1:
        shown = ", ".join(f"{label} ({_kind_name(kind)})" for kind, label in kinds.items())
        raise ValueError(f"{what}: period labels mix spellings: {shown}; use one throughout")
    return np.array(positions, dtype=np.int64)


def refuse_repeats(frame: pd.DataFrame, position: np.ndarray, by: list[str], what: str) -> None:
    """Two spellings of one period (2026-1 and 2026-01) would count it twice."""
    keyed = frame.assign(_position=position)
    repeated = keyed.duplicated(subset=[*by, "_position"], keep=False)
    if repeated.any():
        first = keyed.loc[repeated].sort_values("_position", kind="stable")
        first = first[first["_position"] == first["_position"].iloc[0]]
        labels = " and ".join(str(label) for label in first["period"].iloc[:2])
        where = "".join(f" for {first[key].iloc[0]}" for key in by)
        raise ValueError(f"{what}: period labels {labels} name the same period{where}")
