"""Every write path of the foundation leaves exactly one audit event with the right diff; a failed one, none."""

import random
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client as BrowserClient
from django_tenants.utils import schema_context

from audit.choices import ERROR_UNKNOWN_ACTION
from audit.models import AuditEvent
from audit.services import audit_record, json_safe
from audit.tests.tail import Tail
from conftest import browser_for, make_user
from traf3li.celery import app
from traf3li.core.context import command_context
from traf3li.core.normalize import ERROR_PHONE
from traf3li.crm import services as crm_services
from traf3li.crm.models import Case, Client, Contact, Lead, Organization
from traf3li.users.models import User

pytestmark = pytest.mark.django_db

CREATE_BODIES = {
    "clients": {"name": "Ahmed Al-Harbi", "email": "Ahmed@Example.com", "phone": "0501234567"},
    "contacts": {"name": "سارة القحطاني", "email": "sara@example.com"},
    "leads": {"name": "Omar", "source": "website"},
    "organizations": {"name": "شركة الرياض للتجارة"},
}
ENTITY_TYPE = {"clients": "client", "contacts": "contact", "leads": "lead", "organizations": "organization"}


@app.task(name="audit.tests.create_lead_task")
def create_lead_task(name: str) -> int:
    return crm_services.record_create(instance=Lead(name=name)).pk


@pytest.mark.parametrize("resource", sorted(CREATE_BODIES))
def test_api_create_update_delete_each_leave_one_event(api_a, admin_a, resource):
    tail = Tail("alpha")
    # when created
    created = api_a.post(f"/api/v1/{resource}/", CREATE_BODIES[resource], format="json", HTTP_USER_AGENT="ua/1")
    # then one create event holds every field, as stored (normalised)
    assert created.status_code == 201, created.content
    event = tail.one(ENTITY_TYPE[resource])
    assert (event.action, event.entity_type, event.entity_id) == ("create", ENTITY_TYPE[resource], created.data["id"])
    assert event.changes["before"] == {}
    assert event.changes["after"]["name"] == CREATE_BODIES[resource]["name"]
    assert event.changes["after"]["id"] == created.data["id"]
    assert (event.actor_type, event.actor_id, event.actor_name) == ("user", admin_a.id, admin_a.display_name)
    assert (event.actor_email, event.actor_role) == (admin_a.email, "admin")
    assert event.source == "api" and event.metadata["source"] == "api"
    assert event.metadata["user_agent"] == "ua/1" and event.metadata["ip"] == "127.0.0.1"
    assert event.request_id == created["X-Request-ID"]
    if resource == "clients":
        assert event.changes["after"]["phone"] == "+966501234567"
        assert event.changes["after"]["email"] == "ahmed@example.com"

    # when renamed
    tail.reset()
    url = f"/api/v1/{resource}/{created.data['id']}/"
    assert api_a.patch(url, {"name": "Renamed"}, format="json").status_code == 200
    # then the update carries only what changed
    event = tail.one(ENTITY_TYPE[resource])
    assert event.action == "update"
    assert set(event.changes["after"]) == {"name", "updated_at"} == set(event.changes["before"])
    assert (event.changes["before"]["name"], event.changes["after"]["name"]) == (
        CREATE_BODIES[resource]["name"],
        "Renamed",
    )

    # when deleted
    tail.reset()
    assert api_a.delete(url).status_code == 204
    # then the delete keeps the last state
    event = tail.one(ENTITY_TYPE[resource])
    assert event.action == "delete" and event.changes["after"] == {}
    assert event.changes["before"]["name"] == "Renamed"


def test_case_events_carry_their_case(api_a, lawyer_a):
    client_id = api_a.post("/api/v1/clients/", {"name": "C"}, format="json").data["id"]
    tail = Tail("alpha")
    case = api_a.post("/api/v1/cases/", {"title": "Lease", "client": client_id, "lawyer": lawyer_a.id}, format="json")
    event = tail.one("case")
    assert (event.entity_type, event.case_id) == ("case", case.data["id"])
    assert event.changes["after"]["lawyer_id"] == lawyer_a.id
    tail.reset()
    api_a.patch(f"/api/v1/cases/{case.data['id']}/", {"status": "closed", "legal_hold": True}, format="json")
    event = tail.one("case")
    assert event.changes["after"] == {"status": "closed", "legal_hold": True, "updated_at": event.changes["after"][
        "updated_at"
    ]}  # fmt: skip
    assert event.changes["before"]["status"] == "open" and event.changes["before"]["legal_hold"] is False


