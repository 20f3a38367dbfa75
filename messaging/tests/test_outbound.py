"""Sending WhatsApp and SMS: queued, sent once through the provider's real HTTP API, retried with backoff.

The providers are faked at their HTTP boundary (``fake_providers``): a real HTTP server on
loopback answering as Meta's Graph API and Twilio's REST API document. Status callbacks are the
providers' real webhook payloads, read in place from the shared fixtures.
"""

import json
import threading
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from conftest import PROVIDER_FIXTURES, api_client_for, token_for
from messaging import outbound, processing, services
from messaging.models import Message, WebhookDelivery
from messaging.tests.fake_providers import Answer, FakeProviders, graph_error
from timeline.models import Entry
from traf3li.celery import app
from traf3li.crm.models import Client
from traf3li.crm.services import record_create

pytestmark = pytest.mark.django_db
PHONE = "+966501234567"
PHONE_ID = "106540352242922"


@pytest.fixture
def providers(settings):
    fake = FakeProviders().start()
    settings.WHATSAPP_GRAPH_URL = fake.url
    settings.TWILIO_API_URL = fake.url
    settings.MESSAGING_OUTBOUND = "provider"
    settings.MESSAGING_SEND_TIMEOUT = 2.0
    yield fake
    fake.stop()


def accounts(firm):
    with schema_context(firm.schema_name):
        whatsapp = services.channel_account_create(
            provider="whatsapp",
            name="wa",
            credentials={"phone_number_id": PHONE_ID, "app_secret": "s", "verify_token": "v", "access_token": "EAAG"},
        )
        twilio = services.channel_account_create(
            provider="twilio",
            name="line",
            credentials={"account_sid": "ACtest", "auth_token": "token", "from_number": "+14155550100"},
        )
    return whatsapp, twilio


def queue(channel="whatsapp", **fields):
    fields = {"to": PHONE, "body": "Your hearing is on Sunday at 9.", **fields}
    return outbound.message_queue(channel=channel, **fields).message


def status_webhook(account, wamid: str, status: str, *, ref: str = "") -> None:
    payload = json.loads((PROVIDER_FIXTURES / "whatsapp_status_sent.json").read_bytes())
    item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    item.update(id=wamid, status=status, recipient_id=PHONE.lstrip("+"))
    if ref:
        item["biz_opaque_callback_data"] = ref
    services.delivery_accept(
        provider="whatsapp", endpoint="whatsapp", account=account, headers={}, body=json.dumps(payload).encode()
    )


def twilio_status(account, sid: str, status: str) -> None:
    body = urlencode(
        {"MessageStatus": status, "SmsStatus": status, "MessageSid": sid, "AccountSid": "ACtest", "To": PHONE}
    )
    services.delivery_accept(provider="twilio", endpoint="twilio_sms", account=account, headers={}, body=body.encode())


