"""The triage inbox: unmatched messages and calls listed together, and linked to a record by address.

Data comes from the providers' real fixtures (through ``delivery_accept`` and
``deliveries_process``) where the path matters, else from rows created directly.
"""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from conftest import api_client_for
from messaging import processing
from messaging.inbox import address_spellings
from messaging.models import Call, Message
from messaging.tests.test_handlers import deliver, fixture_bytes, twilio
from timeline.models import Entry, EntryLink
from traf3li.crm.models import Client, Lead
from traf3li.crm.services import record_create

UNMATCHED = "/api/v1/inbox/unmatched/"
LINK = "/api/v1/inbox/unmatched/link/"
SENDER = "+14133881111"  # the sender of twilio_sms_inbound_media.txt
_ids = itertools.count(1)


def history(status: str) -> dict:
    return {"status": status, "at": timezone.now().isoformat(), "error_code": "", "error_message": ""}


def message(**fields) -> Message:
    at = fields.pop("at", None)
    values = {
        "provider": "twilio",
        "channel": "sms",
        "direction": "inbound",
        "external_id": f"SM{next(_ids):032d}",
        "from_address": "+16505501111",
        "to_address": "+12028831111",
        "body": "Hello",
        "status": "received",
        "status_history": [
            {"status": "received", "at": timezone.now().isoformat(), "error_code": "", "error_message": ""}
        ],
        **fields,
    }
    row = Message.objects.create(**values)
    if at is not None:
        Message.objects.filter(pk=row.pk).update(created_at=at)
        row.created_at = at
    return row


def call(**fields) -> Call:
    at = fields.pop("at", None)
    values = {
        "provider": "twilio",
        "external_id": f"CA{next(_ids):032d}",
        "direction": "inbound",
        "from_address": "+16505501111",
        "to_address": "+12028831111",
        "status": "completed",
        "duration_seconds": 125,
        "outcome": "connected",
        **fields,
    }
    row = Call.objects.create(**values)
    if at is not None:
        Call.objects.filter(pk=row.pk).update(created_at=at)
        row.created_at = at
    return row


def all_pages(api, url: str) -> list[dict]:
    items = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        items.extend(response.json()["results"])
        url = response.json()["next"]
    return items


# --- the list ------------------------------------------------------------------------------------


def test_the_inbox_mixes_unmatched_messages_and_calls_newest_first(firm_a, api_a):
    now = timezone.now()
    with schema_context(firm_a.schema_name):
        sara = record_create(instance=Client(name="Sara", phone="+16505509999"))
        old = message(body="x" * 300, at=now - timedelta(hours=3))
        rang = call(from_address="+16505502222", at=now - timedelta(hours=2))
        sent = message(channel="whatsapp", direction="outbound", to_address="+16505503333", at=now - timedelta(hours=1))
        message(subject_type="client", subject_id=sara.pk, from_address="+16505509999")  # matched: not listed
    response = api_a.get(UNMATCHED)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(item["type"], item["id"]) for item in results] == [
        ("message", sent.pk),
        ("call", rang.pk),
        ("message", old.pk),
    ]
    assert results[0] | {"at": None} == {
        "type": "message",
        "id": sent.pk,
        "channel": "whatsapp",
        "direction": "outbound",
        "address": "+16505503333",  # the recipient of an outbound message
        "preview": "Hello",
        "duration_seconds": None,
        "status": "received",
        "at": None,
    }
    assert results[1]["channel"] == "call" and results[1]["preview"] == "125" and results[1]["duration_seconds"] == 125
    assert results[1]["address"] == "+16505502222"
    assert results[2]["preview"] == "x" * 140


def test_the_channel_filter_takes_one_or_several_channels(firm_a, api_a):
    with schema_context(firm_a.schema_name):
        sms, whatsapp, rang = message(), message(channel="whatsapp"), call()
    assert [item["id"] for item in api_a.get(UNMATCHED, {"channel": "call"}).json()["results"]] == [rang.pk]
    assert [item["id"] for item in api_a.get(UNMATCHED, {"channel": "whatsapp"}).json()["results"]] == [whatsapp.pk]
    both = api_a.get(UNMATCHED, {"channel": "sms,call"}).json()["results"]
    assert {(item["type"], item["id"]) for item in both} == {("message", sms.pk), ("call", rang.pk)}
    response = api_a.get(UNMATCHED, {"channel": "fax"})
    assert response.status_code == 400 and "channel" in response.json()


def test_the_inbox_pages_by_cursor_both_ways_even_when_ids_and_times_tie(firm_a, api_a):
    at = timezone.now()
    with schema_context(firm_a.schema_name):
        rows = [message(at=at) for _ in range(3)] + [call(at=at) for _ in range(3)]  # same time, ids may collide
    items = all_pages(api_a, f"{UNMATCHED}?page_size=2")
    assert len(items) == 6
    assert {(item["type"], item["id"]) for item in items} == {
        ("message" if isinstance(row, Message) else "call", row.pk) for row in rows
    }
    second = api_a.get(UNMATCHED, {"page_size": 2}).json()["next"]
    page2 = api_a.get(second).json()
    back = api_a.get(page2["previous"]).json()
    assert back["results"] == api_a.get(UNMATCHED, {"page_size": 2}).json()["results"]
    assert api_a.get(UNMATCHED, {"cursor": "nonsense"}).status_code == 400


