"""Validate the count tables the analyses take, with errors that name the problem."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def count_table(
    table: pd.DataFrame, keys: Sequence[str], counts: Sequence[str], *, what: str
) -> pd.DataFrame:
    """A checked copy of ``table``: columns present, counts whole and >= 0, keys unique."""
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"{what}: expected a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in (*keys, *counts) if c not in table.columns]
    if missing:
        raise ValueError(
            f"{what}: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join((*keys, *counts))}"
        )
    frame = table.copy()
    for column in counts:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            raise ValueError(f"{what}: column {column!r} must hold numbers, with no blanks")
        if (values < 0).any():
            raise ValueError(f"{what}: column {column!r} has a negative count")
        if not np.all(np.equal(np.mod(values, 1), 0)):
            raise ValueError(f"{what}: column {column!r} must hold whole numbers")
        frame[column] = values.astype("int64")
    for key in keys:
        if frame[key].isna().any():
            raise ValueError(f"{what}: column {key!r} has a blank value")
    duplicated = frame.duplicated(subset=list(keys))
    if duplicated.any():
        first = frame.loc[duplicated, list(keys)].iloc[0].tolist()
        raise ValueError(f"{what}: more than one row for {', '.join(map(str, first))}")
    return frame


def satisfied_total(table: pd.DataFrame, keys: Sequence[str], *, what: str) -> pd.DataFrame:
    frame = count_table(table, keys, ("satisfied", "total"), what=what)
    over = frame["satisfied"] > frame["total"]
    if over.any():
        row = frame.loc[over, list(keys)].iloc[0].tolist()
        raise ValueError(f"{what}: satisfied exceeds total for {', '.join(map(str, row))}")
    return frame
