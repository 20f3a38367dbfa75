"""Messages and calls from stored deliveries: each event once, statuses forward only, on the right timeline.

Deliveries are the providers' real payloads (read in place from the shared fixtures, as in
``test_webhooks``), stored through ``services.delivery_accept`` and processed by
``processing.deliveries_process`` with the handlers ``MessagingConfig.ready()`` registers.
"""

import itertools
import json
from urllib.parse import parse_qsl, urlencode

import pytest
from django_tenants.utils import schema_context

from conftest import PROVIDER_FIXTURES
from messaging import handlers, matching, processing, services
from messaging.models import Call, Message, ProcessedEvent, WebhookDelivery
from timeline.models import Entry, EntryLink
from traf3li.crm.models import Client, Contact, Lead
from traf3li.crm.services import record_create

FIXTURES = PROVIDER_FIXTURES
CLIENT_PHONE = "+14133881111"  # the sender of twilio_sms_inbound_media.txt
STATUS_SID = "SM0b6e2697aae04182a9f5b5c7a8994c7f"  # the message of twilio_sms_status_sent.txt


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def edited(name: str, **changes) -> bytes:
    """A Twilio form fixture with some of its values replaced (the order of its fields kept)."""
    pairs = parse_qsl(fixture_bytes(name).decode(), keep_blank_values=True)
    return urlencode([(key, changes.get(key, value)) for key, value in pairs]).encode()


def twilio(firm):
    with schema_context(firm.schema_name):
        return services.channel_account_create(
            provider="twilio", name="line", credentials={"account_sid": "ACtest", "auth_token": "token"}
        )


def whatsapp_account(firm):
    with schema_context(firm.schema_name):
        return services.channel_account_create(
            provider="whatsapp",
            name="wa",
            credentials={"phone_number_id": "106540352242922", "app_secret": "s", "verify_token": "v"},
        )


def deliver(account, endpoint: str, body: bytes, *, dedup_key: str | None = None) -> WebhookDelivery:
    provider = "whatsapp" if endpoint == "whatsapp" else "twilio"
    delivery, _ = services.delivery_accept(
        provider=provider, endpoint=endpoint, account=account, headers={}, body=body, dedup_key=dedup_key
    )
    return delivery


def client(name: str = "Sara", **fields) -> Client:
    return record_create(instance=Client(name=name, **fields))


def entries_of(row) -> list[Entry]:
    return list(Entry.objects.filter(source=row.provider, external_id=f"{row.provider}:{row.external_id}"))


# --- message statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(["sent", "delivered", "read"])), ids="-".join)
def test_status_callbacks_in_any_order_end_at_the_same_status_with_the_full_history(firm_a, order):
    account = twilio(firm_a)
    with schema_context(firm_a.schema_name):
        sara = client(phone=CLIENT_PHONE)
        for status in order:
            body = edited("twilio_sms_status_sent.txt", MessageStatus=status, SmsStatus=status, To=CLIENT_PHONE)
            deliver(account, "twilio_sms", body)
            assert processing.deliveries_process() == 1
        message = Message.objects.get(provider="twilio", external_id=STATUS_SID)
        assert message.status == "read"
        assert [item["status"] for item in message.status_history] == list(order)
        assert message.sent_at and message.delivered_at and message.read_at
        assert (message.subject_type, message.subject_id, message.direction) == ("client", sara.pk, "outbound")
        [entry] = entries_of(message)
        assert entry.pk == message.entry_id and entry.kind == "sms" and entry.subject_id == sara.pk
        assert entry.status == "read" and entry.payload["status"] == "read"
        assert ProcessedEvent.objects.filter(provider="twilio").count() == 3


def test_a_failure_after_delivery_stays_in_the_history_only(firm_a):
    account = twilio(firm_a)
    with schema_context(firm_a.schema_name):
        client(phone="+12028831111")  # the recipient of twilio_sms_status_failed_21610.txt
        deliver(account, "twilio_sms", edited("twilio_sms_status_failed_21610.txt", MessageStatus="delivered"))
        deliver(account, "twilio_sms", fixture_bytes("twilio_sms_status_failed_21610.txt"))
        assert processing.deliveries_process() == 2
        message = Message.objects.get()
        assert message.status == "delivered"
        assert [(h["status"], h["error_code"]) for h in message.status_history] == [
            ("delivered", "21610"),
            ("failed", "21610"),
        ]
        assert entries_of(message)[0].status == "delivered"