def test_a_whatsapp_message_is_queued_then_sent_once_through_the_graph_api(firm_a, admin_a, providers):
    whatsapp, _ = accounts(firm_a)
    api = api_client_for(firm_a, admin_a)
    with schema_context(firm_a.schema_name):
        client = record_create(instance=Client(name="Sara", phone=PHONE))
    # when the SPA posts a message (a national number: the firm's region makes it E.164)
    response = api.post("/api/v1/whatsapp/messages/", {"to": "0501234567", "body": "Your hearing is on Sunday."})
    assert response.status_code == 201, response.content
    queued = response.json()
    assert queued["status"] == "queued" and queued["send_state"] == "pending" and queued["direction"] == "outbound"
    assert queued["to_address"] == PHONE  # the firm's region (SA) made the national number E.164
    with schema_context(firm_a.schema_name):
        assert outbound.message_send(queued["id"]) == "sent"
        assert outbound.message_send(queued["id"]) == "not due"  # a second task sends nothing
        message = Message.objects.get(pk=queued["id"])
    # then the provider got one request, as its API reference writes it
    [request] = providers.seen
    assert request.path == f"/v21.0/{PHONE_ID}/messages" and request.headers["Authorization"] == "Bearer EAAG"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": PHONE.lstrip("+"),
        "biz_opaque_callback_data": message.client_ref,
        "type": "text",
        "text": {"preview_url": False, "body": "Your hearing is on Sunday."},
    }
    assert message.external_id == providers.accepted[0] and message.send_state == "sent" and message.status == "queued"
    assert message.sent_by_id == admin_a.pk and message.subject_id == client.pk
    with schema_context(firm_a.schema_name):
        [entry] = Entry.objects.filter(pk=message.entry_id)
        assert entry.subject_id == client.pk and entry.kind == "whatsapp" and entry.status == "queued"
        assert AuditEvent.objects.filter(entity_type="message", entity_id=str(message.pk), action="create").exists()
        # and its status webhooks move it forward on the message and its entry
        status_webhook(whatsapp, message.external_id, "delivered")
        status_webhook(whatsapp, message.external_id, "sent")
        assert processing.deliveries_process() == 2
        message.refresh_from_db()
        entry.refresh_from_db()
    assert message.status == "delivered" and entry.status == "delivered"
    assert [h["status"] for h in message.status_history] == ["queued", "delivered", "sent"]
    assert Message.objects.filter(to_address=PHONE).count() == 1


@pytest.fixture
def eager(monkeypatch):
    """Tasks run in this process as they are queued (no worker in these tests)."""
    monkeypatch.setitem(app.conf, "task_always_eager", True)


def test_the_task_queued_at_commit_sends_it(firm_a, providers, eager, django_capture_on_commit_callbacks):
    accounts(firm_a)
    with schema_context(firm_a.schema_name):
        with django_capture_on_commit_callbacks(execute=True):
            message = queue()
        message.refresh_from_db()
    assert message.send_state == "sent" and len(providers.seen) == 1


def test_the_same_idempotency_key_twice_is_one_message_sent_once(firm_a, admin_a, providers):
    accounts(firm_a)
    api = api_client_for(firm_a, admin_a)
    first = api.post("/api/v1/whatsapp/messages/", {"to": PHONE, "body": "Hello"}, HTTP_IDEMPOTENCY_KEY="spa-42")
    again = api.post("/api/v1/whatsapp/messages/", {"to": PHONE, "body": "Hello"}, HTTP_IDEMPOTENCY_KEY="spa-42")
    assert (first.status_code, again.status_code) == (201, 200) and first.json()["id"] == again.json()["id"]
    with schema_context(firm_a.schema_name):
        assert Message.objects.filter(client_ref="spa-42").count() == 1
        outbound.message_send(first.json()["id"])
        outbound.message_send(first.json()["id"])
    assert len(providers.seen) == 1
    # the same key for a different message, or on the other channel, is refused and sends nothing
    other = api.post("/api/v1/whatsapp/messages/", {"to": PHONE, "body": "Bye"}, HTTP_IDEMPOTENCY_KEY="spa-42")
    sms = api.post("/api/v1/sms/messages/", {"to": PHONE, "body": "Hello"}, HTTP_IDEMPOTENCY_KEY="spa-42")
    assert (other.status_code, sms.status_code) == (409, 409) and "different message" in other.json()["detail"]
    with schema_context(firm_a.schema_name):
        assert Message.objects.count() == 1


def test_a_5xx_backs_off_and_the_retry_sends_it(firm_a, providers):
    accounts(firm_a)
    providers.answer(graph_error(503, 131016, "Service unavailable", "OAuthException"))
    with schema_context(firm_a.schema_name):
        message = queue()
        before = timezone.now()
        assert outbound.message_send(message.pk) == "retry"
        message.refresh_from_db()
        assert (
            message.send_state == "pending"
            and message.send_attempts == 1
            and "Service unavailable" in message.last_error
        )
        # 30 s ± 20 % for the first retry (MESSAGING_SEND_BACKOFF)
        assert before + timedelta(seconds=23) < message.next_attempt_at < before + timedelta(seconds=37)
        assert outbound.message_send(message.pk) == "not due"
        Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        assert outbound.message_send(message.pk) == "sent"
        message.refresh_from_db()
    assert len(providers.seen) == 2 and message.external_id == providers.accepted[0] and message.send_attempts == 2


