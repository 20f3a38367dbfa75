"""The audit API: the firm-wide log, the case history, state at a time, verify, and the firm settings."""

from datetime import timedelta

import pytest
from django.test import Client as BrowserClient
from django_tenants.utils import schema_context

from audit.api.views import ERROR_NO_STATE
from audit.filtersets import ERROR_ACTOR
from audit.models import AuditEvent
from conftest import api_client_for, make_user, token_for
from traf3li.api.permissions import ERROR_ADMIN_ONLY
from traf3li.core.context import command_context
from traf3li.crm import services as crm_services
from traf3li.crm.models import Lead

pytestmark = pytest.mark.django_db


def a_client(api, name="Client") -> int:
    return api.post("/api/v1/clients/", {"name": name}, format="json").data["id"]


def a_case(api, title="Case", **extra) -> int:
    response = api.post("/api/v1/cases/", {"title": title, "client": a_client(api), **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.data["id"]


def event(event_id: int) -> AuditEvent:
    with schema_context("alpha"):
        return AuditEvent.objects.get(pk=event_id)


ADMIN_ONLY = ["/api/v1/audit/", "/api/v1/audit/verify/", "/api/v1/audit/state/?entity=client:1&at=2026-01-01T00:00Z"]


@pytest.mark.parametrize("path", ADMIN_ONLY)
def test_staff_and_lawyers_get_403(api_a_staff, firm_a, lawyer_a, path):
    assert api_a_staff.get(path).status_code == 403
    assert api_a_staff.get(path).data == {"detail": ERROR_ADMIN_ONLY}
    assert api_client_for(firm_a, lawyer_a).get(path).status_code == 403


def test_case_history_is_admin_only(api_a, api_a_staff):
    case_id = a_case(api_a)
    assert api_a_staff.get(f"/api/v1/cases/{case_id}/history/").status_code == 403
    assert api_a.get(f"/api/v1/cases/{case_id}/history/").status_code == 200


def test_an_event_reads_as_who_did_what_to_which_record(api_a, admin_a):
    client_id = a_client(api_a, "Shown")
    row = api_a.get(f"/api/v1/audit/?entity=client:{client_id}").data["results"][0]
    assert row["action"] == "create" and row["case"] is None
    assert row["entity"] == {"type": "client", "id": client_id, "name": "Shown"}
    assert row["actor"] == {
        "type": "user",
        "id": admin_a.id,
        "name": admin_a.display_name,
        "email": admin_a.email,
        "role": "admin",
    }
    assert row["changes"]["after"]["name"] == "Shown" and row["changes"]["before"] == {}
    assert set(row["metadata"]) == {"ip", "user_agent", "source", "request_id"}
    assert len(row["hash"]) == len(row["prev_hash"]) == 64
    assert api_a.get(f"/api/v1/audit/{row['id']}/").data == row


def test_filters(api_a, admin_a):
    # given a client, a case that changes, and a lead a command created
    client_id = a_client(api_a, "Filtered")
    case_id = a_case(api_a, "Filtered case")
    api_a.patch(f"/api/v1/cases/{case_id}/", {"status": "closed"}, format="json")
    with schema_context("alpha"), command_context("import_leads"):
        lead = crm_services.record_create(instance=Lead(name="From a command"))

    def ids(query: str) -> list[tuple[str, str, int]]:
        response = api_a.get(f"/api/v1/audit/?page_size=200&{query}")
        assert response.status_code == 200, response.content
        return [(r["action"], r["entity"]["type"], r["entity"]["id"]) for r in response.data["results"]]

    # then each filter narrows the log
    assert ids(f"entity=client:{client_id}") == [("create", "client", client_id)]
    assert set(ids(f"case={case_id}")) >= {("update", "case", case_id), ("create", "case", case_id)}
    assert all(a == "update" for a, _, _ in ids("action=update")) and ids("action=update")
    assert ("update", "case", case_id) in ids("action=update,delete")
    assert ids("actor=system&source=command") == [("create", "lead", lead.pk)]
    assert ("create", "lead", lead.pk) not in ids(f"actor={admin_a.id}")
    assert ("create", "client", client_id) in ids(f"actor={admin_a.id}&source=api")
    assert ids("entity_type=lead") == [("create", "lead", lead.pk)]
    created = event(api_a.get(f"/api/v1/audit/?entity=client:{client_id}").data["results"][0]["id"]).occurred_at
    after = (created + timedelta(microseconds=1)).isoformat()
    assert ("create", "client", client_id) not in ids(f"since={after.replace('+', '%2B')}")
    assert ("create", "client", client_id) in ids(f"until={after.replace('+', '%2B')}")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("action=tickle", "action"),
        ("actor=abc", "actor"),
        ("entity=alien:1", "entity"),
        ("entity=case:abc", "entity"),
        ("source=nope", "source"),
        ("since=not-a-date", "since"),
        ("entity_type=alien", "entity_type"),
    ],
)
def test_bad_filters_are_400(api_a, query, field):
    response = api_a.get(f"/api/v1/audit/?{query}")
    assert response.status_code == 400
    assert field in response.data
    if field == "actor":
        assert response.data["actor"] == [ERROR_ACTOR]


