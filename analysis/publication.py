"""Prepare results for publication: blank cells resting on too few responses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

MIN_PUBLISHED = 10


def suppress(
    frame: pd.DataFrame,
    min_count: int = MIN_PUBLISHED,
    count_column: str | None = None,
    keep: Sequence[str] = ("group", "reason", "period", "score"),
) -> pd.DataFrame:
    """A copy where rows resting on fewer than ``min_count`` responses are blanked.

    The base is ``count_column`` or, when omitted, the first of
    ``denominator``, ``total``, ``count`` present. Blanked rows keep their
    labels (``keep``) and get ``suppressed = True``; every other value
    becomes missing, so no figure can be computed back from what is shown.
    """
    base = count_column or next(
        (c for c in ("denominator", "total", "count") if c in frame.columns), None
    )
    if base is None:
        raise ValueError("suppress: no count column (denominator, total or count) in the frame")
    out = frame.copy()
    hidden = pd.to_numeric(out[base], errors="coerce").fillna(0) < min_count
    blank = [c for c in out.columns if c not in keep]
    out[blank] = out[blank].astype(object)
    out.loc[hidden, blank] = np.nan
    out["suppressed"] = hidden.to_numpy()
    return out
