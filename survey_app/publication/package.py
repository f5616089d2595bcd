"""The open-data package of a quarter: a Frictionless Tabular Data Package.

``datapackage.json`` describes every table with a schema (types, titles,
descriptions); each table comes as CSV (UTF-8, for spreadsheets) and as
Parquet (typed, with the same descriptions in its schema metadata); the
codebook gives every code and column a label in every shipped language; the
methodology says in plain words how the figures are made and what is withheld.
Only the published aggregates of ``publication.aggregates`` go in.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis import MIN_PUBLISHED
from survey_app.db.tables import AgencyKind
from survey_app.lib.context import AppContext
from survey_app.lib.i18n import N_
from survey_app.lib.media import PARQUET
from survey_app.lib.settings import SUPPORTED_LOCALES
from survey_app.publication.aggregates import (
    AGENCY_COLUMNS,
    NATIONAL_COLUMNS,
    REASON_COLUMNS,
    Published,
)

Gettext = Callable[..., str]  # (locale, msgid, **params) -> text

# name -> (Frictionless type, title msgid, description)
FIELDS: dict[str, tuple[str, str, str]] = {
    "quarter": ("string", N_("Quarter"), "Calendar quarter in local time, e.g. 2026Q3"),
    "agency": ("string", N_("Agency code"), "Code of the agency; names in the codebook"),
    "kind": ("string", N_("Kind of agency"), "ministry, branch or locality"),
    "name_vi": ("string", N_("Name (Vietnamese)"), "The agency's name in Vietnamese"),
    "name_en": ("string", N_("Name (English)"), "The agency's name in English"),
    "name_id": ("string", N_("Name (Indonesian)"), "The agency's name in Indonesian"),
    "agencies_published": (
        "integer",
        N_("Agencies published"),
        "Agencies whose figures are published and summed in the national row",
    ),
    "agencies_withheld": (
        "integer",
        N_("Agencies withheld"),
        "Agencies withheld by the disclosure rule (too few responses)",
    ),
    "responses": ("integer", N_("Responses"), "Questionnaires answered in the quarter"),
    "satisfied": ("integer", N_("Satisfied"), "Responses rating the service 4 or 5 of 5"),
    "csat": ("number", N_("Satisfaction (CSAT)"), "satisfied / responses"),
    "csat_ci_low": ("number", N_("CSAT, interval low"), "95% Wilson score interval, lower"),
    "csat_ci_high": ("number", N_("CSAT, interval high"), "95% Wilson score interval, upper"),
    "invitations": (
        "integer",
        N_("Transactions"),
        "Completed transactions whose citizen was invited to answer",
    ),
    "response_rate": ("number", N_("Response rate"), "responses / invitations"),
    "response_rate_ci_low": ("number", N_("Response rate, interval low"), "95% Wilson, lower"),
    "response_rate_ci_high": ("number", N_("Response rate, interval high"), "95% Wilson, upper"),
    "dissatisfied": (
        "integer",
        N_("Dissatisfied"),
        "Transactions rated at or below the dissatisfaction threshold (2 of 5 by default)",
    ),
    "official_rate": (
        "number",
        N_("Official satisfaction rate"),
        "(transactions - dissatisfied) / transactions: unanswered ones count as not "
        "dissatisfied, as the government's indicator defines it",
    ),
    "official_rate_ci_low": ("number", N_("Official rate, interval low"), "95% Wilson, lower"),
    "official_rate_ci_high": ("number", N_("Official rate, interval high"), "95% Wilson, upper"),
    "reason": ("string", N_("Reason"), "Code of a reason for dissatisfaction; labels in codebook"),
    "count": ("integer", N_("Citizens"), "Respondents who ticked this reason"),
    "share": ("number", N_("Share"), "count / respondents (several reasons may be ticked)"),
    "ci_low": ("number", N_("Share, interval low"), "95% Wilson score interval, lower"),
    "ci_high": ("number", N_("Share, interval high"), "95% Wilson score interval, upper"),
    "respondents": (
        "integer",
        N_("Respondents"),
        "Dissatisfied citizens who were asked why, in the published cells",
    ),
    "suppressed": (
        "boolean",
        N_("Withheld"),
        f"true: figures withheld, resting on fewer than {MIN_PUBLISHED} responses "
        "or withheld so that another withheld figure cannot be worked out",
    ),
    "table": ("string", N_("Table"), "The table the code or column belongs to"),
    "field": ("string", N_("Column"), "The column the code belongs to"),
    "code": ("string", N_("Code"), "The value as it appears in the data; empty for a column"),
    **{
        f"label_{locale}": ("string", f"label ({locale})", f"The label in {locale}")
        for locale in SUPPORTED_LOCALES
    },
}
TABLES = {
    "national": [*NATIONAL_COLUMNS],
    "agencies": [*AGENCY_COLUMNS, "suppressed"],
    "reasons": [*REASON_COLUMNS],
}
TABLE_TITLES = {
    "national": N_("National figures: the published agencies together"),
    "agencies": N_("Figures per agency"),
    "reasons": N_("Why citizens were dissatisfied: the national mix of reasons"),
    "codebook": N_("Codebook: every code and column with its labels"),
}
KIND_LABELS = {
    AgencyKind.ministry: N_("Ministry"),
    AgencyKind.branch: N_("Branch"),
    AgencyKind.locality: N_("Province or city"),
}
LABEL_COLUMNS = [f"label_{locale}" for locale in SUPPORTED_LOCALES]


def reason_labels(ctx: AppContext) -> dict[str, str]:
    """Reason code -> its label's msgid, from the default questionnaire's reasons question."""
    questionnaire = ctx.questionnaire(ctx.default_questionnaire)
    labels: dict[str, str] = {}
    for question in questionnaire.questions if questionnaire else ():
        if question.kind in ("single", "multi") and question.id == "reasons":
            labels |= {option.value: option.label for option in question.options}
    return labels


def _typed(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``columns`` of ``frame``, integers as nullable integers (no 24.0 in a CSV)."""
    frame = frame[columns].copy()
    for column in columns:
        kind = FIELDS[column][0]
        if kind == "integer":
            frame[column] = pd.array(frame[column].round(), dtype="Int64")
        elif kind == "boolean":
            frame[column] = frame[column].astype("boolean")
        elif kind == "number":
            frame[column] = frame[column].astype(float)
    return frame


