"""The government's own satisfaction indicator for administrative procedures.

It counts over every processed transaction, not over respondents:
(transactions - transactions rated dissatisfied) / transactions, where a
transaction is an invitation issued for a completed procedure and
"dissatisfied" a rating at or below a threshold (2 by default). A transaction
without an answer counts as not dissatisfied, so the indicator sits above the
respondent CSAT whenever few citizens answer; it is reported beside the CSAT
and the response rate, never instead of them.
"""

from __future__ import annotations

import pandas as pd

from analysis.tables import count_table

DISSATISFIED_MAX = 2


def official_rates(table: pd.DataFrame, threshold: int = DISSATISFIED_MAX) -> pd.DataFrame:
    """``group, transactions, dissatisfied, official_rate`` from one row per group of
    ``group, invitations, dissatisfied``; the rate is missing for a group without
    transactions."""
    if int(threshold) != threshold or not 1 <= threshold <= 4:
        raise ValueError("threshold must be a rating from 1 to 4")
    frame = count_table(
        table, ("group",), ("invitations", "dissatisfied"), what="official indicator"
    )
    if (frame["dissatisfied"] > frame["invitations"]).any():
        raise ValueError("official indicator: more dissatisfied answers than transactions")
    out = frame[["group", "invitations", "dissatisfied"]].rename(
        columns={"invitations": "transactions"}
    )
    out["official_rate"] = (out["transactions"] - out["dissatisfied"]) / out["transactions"].where(
        out["transactions"] > 0
    )
    return out


def method(threshold: int = DISSATISFIED_MAX) -> str:
    return (
        f"official rate = (transactions - transactions rated {threshold} or lower) / "
        "transactions; transactions = invitations issued in the period (unanswered ones "
        "count as not dissatisfied)"
    )