def test_an_unmatched_message_gets_its_entry_when_a_later_callback_brings_the_address(firm_a):
    account = twilio(firm_a)
    with schema_context(firm_a.schema_name):
        sara = client(phone="+12028831111")
        sid = "SMe287d7109a5a925f182f0e07fe5b223b"
        deliver(account, "twilio_sms", fixture_bytes("twilio_sms_status_delivered_minimal.txt"))  # no To
        processing.deliveries_process()
        message = Message.objects.get(external_id=sid)
        assert message.entry_id is None and message.subject_type == ""
        deliver(account, "twilio_sms", edited("twilio_sms_status_failed_21610.txt", MessageStatus="read"))
        processing.deliveries_process()
        message.refresh_from_db()
        assert message.status == "read" and message.to_address == "+12028831111"
        [entry] = entries_of(message)
        assert entry.subject_id == sara.pk and entry.status == "read"


# --- once ------------------------------------------------------------------------------------------


def test_replays_of_a_delivery_or_of_its_events_do_not_double(firm_a):
    account = twilio(firm_a)
    body = fixture_bytes("twilio_sms_inbound_media.txt")
    with schema_context(firm_a.schema_name):
        client(phone=CLIENT_PHONE)
        first = deliver(account, "twilio_sms", body)
        assert deliver(account, "twilio_sms", body).pk == first.pk  # the same delivery, stored once
        # The provider retried with another idempotency token: a second delivery of the same event.
        deliver(account, "twilio_sms", body, dedup_key="another-token")
        assert processing.deliveries_process() == 2
        # A worker killed after the handler, before the batch's commit, runs it again.
        WebhookDelivery.objects.update(processed_at=None)
        assert processing.deliveries_process() == 2
        message = Message.objects.get()
        assert len(message.status_history) == 1 and message.status == "received"
        assert len(entries_of(message)) == 1
        assert ProcessedEvent.objects.count() == 1


# --- matching --------------------------------------------------------------------------------------


def test_an_inbound_sms_from_a_clients_phone_lands_on_that_clients_timeline(firm_a):
    account = twilio(firm_a)
    with schema_context(firm_a.schema_name):
        sara = client(phone=CLIENT_PHONE)
        deliver(account, "twilio_sms", fixture_bytes("twilio_sms_inbound_media.txt"))
        assert processing.deliveries_process() == 1
        message = Message.objects.get()
        assert (message.direction, message.status, message.channel) == ("inbound", "received", "sms")
        assert message.body == "Msg"
        assert [item["url"] for item in message.media] == ["cat.jpg", "dog.jpg"]
        [entry] = entries_of(message)
        assert (entry.kind, entry.subject_type, entry.subject_id, entry.source) == ("sms", "client", sara.pk, "twilio")
        assert entry.payload["body"] == "Msg" and entry.payload["from"] == CLIENT_PHONE
        assert entry.payload["media"] == []  # relative media URLs are kept on the message, not in the entry
        assert EntryLink.objects.filter(entry=entry, subject_type="client", subject_id=sara.pk).exists()


def test_an_unmatched_message_is_kept_without_a_subject_or_an_entry(firm_a):
    account = twilio(firm_a)
    with schema_context(firm_a.schema_name):
        client(phone="+966501234567")
        deliver(account, "twilio_sms", fixture_bytes("twilio_sms_inbound_media.txt"))
        assert processing.deliveries_process() == 1
        message = Message.objects.get()
        assert message.subject_type == "" and message.subject_id is None and message.entry_id is None
        assert entries_of(message) == []
        assert not Entry.objects.filter(kind="sms").exists()


def test_a_twilio_whatsapp_address_is_a_phone(firm_a):
    account = twilio(firm_a)
    with schema_context(firm_a.schema_name):
        sara = client(phone="+31612345678")
        deliver(account, "twilio_sms", fixture_bytes("twilio_whatsapp_inbound_text.txt"))
        processing.deliveries_process()
        message = Message.objects.get()
        assert message.channel == "whatsapp" and message.from_address == "+31612345678"
        [entry] = entries_of(message)
        assert entry.kind == "whatsapp" and entry.subject_id == sara.pk and entry.payload["body"] == "test"


