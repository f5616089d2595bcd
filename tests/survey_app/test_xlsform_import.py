"""``survey questionnaire import-xlsform``: the shipped sample XLSForm, imported into a
temporary SURVEY_QUESTIONNAIRE_DIR and a copy of locales/, read back by the loader and
through the compiled catalogs as the server reads them; refusals write nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from click.testing import CliRunner, Result
from openpyxl import Workbook, load_workbook

from questionnaires import load_directory, load_file
from questionnaires.model import Condition
from survey_app.cli import main
from survey_app.lib.i18n import Catalogs
from survey_app.lib.settings import SUPPORTED_LOCALES
from tests.conftest import REPO

SAMPLE = REPO / "questionnaires" / "samples" / "service-feedback.xlsx"
# The sample's relevant expressions, as the service states them.
CONDITIONS = {
    "${overall} <= 3": Condition("overall", "<=", 3),
    "selected(${problems}, 'other')": Condition("problems", "contains", "other"),
    "${channel} = 'online'": Condition("channel", "==", "online"),
}
KINDS = {"select_multiple": "multi", "select_one": "choice", "text": "text", "integer": "rating"}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    questionnaires = tmp_path / "questionnaires"
    questionnaires.mkdir()
    locales = shutil.copytree(REPO / "locales", tmp_path / "locales")
    return questionnaires, locales


def survey(dirs: tuple[Path, Path], *args: str) -> Result:
    questionnaires, locales = dirs
    env = {"SURVEY_QUESTIONNAIRE_DIR": str(questionnaires), "SURVEY_LOCALES_DIR": str(locales)}
    return CliRunner().invoke(main, ["questionnaire", *args], prog_name="survey", env=env)


def import_sample(dirs: tuple[Path, Path], *args: str) -> Result:
    return survey(dirs, "import-xlsform", str(SAMPLE), "--id", "service-feedback", *args)


def catalog_of(locales: Path, locale: str) -> Catalog:
    with (locales / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=locale)


def snapshot(*roots: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file()}


def sheet_rows(workbook, title: str) -> list[dict[str, object]]:
    header, *rows = workbook[title].values
    return [dict(zip(header, row, strict=True)) for row in rows]


def written_path(result: Result) -> Path:
    match = re.match(
        r"^Wrote (.+) \(service-feedback v\d+, 6 questions\)$", result.stdout.splitlines()[0]
    )
    assert match, result.stdout
    return Path(match[1])


def test_import_round_trip(dirs):
    questionnaires, locales = dirs
    shipped = snapshot(REPO / "locales")
    before = {loc: catalog_of(locales, loc) for loc in SUPPORTED_LOCALES}
    result = import_sample(dirs, "--version", "1")
    assert result.exit_code == 0, result.output
    path = written_path(result)
    assert path == questionnaires / "service-feedback.toml"
    assert path.is_file()
    for locale in SUPPORTED_LOCALES:
        po = locales / locale / "LC_MESSAGES" / "messages.po"
        assert f"Updated {po}: 18 texts added, 0 filled" in result.stdout
        assert f"Compiled {po.with_suffix('.mo')}" in result.stdout
    assert "note: sheet 'survey', row 2: metadata 'start' skipped" in result.stderr
    assert "warning" not in result.stderr
    assert snapshot(REPO / "locales") == shipped  # the repository's catalogs are untouched

    # The loader accepts it, with every text translated; the server would serve it.
    form = load_file(path, locales_dir=locales, locales=SUPPORTED_LOCALES)
    assert load_directory(questionnaires, locales_dir=locales)["service-feedback"] == form

    # Every question, option and condition is the sheet's.
    workbook = load_workbook(SAMPLE)
    rows = [r for r in sheet_rows(workbook, "survey") if r["type"] not in ("start", "end")]
    choices = sheet_rows(workbook, "choices")
    assert [q.id for q in form.questions] == [r["name"] for r in rows]
    for question, row in zip(form.questions, rows, strict=True):
        kind, _, list_name = str(row["type"]).partition(" ")
        assert question.text == row["label::English (en)"]
        assert question.hint == row["hint::English (en)"]
        assert question.required == (row["required"] == "yes")
        assert question.show_if == (CONDITIONS[row["relevant"]] if row["relevant"] else None)
        listed = [
            (str(c["name"]), c["label::English (en)"])
            for c in choices
            if c["list_name"] == list_name
        ]
        options = [(o.value, o.label) for o in question.options]
        if question.id == "overall":  # a select_one over 1..5
            assert (question.kind, question.scale, options) == ("rating", 5, listed)
        elif kind == "integer":  # constrained to 1..5
            assert row["constraint"] == ". >= 1 and . <= 5"
            assert (question.kind, options) == ("rating", [(str(n), str(n)) for n in range(1, 6)])
        else:
            assert (question.kind, options) == (KINDS[kind], listed)
    assert form.question("problem_other").max_length == 300

    # Through the compiled catalogs, as the server reads them: the sheet's translations.
    catalogs = Catalogs(locales)
    texts = (
        [r for r in rows if r["label::English (en)"]] + choices + sheet_rows(workbook, "settings")
    )
    checked = 0
    for row in texts:
        for column in ("label", "hint", "form_title"):
            english = row.get(f"{column}::English (en)")
            if english:
                assert catalogs.gettext("vi", english) == row[f"{column}::Vietnamese (vi)"]
                assert catalogs.gettext("id", english) == row[f"{column}::Indonesian (id)"]
                assert catalogs.gettext("en", english) == english
                checked += 1
    assert checked == 1 + 6 + 2 + 12  # title, questions, hints, choices

    # Existing entries are kept as they were.
    for locale, catalog in before.items():
        after = catalog_of(locales, locale)
        kept = [m.id for m in catalog if m.id and after[m.id].string == m.string]
        assert len(kept) == len(catalog) > 100


def test_reimport_changes_nothing_and_a_new_version_gets_its_own_file(dirs):
    questionnaires, locales = dirs
    assert import_sample(dirs, "--version", "1").exit_code == 0
    catalogs = {p: b for p, b in snapshot(locales).items() if p.suffix == ".po"}
    again = import_sample(dirs, "--version", "1")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith(f"Unchanged {questionnaires / 'service-feedback.toml'} (")
    assert "every text there already" in again.stdout
    assert {p: b for p, b in snapshot(locales).items() if p.suffix == ".po"} == catalogs
    second = import_sample(dirs, "--version", "2")
    assert second.exit_code == 0, second.output
    assert written_path(second) == questionnaires / "service-feedback-v2.toml"
    assert load_directory(questionnaires, locales_dir=locales)["service-feedback"].version == 2


def test_different_content_for_the_same_version_is_refused(dirs):
    questionnaires, locales = dirs
    assert import_sample(dirs, "--version", "1").exit_code == 0
    path = questionnaires / "service-feedback.toml"
    path.write_text(path.read_text().replace("max_length = 300", "max_length = 200"))
    before = snapshot(questionnaires, locales)
    result = import_sample(dirs, "--version", "1")
    assert result.exit_code == 1
    assert (
        f"{path} already holds service-feedback version 1, with different content" in result.stderr
    )
    assert snapshot(questionnaires, locales) == before


def test_a_taken_file_name_is_not_overwritten(dirs):
    questionnaires, _ = dirs
    taken = questionnaires / "service-feedback.toml"
    taken.write_text("not a questionnaire")
    result = import_sample(dirs, "--version", "1")
    assert result.exit_code == 1
    assert f"{taken} exists and holds something else; not overwriting it" in result.stderr
    assert taken.read_text() == "not a questionnaire"


def test_refusal_names_sheet_row_and_reason_and_writes_nothing(dirs, tmp_path):
    questionnaires, locales = dirs
    workbook = Workbook()
    survey_sheet = workbook.active
    survey_sheet.title = "survey"
    for row in [
        ["type", "name", "label::English (en)", "label::Vietnamese (vi)", "label::Indonesian (id)"],
        ["begin group", "g", "Group", "Nhóm", "Grup"],
        ["select_one nope", "pick", "Pick", "Chọn", "Pilih"],
        ["text", "note", "Note", "Ghi chú", None],
    ]:
        survey_sheet.append(row)
    settings = workbook.create_sheet("settings")
    settings.append(
        ["form_title::English (en)", "form_title::Vietnamese (vi)", "form_title::Indonesian (id)"]
    )
    settings.append(["Form", "Biểu mẫu", "Formulir"])
    bad = tmp_path / "bad.xlsx"
    workbook.save(bad)
    before = snapshot(questionnaires, locales)
    result = survey(dirs, "import-xlsform", str(bad), "--id", "bad", "--version", "1")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"ERROR {bad}: sheet 'survey', row 2: groups cannot be mapped (a questionnaire is one "
        "flat list of questions)",
        f"ERROR {bad}: sheet 'survey', row 3: unknown choice list 'nope'",
        f"ERROR {bad}: sheet 'survey', row 4: label has no id translation",
        f"{bad}: not imported, nothing written",
    ]
    assert snapshot(questionnaires, locales) == before


def test_a_catalogs_own_translation_is_kept_with_a_warning_and_a_fuzzy_one_filled(dirs):
    _, locales = dirs
    po = locales / "vi" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalog = read_po(handle, locale="vi")
    catalog["Satisfied"].string = "Vừa ý"
    catalog["Dissatisfied"].flags.add("fuzzy")
    with po.open("wb") as handle:
        write_po(handle, catalog, width=0)
    result = import_sample(dirs, "--version", "1")
    assert result.exit_code == 0, result.output
    assert (
        "warning: vi: kept the catalog's translation of 'Satisfied', 'Vừa ý' "
        "(the sheet has 'Hài lòng')"
    ) in result.stderr
    assert f"Updated {po}: 18 texts added, 1 filled" in result.stdout
    with po.open("rb") as handle:
        catalog = read_po(handle, locale="vi")
    assert catalog["Satisfied"].string == "Vừa ý"
    assert (catalog["Dissatisfied"].string, catalog["Dissatisfied"].fuzzy) == (
        "Không hài lòng",
        False,
    )
    assert Catalogs(locales).gettext("vi", "Dissatisfied") == "Không hài lòng"


def test_a_file_that_does_not_load_after_all_is_undone(dirs, monkeypatch):
    # The conversion validates everything the loader checks; should the written file still
    # not load, every file written is restored.
    import questionnaires

    questionnaires_dir, locales = dirs
    before = snapshot(questionnaires_dir, locales)
    problem = questionnaires.Problem("x.toml", "title", "broken on purpose")

    def fail(*args, **kwargs):
        raise questionnaires.QuestionnaireError([problem])

    monkeypatch.setattr(questionnaires, "load_file", fail)
    result = import_sample(dirs, "--version", "1")
    assert result.exit_code == 1
    assert "ERROR x.toml: title: broken on purpose" in result.stderr
    assert "the imported file does not load; every change undone" in result.stderr
    assert snapshot(questionnaires_dir, locales) == before


def test_missing_catalogs_stop_it_before_anything_is_written(dirs, tmp_path):
    questionnaires, _ = dirs
    empty = tmp_path / "nowhere"
    env = {"SURVEY_QUESTIONNAIRE_DIR": str(questionnaires), "SURVEY_LOCALES_DIR": str(empty)}
    args = ["questionnaire", "import-xlsform", str(SAMPLE), "--id", "x", "--version", "1"]
    result = CliRunner().invoke(main, args, prog_name="survey", env=env)
    assert result.exit_code == 1
    assert "is SURVEY_LOCALES_DIR right?" in result.stderr
    assert list(questionnaires.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--id", "Bad Id", "--version", "1"], "--id"),
        (["--id", "x", "--version", "0"], "--version"),
    ],
)
def test_usage_errors(dirs, args, named):
    result = survey(dirs, "import-xlsform", str(SAMPLE), *args)
    assert result.exit_code == 2
    assert named in result.stderr.split("Error:", 1)[1]
