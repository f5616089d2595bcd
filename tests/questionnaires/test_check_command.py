"""``survey questionnaire check FILE...``."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from questionnaires import DEFAULT_DIRECTORY
from survey_app.cli.questionnaire import questionnaire

DEFAULT_FILE = DEFAULT_DIRECTORY / "public-service-satisfaction.toml"
BAD = (
    'id = "x"\nversion = 0\ntitle = "Rate this service"\n[[questions]]\nid = "a"\nkind = "slider"\n'
)


def check(*files: Path):
    return CliRunner().invoke(questionnaire, ["check", *map(str, files)])


def test_check_accepts_the_default_file():
    result = check(DEFAULT_FILE)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"OK {DEFAULT_FILE}: public-service-satisfaction v1, 4 questions\n"


def test_check_reports_every_problem_of_every_file_and_fails(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD)
    result = check(DEFAULT_FILE, bad, tmp_path / "absent.toml")
    assert result.exit_code == 1
    assert result.stdout == f"OK {DEFAULT_FILE}: public-service-satisfaction v1, 4 questions\n"
    assert f"ERROR {bad}: version: must be a positive integer, not 0\n" in result.stderr
    assert f'ERROR {bad}: questions[0] (id "a").kind: unknown question kind "slider"' in (
        result.stderr
    )
    assert f'ERROR {bad}: questions[0] (id "a").text: missing\n' in result.stderr
    assert f"ERROR {tmp_path / 'absent.toml'}: file: cannot be read" in result.stderr
    assert result.stderr.endswith("2 of 3 files invalid\n")


def test_check_reports_untranslated_texts(tmp_path):
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    changed = tmp_path / "changed.toml"
    changed.write_text(text.replace("Rate this service", "Rate this brand-new service"))
    result = check(changed)
    assert result.exit_code == 1
    for locale in ("vi", "en", "id"):
        assert (
            f'ERROR {changed}: title: text "Rate this brand-new service" '
            f"is missing from the {locale} catalog\n"
        ) in result.stderr


def test_check_needs_a_file():
    result = CliRunner().invoke(questionnaire, ["check"])
    assert result.exit_code == 2
    assert "Missing argument" in result.output
