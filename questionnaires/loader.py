"""Read questionnaire files and validate them, reporting every problem with its place.

``load_file`` and ``load_directory`` return ``Questionnaire`` values or raise
``QuestionnaireError``, whose text lists each ``Problem`` as
``file: location: reason``, e.g.
``questionnaires/x.toml: questions[2] (id "reasons").show_if.question: unknown question "overal"``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path

from questionnaires.model import Questionnaire
from questionnaires.problems import Collector, Problem, QuestionnaireError, quoted
from questionnaires.translations import Catalogs
from questionnaires.validate import build

__all__ = [
    "DEFAULT_DIRECTORY",
    "DEFAULT_LOCALES",
    "DEFAULT_QUESTIONNAIRE_ID",
    "Problem",
    "QuestionnaireError",
    "load_directory",
    "load_file",
    "parse",
]

DEFAULT_DIRECTORY = Path(__file__).resolve().parent
DEFAULT_QUESTIONNAIRE_ID = "public-service-satisfaction"
DEFAULT_LOCALES = ("vi", "en", "id")


def load_file(
    path: str | Path,
    *,
    locales_dir: Path | None = None,
    locales: Sequence[str] = DEFAULT_LOCALES,
) -> Questionnaire:
    """Read and validate one file; raise ``QuestionnaireError`` listing every problem.

    With ``locales_dir``, every text must also be translated (present, not
    empty, not fuzzy) in ``<locales_dir>/<locale>/LC_MESSAGES/messages.po``
    for each of ``locales``; ``None`` skips that check.
    """
    catalogs = Catalogs(locales_dir, locales)
    questionnaire, problems = _load(Path(path), catalogs)
    if problems or questionnaire is None:
        raise QuestionnaireError(problems)
    return questionnaire


def load_directory(
    directory: str | Path = DEFAULT_DIRECTORY,
    *,
    locales_dir: Path | None = None,
    locales: Sequence[str] = DEFAULT_LOCALES,
) -> dict[str, Questionnaire]:
    """Every ``*.toml`` in ``directory``, by questionnaire id; the problems of all files at once.

    Several files may hold successive versions of one questionnaire; the
    highest version is the one returned. Two files with the same id and
    version are a problem.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise QuestionnaireError([Problem(str(directory), "directory", "not found")])
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise QuestionnaireError([Problem(str(directory), "directory", "no *.toml files")])
    catalogs = Catalogs(locales_dir, locales)
    problems: list[Problem] = []
    by_version: dict[tuple[str, int], Questionnaire] = {}
    for path in files:
        questionnaire, file_problems = _load(path, catalogs)
        problems.extend(file_problems)
        if questionnaire is None:
            continue
        key = (questionnaire.id, questionnaire.version)
        if key in by_version:
            problems.append(
                Problem(
                    str(path),
                    "version",
                    f"questionnaire {quoted(questionnaire.id)} version {questionnaire.version} "
                    f"is also defined in {by_version[key].source}; "
                    "a changed questionnaire needs a new version number",
                )
            )
            continue
        by_version[key] = questionnaire
    if problems:
        raise QuestionnaireError(problems)
    latest: dict[str, Questionnaire] = {}
    for (qid, version), questionnaire in sorted(by_version.items()):
        if qid not in latest or latest[qid].version < version:
            latest[qid] = questionnaire
    return latest


def parse(source: str, path: str | Path) -> tuple[Questionnaire | None, list[Problem]]:
    """Validate the text of one file (no translation check): the questionnaire or its problems."""
    check = Collector(str(path))
    questionnaire = _from_text(source, Path(path), check)
    return questionnaire, check.problems


def _load(path: Path, catalogs: Catalogs) -> tuple[Questionnaire | None, list[Problem]]:
    check = Collector(str(path))
    try:
        source = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        check.add("file", "is not UTF-8 text")
        return None, check.problems
    except OSError as error:
        check.add("file", f"cannot be read ({error.strerror or error})")
        return None, check.problems
    questionnaire = _from_text(source, path, check)
    # Texts are checked even when the structure has problems: every problem at once.
    catalogs.check(check)
    return (None if check.problems else questionnaire), check.problems


def _from_text(source: str, path: Path, check: Collector) -> Questionnaire | None:
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        check.add("TOML syntax", str(error))
        return None
    except RecursionError:
        # tomllib recurses once per level of nested arrays and inline tables.
        check.add("TOML syntax", "arrays or inline tables nested too deeply")
        return None
    return build(data, path, check)