def codebook(
    published: Published, translate: Gettext, reason_labels: dict[str, str]
) -> pd.DataFrame:
    """Every column of every table and every code in the data, labelled in every locale."""
    rows = []

    def row(table: str, field: str, code: str, msgid: str | dict[str, str]) -> None:
        labels = {
            f"label_{locale}": msgid[locale]
            if isinstance(msgid, dict)
            else translate(locale, msgid)
            for locale in SUPPORTED_LOCALES
        }
        rows.append({"table": table, "field": field, "code": code, **labels})

    for table, columns in TABLES.items():
        for column in columns:
            row(table, column, "", FIELDS[column][1])
    for agency in published.agencies.itertuples():
        names = {"vi": agency.name_vi, "en": agency.name_en, "id": agency.name_id}
        row("agencies", "agency", agency.agency, names)
    for kind, msgid in KIND_LABELS.items():
        row("agencies", "kind", kind.value, msgid)
    for code, msgid in reason_labels.items():
        row("reasons", "reason", code, msgid)
    return pd.DataFrame(rows, columns=["table", "field", "code", *LABEL_COLUMNS])


def methodology(published: Published, translate: Gettext) -> str:
    """The method in plain words, in every shipped language, then the technical notes."""
    parts = []
    for locale in SUPPORTED_LOCALES:

        def _(msgid: str, locale: str = locale, **params: object) -> str:
            return translate(locale, msgid, **params)

        parts.append(
            "\n\n".join(
                [
                    f"## {_('How these figures are made')} ({locale})",
                    _(
                        "After each completed online transaction the citizen is invited to "
                        "rate the service from 1 to 5. Satisfaction (CSAT) is the share of "
                        "answers rating it 4 or 5, with an interval that says how far chance "
                        "alone could move it: 95 in 100 such intervals hold the true share."
                    ),
                    _(
                        "The response rate is the share of invited citizens who answered. "
                        "The official satisfaction rate counts every transaction: those rated "
                        "2 or lower are dissatisfied, all others (unanswered ones included) "
                        "are not."
                    ),
                    _(
                        "To protect the citizens who answered, no figure resting on fewer "
                        "than %(min)s responses is published, and further small agencies are "
                        "withheld when the national total would otherwise reveal a withheld "
                        "one. The national row is the sum of the published agencies.",
                        min=MIN_PUBLISHED,
                    ),
                    _("Quarters are calendar quarters in the country's local time."),
                ]
            )
        )
    technical = "\n".join(f"- {line}" for line in published.method)
    return "\n\n".join([*parts, f"## Technical notes (en)\n\n{technical}"]) + "\n"


