import pytest
from django.test import Client as BrowserClient
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from timeline.models import Entry
from timeline.tests.factories import client_family, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(firm_a, admin_a):
    browser = BrowserClient(HTTP_HOST=f"{firm_a.schema_name}.localhost")
    with schema_context(firm_a.schema_name):
        browser.force_login(admin_a)
    return browser


@pytest.fixture
def family_entries(firm_a):
    with schema_context(firm_a.schema_name):
        client, contact, case = client_family("Admin client")
        other, _, _ = client_family("Someone else")
        made = {
            "call": record(contact, kind="call", title="Called the contact", payload={"duration_seconds": 30}),
            "email": record(case, kind="email", title="Emailed about the case"),
            "foreign": record(other, kind="call", title="Another client's call"),
        }
        return client, case, made


def test_client_change_page_shows_its_360_timeline_filterable_by_kind(browser, family_entries):
    client, _, made = family_entries
    # when
    page = browser.get(f"/admin/crm/client/{client.id}/change/").content.decode()
    # then
    assert 'id="timeline-360"' in page
    assert "Called the contact" in page and "Emailed about the case" in page
    assert "Another client&#x27;s call" not in page and "Another client's call" not in page
    assert f"/admin/timeline/entry/{made['call'].id}/change/" in page
    filtered = browser.get(f"/admin/crm/client/{client.id}/change/?timeline_kind=email").content.decode()
    assert "Emailed about the case" in filtered and "Called the contact" not in filtered


def test_case_change_page_shows_its_timeline(browser, family_entries):
    _, case, made = family_entries
    page = browser.get(f"/admin/crm/case/{case.id}/change/").content.decode()
    assert "Emailed about the case" in page and "Called the contact" not in page
    assert f"/admin/timeline/entry/{made['email'].id}/change/" in page


def test_entry_admin_lists_searches_soft_deletes_and_restores(browser, family_entries, firm_a):
    client, _, made = family_entries
    with schema_context(firm_a.schema_name):
        arabic = record(client, title="اجتماع مع المحامي").id
    changelist = "/admin/timeline/entry/"
    assert "Called the contact" in browser.get(changelist).content.decode()
    assert "اجتماع مع المحامي" in browser.get(changelist, {"q": "محامي"}).content.decode()
    assert "Called the contact" not in browser.get(changelist, {"q": "محامي"}).content.decode()
    assert "Called the contact" in browser.get(changelist, {"subject": f"client:{client.id}"}).content.decode()
    # when soft-deleted through the action
    response = browser.post(changelist, {"action": "soft_delete", "_selected_action": [made["call"].id, arabic]})
    # then
    assert response.status_code == 302
    assert "Called the contact" not in browser.get(changelist).content.decode()
    assert "Called the contact" in browser.get(changelist, {"deleted": "yes"}).content.decode()
    with schema_context(firm_a.schema_name):
        assert Entry.objects.filter(pk__in=[made["call"].id, arabic], deleted_at__isnull=False).count() == 2
        assert AuditEvent.objects.filter(entity_type="entry", entity_id=arabic, action="delete").exists()
    # when restored from the "Deleted only" list
    browser.post(f"{changelist}?deleted=yes", {"action": "restore", "_selected_action": [made["call"].id]})
    # then
    assert "Called the contact" in browser.get(changelist).content.decode()
    with schema_context(firm_a.schema_name):
        assert AuditEvent.objects.filter(entity_type="entry", entity_id=made["call"].id, action="restore").exists()


def test_entry_admin_edit_validates_the_payload_and_is_audited(browser, family_entries, firm_a):
    _, _, made = family_entries
    url = f"/admin/timeline/entry/{made['call'].id}/change/"
    form = {
        "title": "Called the contact back",
        "description": "",
        "status": "",
        "occurred_at_0": "2025-01-02",
        "occurred_at_1": "10:00:00",
        "payload": '{"duration_seconds": -3}',
    }
    assert "duration_seconds" in browser.post(url, form).content.decode()
    form["payload"] = '{"duration_seconds": 90}'
    assert browser.post(url, form).status_code == 302
    with schema_context(firm_a.schema_name):
        entry = Entry.objects.get(pk=made["call"].id)
        assert entry.title == "Called the contact back" and entry.duration_seconds == 90
        assert AuditEvent.objects.filter(entity_type="entry", entity_id=entry.id, action="update").exists()
