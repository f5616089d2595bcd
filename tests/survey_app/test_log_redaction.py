"""``RedactTokens`` after its fast paths: each shortcut skips only texts that cannot hold a
token, and a remembered template never carries one of its arguments into another line."""

from __future__ import annotations

import logging
import secrets

import pytest

from survey_app.db.tables import TOKEN_BYTES
from survey_app.lib.logs import REDACTED, TEMPLATES_KEPT, RedactTokens, redactor

ACCESS = '%s - "%s %s HTTP/%s" %d'


def record(msg: object, args: tuple | dict | None = None, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def message(filtered: logging.LogRecord) -> str:
    return filtered.getMessage()


@pytest.fixture
def redact_tokens() -> RedactTokens:
    return RedactTokens(TOKEN_BYTES)


@pytest.fixture
def token() -> str:
    # One with a capital or a digit, as the shape wants (almost every token has one).
    while True:
        made = secrets.token_urlsafe(TOKEN_BYTES)
        if any(c.isupper() or c.isdigit() or c == "-" for c in made):
            return made


def test_access_lines_of_one_template_keep_none_of_each_others_tokens(redact_tokens, token):
    other = secrets.token_urlsafe(TOKEN_BYTES)
    for path in (f"/s/{token}?lang=vi", f"/s/{other}", "/livez"):
        line = record(ACCESS, ("127.0.0.1:1", "GET", path, "1.1", 200))
        assert redact_tokens.filter(line)
        assert token not in message(line)
        assert other not in message(line)
    assert line.args == ("127.0.0.1:1", "GET", "/livez", "1.1", 200)


def test_a_token_anywhere_in_a_line_is_redacted(redact_tokens, token):
    cases = [
        record(ACCESS, ("127.0.0.1:1", "GET", f"/x?Token={token}", "1.1", 200)),
        record(ACCESS, ("127.0.0.1:1", "GET", f"/api/v1/x?id={token}", "1.1", 200)),
        record("opening /s/" + token),
        record("looked up %r", ({"TOKEN": token},)),
        record("value %s%s", (token[:10], token[10:])),  # split between two arguments
        record("value " + token[:10] + "%s", (token[10:],)),  # split template / argument
        record("extra", None, detail=f"/s/{token}"),
    ]
    for line in cases:
        assert redact_tokens.filter(line)
        assert token not in message(line), line.msg
        assert token not in str(vars(line)), line.msg
        assert REDACTED in message(line) + str(vars(line))


def test_texts_without_anything_to_redact_are_left_alone(token):
    redact = redactor(TOKEN_BYTES)
    for text in ("", "/livez", "127.0.0.1:50000", "GET /static/survey.css", "x" * 200):
        assert redact(text) == text
    assert redact(f"/s/{token}") == f"/s/{REDACTED}"
    assert redact(f"csrf_TOKEN={token}&x=1") == f"csrf_TOKEN={REDACTED}&x=1"
    assert redact(f"[{token}]") == f"[{REDACTED}]"


def test_numbers_stay_numbers_for_the_formatters(redact_tokens):
    line = record(ACCESS, ("127.0.0.1:1", "GET", "/livez", "1.1", 503))
    redact_tokens.filter(line)
    assert line.args[-1] == 503
    assert message(line) == '127.0.0.1:1 - "GET /livez HTTP/1.1" 503'


def test_templates_remembered_are_bounded(redact_tokens, token):
    for i in range(TEMPLATES_KEPT + 50):
        line = record(f"template {i} /s/{token} %s", ("x",))
        redact_tokens.filter(line)
        assert token not in message(line)
    assert len(redact_tokens._templates) == TEMPLATES_KEPT