def _queries(api, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert api.get(url).status_code == 200
    return len(captured)


def test_the_inbox_costs_the_same_queries_for_3_and_30_items(firm_a, api_a):
    with schema_context(firm_a.schema_name):
        for _ in range(2):
            message()
        call()
    few = _queries(api_a, UNMATCHED)
    with schema_context(firm_a.schema_name):
        for _ in range(13):
            message(channel="whatsapp")
            call()
        message()
    assert len(api_a.get(UNMATCHED).json()["results"]) == 30
    assert _queries(api_a, UNMATCHED) == few


def test_any_user_of_the_firm_reads_the_inbox_and_no_other_firm(firm_a, api_a_staff, api_b):
    with schema_context(firm_a.schema_name):
        message()
    assert api_a_staff.get(UNMATCHED).status_code == 200
    assert api_b.get(UNMATCHED).json()["results"] == []
    # firm B's token on firm A's host names nobody there
    stranger = api_client_for(firm_a)
    stranger.credentials(HTTP_AUTHORIZATION=api_b._credentials["HTTP_AUTHORIZATION"])
    assert stranger.get(UNMATCHED).status_code == 401
    assert api_client_for(firm_a).get(UNMATCHED).status_code == 401


# --- triage --------------------------------------------------------------------------------------


def test_linking_an_address_moves_its_whole_history_onto_the_records_timeline(
    firm_a, api_a_staff, django_capture_on_commit_callbacks
):
    account = twilio(firm_a)
    with schema_context(firm_a.schema_name):
        deliver(account, "twilio_sms", fixture_bytes("twilio_sms_inbound_media.txt"))  # from SENDER, unmatched
        processing.deliveries_process()
        received = Message.objects.get()
        assert received.subject_id is None and received.entry_id is None
        reply = message(direction="outbound", to_address=SENDER, from_address="+12028831111", body="On it")
        rang = call(from_address=SENDER)
        cloud = message(provider="whatsapp", channel="whatsapp", from_address=SENDER.removeprefix("+"), body="wa")
        other = message(from_address="+16505557770")
        sara = record_create(instance=Client(name="Sara"))  # has no phone: the matcher never finds her
    with django_capture_on_commit_callbacks(execute=True):
        response = api_a_staff.post(LINK, {"address": SENDER, "subject": {"type": "client", "id": sara.pk}})
    assert response.status_code == 200, response.content
    assert response.json() == {"messages": sorted([received.pk, reply.pk, cloud.pk]), "calls": [rang.pk], "emails": []}
    with schema_context(firm_a.schema_name):
        for row in (received, reply, cloud, rang):
            row.refresh_from_db()
            assert (row.subject_type, row.subject_id) == ("client", sara.pk)
            entry = Entry.objects.get(pk=row.entry_id)
            assert entry.subject_id == sara.pk and entry.external_id == f"{row.provider}:{row.external_id}"
            assert EntryLink.objects.filter(entry_id=entry.pk, subject_type="client", subject_id=sara.pk).exists()
        assert Entry.objects.get(pk=received.entry_id).kind == "sms"
        assert Entry.objects.get(pk=received.entry_id).title == f"SMS from {SENDER}"
        assert Entry.objects.get(pk=rang.entry_id).kind == "call"
        assert Entry.objects.get(pk=cloud.entry_id).kind == "whatsapp"
        other.refresh_from_db()
        assert other.subject_id is None
        sara.refresh_from_db()
        assert sara.phone == ""  # the record is not changed
        [event] = AuditEvent.objects.filter(action="link_message")
        assert (event.entity_type, event.entity_id) == ("client", sara.pk)
        assert event.changes["after"]["calls"] == [rang.pk]
    timeline = api_a_staff.get("/api/v1/timeline/", {"subject": f"client:{sara.pk}"}).json()["results"]
    assert {item["id"] for item in timeline} == {received.entry_id, reply.entry_id, cloud.entry_id, rang.entry_id}
    listed = api_a_staff.get(UNMATCHED).json()["results"]
    assert [item["id"] for item in listed] == [other.pk]
    # nothing left with that address: the replay is refused, and changes nothing
    again = api_a_staff.post(LINK, {"address": SENDER, "subject": f"client:{sara.pk}"})
    assert again.status_code == 409 and "detail" in again.json()


def test_a_later_status_updates_the_linked_entry(firm_a, api_a):
    account = twilio(firm_a)
    with schema_context(firm_a.schema_name):
        lead = record_create(instance=Lead(name="Prospect"))
        deliver(account, "twilio_sms", fixture_bytes("twilio_sms_status_sent.txt"))
        processing.deliveries_process()
        sent = Message.objects.get()
        address = sent.to_address
    assert api_a.post(LINK, {"address": address, "subject": {"type": "lead", "id": lead.pk}}).status_code == 200
    with schema_context(firm_a.schema_name):
        sent.refresh_from_db()
        entry = Entry.objects.get(pk=sent.entry_id)
        assert entry.status == "sent" and entry.subject_id == lead.pk
        body = fixture_bytes("twilio_sms_status_sent.txt").replace(b"Status=sent", b"Status=delivered")
        deliver(account, "twilio_sms", body)
        processing.deliveries_process()
        entry.refresh_from_db()
        assert entry.status == "delivered"


@pytest.mark.parametrize(
    ("subject", "status"),
    [
        ({"type": "client"}, 400),
        ("client", 400),
        ({"type": "spaceship", "id": 1}, 400),
        ({"type": "invoice", "id": 1}, 400),  # not a record a message is with
        ({"type": "client", "id": 0}, 400),
    ],
)
def test_a_bad_subject_is_a_400(firm_a, api_a, subject, status):
    with schema_context(firm_a.schema_name):
        message(from_address=SENDER)
    response = api_a.post(LINK, {"address": SENDER, "subject": subject}, format="json")
    assert response.status_code == status and "subject" in response.json()


def test_another_firms_record_is_a_404_and_nothing_moves(firm_a, firm_b, api_a):
    with schema_context(firm_b.schema_name):
        theirs = record_create(instance=Client(name="Theirs"))
    with schema_context(firm_a.schema_name):
        row = message(from_address=SENDER)
        # ids are per firm: make sure firm A has no client with firm B's id
        Client.objects.filter(pk=theirs.pk).delete()
    response = api_a.post(LINK, {"address": SENDER, "subject": {"type": "client", "id": theirs.pk}})
    assert response.status_code == 404
    with schema_context(firm_a.schema_name):
        row.refresh_from_db()
        assert row.subject_id is None


def test_an_address_with_nothing_unmatched_is_a_409_and_a_blank_one_a_400(firm_a, api_a):
    with schema_context(firm_a.schema_name):
        sara = record_create(instance=Client(name="Sara"))
    subject = {"type": "client", "id": sara.pk}
    assert api_a.post(LINK, {"address": "+16505550404", "subject": subject}).status_code == 409
    response = api_a.post(LINK, {"address": "  ", "subject": subject})
    assert response.status_code == 400 and "address" in response.json()
    assert api_a.get(LINK).status_code == 405


def test_every_spelling_of_a_number_is_linked():
    assert address_spellings(" whatsapp:+14133881111 ") == {
        "whatsapp:+14133881111",
        "+14133881111",
        "14133881111",
    }
    assert address_spellings("14133881111") == {"14133881111", "+14133881111", "whatsapp:+14133881111"}
    assert address_spellings("TRAF3LI") == {"TRAF3LI"}  # an alphanumeric sender: only as given
    assert address_spellings("   ") == set()


@pytest.mark.parametrize(
    "body",
    [
        [],
        "junk",
        {"address": ["+14133881111"], "subject": "client:1"},
        {"address": "+1413\x003881111", "subject": "client:1"},
        {"address": "+14133881111", "subject": {"type": "client", "id": "abc"}},
        {"address": "+14133881111", "subject": {"type": "client", "id": 2**70}},
        {"address": "+14133881111", "subject": {"type": ["client"], "id": 1}},
        {"address": "x" * 300, "subject": "client:1"},
        {"subject": "client:1"},
        {"address": "+14133881111"},
    ],
)
def test_junk_links_are_400_never_500(firm_a, api_a, body):
    assert api_a.post(LINK, body, format="json").status_code == 400


@pytest.mark.parametrize(
    "params",
    [{"channel": ","}, {"channel": "sms\x00"}, {"page_size": "0"}, {"page_size": "x"}, {"cursor": "eyJrIjpbMSwyXX0"}],
)
def test_junk_inbox_queries_never_answer_500(firm_a, api_a, params):
    assert api_a.get(UNMATCHED, params).status_code in (200, 400)


def test_an_unmatched_email_waits_in_the_inbox_and_triage_links_it(firm_a, admin_a):
    from messaging.models import EmailMessage

    api = api_client_for(firm_a, admin_a)
    with schema_context(firm_a.schema_name):
        email = EmailMessage.objects.create(provider="sendgrid", message_id="m-1", recipient="new.client@example.sa")
        client = record_create(instance=Client(name="New client"))
    listed = api.get("/api/v1/inbox/unmatched/?channel=email").json()["results"]
    assert [(row["type"], row["id"], row["address"], row["direction"]) for row in listed] == [
        ("email", email.pk, "new.client@example.sa", "outbound")
    ]
    linked = api.post(
        "/api/v1/inbox/unmatched/link/",
        {"address": "New.Client@example.sa", "subject": {"type": "client", "id": client.pk}},
        format="json",
    )
    assert linked.status_code == 200 and linked.json() == {"messages": [], "calls": [], "emails": [email.pk]}
    with schema_context(firm_a.schema_name):
        email.refresh_from_db()
        entry = Entry.objects.get(pk=email.entry_id)
    assert (email.subject_type, email.subject_id) == ("client", client.pk)
    assert entry.kind == "email" and entry.subject_id == client.pk
    assert api.get("/api/v1/inbox/unmatched/?channel=email").json()["results"] == []