def test_cursor_pages_cover_every_event_once_newest_first(api_a):
    for i in range(7):
        a_client(api_a, f"P{i}")
    seen, url = [], "/api/v1/audit/?entity_type=client&page_size=3"
    while url:
        page = api_a.get(url).data
        seen += [row["entity"]["name"] for row in page["results"]]
        url = page["next"]
    assert seen == [f"P{i}" for i in reversed(range(7))]


def test_list_query_count_does_not_grow_with_page_size(api_a, django_assert_max_num_queries):
    for i in range(30):
        a_client(api_a, f"Q{i}")
    with django_assert_max_num_queries(6):  # tenant lookup, token, page, each after a search_path
        assert len(api_a.get("/api/v1/audit/?page_size=5").data["results"]) == 5
    with django_assert_max_num_queries(6):  # tenant lookup, token, page, each after a search_path
        assert len(api_a.get("/api/v1/audit/?page_size=30").data["results"]) == 30


def test_case_history_is_the_case_scoped_log(api_a, django_assert_max_num_queries):
    # given a case that changed twice, and another case
    case_id = a_case(api_a, "History")
    other = a_case(api_a, "Other")
    api_a.patch(f"/api/v1/cases/{case_id}/", {"status": "in_progress"}, format="json")
    api_a.patch(f"/api/v1/cases/{case_id}/", {"legal_hold": True}, format="json")
    # when its history is read
    with django_assert_max_num_queries(8):  # the same, plus "does the case exist" (and its search_path)
        response = api_a.get(f"/api/v1/cases/{case_id}/history/?resource=case&page_size=50")
    # then it holds that case's events, newest first, and nothing of the other
    assert response.status_code == 200, response.content
    rows = response.data["results"]
    assert [(r["action"], r["entity"]["id"]) for r in rows] == [
        ("update", case_id),
        ("update", case_id),
        ("create", case_id),
    ]
    assert rows[0]["changes"]["after"]["legal_hold"] is True
    assert all(r["case"] == case_id for r in api_a.get(f"/api/v1/cases/{case_id}/history/").data["results"])
    assert other not in [r["entity"]["id"] for r in rows]
    assert api_a.get(f"/api/v1/cases/{case_id}/history/?resource=alien").status_code == 400


def test_a_deleted_case_keeps_its_history_and_an_unknown_case_is_404(api_a):
    case_id = a_case(api_a, "Short lived")
    assert api_a.delete(f"/api/v1/cases/{case_id}/").status_code == 204
    rows = api_a.get(f"/api/v1/cases/{case_id}/history/?resource=case").data["results"]
    assert [r["action"] for r in rows] == ["delete", "create"]
    assert api_a.get("/api/v1/cases/99999999/history/").status_code == 404
    assert api_a.get(f"/api/v1/cases/{2**63}/history/").status_code == 404


def test_state_at_a_time_replays_the_record(api_a):
    # given a client created, renamed, then deleted
    client_id = a_client(api_a, "Version 1")
    api_a.patch(f"/api/v1/clients/{client_id}/", {"name": "Version 2", "phone": "0501234567"}, format="json")
    api_a.delete(f"/api/v1/clients/{client_id}/")
    rows = api_a.get(f"/api/v1/audit/?entity=client:{client_id}").data["results"]
    created, renamed, deleted = (event(r["id"]).occurred_at for r in reversed(rows))

    def state(at):
        return api_a.get("/api/v1/audit/state/", {"entity": f"client:{client_id}", "at": at.isoformat()})

    # then each moment shows the record as it stood
    before = state(created - timedelta(microseconds=1))
    assert before.status_code == 404 and before.data == {"detail": ERROR_NO_STATE}
    first = state(created).data
    assert (first["id"], first["name"], first["phone"], first["organization"]) == (client_id, "Version 1", "", None)
    second = state(renamed + timedelta(seconds=0)).data
    assert (second["name"], second["phone"]) == ("Version 2", "+966501234567")
    assert state(deleted).json() == {"deleted": True}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"at": "2026-01-01T00:00:00Z"}, "entity"),
        ({"entity": "client:1"}, "at"),
        ({"entity": "client:1", "at": "yesterday"}, "at"),
        ({"entity": "alien:1", "at": "2026-01-01T00:00:00Z"}, "entity"),
        ({"entity": "client", "at": "2026-01-01T00:00:00Z"}, "entity"),
    ],
)
def test_state_bad_input_is_400(api_a, query, field):
    response = api_a.get("/api/v1/audit/state/", query)
    assert response.status_code == 400 and field in response.data