def test_several_matches_take_the_newest_contact_then_client_then_lead(firm_a):
    with schema_context(firm_a.schema_name):
        lead = record_create(instance=Lead(name="Lead", phone=CLIENT_PHONE))
        older_client = client("Older", phone=CLIENT_PHONE)
        newer_client = client("Newer", phone=CLIENT_PHONE)
        assert matching.counterpart("4133881111", "sms")[0] is None  # national, read in SA: another number
        subject, related = matching.counterpart(f"whatsapp:{CLIENT_PHONE}", "whatsapp")
        assert subject == newer_client and related == [older_client, lead]
        contact = record_create(instance=Contact(name="Contact", phone=CLIENT_PHONE, client=older_client))
        # within MATCH_TTL the memo still answers what it found a moment ago; then it looks again
        assert matching.counterpart(CLIENT_PHONE, "sms")[0] == newer_client
        matching.counterpart_forget()
        subject, related = matching.counterpart(CLIENT_PHONE, "sms")
        assert subject == contact and related == [newer_client, older_client, lead]
        # by email too, whatever the case of the address
        record_create(instance=Lead(name="Mailer", email="sara@example.com"))
        assert matching.counterpart("Sara@Example.COM", "email")[0].name == "Mailer"

        deliver(twilio(firm_a), "twilio_sms", fixture_bytes("twilio_sms_inbound_media.txt"))
        processing.deliveries_process()
        [entry] = entries_of(Message.objects.get())
        assert (entry.subject_type, entry.subject_id) == ("contact", contact.pk)
        assert [(r["type"], r["id"]) for r in entry.related] == [
            ("client", newer_client.pk),
            ("client", older_client.pk),
            ("lead", lead.pk),
        ]


def test_a_phone_known_in_two_firms_matches_only_in_the_firm_processing_it(firm_a, firm_b):
    account_a, account_b = twilio(firm_a), twilio(firm_b)
    with schema_context(firm_b.schema_name):
        in_b = client("Sara in B", phone=CLIENT_PHONE)
    with schema_context(firm_a.schema_name):
        in_a = client("Sara in A", phone=CLIENT_PHONE)
        deliver(account_a, "twilio_sms", fixture_bytes("twilio_sms_inbound_media.txt"))
        assert processing.deliveries_process() == 1
        [entry] = entries_of(Message.objects.get())
        assert entry.subject_id == in_a.pk and entry.subject_name == "Sara in A"
    with schema_context(firm_b.schema_name):
        assert not Message.objects.exists() and not Entry.objects.filter(kind="sms").exists()
        deliver(account_b, "twilio_sms", fixture_bytes("twilio_sms_inbound_media.txt"))
        assert processing.deliveries_process() == 1
        [entry] = entries_of(Message.objects.get())
        assert entry.subject_id == in_b.pk and entry.subject_name == "Sara in B"


# --- WhatsApp Cloud API -----------------------------------------------------------------------------


def test_a_whatsapp_cloud_message_and_statuses(firm_a):
    account = whatsapp_account(firm_a)
    inbound = json.loads(fixture_bytes("whatsapp_inbound_text_metadoc.json"))
    with schema_context(firm_a.schema_name):
        contact = record_create(instance=Contact(name="Sheena", phone="+16505551234"))
        deliver(account, "whatsapp", json.dumps(inbound).encode())
        # statuses of a message we sent to that contact, read before delivered
        for status in ("read", "delivered", "sent"):
            payload = json.loads(fixture_bytes("whatsapp_status_sent.json"))
            item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
            item.update(status=status, recipient_id="16505551234")
            deliver(account, "whatsapp", json.dumps(payload).encode())
        assert processing.deliveries_process() == 4
        received = Message.objects.get(direction="inbound")
        assert received.body == "Does it come in another color?" and received.subject_id == contact.pk
        assert entries_of(received)[0].kind == "whatsapp"
        sent = Message.objects.get(external_id="wamid.xyzxyz")
        assert sent.status == "read" and [h["status"] for h in sent.status_history] == ["read", "delivered", "sent"]
        assert sent.read_at and sent.delivered_at and sent.sent_at
        [entry] = entries_of(sent)
        assert entry.subject_id == contact.pk and entry.status == "read"