def test_an_update_that_changes_nothing_leaves_no_event(api_a):
    client = api_a.post("/api/v1/clients/", {"name": "Same"}, format="json").data
    with schema_context("alpha"):
        instance = Client.objects.get(pk=client["id"])
        tail = Tail("alpha")
        # record_update always bumps updated_at; a direct audit of equal snapshots is the no-op case
        assert audit_record(action="update", instance=instance, before={"name": "Same"}, after={"name": "Same"}) is None
    assert tail.events() == []


@pytest.mark.parametrize(
    ("method", "path_suffix", "body"),
    [("post", "", {"name": "X", "phone": "12"}), ("patch", "{id}/", {"phone": "not a phone"})],
)
def test_a_failed_write_leaves_no_event(api_a, method, path_suffix, body):
    existing = api_a.post("/api/v1/clients/", {"name": "Existing"}, format="json").data
    tail = Tail("alpha")
    response = getattr(api_a, method)(f"/api/v1/clients/{path_suffix.format(id=existing['id'])}", body, format="json")
    assert response.status_code == 400
    assert response.data == {"phone": [ERROR_PHONE]}
    assert tail.events() == []


def test_a_delete_refused_by_the_database_leaves_no_event(api_a):
    client_id = api_a.post("/api/v1/clients/", {"name": "Has a case"}, format="json").data["id"]
    api_a.post("/api/v1/cases/", {"title": "T", "client": client_id}, format="json")
    tail = Tail("alpha")
    assert api_a.delete(f"/api/v1/clients/{client_id}/").status_code == 400
    assert tail.events() == []


def test_admin_add_change_delete_each_leave_one_event(firm_a, admin_a):
    browser = browser_for(firm_a, admin_a, HTTP_USER_AGENT="pytest-browser")
    tail = Tail("alpha")
    # when added in the admin
    page = browser.post("/admin/crm/organization/add/", {"name": "Admin Org", "email": "", "phone": "", "website": ""})
    assert page.status_code == 302, page.content[:500]
    event = tail.one("organization")
    assert (event.action, event.entity_type, event.source) == ("create", "organization", "admin")
    assert event.actor_id == admin_a.id and event.metadata["user_agent"] == "pytest-browser"
    org_id = event.entity_id
    # when changed
    tail.reset()
    page = browser.post(
        f"/admin/crm/organization/{org_id}/change/",
        {"name": "Admin Org 2", "email": "INFO@ORG.SA", "phone": "", "website": ""},
    )
    assert page.status_code == 302
    event = tail.one("organization")
    assert event.action == "update" and event.source == "admin"
    assert event.changes["after"]["name"] == "Admin Org 2" and event.changes["after"]["email"] == "info@org.sa"
    assert event.changes["before"]["name"] == "Admin Org"
    # when deleted
    tail.reset()
    assert browser.post(f"/admin/crm/organization/{org_id}/delete/", {"post": "yes"}).status_code == 302
    event = tail.one("organization")
    assert (event.action, event.entity_id, event.source) == ("delete", org_id, "admin")


def test_admin_invalid_form_leaves_no_event(firm_a, admin_a):
    browser = browser_for(firm_a, admin_a, HTTP_USER_AGENT="pytest-browser")
    tail = Tail("alpha")
    page = browser.post("/admin/crm/client/add/", {"name": "Bad", "kind": "individual", "phone": "12"})
    assert page.status_code == 200  # the form comes back with the error
    assert tail.events() == []


def test_users_created_through_the_api_are_audited_without_the_password(api_a):
    tail = Tail("alpha")
    body = {"username": "newbie", "password": "long-enough-1", "role": "lawyer", "email": "New@Example.com"}
    response = api_a.post("/api/v1/users/", body, format="json")
    assert response.status_code == 201
    event = tail.one()
    assert (event.action, event.entity_type, event.entity_id) == ("create", "user", response.data["id"])
    assert event.changes["after"]["role"] == "lawyer" and event.changes["after"]["email"] == "new@example.com"
    assert "password" not in event.changes["after"]
    assert "long-enough-1" not in str(event.changes)


def test_users_added_and_changed_in_the_admin_are_audited(firm_a, admin_a):
    browser = browser_for(firm_a, admin_a, HTTP_USER_AGENT="pytest-browser")
    tail = Tail("alpha")
    page = browser.post(
        "/admin/users/user/add/",
        {"username": "admin_made", "password1": "pw-long-enough-9", "password2": "pw-long-enough-9",
         "usable_password": "true"},
    )  # fmt: skip
    assert page.status_code == 302, page.content[:800]
    event = tail.one()
    assert (event.action, event.entity_type, event.source) == ("create", "user", "admin")
    with schema_context("alpha"):
        user = User.objects.get(username="admin_made")
    tail.reset()
    password_page = browser.post(
        f"/admin/users/user/{user.pk}/password/",
        {"password1": "another-long-pw-1", "password2": "another-long-pw-1", "usable_password": "true"},
    )
    assert password_page.status_code == 302, password_page.content[:800]
    event = tail.one()
    assert (event.action, event.entity_id, event.source) == ("change_password", user.pk, "admin")
    assert "another-long-pw-1" not in str(event.changes)


