"""The published aggregates: ``/public``, its downloads and ``survey publish``.

The figures are checked against counts made here from the stored responses and
invitations (not through the cells), on SQLite and PostgreSQL; the package is
validated with the ``frictionless`` library; and nothing a withheld agency
answered reaches the page, the package or the national row.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from frictionless import validate

from analysis import MIN_PUBLISHED
from survey_app.db.tables import Agency, Invitation, Response
from survey_app.demo import fixtures
from survey_app.demo import synthetic as demo
from survey_app.lib.settings import SUPPORTED_LOCALES, local_zone
from survey_app.publication.aggregates import Quarter, QuarterError, published
from tests.conftest import survey_command

from .conftest import LiveServer

RESPONSES = 2500
MONTHS = 9


def test_quarters_parse_and_step() -> None:
    q = Quarter.parse("2026q3")
    assert (q.first_day, q.last_day) == (dt.date(2026, 7, 1), dt.date(2026, 9, 30))
    assert str(q.next()) == "2026Q4"
    assert str(q.next().next()) == "2027Q1"
    assert str(Quarter.parse("2027-Q1").previous()) == "2026Q4"
    assert Quarter.parse("2024Q1").last_day == dt.date(2024, 3, 31)
    for bad in ("2026Q5", "2026", "Q3", "1999Q1", "2026Q3; drop"):
        with pytest.raises(QuarterError):
            Quarter.parse(bad)


@pytest.fixture
def loaded(live: LiveServer) -> Quarter:
    """The demo directory with responses over nine months; the last complete quarter."""
    live.run(fixtures.load(live.settings))
    live.run(demo.synthesize(RESPONSES, MONTHS, seed=7))
    return Quarter.of(dt.datetime.now(local_zone()).date()).previous()


def _counted(live: LiveServer, quarter: Quarter) -> pd.DataFrame:
    """Per agency code: responses, satisfied, dissatisfied and invitations in the quarter
    (local days), counted from the stored rows."""
    zone = local_zone()
    code = {row["id"]: row["code"] for row in live.run(Agency.select(Agency.id, Agency.code))}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def inside(moment: dt.datetime) -> bool:
        return quarter.first_day <= moment.astimezone(zone).date() <= quarter.last_day

    for row in live.run(Response.select(Response.agency, Response.overall, Response.submitted_at)):
        if inside(row["submitted_at"]):
            agency = counts[code[row["agency"]]]
            agency["responses"] += 1
            agency["satisfied"] += row["overall"] >= 4
            agency["dissatisfied"] += row["overall"] <= 2
    for row in live.run(Invitation.select(Invitation.agency, Invitation.created_at)):
        if inside(row["created_at"]):
            counts[code[row["agency"]]]["invitations"] += 1
    return pd.DataFrame.from_dict(counts, orient="index").fillna(0).astype(int)


def test_published_figures_are_the_stored_answers_less_the_withheld(
    live: LiveServer, loaded: Quarter
) -> None:
    result = live.run(published(loaded, live.settings.dissatisfied_max))
    truth = _counted(live, loaded)
    agencies = result.agencies.set_index("agency")
    shown = agencies[~agencies["suppressed"] & agencies["responses"].gt(0)]
    withheld = agencies[agencies["suppressed"]]
    assert len(shown) >= 10
    assert len(withheld) >= 1
    for code, row in shown.iterrows():
        expected = truth.loc[code]
        assert row["responses"] == expected["responses"] >= MIN_PUBLISHED
        assert row["satisfied"] == expected["satisfied"]
        assert row["invitations"] == expected["invitations"]
        assert row["dissatisfied"] == expected["dissatisfied"]
        assert row["csat"] == pytest.approx(expected["satisfied"] / expected["responses"])
        assert row["csat_ci_low"] < row["csat"] < row["csat_ci_high"]
        assert row["official_rate"] == pytest.approx(
            1 - expected["dissatisfied"] / expected["invitations"]
        )
    # Whatever is withheld shows no figure, and the withheld together hold enough
    # responses that the national total does not give one away.
    assert withheld[["responses", "csat", "invitations", "official_rate"]].isna().all().all()
    hidden = truth.reindex(withheld.index).fillna(0)["responses"].sum()
    assert hidden == 0 or hidden >= MIN_PUBLISHED
    assert truth.reindex(withheld.index).fillna(0)["responses"].min() < MIN_PUBLISHED
    national = result.national.iloc[0]
    assert national["responses"] == shown["responses"].sum()
    assert national["satisfied"] == shown["satisfied"].sum()
    assert national["agencies_withheld"] == len(withheld)
    assert set(result.reasons["reason"]) <= set(demo.REASON_WEIGHTS)
    assert (result.reasons["count"] <= result.reasons["respondents"]).all()


def test_survey_publish_writes_a_valid_frictionless_package(
    live: LiveServer, loaded: Quarter, tmp_path: Path
) -> None:
    out = tmp_path / "package"
    env = {"DATABASE_URL": live.settings.database_url, "SURVEY_SECRET": live.settings.secret}
    done = survey_command("publish", "--quarter", str(loaded), "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    assert f"{loaded}:" in done.stdout
    report = validate(out / "datapackage.json")
    assert report.valid, report.flatten(["resourceName", "rowNumber", "type", "note"])[:10]

    descriptor = json.loads((out / "datapackage.json").read_text())
    names = {resource["name"] for resource in descriptor["resources"]}
    assert {"national", "agencies", "reasons", "codebook", "agencies-parquet"} <= names
    for resource in descriptor["resources"]:
        for field in resource.get("schema", {}).get("fields", []):
            assert field["title"], field
            assert field["description"], field
    # Parquet carries the same rows and the descriptions, typed.
    csv = pd.read_csv(out / "agencies.csv")
    table = pq.read_table(out / "agencies.parquet")
    assert table.num_rows == len(csv)
    assert table.schema.field("csat").metadata[b"description"]
    assert b"frictionless:schema" in table.schema.metadata
    assert table.column("responses").to_pylist() == [
        None if pd.isna(v) else int(v) for v in csv["responses"]
    ]
    # Every agency and reason code has a label in every language.
    codebook = pd.read_csv(out / "codebook.csv", keep_default_na=False)
    codes = codebook[codebook["code"] != ""]
    assert set(csv["agency"]) <= set(codes[codes["field"] == "agency"]["code"])
    assert set(demo.REASON_WEIGHTS) <= set(codes[codes["field"] == "reason"]["code"])
    for locale in SUPPORTED_LOCALES:
        assert (codebook[f"label_{locale}"] != "").all()
    assert "ministry" in set(codes[codes["field"] == "kind"]["code"])
    vi = codebook.set_index(["table", "field", "code"]).loc[("reasons", "reason", "portal_error")]
    assert vi["label_vi"] != vi["label_en"]  # translated, not the English msgid
    methodology = (out / "methodology.md").read_text()
    assert str(MIN_PUBLISHED) in methodology
    assert "(vi)" in methodology


def test_survey_publish_refuses_a_malformed_quarter(live: LiveServer, tmp_path: Path) -> None:
    env = {"DATABASE_URL": live.settings.database_url}
    done = survey_command("publish", "--quarter", "2026Q7", "--out", str(tmp_path), env=env)
    assert done.returncode == 2
    assert "2026Q3" in done.stderr  # says how to write one
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("lang", SUPPORTED_LOCALES)
def test_public_page_without_login_or_cookies(http, loaded: Quarter, lang: str) -> None:
    answer = http.get(f"/public?lang={lang}")
    assert answer.status_code == 200
    assert "set-cookie" not in answer.headers
    assert answer.headers["cache-control"].startswith("public")
    assert f'<html lang="{lang}">' in answer.text
    assert str(loaded) in answer.text
    assert f"/public/data/{loaded}.zip" in answer.text


def test_public_page_shows_no_figure_of_a_withheld_agency(
    live: LiveServer, http, loaded: Quarter
) -> None:
    result = live.run(published(loaded, live.settings.dissatisfied_max))
    page = http.get(f"/public?quarter={loaded}&lang=en").text
    for row in result.agencies.itertuples():
        cells = page.split(f'<span class="sub">{row.agency}</span></th>')[1].split("</tr>")[0]
        if row.suppressed:
            assert "withheld" in cells
            assert "%" not in cells
        elif pd.notna(row.responses) and row.responses > 0:
            assert f">{int(row.responses)}</td>" in cells


def test_public_downloads_are_the_package(http, loaded: Quarter) -> None:
    answer = http.get(f"/public/data/{loaded}.zip")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    assert "set-cookie" not in answer.headers
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        names = set(archive.namelist())
        folder = f"citizen-satisfaction-{loaded}"
        assert {f"{folder}/datapackage.json", f"{folder}/agencies.parquet"} <= names
        agencies = archive.read(f"{folder}/agencies.csv")
    table = http.get(f"/public/data/{loaded}-agencies.csv")
    assert table.status_code == 200
    assert table.content == agencies
    for bad in (f"{loaded}-secrets.csv", "2026Q9.zip", "9999Q1.zip", f"{loaded}.exe", "x"):
        assert http.get(f"/public/data/{bad}").status_code == 404, bad
    assert http.get("/public?quarter=2026Q9").status_code == 404