def test_backoff_doubles_to_its_cap_and_honours_retry_after(settings, monkeypatch):
    settings.MESSAGING_SEND_BACKOFF = (30.0, 3600.0)
    monkeypatch.setattr(outbound.random, "uniform", lambda low, high: 1.0)  # no jitter
    assert [outbound.backoff_seconds(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert outbound.backoff_seconds(20) == 3600
    assert outbound.backoff_seconds(1, retry_after=120) == 120
    monkeypatch.setattr(outbound.random, "uniform", lambda low, high: high)  # the most jitter
    assert outbound.backoff_seconds(1) == 36 and outbound.backoff_seconds(20) == 4320


def test_a_429_waits_at_least_its_retry_after(firm_a, providers):
    _, twilio = accounts(firm_a)
    providers.answer(
        Answer(429, {"code": 20429, "message": "Too Many Requests", "status": 429}, {"Retry-After": "300"})
    )
    with schema_context(firm_a.schema_name):
        message = queue("sms")
        assert outbound.message_send(message.pk) == "retry"
        message.refresh_from_db()
    assert message.next_attempt_at >= timezone.now() + timedelta(seconds=290)


def test_after_the_last_attempt_the_message_fails_with_the_providers_error(firm_a, providers, settings):
    settings.MESSAGING_SEND_MAX_ATTEMPTS = 2
    accounts(firm_a)
    providers.answer(graph_error(500, 1, "An unknown error occurred"), graph_error(500, 1, "An unknown error occurred"))
    with schema_context(firm_a.schema_name):
        message = queue()
        assert outbound.message_send(message.pk) == "retry"
        Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        assert outbound.message_send(message.pk) == "given up"
        message.refresh_from_db()
    assert message.send_state == "failed" and message.status == "failed"
    assert (
        message.status_history[-1]["error_code"] == "1"
        and "unknown error" in message.status_history[-1]["error_message"]
    )


def test_a_refusal_fails_at_once_with_its_code_on_the_message_and_its_entry(firm_a, providers):
    accounts(firm_a)
    providers.answer(graph_error(400, 131026, "Message undeliverable", "OAuthException"))
    with schema_context(firm_a.schema_name):
        client = record_create(instance=Client(name="Sara", phone=PHONE))
        message = queue()
        assert outbound.message_send(message.pk) == "refused"
        message.refresh_from_db()
        entry = Entry.objects.get(pk=message.entry_id)
    assert message.subject_id == client.pk and message.status == "failed" and entry.status == "failed"
    assert message.status_history[-1]["error_code"] == "131026" and len(providers.seen) == 1


def test_twilio_gets_its_form_with_basic_auth_and_a_status_callback_on_the_firms_host(firm_a, providers):
    _, twilio = accounts(firm_a)
    with schema_context(firm_a.schema_name):
        message = queue("sms", body="مرحبا")
        assert outbound.message_send(message.pk) == "sent"
        message.refresh_from_db()
    [request] = providers.seen
    assert request.path == "/2010-04-01/Accounts/ACtest/Messages.json"
    domain = firm_a.get_primary_domain().domain
    assert request.form == {
        "To": PHONE,
        "From": "+14155550100",
        "Body": "مرحبا",
        "StatusCallback": f"https://{domain}/hooks/twilio/sms/",
    }
    assert message.external_id == providers.accepted[0] and message.external_id.startswith("SM")
    with schema_context(firm_a.schema_name):
        twilio_status(twilio, message.external_id, "delivered")
        assert processing.deliveries_process() == 1
        message.refresh_from_db()
    assert message.status == "delivered"


def test_a_twilio_status_that_beats_our_send_waits_for_it_instead_of_making_a_second_message(firm_a, providers):
    _, twilio = accounts(firm_a)
    with schema_context(firm_a.schema_name):
        message = queue("sms")
        claimed = outbound._claim(message.pk)  # the sender is mid-request
        twilio_status(twilio, "SMearly00000000000000000000000000", "sent")
        assert processing.deliveries_process() == 0
        assert "in flight" in WebhookDelivery.objects.get().last_error
        outbound._accepted(claimed.pk, outbound.adapters.Accepted("SMearly00000000000000000000000000"))
        assert processing.deliveries_process() == 1
        assert Message.objects.count() == 1
        message.refresh_from_db()
    assert message.status == "sent" and message.external_id == "SMearly00000000000000000000000000"


def test_a_status_row_made_before_our_send_recorded_is_merged_into_ours(firm_a, providers):
    _, twilio = accounts(firm_a)
    with schema_context(firm_a.schema_name):
        record_create(instance=Client(name="Sara", phone=PHONE))
        twilio_status(twilio, "SMmerge00000000000000000000000000", "delivered")
        assert processing.deliveries_process() == 1  # nothing of ours in flight: a row of its own
        early = Message.objects.get(external_id="SMmerge00000000000000000000000000")
        message = queue("sms")
        outbound._claim(message.pk)
        outbound._accepted(message.pk, outbound.adapters.Accepted("SMmerge00000000000000000000000000"))
        message.refresh_from_db()
        assert list(Message.objects.values_list("pk", flat=True)) == [message.pk]
        assert Entry.objects.get(pk=early.entry_id).deleted_at is not None
    assert message.status == "delivered" and [h["status"] for h in message.status_history] == ["queued", "delivered"]


def test_no_answer_is_uncertain_never_resent_and_the_status_webhook_settles_it(firm_a, providers, settings):
    whatsapp, _ = accounts(firm_a)
    settings.MESSAGING_SEND_TIMEOUT = 0.3
    release = threading.Event()
    providers.answer(Answer(200, {"messages": [{"id": "wamid.late"}]}, hang=release))
    with schema_context(firm_a.schema_name):
        message = queue()
        assert outbound.message_send(message.pk) == "uncertain"
        release.set()
        message.refresh_from_db()
        assert message.send_state == "uncertain" and "Timeout" in message.last_error
        assert outbound.outbound_sweep() == {"queued": 0, "uncertain": 0}  # not sent again
        # the provider did send it: its status webhook names our key
        status_webhook(whatsapp, "wamid.late", "sent", ref=message.client_ref)
        assert processing.deliveries_process() == 1
        message.refresh_from_db()
    assert message.external_id == "wamid.late" and message.send_state == "sent" and message.status == "sent"
    assert len(providers.seen) == 1


def test_a_sender_that_died_mid_call_is_uncertain_after_a_while_and_staff_may_resend(firm_a, admin_a, providers):
    accounts(firm_a)
    api = api_client_for(firm_a, admin_a)
    with schema_context(firm_a.schema_name):
        message = queue()
        outbound._claim(message.pk)  # ... and the worker was killed
        assert outbound.outbound_sweep()["uncertain"] == 0  # not yet stale
        Message.objects.filter(pk=message.pk).update(send_started_at=timezone.now() - timedelta(minutes=11))
        assert outbound.outbound_sweep() == {"queued": 0, "uncertain": 1}
    assert api.post(f"/api/v1/whatsapp/messages/{message.pk}/resend/").status_code == 200
    with schema_context(firm_a.schema_name):
        assert outbound.message_send(message.pk) == "sent"
    # a sent message can't be resent
    refused = api.post(f"/api/v1/whatsapp/messages/{message.pk}/resend/")
    assert refused.status_code == 400 and "unknown" in str(refused.json())


def test_the_sweeper_sends_what_redis_could_not_queue(
    firm_a, providers, redis_down, django_capture_on_commit_callbacks, caplog, monkeypatch
):
    accounts(firm_a)
    with schema_context(firm_a.schema_name):
        with django_capture_on_commit_callbacks(execute=True):
            message = queue()
        assert "could not queue the sending" in caplog.text  # Redis really was unreachable
        message.refresh_from_db()
        assert message.send_state == "pending" and providers.seen == []
        # beat's sweep, its tasks run here (eagerly) since no worker runs in tests
        monkeypatch.setitem(app.conf, "task_always_eager", True)
        assert outbound.outbound_sweep()["queued"] == 1
        message.refresh_from_db()
    assert message.send_state == "sent" and len(providers.seen) == 1


@override_settings(MESSAGING_OUTBOUND="console")
def test_the_console_adapter_sends_nothing_and_counts_it_sent(firm_a):
    accounts(firm_a)
    with schema_context(firm_a.schema_name):
        message = queue()
        assert outbound.message_send(message.pk) == "sent"
        message.refresh_from_db()
    assert message.status == "sent" and message.external_id.startswith("console-") and message.sent_at


@pytest.mark.parametrize(
    "data,headers,field",
    [
        ({"to": "not a phone", "body": "x"}, {}, "to"),
        ({"to": PHONE, "body": "   "}, {}, "body"),
        ({"to": PHONE, "body": "x" * 4097}, {}, "body"),
        ({"to": PHONE, "body": "x"}, {"HTTP_IDEMPOTENCY_KEY": "has spaces"}, "Idempotency-Key"),
        ({"to": PHONE, "template": {"name": "Bad Name", "language": "en"}}, {}, "template"),
        ({"to": PHONE, "body": "x", "subject": {"type": "client", "id": 99999999}}, {}, "subject"),
    ],
)
def test_bad_input_is_400_and_stores_nothing(firm_a, admin_a, providers, data, headers, field):
    accounts(firm_a)
    response = api_client_for(firm_a, admin_a).post("/api/v1/whatsapp/messages/", data, format="json", **headers)
    assert response.status_code == 400 and field in response.json(), response.content
    with schema_context(firm_a.schema_name):
        assert not Message.objects.exists()


def test_sms_takes_no_template_and_a_firm_without_an_account_cannot_send(firm_a, admin_a, providers):
    api = api_client_for(firm_a, admin_a)
    missing = api.post("/api/v1/sms/messages/", {"to": PHONE, "body": "x"})
    assert missing.status_code == 400 and "no active" in str(missing.json()["channel"])
    accounts(firm_a)
    template = {"to": PHONE, "template": {"name": "hearing_reminder", "language": "ar"}}
    assert api.post("/api/v1/sms/messages/", template, format="json").status_code == 400
    sent = api.post("/api/v1/whatsapp/messages/", template, format="json")
    assert sent.status_code == 201
    with schema_context(firm_a.schema_name):
        outbound.message_send(sent.json()["id"])
        assert not Message.objects.filter(channel="sms").exists()
    assert providers.seen[0].json["template"] == {"name": "hearing_reminder", "language": {"code": "ar"}}


def test_sending_is_per_firm_by_host_and_by_token(firm_a, firm_b, admin_a, admin_b, providers):
    accounts(firm_a)
    mine = api_client_for(firm_a, admin_a).post("/api/v1/whatsapp/messages/", {"to": PHONE, "body": "x"}).json()
    # firm B's token on firm A's host, and firm B's own host, never reach firm A's message
    b_token_on_a = api_client_for(firm_a)
    b_token_on_a.credentials(HTTP_AUTHORIZATION=f"Token {token_for(firm_b, admin_b)}")
    assert b_token_on_a.post("/api/v1/whatsapp/messages/", {"to": PHONE, "body": "x"}).status_code == 401
    on_b = api_client_for(firm_b, admin_b)
    assert on_b.post(f"/api/v1/whatsapp/messages/{mine['id']}/resend/").status_code == 404
    assert on_b.get(f"/api/v1/whatsapp/messages/{mine['id']}/").status_code == 404
    refused = on_b.post("/api/v1/whatsapp/messages/", {"to": PHONE, "body": "x"})  # B has no account
    assert refused.status_code == 400
    with schema_context(firm_b.schema_name):
        assert not Message.objects.exists()