def test_create_firm_command_audits_the_new_admin_in_the_firms_own_log(firm_a):
    tail = Tail("alpha")
    call_command(
        "create_firm", "alpha", "--name", "Alpha Law", "--admin-username", "boss2", "--admin-password", "pw-12345678"
    )
    event = tail.one()
    assert (event.action, event.entity_type, event.source) == ("create", "user", "command")
    assert event.actor_type == "system" and event.metadata["user_agent"] == "manage.py create_firm"
    # and running it again changes nothing
    tail.reset()
    call_command(
        "create_firm", "alpha", "--name", "Alpha Law", "--admin-username", "boss2", "--admin-password", "pw-12345678"
    )
    assert tail.events() == []


def test_the_demo_seed_audits_each_record_once_as_a_command(in_firm_a):
    from traf3li.crm import demo

    tail = Tail("alpha")
    Client.objects.all().delete()  # the seed only runs in an empty firm (rolled back with the test)
    with command_context("seed_demo") as ctx:
        demo.seed(in_firm_a, random.Random(7))
    events = [e for e in tail.events() if e.entity_type != "entry"]  # the timeline's own writes aside
    records = [*Organization.objects.all(), *Client.objects.all(), *Contact.objects.all(), *Case.objects.all()]
    records += list(Lead.objects.all())
    created = {(e.entity_type, e.entity_id) for e in events if e.action == "create"}
    assert len(events) == len(created) == len(records) > 60
    assert {e.source for e in events} == {"command"} and {e.request_id for e in events} == {ctx.request_id}


def test_a_task_writes_with_source_task_and_its_task_id(in_firm_a):
    tail = Tail("alpha")
    result = create_lead_task.apply(kwargs={"name": "From a task"})
    event = tail.one("lead")
    assert (event.action, event.entity_type, event.entity_id) == ("create", "lead", result.get())
    assert event.source == "task" and event.request_id == result.id[:64]
    assert event.metadata["user_agent"] == "audit.tests.create_lead_task"
    assert event.actor_type == "system"


def test_one_request_shares_one_request_id_made_by_the_server(api_a):
    tail = Tail("alpha")
    response = api_a.post("/api/v1/clients/", {"name": "R"}, format="json", HTTP_X_REQUEST_ID="req-123")
    ours = response["X-Request-ID"]
    assert ours != "req-123" and len(ours) == 32  # the client's id is never taken as ours
    events = tail.events()
    assert events and {e.request_id for e in events} == {ours}
    assert {e.metadata["client_request_id"] for e in events} == {"req-123"}  # kept beside it


def test_firm_settings_patch_is_audited_in_the_firms_own_schema(api_a, firm_a, admin_a):
    tail_a, tail_b = Tail("alpha"), Tail("beta")
    response = api_a.patch("/api/v1/firm/", {"name": "Alpha Law LLP", "timezone": "Europe/London"}, format="json")
    assert response.status_code == 200, response.content
    event = tail_a.one()
    assert (event.action, event.entity_type, event.entity_id) == ("update", "firm", firm_a.pk)
    assert event.changes == {
        "before": {"name": "Alpha Law", "timezone": firm_a.timezone},
        "after": {"name": "Alpha Law LLP", "timezone": "Europe/London"},
    }
    assert tail_b.events() == []


def test_an_invalid_timezone_is_400_and_leaves_no_event(api_a):
    tail = Tail("alpha")
    response = api_a.patch("/api/v1/firm/", {"timezone": "Mars/Olympus"}, format="json")
    assert response.status_code == 400 and "timezone" in response.data
    assert tail.events() == []


def test_unknown_actions_are_refused(in_firm_a):
    client = crm_services.record_create(instance=Client(name="Z"))
    with pytest.raises(ValueError, match="Unknown audit action 'tickle_client'") as raised:
        audit_record(action="tickle_client", instance=client)
    assert str(raised.value) == ERROR_UNKNOWN_ACTION.format(action="tickle_client")


def test_values_round_trip_through_json():
    moment = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=3)))
    token = uuid.uuid4()
    safe = json_safe({"amount": Decimal("12.30"), "day": date(2026, 3, 1), "at": moment, "id": token})
    assert safe == {"amount": "12.30", "day": "2026-03-01", "at": moment.isoformat(), "id": str(token)}
    assert Decimal(safe["amount"]) == Decimal("12.30") and datetime.fromisoformat(safe["at"]) == moment
    assert json_safe(moment.astimezone(UTC)) == "2026-03-01T06:30:15.123456Z"


