"""Read-only WhatsApp and SMS: messages with their statuses, and WhatsApp conversations."""

import json
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from messaging import processing
from messaging.tests.test_handlers import deliver, fixture_bytes, whatsapp_account
from messaging.tests.test_inbox import history, message
from traf3li.crm.models import Client, Contact, Lead
from traf3li.crm.services import record_create

WHATSAPP = "/api/v1/whatsapp/messages/"
SMS = "/api/v1/sms/messages/"
CONVERSATIONS = "/api/v1/whatsapp/conversations/"


def _queries(api, url, params=None) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url, params or {})
    assert response.status_code == 200, response.content
    return len(captured), response.json()


def test_a_whatsapp_message_shows_its_statuses_and_tracking(firm_a, api_a):
    account = whatsapp_account(firm_a)
    with schema_context(firm_a.schema_name):
        contact = record_create(instance=Contact(name="Sheena", phone="+16505551234"))
        for status in ("sent", "delivered", "read"):
            payload = json.loads(fixture_bytes("whatsapp_status_sent.json"))
            payload["entry"][0]["changes"][0]["value"]["statuses"][0].update(status=status, recipient_id="16505551234")
            deliver(account, "whatsapp", json.dumps(payload).encode())
        assert processing.deliveries_process() == 3
        message(channel="sms")  # not WhatsApp
    [item] = api_a.get(WHATSAPP).json()["results"]
    assert item["channel"] == "whatsapp" and item["direction"] == "outbound" and item["status"] == "read"
    assert item["address"] == "16505551234"
    assert [h["status"] for h in item["status_history"]] == ["sent", "delivered", "read"]
    assert set(item["status_history"][0]) == {"status", "at", "error_code", "error_message"}
    assert item["sent_at"] and item["delivered_at"] and item["read_at"]
    # the history's times in the firm's offset, like sent_at (firm alpha is in Riyadh, +03:00)
    assert item["status_history"][0]["at"].endswith("+03:00") and item["sent_at"].endswith("+03:00")
    assert item["tracking"] == {"provider": "whatsapp", "external_id": "wamid.xyzxyz"}
    assert item["subject"] == {"type": "contact", "id": contact.pk, "name": "Sheena"}
    assert item["entry_id"]
    detail = api_a.get(f"{WHATSAPP}{item['id']}/")
    assert detail.status_code == 200 and detail.json() == item


def test_the_filters_take_address_subject_status_and_direction(firm_a, api_a):
    with schema_context(firm_a.schema_name):
        sara = record_create(instance=Client(name="Sara"))
        inbound = message(channel="whatsapp", from_address="+16505550001", subject_type="client", subject_id=sara.pk)
        outbound = message(channel="whatsapp", direction="outbound", to_address="+16505550001", status="read")
        other = message(channel="whatsapp", from_address="+16505550002", status="failed")

    def ids(**params):
        response = api_a.get(WHATSAPP, params)
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["results"]}

    assert ids(address="+16505550001") == {inbound.pk, outbound.pk}
    assert ids(subject=f"client:{sara.pk}") == {inbound.pk}
    assert ids(status="read,failed") == {outbound.pk, other.pk}
    assert ids(direction="outbound") == {outbound.pk}
    assert ids(direction="inbound", address="+16505550002") == {other.pk}
    assert api_a.get(WHATSAPP, {"subject": "client"}).status_code == 400
    assert api_a.get(WHATSAPP, {"direction": "sideways"}).status_code == 400


def test_sms_messages_are_their_own_list(firm_a, api_a):
    with schema_context(firm_a.schema_name):
        sms = message(channel="sms")
        whatsapp = message(channel="whatsapp")
    assert [item["id"] for item in api_a.get(SMS).json()["results"]] == [sms.pk]
    assert api_a.get(f"{SMS}{whatsapp.pk}/").status_code == 404


