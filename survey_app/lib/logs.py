"""Logging for ``survey serve``: plain or JSON lines, with invitation tokens redacted.

An invitation token in a path (``/s/<token>``) is the capability to answer the
invitation, so whoever reads the logs could answer every open one. Every record
goes through ``RedactTokens`` before it is written, at every level and from every
logger (uvicorn's access and error logs, Litestar, Piccolo, ours):

- the segment after ``/s/``, whatever it looks like;
- the value of a ``token=`` query parameter, or of a ``token`` (``csrf_token`` …) key
  in JSON or a dict's repr;
- any run of URL-safe base64 with the length of an invitation token.

The message template, each argument (uvicorn's access log passes the path as one),
extra attributes, the traceback and the stack are redacted one by one, so
formatters that read ``record.args`` (uvicorn's ``AccessFormatter``) keep working.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

REDACTED = "[redacted]"
LOG_FORMATS = ("plain", "json")
# uvicorn's names, with its own TRACE level below DEBUG.
LOG_LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": 5,
}

_URLSAFE = "A-Za-z0-9_-"
# Each pattern leaves an earlier REDACTED alone: redacting twice changes nothing.
# The segment after /s/ (citizen pages): a token, or something a citizen mistyped.
_NOT_REDACTED = re.escape(REDACTED)
_CITIZEN_PATH = re.compile(rf"(?<=/s/)(?!{_NOT_REDACTED})[^/?#&\s\"'<>\\]+")
# token=VALUE (query strings), "token": "VALUE" (JSON), 'token': 'VALUE' (reprs).
_TOKEN_PAIR = re.compile(
    rf"""(?i)(\w*token["']?\s*[=:]\s*["']?)(?!{_NOT_REDACTED})[^&\s"',;}})\]]+"""
)
# A printf-style placeholder of a message template (``%s``, ``%(name)r``, ``%5.2f``, ``%%``).
_PLACEHOLDER = re.compile(
    r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]"
)
# Standard LogRecord attributes: everything else on a record came in through ``extra``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Redacted templates remembered, at most: a program that builds templates from data
# (a token among them) must not fill memory.
TEMPLATES_KEPT = 256


def token_shape(token_bytes: int) -> re.Pattern[str]:
    """What ``secrets.token_urlsafe(token_bytes)`` gives: that many URL-safe base64
    characters, standing alone, with at least one capital, digit or ``-`` (so that a
    lower-case identifier of that length in a traceback is left alone)."""
    chars = -(-token_bytes * 4 // 3)  # base64 without padding
    return re.compile(
        rf"(?<![{_URLSAFE}])(?=[{_URLSAFE}]{{0,{chars - 1}}}[A-Z0-9-])"
        rf"[{_URLSAFE}]{{{chars}}}(?![{_URLSAFE}])"
    )


def redactor(token_bytes: int) -> Callable[[str], str]:
    """A function that redacts invitation tokens of ``token_bytes`` random bytes in a text.

    Every access line passes through it: each pattern runs only on a text that could
    hold what it looks for (``/s/``; the word ``token``; a run as long as a token).
    """
    shape = token_shape(token_bytes)
    chars = -(-token_bytes * 4 // 3)

    def redact(text: str) -> str:
        if "/s/" in text:
            text = _CITIZEN_PATH.sub(REDACTED, text)
        if "token" in text.lower():
            text = _TOKEN_PAIR.sub(lambda match: match.group(1) + REDACTED, text)
        if len(text) >= chars:
            text = shape.sub(REDACTED, text)
        return text

    return redact


class RedactTokens(logging.Filter):
    """Rewrites a record so that no invitation token reaches any formatter or handler.

    Installed on every handler of the log configuration (``log_config``), and added to
    whatever handlers exist when the app starts (``install_redaction``).
    """

    def __init__(self, token_bytes: int, name: str = "") -> None:
        super().__init__(name)
        self.token_bytes = token_bytes
        self.redact = redactor(token_bytes)
        # Templates are few and fixed (uvicorn's access line is one): each is redacted once.
        self._templates: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.msg, str):
            record.msg = self._template(record.msg)
        else:
            record.msg = self._value(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {key: self._value(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(self._value(value) for value in record.args)
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text rather than format the traceback again.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key in vars(record).keys() - _RECORD_ATTRIBUTES:
            value = getattr(record, key)
            if isinstance(value, str):
                # uvicorn's color_message is a template for the same arguments.
                template = key == "color_message" and record.args
                setattr(record, key, self._template(value) if template else self.redact(value))
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call: logging reports it itself
            return True
        if self.redact(message) != message:
            # A token split between the template and an argument: keep the whole line only.
            record.msg, record.args = self.redact(message), ()
        return True

    def _template(self, template: str) -> str:
        """``template`` redacted between its ``%`` placeholders, which stay as they are."""
        redacted = self._templates.get(template)
        if redacted is None:
            redacted = self._redact_template(template)
            if len(self._templates) < TEMPLATES_KEPT:
                self._templates[template] = redacted
        return redacted

    def _redact_template(self, template: str) -> str:
        pieces, start = [], 0
        for placeholder in _PLACEHOLDER.finditer(template):
            pieces += [self.redact(template[start : placeholder.start()]), placeholder.group()]
            start = placeholder.end()
        return "".join([*pieces, self.redact(template[start:])])

    def _value(self, value: Any) -> Any:
        """``value`` redacted; a number, or an object whose text has no token, unchanged
        (``%d`` and uvicorn's formatters still get what they expect)."""
        if value is None or isinstance(value, int | float):
            return value
        text = value if isinstance(value, str) else str(value)
        redacted = self.redact(text)
        return value if redacted == text else redacted


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exception, stack, and
    the caller's ``extra`` attributes).

    uvicorn's access lines also carry ``client``, ``method``, ``path``, ``http`` and ``status``.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, http_version, status = args
            entry.update(client=client, method=method, path=path, http=http_version, status=status)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():  # what the caller passed as ``extra``
            if key not in _RECORD_ATTRIBUTES and key not in entry and key != "color_message":
                entry[key] = value
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_config(level: str, log_format: str, token_bytes: int) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of ``survey serve`` (also given to uvicorn).

    uvicorn's loggers keep their usual lines (access lines on stdout, the rest on
    stderr); Litestar's logger and the root logger (ours, Piccolo's …) write to stderr.
    ``log_format`` ``json`` makes every handler write JSON lines instead. Every
    handler redacts invitation tokens. ``level`` applies to every logger but aiosqlite's,
    which stays at INFO.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format {log_format!r} is not one of {', '.join(LOG_FORMATS)}")
    number = LOG_LEVELS[level.lower()]
    json_lines = log_format == "json"

    def handler(stream: str, formatter: str) -> dict[str, Any]:
        return {
            "class": "logging.StreamHandler",
            "stream": f"ext://sys.{stream}",
            "formatter": "json" if json_lines else formatter,
            "filters": ["redact_tokens"],
        }

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact_tokens": {"()": f"{__name__}.RedactTokens", "token_bytes": token_bytes}
        },
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
                "use_colors": None,
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
            # Litestar's own default line.
            "plain": {"format": "%(levelname)s - %(asctime)s - %(name)s - %(message)s"},
            "json": {"()": f"{__name__}.JsonFormatter"},
        },
        "handlers": {
            "default": handler("stderr", "default"),
            "access": handler("stdout", "access"),
            "app": handler("stderr", "plain"),
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": number, "propagate": False},
            "uvicorn.error": {"level": number},
            "uvicorn.access": {"handlers": ["access"], "level": number, "propagate": False},
            "litestar": {"handlers": ["app"], "level": number, "propagate": False},
            # aiosqlite's DEBUG lines repeat every query with its parameters: comments,
            # password hashes, session tokens. Never written, whatever the level.
            "aiosqlite": {"level": max(number, logging.INFO)},
        },
        "root": {"handlers": ["app"], "level": number},
    }


def install_redaction(token_bytes: int) -> None:
    """Add ``RedactTokens`` to every handler that has none: the root logger's and every
    named logger's. For an app served some other way than ``survey serve`` (uvicorn's
    own command, a test server), whose log configuration is not ``log_config``."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if not any(isinstance(f, RedactTokens) for f in handler.filters):
                handler.addFilter(RedactTokens(token_bytes))