def test_verify_endpoint_answers_ok_with_the_count(api_a):
    a_client(api_a)
    body = api_a.get("/api/v1/audit/verify/").json()
    assert body["ok"] is True and body["checked"] >= 2 and set(body) == {"ok", "checked"}


def test_firm_b_sees_none_of_firm_as_audit(api_a, api_b, firm_a, firm_b, admin_a):
    # given firm A's case with history
    case_id = a_case(api_a, "Alpha matter")
    client_id = a_client(api_a, "Alpha person")
    event_id = api_a.get(f"/api/v1/audit/?entity=client:{client_id}").data["results"][0]["id"]
    # then firm B's admin on its own host finds none of it
    assert "Alpha" not in str(api_b.get("/api/v1/audit/?page_size=200").json())
    same_id = api_b.get(f"/api/v1/audit/{event_id}/")  # ids are per firm: B may have its own event with this id
    assert same_id.status_code == 404 or same_id.data["entity"]["name"] != "Alpha person"
    assert api_b.get(f"/api/v1/cases/{case_id}/history/").status_code == 404
    state = api_b.get("/api/v1/audit/state/", {"entity": f"client:{client_id}", "at": "2100-01-01T00:00:00Z"})
    assert state.status_code == 404
    # and firm A's token on firm B's host is nobody
    stranger = api_client_for(firm_b)
    stranger.credentials(HTTP_AUTHORIZATION=f"Token {token_for(firm_a, admin_a)}")
    for path in ["/api/v1/audit/", f"/api/v1/cases/{case_id}/history/", "/api/v1/audit/verify/", "/api/v1/firm/"]:
        assert stranger.get(path).status_code == 401
    assert stranger.patch("/api/v1/firm/", {"name": "Hijacked"}, format="json").status_code == 401


def test_firm_settings_read_by_everyone_changed_by_admins(api_a, api_a_staff, api_b, firm_a):
    assert api_a_staff.get("/api/v1/firm/").data["name"] == "Alpha Law"
    assert api_a_staff.patch("/api/v1/firm/", {"name": "Staff Law"}, format="json").status_code == 403
    response = api_a.patch("/api/v1/firm/", {"vat_number": "300000000000003", "address": "Riyadh"}, format="json")
    assert response.status_code == 200
    assert (response.data["vat_number"], response.data["slug"]) == ("300000000000003", "alpha")
    assert api_a.patch("/api/v1/firm/", {"slug": "hijack"}, format="json").data["slug"] == "alpha"
    assert api_b.get("/api/v1/firm/").data["name"] == "Beta Legal"


def test_the_admin_shows_the_log_read_only(firm_a, admin_a, api_a):
    client_id = a_client(api_a, "Admin visible")
    event_id = api_a.get(f"/api/v1/audit/?entity=client:{client_id}").data["results"][0]["id"]
    browser = BrowserClient(HTTP_HOST="alpha.localhost")
    with schema_context("alpha"):
        browser.force_login(admin_a)
    listing = browser.get("/admin/audit/auditevent/?action=create")
    assert listing.status_code == 200 and b"Admin visible" in listing.content
    assert b"/admin/audit/auditevent/add/" not in listing.content
    assert browser.get("/admin/audit/auditevent/add/").status_code == 403
    detail = browser.get(f"/admin/audit/auditevent/{event_id}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert browser.post(f"/admin/audit/auditevent/{event_id}/change/", {"action": "view"}).status_code == 403
    assert browser.get(f"/admin/audit/auditevent/{event_id}/delete/").status_code == 403
    assert event(event_id).action == "create"


def test_non_admin_users_cannot_open_the_admin_log(firm_a):
    lawyer = make_user(firm_a, "lawyer_admin_try", role="lawyer")
    browser = BrowserClient(HTTP_HOST="alpha.localhost")
    with schema_context("alpha"):
        browser.force_login(lawyer)
    assert browser.get("/admin/audit/auditevent/").status_code == 403  # a staff account without the audit permission