def _messages(count: int, subjects: list) -> None:
    for n in range(count):
        subject = subjects[n % len(subjects)]
        message(channel="whatsapp", from_address=f"+1650555{n:04d}", subject_type=subject[0], subject_id=subject[1])


def test_a_message_list_costs_the_same_queries_for_3_and_30_items(firm_a, api_a):
    with schema_context(firm_a.schema_name):
        sara = record_create(instance=Client(name="Sara"))
        lead = record_create(instance=Lead(name="Lead"))
        subjects = [("client", sara.pk), ("lead", lead.pk), ("", None)]
        _messages(3, subjects)
    few, page = _queries(api_a, WHATSAPP)
    assert len(page["results"]) == 3
    with schema_context(firm_a.schema_name):
        _messages(27, subjects)
    many, page = _queries(api_a, WHATSAPP)
    assert len(page["results"]) == 30 and many == few
    assert {(item["subject"] or {}).get("name") for item in page["results"]} == {"Sara", "Lead", None}


def test_firm_a_messages_are_not_found_on_firm_b(firm_a, api_a, api_b):
    with schema_context(firm_a.schema_name):
        row = message(channel="whatsapp")
    assert api_a.get(f"{WHATSAPP}{row.pk}/").status_code == 200
    assert api_b.get(f"{WHATSAPP}{row.pk}/").status_code == 404
    assert api_b.get(WHATSAPP).json()["results"] == []
    stranger = type(api_a)(HTTP_HOST=f"{firm_a.schema_name}.localhost")
    stranger.credentials(HTTP_AUTHORIZATION=api_b._credentials["HTTP_AUTHORIZATION"])
    assert stranger.get(WHATSAPP).status_code == 401


# --- conversations -------------------------------------------------------------------------------


def test_conversations_group_whatsapp_messages_by_counterpart_newest_first(firm_a, api_a_staff):
    now = timezone.now()
    with schema_context(firm_a.schema_name):
        sara = record_create(instance=Client(name="Sara"))
        message(channel="whatsapp", from_address="+16505550001", body="first", at=now - timedelta(hours=5))
        message(
            channel="whatsapp",
            direction="outbound",
            to_address="+16505550001",
            body="the reply",
            subject_type="client",
            subject_id=sara.pk,
            at=now - timedelta(hours=1),
        )
        message(channel="whatsapp", from_address="+16505550002", body="older", at=now - timedelta(hours=3))
        message(channel="sms", from_address="+16505550003", body="sms", at=now)  # not WhatsApp
    response = api_a_staff.get(CONVERSATIONS)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(c["address"], c["messages"], c["last_preview"]) for c in results] == [
        ("+16505550001", 2, "the reply"),
        ("+16505550002", 1, "older"),
    ]
    assert results[0]["subject"] == {"type": "client", "id": sara.pk, "name": "Sara"}
    assert results[1]["subject"] is None
    assert results[0]["last_message_at"]


def test_conversations_page_by_cursor_and_cost_the_same_queries_for_3_and_30(firm_a, api_a):
    with schema_context(firm_a.schema_name):
        sara = record_create(instance=Client(name="Sara"))
        subjects = [("client", sara.pk), ("", None)]
        _messages(3, subjects)
    few, page = _queries(api_a, CONVERSATIONS)
    assert len(page["results"]) == 3
    with schema_context(firm_a.schema_name):
        for n in range(3, 30):
            message(channel="whatsapp", from_address=f"+1650555{n:04d}", status_history=[history("received")])
    many, page = _queries(api_a, CONVERSATIONS)
    assert len(page["results"]) == 30 and many == few
    seen, url = [], f"{CONVERSATIONS}?page_size=7"
    while url:
        body = api_a.get(url).json()
        seen.extend(c["address"] for c in body["results"])
        url = body["next"]
    assert len(seen) == len(set(seen)) == 30
    assert seen == [c["address"] for c in page["results"]]
