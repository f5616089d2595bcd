"""What every result shares: a JSON-safe ``to_dict`` and tidy frames without NaN surprises."""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import pandas as pd


def json_safe(value: Any) -> Any:
    """Plain Python values: floats, ints, str, bool, None (for NaN/inf), lists and dicts."""
    if isinstance(value, pd.DataFrame):
        return [
            {str(k): json_safe(v) for k, v in row.items()}
            for row in value.to_dict(orient="records")
        ]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_safe(getattr(value, f.name)) for f in fields(value) if f.repr}
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray | pd.Series):
        return [json_safe(v) for v in list(value)]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return value if isinstance(value, str) else str(value)


def fmt(value: Any, digits: int = 4) -> str:
    """A number for the text summaries: rounded, '-' when undefined."""
    if value is None:
        return "-"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return f"{value:.{digits}g}" if math.isfinite(value) else "-"
    return str(value)


def frame_text(frame: pd.DataFrame, digits: int = 4) -> str:
    """A plain-text table (no dependency on optional pandas formatters)."""
    rows = [[str(c) for c in frame.columns]]
    rows += [[fmt(v, digits) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
