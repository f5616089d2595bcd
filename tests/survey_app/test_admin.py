"""``/admin``: piccolo_admin behind its session login, mounted in the Litestar app."""

from __future__ import annotations

from piccolo.apps.user.tables import BaseUser


def test_admin_needs_a_login_and_an_admin_can_use_it(http, live):
    page = http.get("/admin/", follow_redirects=True)
    assert page.status_code == 200
    assert "html" in page.headers["content-type"]
    # piccolo_admin's single-page app uses inline styles: no strict CSP there, the rest stays.
    assert "content-security-policy" not in page.headers
    assert page.headers["x-content-type-options"] == "nosniff"
    assert http.get("/admin/api/tables/").status_code in (401, 403)

    live.run(BaseUser.delete().where(BaseUser.username == "officer"))
    live.run(
        BaseUser.create_user(
            "officer", "a-long-Passw0rd", admin=True, active=True, email="officer@staff.invalid"
        )
    )
    token = http.cookies.get("csrftoken")
    assert token, "piccolo_admin sets its CSRF cookie on the first visit"
    refused = http.post(
        "/admin/public/login/",
        json={"username": "officer", "password": "wrong-password"},
        headers={"X-CSRFToken": token},
    )
    assert refused.status_code in (401, 403)
    login = http.post(
        "/admin/public/login/",
        json={"username": "officer", "password": "a-long-Passw0rd"},
        headers={"X-CSRFToken": token},
    )
    assert login.status_code == 200, login.text
    tables = http.get("/admin/api/tables/")
    assert tables.status_code == 200
    assert "agency" in tables.json()
    live.run(BaseUser.delete().where(BaseUser.username == "officer"))


def test_a_staff_user_without_admin_rights_is_refused(http, live):
    live.run(BaseUser.delete().where(BaseUser.username == "clerk"))
    live.run(
        BaseUser.create_user(
            "clerk", "a-long-Passw0rd", admin=False, active=True, email="clerk@staff.invalid"
        )
    )
    http.get("/admin/")
    token = http.cookies.get("csrftoken")
    http.post(
        "/admin/public/login/",
        json={"username": "clerk", "password": "a-long-Passw0rd"},
        headers={"X-CSRFToken": token},
    )
    assert http.get("/admin/api/tables/").status_code in (401, 403)
    live.run(BaseUser.delete().where(BaseUser.username == "clerk"))
