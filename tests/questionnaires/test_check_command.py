"""``survey questionnaire check``."""

from __future__ import annotations

from click.testing import CliRunner

from questionnaires import DEFAULT_DIRECTORY
from survey_app.cli.questionnaire import questionnaire


def test_check_accepts_the_default_file():
    result = CliRunner().invoke(
        questionnaire, ["check", str(DEFAULT_DIRECTORY / "public-service-satisfaction.toml")]
    )
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    assert "public-service-satisfaction v1, 4 questions" in result.output


def test_check_reports_each_problem_and_fails(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'id = "x"\nversion = 1\ntitle = "Untranslated title"\n'
        '[[questions]]\nid = "a"\nkind = "slider"\ntext = "T"\n'
    )
    result = CliRunner().invoke(
        questionnaire,
        ["check", str(DEFAULT_DIRECTORY / "public-service-satisfaction.toml"), str(bad)],
    )
    assert result.exit_code == 1
    assert "OK" in result.output
    assert (
        f"ERROR {bad}: questions[0] (id \"a\").kind: unknown question kind 'slider'"
        in result.output
    )


def test_check_reports_untranslated_texts(tmp_path):
    text = (DEFAULT_DIRECTORY / "public-service-satisfaction.toml").read_text()
    changed = tmp_path / "changed.toml"
    changed.write_text(text.replace("Rate this service", "Rate this brand-new service"))
    result = CliRunner().invoke(questionnaire, ["check", str(changed)])
    assert result.exit_code == 1
    for locale in ("vi", "en", "id"):
        assert f"title: text not translated in {locale}" in result.output
