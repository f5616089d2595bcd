"""The whole citizen path over real HTTP, on each engine, as an operator and a portal run it."""

from __future__ import annotations

from survey_app.db.tables import Comment, Response, ResponseReason
from tests.conftest import survey_command


def test_from_registration_to_a_refused_second_answer(live, http):
    env = {"DATABASE_URL": live.settings.database_url, "SURVEY_SECRET": live.settings.secret}
    for args in (
        (
            "agency",
            "add",
            "MOF",
            "--kind",
            "ministry",
            "--name",
            "Bộ Tài chính",
            "--translation",
            "en=Ministry of Finance",
            "--translation",
            "id=Kementerian Keuangan",
        ),
        (
            "service",
            "add",
            "MOF-TAX",
            "--agency",
            "MOF",
            "--name",
            "Khai thuế điện tử",
            "--essential",
            "--translation",
            "en=Electronic tax declaration",
        ),
    ):
        done = survey_command(*args, env=env)
        assert done.returncode == 0, done.stderr
    key = survey_command("key", "create", "MOF", "--role", "portal", env=env).stdout.split()[-1]
    auth = {"Authorization": f"Bearer {key}"}

    def invitation(ref: str) -> dict:
        answer = http.post(
            "/api/v1/invitations",
            json={"transaction_ref": ref, "service": "MOF-TAX", "channel": "web"},
            headers=auth,
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    # The portal renders natively in each language from the definition.
    titles = set()
    for lang in ("vi", "en", "id"):
        definition = http.get(
            "/api/v1/questionnaires/public-service-satisfaction",
            params={"lang": lang},
            headers=auth,
        )
        assert definition.status_code == 200
        titles.add(definition.json()["title"])
    assert len(titles) == 3

    # Citizen 1 answers through the portal's own form (the API).
    api_token = invitation("TAX-0001")["token"]
    body = {
        "token": api_token,
        "locale": "id",
        "answers": {"overall": 2, "reasons": ["payment_error"], "comment": "Pembayaran gagal"},
    }
    assert http.post("/api/v1/responses", json=body, headers=auth).status_code == 201
    assert http.post("/api/v1/responses", json=body, headers=auth).status_code == 409

    # Citizen 2 answers on our page, in English, with JavaScript off (plain form post).
    form_invitation = invitation("TAX-0002")
    page = http.get(form_invitation["url"], params={"lang": "en"})
    assert page.status_code == 200
    assert "Electronic tax declaration" in page.text
    path = f"/s/{form_invitation['token']}"
    sent = http.post(path, data={"lang": "en", "overall": "4", "comment": "Fast, thanks"})
    assert sent.status_code == 303
    assert "Thank you!" in http.get(sent.headers["location"]).text
    again = http.post(path, data={"lang": "en", "overall": "1"})
    assert again.status_code == 409
    assert "Already answered" in again.text

    stored = live.run(Response.select(Response.overall, Response.locale).order_by(Response.id))
    assert stored == [{"overall": 2, "locale": "id"}, {"overall": 4, "locale": "en"}]
    assert [r["reason"] for r in live.run(ResponseReason.select(ResponseReason.reason))] == [
        "payment_error"
    ]
    assert sorted(c["text"] for c in live.run(Comment.select(Comment.text))) == [
        "Fast, thanks",
        "Pembayaran gagal",
    ]
