"""Each operation declares the 4xx answers it can give, with the bodies it gives them (ADR 0037)."""

import pytest
from django_tenants.utils import schema_context

from tests.openapi import response_errors, spec
from timeline.activities.tests.factories import activity_type
from timeline.tests.factories import client_family

pytestmark = pytest.mark.django_db


def _declared(path, method):
    return {code for code in spec()["paths"][path][method]["responses"] if code.startswith("4")}


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        ("/api/v1/clients/", "get", {"400", "401", "403"}),
        ("/api/v1/clients/", "post", {"400", "401", "403", "409", "413"}),
        ("/api/v1/clients/{id}/", "get", {"401", "403", "404"}),
        ("/api/v1/clients/{id}/", "delete", {"400", "401", "403", "404", "409"}),
        ("/api/v1/activities/{id}/", "patch", {"400", "401", "403", "404", "409", "413"}),
        ("/api/v1/activities/{id}/cancel/", "post", {"400", "401", "403", "404", "409"}),
        ("/api/v1/notifications/read-all/", "post", {"400", "401", "403"}),
        ("/api/v1/me/", "patch", {"400", "401", "403", "413"}),
        ("/api/v1/auth/token/", "post", {"400", "401", "403", "413", "429"}),  # 401: a bad token sent along
        ("/api/v1/privacy/export/", "get", {"400", "401", "403", "404"}),
        ("/api/v1/firm/", "get", {"401", "403"}),
    ],
)
def test_each_operation_declares_its_error_codes(path, method, codes):
    assert _declared(path, method) == codes


def test_every_operation_declares_the_503_of_an_unavailable_database():
    operations = [
        (path, method, operation)
        for path, item in spec()["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(operations) > 100
    missing = [(path, method) for path, method, operation in operations if "503" not in operation["responses"]]
    assert missing == []
    error = operations[0][2]["responses"]["503"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}


def test_error_bodies_are_declared_components():
    schemas = spec()["components"]["schemas"]
    assert schemas["Error"]["required"] == ["detail"]
    response = spec()["paths"]["/api/v1/clients/{id}/"]["get"]["responses"]["404"]
    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    bad = spec()["paths"]["/api/v1/clients/"]["post"]["responses"]["400"]
    assert bad["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ValidationError"}


def test_real_error_answers_conform(api_a, api_a_staff, admin_a, firm_a):
    with schema_context(firm_a.schema_name):
        client = client_family("Errors")[0]
        type_id = activity_type().id
    activity = api_a.post(
        "/api/v1/activities/", {"subject": f"client:{client.id}", "type": type_id}, format="json"
    ).json()
    cancel = f"/api/v1/activities/{activity['id']}/cancel/"
    assert api_a.post(cancel).status_code == 200
    answers = [
        (api_a.post(cancel), "/api/v1/activities/{id}/cancel/", "post", 409),
        (api_a.post("/api/v1/clients/", {"name": ""}, format="json"), "/api/v1/clients/", "post", 400),
        (api_a.get("/api/v1/clients/999999999/"), "/api/v1/clients/{id}/", "get", 404),
        (api_a_staff.get("/api/v1/audit/"), "/api/v1/audit/", "get", 403),
        (
            api_a.get("/api/v1/privacy/export/", {"subject": f"client:{client.id}", "format": "xml"}),
            "/api/v1/privacy/export/",
            "get",
            404,
        ),
    ]
    for response, path, method, status in answers:
        assert response.status_code == status, (path, response.status_code, response.content[:200])
        assert response_errors(response, path, method) == [], path