# --- calls ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "names",
    [
        ("twilio_voice_inbound_ringing.txt", "twilio_voice_status_completed.txt"),
        ("twilio_voice_status_completed.txt", "twilio_voice_inbound_ringing.txt"),
    ],
    ids=["in-order", "completed-first"],
)
def test_a_call_ends_completed_with_its_duration_whatever_the_order(firm_a, names):
    account = twilio(firm_a)
    with schema_context(firm_a.schema_name):
        caller = client(phone="+256784224203")
        for name in names:
            deliver(account, "twilio_voice", fixture_bytes(name))
        assert processing.deliveries_process() == 2
        call = Call.objects.get()
        assert (call.status, call.duration_seconds, call.outcome, call.direction) == (
            "completed",
            9,
            "connected",
            "inbound",
        )
        assert sorted(h["status"] for h in call.status_history) == ["completed", "ringing"]
        [entry] = entries_of(call)
        assert (entry.kind, entry.subject_id, entry.status) == ("call", caller.pk, "completed")
        assert entry.duration_seconds == 9
        assert entry.payload["outcome"] == "connected" and entry.payload["duration_seconds"] == 9


def test_a_call_answered_by_a_machine_is_voicemail(firm_a):
    account = twilio(firm_a)
    with schema_context(firm_a.schema_name):
        client(phone="+256784224203")
        body = fixture_bytes("twilio_voice_status_completed.txt") + b"&AnsweredBy=machine_start"
        deliver(account, "twilio_voice", body)
        processing.deliveries_process()
        call = Call.objects.get()
        assert (call.outcome, call.answered_by) == ("voicemail", "machine_start")
        assert entries_of(call)[0].payload["outcome"] == "voicemail"


@pytest.mark.parametrize(
    ("status", "answered_by", "outcome"),
    [
        ("completed", "human", "connected"),
        ("completed", "", "connected"),
        ("completed", "machine_end_beep", "voicemail"),
        ("busy", "", "busy"),
        ("no-answer", "", "no_answer"),
        ("failed", "", "failed"),
        ("canceled", "", "canceled"),
        ("in-progress", "human", ""),
    ],
)
def test_call_outcomes(status, answered_by, outcome):
    assert handlers.call_outcome(status, answered_by) == outcome


def test_a_finished_call_never_moves_back():
    assert handlers.call_advances("ringing", "in-progress") and handlers.call_advances("", "ringing")
    assert not handlers.call_advances("in-progress", "ringing")
    assert not handlers.call_advances("completed", "in-progress") and not handlers.call_advances("busy", "completed")


# --- what can never process ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "body", "error"),
    [
        ("twilio_sms", b"not a form", "MessageSid"),
        ("twilio_voice", b"CallStatus=ringing", "CallSid"),
        ("whatsapp", b'{"object": "whatsapp_business_account", "entry": [', "not valid JSON"),
    ],
)
def test_a_malformed_stored_body_is_marked_processed_with_its_error_not_retried(firm_a, endpoint, body, error):
    account = whatsapp_account(firm_a) if endpoint == "whatsapp" else twilio(firm_a)
    with schema_context(firm_a.schema_name):
        delivery = deliver(account, endpoint, body)
        assert processing.deliveries_process() == 1
        delivery.refresh_from_db()
        assert delivery.processed_at is not None and delivery.attempts == 1
        assert delivery.last_error.startswith("Permanent: ") and error in delivery.last_error
        assert processing.deliveries_process() == 0
        delivery.refresh_from_db()
        assert delivery.attempts == 1
        assert not Message.objects.exists() and not Call.objects.exists()


def test_an_event_the_timeline_refuses_is_kept_as_the_deliverys_error_not_retried(firm_a, monkeypatch):
    from django.core.exceptions import ValidationError

    def refuse(**kwargs):
        raise ValidationError({"payload": ["body: Must be a string."]})

    monkeypatch.setattr(handlers, "entry_record", refuse)
    account = twilio(firm_a)
    with schema_context(firm_a.schema_name):
        client(phone=CLIENT_PHONE)
        delivery = deliver(account, "twilio_sms", fixture_bytes("twilio_sms_inbound_media.txt"))
        assert processing.deliveries_process() == 1
        delivery.refresh_from_db()
        assert delivery.processed_at is not None and "Must be a string" in delivery.last_error
        # the delivery's savepoint is rolled back: neither the event nor its message was kept
        assert not ProcessedEvent.objects.exists() and not Message.objects.exists()
