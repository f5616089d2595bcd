"""The shipped ``dossier-evaluation`` questionnaire: per-dossier one-stop evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from questionnaires import DEFAULT_DIRECTORY, load_directory, load_file
from questionnaires.model import REASON_CODES
from survey_app.cli.questionnaire import questionnaire as questionnaire_cli
from survey_app.lib.i18n import Catalogs
from survey_app.lib.settings import SUPPORTED_LOCALES

REPO = Path(__file__).resolve().parents[2]
LOCALES = REPO / "locales"
FILE = DEFAULT_DIRECTORY / "dossier-evaluation.toml"
CRITERIA = (
    "publicity",
    "timeliness",
    "staff_attitude",
    "visits",
    "online_quality",
    "feedback_handling",
)
RATING_LABELS = (
    "Very dissatisfied",
    "Dissatisfied",
    "Neither satisfied nor dissatisfied",
    "Satisfied",
    "Very satisfied",
)


@pytest.fixture(scope="module")
def served():
    """Every questionnaire as the server loads them (with the translation check)."""
    return load_directory(DEFAULT_DIRECTORY, locales_dir=LOCALES, locales=SUPPORTED_LOCALES)


@pytest.fixture(scope="module")
def dossier(served):
    return served["dossier-evaluation"]


def test_loads_with_the_server_loader_next_to_the_default(served):
    assert {"public-service-satisfaction", "dossier-evaluation"} <= set(served)
    q = load_file(FILE, locales_dir=LOCALES, locales=SUPPORTED_LOCALES)
    assert (q.id, q.version) == ("dossier-evaluation", 1)
    assert q.checksum() == served["dossier-evaluation"].checksum()


def test_question_order(dossier):
    assert [q.id for q in dossier.questions] == [
        "overall",
        *CRITERIA,
        "reasons",
        "reason_other",
        "comment",
    ]


def test_overall_is_a_required_1_to_5_rating_like_the_default(served, dossier):
    overall = dossier.question("overall")
    default = served["public-service-satisfaction"].question("overall")
    assert (overall.kind, overall.scale, overall.required) == ("rating", 5, True)
    assert [o.value for o in overall.options] == ["1", "2", "3", "4", "5"]
    assert [o.label for o in overall.options] == [o.label for o in default.options]
    assert overall.show_if is None


@pytest.mark.parametrize("qid", CRITERIA)
def test_every_criterion_is_an_optional_1_to_5_rating(dossier, qid):
    question = dossier.question(qid)
    assert (question.kind, question.scale) == ("rating", 5)
    assert [o.value for o in question.options] == ["1", "2", "3", "4", "5"]
    assert tuple(o.label for o in question.options) == RATING_LABELS
    assert not question.required
    assert question.show_if is None


def test_reasons_have_the_six_codes_of_the_default(served, dossier):
    reasons = dossier.question("reasons")
    default = served["public-service-satisfaction"].question("reasons")
    assert reasons.kind == "multi"
    assert tuple(o.value for o in reasons.options) == REASON_CODES
    assert reasons.options == default.options


def test_conditions(served, dossier):
    default = served["public-service-satisfaction"]
    for qid in ("reasons", "reason_other"):
        assert dossier.question(qid).show_if == default.question(qid).show_if
    assert dossier.question("reasons").show_if.to_dict() == {
        "question": "overall",
        "op": "<=",
        "value": 3,
    }
    assert dossier.question("reason_other").show_if.to_dict() == {
        "question": "reasons",
        "op": "contains",
        "value": "other",
    }
    asked = lambda answers: [q.id for q in dossier.visible(answers)]  # noqa: E731
    assert "reasons" not in asked({"overall": 4})
    assert "reasons" in asked({"overall": 3})
    assert "reason_other" not in asked({"overall": 2, "reasons": ["portal_error"]})
    assert "reason_other" in asked({"overall": 2, "reasons": ["other"]})
    # Answers to hidden questions do not count: reasons given with a high rating are ignored.
    assert "reason_other" not in asked({"overall": 5, "reasons": ["other"]})
    assert set(CRITERIA) | {"comment"} <= set(asked({"overall": 5}))


@pytest.mark.parametrize("locale", ["vi", "id"])
def test_every_text_is_translated_through_the_compiled_catalogs(dossier, locale):
    catalogs = Catalogs(LOCALES, SUPPORTED_LOCALES)
    untranslated = [
        (where, msgid)
        for where, msgid in dossier.msgids()
        if not (text := catalogs.gettext(locale, msgid)).strip() or text == msgid
    ]
    assert untranslated == []


def test_check_command_accepts_the_file():
    result = CliRunner().invoke(questionnaire_cli, ["check", str(FILE)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"OK {FILE}: dossier-evaluation v1, 10 questions\n"