def package_files(
    published: Published, translate: Gettext, reason_labels: dict[str, str]
) -> dict[str, bytes]:
    """File name -> content of the quarter's data package."""
    tables = {
        "national": _typed(published.national, TABLES["national"]),
        "agencies": _typed(published.agencies, TABLES["agencies"]),
        "reasons": _typed(published.reasons, TABLES["reasons"]),
    }
    book = codebook(published, translate, reason_labels)
    tables["codebook"] = book
    files: dict[str, bytes] = {}
    resources = []
    for name, frame in tables.items():
        schema = {
            "fields": [_field(column, translate) for column in frame.columns],
            "missingValues": [""],
        }
        text = frame.to_csv(index=False, lineterminator="\n", float_format="%.6g")
        files[f"{name}.csv"] = text.encode()
        files[f"{name}.parquet"] = _parquet(frame, schema)
        title = translate("en", TABLE_TITLES[name])
        for suffix, media in (("csv", "text/csv"), ("parquet", PARQUET)):
            resources.append(
                {
                    "name": name if suffix == "csv" else f"{name}-parquet",
                    "path": f"{name}.{suffix}",
                    "profile": "tabular-data-resource",
                    "title": title,
                    "format": suffix,
                    "mediatype": media,
                    **({"encoding": "utf-8"} if suffix == "csv" else {}),
                    "schema": schema,
                }
            )
    files["methodology.md"] = methodology(published, translate).encode()
    descriptor = {
        "profile": "data-package",
        "name": f"citizen-satisfaction-{str(published.quarter).lower()}",
        "title": f"Citizen satisfaction with online public services, {published.quarter}",
        "description": "Published aggregates: national and per-agency satisfaction, response "
        "and official rates with 95% intervals, and the national mix of reasons for "
        f"dissatisfaction. Figures resting on fewer than {MIN_PUBLISHED} responses are "
        "withheld (see methodology.md).",
        "version": str(published.quarter),
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "temporalCoverage": {
            "start": published.quarter.first_day.isoformat(),
            "end": published.quarter.last_day.isoformat(),
        },
        "languages": list(SUPPORTED_LOCALES),
        "resources": [
            *resources,
            {
                "name": "methodology",
                "path": "methodology.md",
                "format": "md",
                "mediatype": "text/markdown",
            },
        ],
    }
    files["datapackage.json"] = json.dumps(descriptor, ensure_ascii=False, indent=2).encode()
    return files


def _field(column: str, translate: Gettext) -> dict[str, str]:
    kind, title, description = FIELDS[column]
    return {
        "name": column,
        "type": kind,
        "title": translate("en", title),
        "description": description,
    }


def _parquet(frame: pd.DataFrame, schema: dict) -> bytes:
    """The table as Parquet, each column's description in its field metadata and the
    whole schema (as in datapackage.json) in the file's."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = {f["name"]: f for f in schema["fields"]}
    table = table.cast(
        pa.schema(
            [
                field.with_metadata(
                    {
                        "title": fields[field.name]["title"],
                        "description": fields[field.name]["description"],
                    }
                )
                for field in table.schema
            ],
            metadata={
                **(table.schema.metadata or {}),
                b"frictionless:schema": json.dumps(schema, ensure_ascii=False).encode(),
            },
        )
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def write_directory(files: dict[str, bytes], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = out / name
        path.write_bytes(content)
        written.append(path)
    return written


def zipped(files: dict[str, bytes], folder: str) -> bytes:
    """The package as one ZIP, its files in ``folder``/ (as a download unpacks)."""
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(f"{folder}/{name}", content)
    return sink.getvalue()