def test_events_stay_in_their_firms_schema(api_a, api_b):
    tail_a, tail_b = Tail("alpha"), Tail("beta")
    api_a.post("/api/v1/clients/", {"name": "Alpha only"}, format="json")
    assert len(tail_a.events("client")) == 1 and tail_b.events() == []
    with schema_context("beta"):
        assert not AuditEvent.objects.filter(entity_name="Alpha only").exists()
    connection.set_schema_to_public()


def test_make_user_helper_events_belong_to_their_firm(firm_b):
    tail = Tail("beta")
    make_user(firm_b, "helper_b", role="staff")
    assert tail.one().entity_type == "user"


def test_platform_admin_firm_changes_land_in_the_firms_log_signed_by_the_operator(firm_a):
    root = User.objects.create_superuser("platform_root", "root@platform.example", "pw-123456789")
    browser = BrowserClient(HTTP_HOST="localhost")
    browser.force_login(root)
    tail = Tail("alpha")
    page = browser.post(
        f"/admin/firms/firm/{firm_a.pk}/change/",
        {
            "name": "Alpha Law (renamed)",
            "timezone": firm_a.timezone,
            "vat_number": "",
            "phone_region": "SA",
            "address": "",
            "domains-TOTAL_FORMS": "0",
            "domains-INITIAL_FORMS": "0",
        },
    )
    assert page.status_code == 302, page.content[:1500]
    event = tail.one()
    assert (event.entity_type, event.entity_id, event.source) == ("firm", firm_a.pk, "admin")
    assert (event.actor_type, event.actor_id, event.actor_name) == ("platform", None, "platform_root")
    assert event.changes["after"] == {"name": "Alpha Law (renamed)"}


def test_a_webhook_write_is_recorded_with_source_webhook(firm_a):
    from django.http import HttpResponse
    from django.test import RequestFactory

    from traf3li.core.middleware import RequestContextMiddleware

    def deliver(request):  # what a provider's webhook view does: store, then answer
        with schema_context("alpha"):
            crm_services.record_create(instance=Lead(name="From Twilio"))
        return HttpResponse()

    tail = Tail("alpha")
    request = RequestFactory().post("/hooks/twilio/sms/", HTTP_USER_AGENT="TwilioProxy/1.1", REMOTE_ADDR="54.1.2.3")
    RequestContextMiddleware(deliver)(request)
    event = tail.one("lead")
    assert (event.source, event.actor_type, event.metadata["ip"]) == ("webhook", "system", "54.1.2.3")


def test_users_changed_in_the_admin_are_audited_and_never_deleted(firm_a, admin_a):
    clerk = make_user(firm_a, "clerk_admin", role="staff")
    browser = browser_for(firm_a, admin_a, HTTP_USER_AGENT="pytest-browser")
    with schema_context("alpha"):
        page = browser.get(f"/admin/users/user/{clerk.pk}/change/")
        form = {
            key: value
            for key, value in page.context["adminform"].form.initial.items()
            if value is not None and not isinstance(value, list)
        }
    tail = Tail("alpha")
    form.update({"role": "lawyer", "is_active": "", "date_joined_0": "2026-01-01", "date_joined_1": "09:00:00"})
    form.pop("date_joined", None)
    form.pop("last_login", None)
    page = browser.post(f"/admin/users/user/{clerk.pk}/change/", form)
    assert page.status_code == 302, page.context["adminform"].form.errors if page.context else page.content[:500]
    event = tail.one("user")
    assert (event.action, event.entity_id, event.source) == ("update", clerk.pk, "admin")
    assert event.changes["before"]["role"] == "staff" and event.changes["after"]["role"] == "lawyer"
    assert event.changes["after"]["is_active"] is False
    assert browser.get(f"/admin/users/user/{clerk.pk}/delete/").status_code == 403


def test_deleting_a_client_audits_the_contacts_the_delete_cascades_to(api_a):
    # given a client with two contacts
    client = api_a.post("/api/v1/clients/", {"name": "Cascade"}, format="json").data["id"]
    contacts = [
        api_a.post("/api/v1/contacts/", {"name": f"P{i}", "client": client}, format="json").data["id"] for i in range(2)
    ]
    tail = Tail("alpha")
    # when the client is deleted
    assert api_a.delete(f"/api/v1/clients/{client}/").status_code == 204
    # then one delete event per record that went, the contacts included
    deletes = sorted((e.entity_type, e.entity_id) for e in tail.events() if e.action == "delete")
    assert deletes == sorted([("client", client), *[("contact", c) for c in contacts]])
