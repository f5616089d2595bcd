"""Health endpoints and the OpenAPI document."""


def test_livez_and_readyz(http):
    assert http.get("/livez").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


def test_openapi_document_lists_the_portal_api(http):
    document = http.get("/schema/openapi.json")
    assert document.status_code == 200
    paths = document.json()["paths"]
    assert {
        "/api/v1/invitations",
        "/api/v1/responses",
        "/api/v1/questionnaires/{questionnaire_id}",
    } <= set(paths)
    assert not any(path.startswith("/s/") for path in paths)


def test_unknown_api_path_is_a_json_404(http):
    answer = http.get("/api/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json()["status_code"] == 404
