"""The chunk data (``Synthetic``, ``Columns``, ``Unanswered``) and what both loaders derive
from a chunk.

Tokens and transaction keys, statistics cells, reason rows: the same for
every engine, only their encoding on the wire differs.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat

import numpy as np

from questionnaires import DEFAULT_QUESTIONNAIRE_ID
from survey_app.db.cells import CellInput, Cells, invitation_upserts, upserts
from survey_app.db.tables import TOKEN_BYTES
from survey_app.lib.settings import Settings, local_zone

# Responses per transaction: large enough that per-transaction costs vanish,
# small enough that memory stays flat and a writer waits seconds, not minutes.
CHUNK = 50_000
INVITATION_DAYS: int = Settings.default("invitation_days")
# Random bytes per transaction key (a SHA-256 HMAC on the normal path).
KEY_BYTES = 32
ANSWERS = "{}"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
EPOCH_DAY = EPOCH.date()
US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
EXPIRY_US = INVITATION_DAYS * US_PER_DAY
# Every token and transaction key of a chunk starts with the same bytes (the
# chunk's clock), the rest random. Fully random values land all over the
# three indexes on invitation (token twice, transaction_key), so every chunk
# rewrote most of their pages: hundreds of megabytes per chunk at millions of
# rows. A shared prefix keeps a chunk's entries together in a few pages.
# What stays random (144 bits per token, 208 per key) is still far beyond
# guessing. Answered invitations' tokens open nothing; an unanswered one's opens
# its questionnaire until it expires, like any issued invitation, and is never shown.
CLUSTER_BYTES = 6

INVITATION_COLUMNS = (
    "id",
    "token",
    "transaction_key",
    "agency",
    "service",
    "channel",
    "locale",
    "questionnaire_id",
    "created_at",
    "expires_at",
    "answered_at",
)
RESPONSE_COLUMNS = (
    "id",
    "invitation",
    "questionnaire_id",
    "questionnaire_version",
    "agency",
    "service",
    "channel",
    "locale",
    "submitted_at",
    "overall",
    "answers",
)
REASON_COLUMNS = ("response", "reason")


@dataclass(frozen=True)
class Synthetic:
    """One response; ``answers`` are its answers besides ``overall`` and ``reasons``
    (the criteria of ``dossier-evaluation``, say)."""

    agency_id: int
    service_id: int
    channel: str
    locale: str
    submitted_at: dt.datetime
    overall: int
    reasons: tuple[str, ...] = ()
    questionnaire_id: str = DEFAULT_QUESTIONNAIRE_ID
    answers: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Unanswered:
    """Invitations issued and never answered: no response, no reasons, nothing in the cells.

    They are the nonresponse of the sampling frame: together with the answered
    invitations of the chunk they give each cell's response rate.
    """

    agency: list[int]
    service: list[int]
    channel: list[str]
    locale: list[str | None]
    created_us: np.ndarray  # int64 microseconds since 1970-01-01 UTC
    questionnaire: list[str] | None = None  # each one's; None: the default questionnaire

    def __len__(self) -> int:
        return len(self.agency)

    def questionnaires(self) -> Iterable[str]:
        return self.questionnaire or repeat(DEFAULT_QUESTIONNAIRE_ID, len(self))

    @classmethod
    def none(cls) -> Unanswered:
        return cls(agency=[], service=[], channel=[], locale=[], created_us=np.zeros(0, np.int64))


@dataclass(frozen=True)
class Served:
    """What the loaded responses answered: the questionnaire version, and the rating
    questions of each questionnaire at that version (for the key-driver moments)."""

    version: int
    ratings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Columns:
    """A chunk of responses stored column by column, as generators produce them.

    Each response comes with its answered invitation; ``unanswered`` adds
    invitations nobody answered (none unless given).
    """

    agency: list[int]
    service: list[int]
    channel: list[str]
    locale: list[str]
    submitted_us: np.ndarray  # int64 microseconds since 1970-01-01 UTC
    overall: list[int]
    reasons: list[tuple[str, ...]]
    unanswered: Unanswered = field(default_factory=Unanswered.none)
    # Each response's questionnaire and its other answers as JSON text; None: the
    # default questionnaire and none.
    questionnaire: list[str] | None = None
    answers: list[str] | None = None

    def __len__(self) -> int:
        """The responses of the chunk (unanswered invitations not counted)."""
        return len(self.agency)

    def questionnaires(self) -> Iterable[str]:
        return self.questionnaire or repeat(DEFAULT_QUESTIONNAIRE_ID, len(self))

    def answer_texts(self) -> Iterable[str]:
        return self.answers or repeat(ANSWERS, len(self))

    @property
    def invitations(self) -> int:
        """Every invitation of the chunk: one per response, then the unanswered ones."""
        return len(self.agency) + len(self.unanswered)

    def invitation_times_us(self) -> np.ndarray:
        """When each invitation was issued, in ``invitation_rows`` order: the answered
        ones when answered (the first ``len(self)``, the responses' times), then the others."""
        if not len(self.unanswered):
            return self.submitted_us
        return np.concatenate([self.submitted_us, self.unanswered.created_us])

    @classmethod
    def from_records(cls, records: Sequence[Synthetic]) -> Columns:
        one_us = dt.timedelta(microseconds=1)
        return cls(
            agency=[r.agency_id for r in records],
            service=[r.service_id for r in records],
            channel=[r.channel for r in records],
            locale=[r.locale for r in records],
            submitted_us=np.array(
                [(r.submitted_at.astimezone(dt.UTC) - EPOCH) // one_us for r in records],
                dtype=np.int64,
            ),
            overall=[r.overall for r in records],
            reasons=[tuple(r.reasons) for r in records],
            questionnaire=[r.questionnaire_id for r in records],
            answers=[json.dumps(dict(r.answers), ensure_ascii=False) for r in records],
        )


def _random_texts(count: int, nbytes: int, encode: Callable[[bytes], str]) -> list[str]:
    """``count`` texts of ``nbytes`` bytes each, encoded in one call.

    The bytes are the chunk's prefix (see ``CLUSTER_BYTES``) then random.
    Both encodings used map whole groups of bytes to fixed-width text
    (3 bytes -> 4 base64 characters, 1 byte -> 2 hex digits), so slicing one
    encoded block gives exactly what encoding each piece would.
    """
    if not count:
        return []
    raw = np.empty((count, nbytes), dtype=np.uint8)
    raw[:, :CLUSTER_BYTES] = np.frombuffer(_cluster_prefix(), dtype=np.uint8)
    raw[:, CLUSTER_BYTES:] = np.frombuffer(
        os.urandom(count * (nbytes - CLUSTER_BYTES)), dtype=np.uint8
    ).reshape(count, -1)
    text = encode(raw.tobytes())
    width = len(text) // count
    return [text[i : i + width] for i in range(0, len(text), width)]


def _cluster_prefix() -> bytes:
    """The chunk's clock in milliseconds: distinct per chunk, shared within it."""
    return (time.time_ns() // 1_000_000).to_bytes(CLUSTER_BYTES, "big")


def random_tokens(count: int) -> list[str]:
    """Like ``secrets.token_urlsafe(TOKEN_BYTES)`` (24 bytes: no padding to strip)."""
    return sorted(_random_texts(count, TOKEN_BYTES, lambda b: base64.urlsafe_b64encode(b).decode()))


def random_transaction_keys(count: int) -> list[str]:
    """Random 64-hex keys: no real transaction reference stands behind a synthetic one."""
    return sorted(_random_texts(count, KEY_BYTES, bytes.hex))


def cell_upserts(
    chunk: Columns, ratings: Mapping[str, tuple[str, ...]], sqlite: bool
) -> list[tuple[str, list[tuple]]]:
    """``cells.upserts`` of the chunk and the cells of its invitations, each in key order so
    its unique index is walked in order."""
    invited = Counter(
        zip(
            local_days(chunk.invitation_times_us()),
            chain(chunk.agency, chunk.unanswered.agency),
            chain(chunk.service, chunk.unanswered.service),
            chain(chunk.channel, chunk.unanswered.channel),
            chain(chunk.questionnaires(), chunk.unanswered.questionnaires()),
            strict=True,
        )
    )
    return [
        *upserts(_cells(chunk, ratings), sqlite=sqlite),
        *invitation_upserts(invited, sqlite=sqlite),
    ]


def _cells(chunk: Columns, ratings: Mapping[str, tuple[str, ...]]) -> Cells:
    """The chunk's cells, counted as ``cells.cell_counts`` counts them (each distinct
    response is added once, times how often it occurs)."""
    same = Counter(
        zip(
            local_days(chunk.submitted_us),
            chunk.agency,
            chunk.service,
            chunk.channel,
            chunk.locale,
            chunk.overall,
            chunk.reasons,
            chunk.questionnaires(),
            chunk.answer_texts(),
            strict=True,
        )
    )
    cells = Cells()
    parsed: dict[str, dict] = {}
    for key, n in same.items():
        day, agency, service, channel, locale, overall, reasons, questionnaire, text = key
        if text not in parsed:
            parsed[text] = json.loads(text)
        response = CellInput(
            submitted_at=EPOCH,  # not read: the day is given
            agency=agency,
            service=service,
            channel=channel,
            locale=locale,
            rating=overall,
            reasons=reasons,
            questionnaire_id=questionnaire,
            answers=parsed[text],
            ratings=ratings.get(questionnaire, ()),
        )
        cells.add(response, day, times=n)
    return cells


def local_days(times_us: np.ndarray) -> list[dt.date]:
    """The local day (``SURVEY_TIMEZONE``) of each time in microseconds since the epoch.

    The zone's offset is looked up once per distinct UTC hour: offsets change
    on whole hours in every zone these services run in.
    """
    zone = local_zone()
    hours = times_us // US_PER_HOUR
    offset_us = {
        int(hour): int(
            (EPOCH + dt.timedelta(hours=int(hour))).astimezone(zone).utcoffset().total_seconds()
        )
        * 1_000_000
        for hour in np.unique(hours)
    }
    local_us = times_us + np.array([offset_us[h] for h in hours.tolist()], dtype=np.int64)
    day_numbers = (local_us // US_PER_DAY).tolist()
    day_of = {n: EPOCH_DAY + dt.timedelta(days=n) for n in set(day_numbers)}
    return [day_of[n] for n in day_numbers]


def reason_rows(response_ids: Iterable[int], chunk: Columns) -> Iterator[tuple[int, str]]:
    return (
        (rid, code)
        for rid, codes in zip(response_ids, chunk.reasons, strict=True)
        for code in codes
    )


def invitation_rows(
    ids: Sequence[int],
    tokens: Sequence[str],
    keys: Sequence[str],
    chunk: Columns,
    created: Sequence[object],
    expires: Sequence[object],
) -> Iterator[tuple]:
    """Rows in ``INVITATION_COLUMNS`` order; times as the engine stores them.

    One row per ``chunk.invitations``: first the answered invitations, one per
    response and answered when created (``created`` starts with the responses'
    times, see ``Columns.invitation_times_us``), then the unanswered ones.
    """
    n, unanswered = len(chunk), chunk.unanswered
    return zip(
        ids,
        tokens,
        keys,
        chain(chunk.agency, unanswered.agency),
        chain(chunk.service, unanswered.service),
        chain(chunk.channel, unanswered.channel),
        chain(chunk.locale, unanswered.locale),
        chain(chunk.questionnaires(), unanswered.questionnaires()),
        created,
        expires,
        chain(created[:n], repeat(None, len(unanswered))),  # answered when submitted, or never
        strict=True,
    )


def response_rows(
    ids: Sequence[int],
    invitation_ids: Sequence[int],
    chunk: Columns,
    version: int,
    submitted: Sequence[object],
) -> Iterator[tuple]:
    """Rows in ``RESPONSE_COLUMNS`` order; times as the engine stores them."""
    n = len(chunk)
    return zip(
        ids,
        invitation_ids,
        chunk.questionnaires(),
        [version] * n,
        chunk.agency,
        chunk.service,
        chunk.channel,
        chunk.locale,
        submitted,
        chunk.overall,
        chunk.answer_texts(),
        strict=True,
    )
