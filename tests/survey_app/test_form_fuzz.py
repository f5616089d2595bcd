"""Hypothesis posts arbitrary forms to the citizen page ``POST /s/{token}``, on both engines.

Field sets a browser never sends: unknown names, repeated fields, huge values,
non-numeric or out-of-range ratings, control characters, bytes that are not
UTF-8 (a lone surrogate encoded as UTF-8 among them), a foreign ``Origin``.
Every answer is a page with a 4xx status or the 303 to the thank-you page,
never a 5xx; a refused submission leaves its invitation open and nothing
stored, an accepted one stores exactly one response.
"""

from __future__ import annotations

from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from survey_app.db.tables import Comment, Invitation, Response
from tests.survey_app.conftest import invite

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
KNOWN = ["overall", "reasons", "reason_other", "comment", "lang"]
REASONS = ["portal_error", "complex_procedure", "payment_error", "network_error", "other"]

TEXT = st.text(max_size=40) | st.text(
    alphabet=st.characters(codec="utf-8", categories=["Cc", "Zl", "Zp", "Cf"]), max_size=10
)
BYTES = st.binary(max_size=12) | st.sampled_from(
    [b"\xed\xa0\x80", b"\xff\xfe", b"\xc3(", b"\x00", b"%", b"\xe2\x80\xae"]
)
VALUES = (
    TEXT.map(str.encode)
    | BYTES
    | st.sampled_from(["1", "3", "5", "0", "6", "-1", "3.0", "٣", "1e3", "nan", " 4 "]).map(
        str.encode
    )
    | st.sampled_from(REASONS).map(str.encode)
    | st.integers(1, 3).map(lambda n: b"x" * (n * 40_000))  # up to twice max_body_bytes
)
NAMES = st.sampled_from(KNOWN).map(str.encode) | TEXT.map(str.encode) | BYTES


@st.composite
def forms(draw) -> bytes:
    """An urlencoded body: arbitrary (name, value) pairs, repeats allowed, often a rating."""
    pairs = draw(st.lists(st.tuples(NAMES, VALUES), max_size=8))
    if draw(st.booleans()):
        pairs.insert(0, (b"overall", str(draw(st.integers(1, 5))).encode()))
    return "&".join(f"{quote_from_bytes(name)}={quote_from_bytes(v)}" for name, v in pairs).encode()


@pytest.fixture
def tokens(http, portal) -> list[str]:
    return [invite(http, portal, f"FORM-{i}")["token"] for i in range(24)]


def state(live, token: str) -> tuple[bool, int]:
    """(answered, stored responses) of one invitation."""

    async def read() -> tuple[bool, int]:
        row = await Invitation.select(Invitation.id, Invitation.answered_at).where(
            Invitation.token == token
        )
        stored = await Response.count().where(Response.invitation == row[0]["id"])
        return row[0]["answered_at"] is not None, stored

    return live.run(read())


def test_arbitrary_forms_get_a_page_never_an_error(live, http, tokens):
    fresh = list(tokens)
    outcomes: list[int] = []

    @settings(
        max_examples=60,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
    )
    @given(body=forms(), foreign=st.booleans(), lang=st.sampled_from(["", "?lang=en", "?lang=xx"]))
    def post(body: bytes, foreign: bool, lang: str) -> None:
        token = fresh[-1]
        headers = {**FORM, "Origin": "https://evil.example"} if foreign and len(body) % 3 else FORM
        answer = http.post(f"/s/{token}{lang}", content=body, headers=headers)
        outcomes.append(answer.status_code)
        assert answer.status_code == 303 or 400 <= answer.status_code < 500, (
            answer.status_code,
            body[:300],
        )
        if answer.status_code != 303:
            assert answer.headers["content-type"].startswith("text/html"), answer.headers
        answered, stored = state(live, token)
        if answer.status_code == 303:
            assert answer.headers["location"].startswith(f"/s/{token}/thanks")
            assert (answered, stored) == (True, 1)
            if len(fresh) > 1:
                fresh.pop()
        elif answer.status_code != 409:
            assert (answered, stored) == (False, 0), (answer.status_code, body[:300])

    post()
    # Both sides were reached: stored answers and refused ones.
    assert 303 in outcomes, outcomes
    assert 400 in outcomes, outcomes
    assert 413 in outcomes or 403 in outcomes, outcomes
    successes = outcomes.count(303)
    totals = live.run(Response.count()), live.run(Comment.count())
    assert totals[0] == successes, (totals, successes)
    assert totals[1] <= successes
