"""The set-based path gives what the per-delivery path gives, for the same deliveries.

The same mix of the providers' real payloads (inbound messages, status callbacks in shuffled
orders, replays, an unmatched sender, a body the parser refuses) is processed in firm A one
delivery at a time and in firm B as batches; the messages and entries must come out the same.
"""

import json
import random
from urllib.parse import urlencode

import pytest
from django_tenants.utils import schema_context

from conftest import PROVIDER_FIXTURES
from messaging import batch, processing, services
from messaging.models import Message, ProcessedEvent, WebhookDelivery
from timeline.models import Entry
from traf3li.crm.models import Client, Contact
from traf3li.crm.services import record_create

pytestmark = pytest.mark.django_db


def _deliveries(rng: random.Random) -> list[tuple[str, bytes]]:
    out = []
    for n in range(12):  # inbound SMS from three clients and one stranger
        phone = ["+966501110001", "+966501110002", "+966501110003", "+966509999999"][n % 4]
        body = {"MessageSid": f"SMin{n:030d}", "SmsStatus": "received", "AccountSid": "ACtest", "From": phone,
                "To": "+966110000000", "Body": f"message {n}", "NumMedia": "0"}  # fmt: skip
        out.append(("twilio_sms", urlencode(body).encode()))
    for n in range(6):  # outbound SMS to the clients, their callbacks shuffled (some without To)
        statuses = ["queued", "sent", "delivered", "undelivered" if n == 5 else "read"]
        rng.shuffle(statuses)
        for status in statuses:
            body = {"MessageSid": f"SMout{n:029d}", "MessageStatus": status, "AccountSid": "ACtest"}
            if status != "sent":
                body["To"] = f"+96650111000{n % 3 + 1}"
            out.append(("twilio_sms", urlencode(body).encode()))
    template = json.loads((PROVIDER_FIXTURES / "whatsapp_status_sent.json").read_bytes())
    for n in range(4):  # WhatsApp statuses of messages to a contact, shuffled
        for status in rng.sample(["sent", "delivered", "read"], 3):
            payload = json.loads(json.dumps(template))
            item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
            item.update(id=f"wamid.batch{n}", status=status, recipient_id="966501110004")
            out.append(("whatsapp", json.dumps(payload).encode()))
    inbound = (PROVIDER_FIXTURES / "whatsapp_inbound_text_metadoc.json").read_bytes()
    out += [("whatsapp", inbound), ("whatsapp", inbound)]  # a replay
    out.append(("twilio_sms", b"MessageSid=&SmsStatus=received"))  # refused by the parser: kept with its error
    replays = rng.sample(out[:-1], 5)
    return out + replays


def _load(firm, deliveries):
    with schema_context(firm.schema_name):
        for n in range(1, 4):
            record_create(instance=Client(name=f"Client {n}", phone=f"+96650111000{n}"))
        record_create(instance=Contact(name="Contact", phone="+966501110004"))
        record_create(instance=Contact(name="Sheena", phone="+16505551234"))
        twilio = services.channel_account_create(
            provider="twilio", name="t", credentials={"account_sid": "ACtest", "auth_token": "t"}
        )
        whatsapp = services.channel_account_create(
            provider="whatsapp", name="w", credentials={"phone_number_id": "1", "app_secret": "s", "verify_token": "v"}
        )
        for endpoint, body in deliveries:
            services.delivery_accept(
                provider="twilio" if endpoint == "twilio_sms" else "whatsapp",
                endpoint=endpoint,
                account=twilio if endpoint == "twilio_sms" else whatsapp,
                headers={},
                body=body,
            )


def _outcome(firm) -> dict:
    with schema_context(firm.schema_name):
        messages = {
            m.external_id: (
                m.status, [h["status"] for h in m.status_history], m.direction, m.from_address, m.to_address, m.body,
                # Twilio's message callbacks carry no time: each is its delivery's, which differ by firm
                bool(m.sent_at), bool(m.delivered_at), bool(m.read_at), m.subject_type, bool(m.subject_id),
            )
            for m in Message.objects.all()
        }  # fmt: skip
        entries = {
            e.external_id: (e.kind, e.status, e.title, e.payload, e.subject_type, e.deleted_at)
            for e in Entry.objects.filter(source__in=["twilio", "whatsapp"])
        }
        owed = WebhookDelivery.objects.filter(processed_at__isnull=True).count()
        errors = sorted(WebhookDelivery.objects.exclude(last_error="").values_list("last_error", flat=True))
        counted = ProcessedEvent.objects.count()
        linked = sorted((m.external_id, e.subject_id is not None) for m in Message.objects.all() for e in
                        Entry.objects.filter(pk=m.entry_id))  # fmt: skip
    return {"messages": messages, "entries": entries, "owed": owed, "errors": errors, "counted": counted,
            "linked": linked}  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_end_exactly_where_one_delivery_at_a_time_ends(firm_a, firm_b, seed, monkeypatch):
    deliveries = _deliveries(random.Random(seed))
    _load(firm_a, deliveries)
    _load(firm_b, deliveries)
    calls = []
    real = batch.messages_batch

    def counting(group):
        handled = real(group)
        calls.append(len(handled))
        return handled

    with schema_context(firm_a.schema_name):
        monkeypatch.setattr(processing, "_BATCH_HANDLERS", {})
        processing.deliveries_process()
        monkeypatch.undo()
    with schema_context(firm_b.schema_name):
        monkeypatch.setattr(processing, "_BATCH_HANDLERS", {e: counting for e in batch.PARSERS})
        processing.deliveries_process()
    with schema_context(firm_b.schema_name):
        stored = WebhookDelivery.objects.count()  # a replayed body is stored once
    assert sum(calls) == stored - 1  # the set-based path took all but the body its parser refuses
    one_by_one, batched = _outcome(firm_a), _outcome(firm_b)
    assert one_by_one["owed"] == 0 and len(one_by_one["errors"]) == 1
    assert batched == one_by_one
    assert len(batched["messages"]) == 12 + 6 + 4 + 1 and len(batched["entries"]) == 9 + 6 + 4 + 1


def test_a_batch_with_a_status_of_one_of_our_sends_is_handed_to_the_per_delivery_path(firm_a):
    _load(firm_a, [])
    payload = json.loads((PROVIDER_FIXTURES / "whatsapp_status_sent.json").read_bytes())
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] = "ref-1"
    with schema_context(firm_a.schema_name):
        account = services.channel_account_create(
            provider="whatsapp", name="w2", credentials={"phone_number_id": "2", "app_secret": "s", "verify_token": "v"}
        )
        for body in (json.dumps(payload).encode(), (PROVIDER_FIXTURES / "whatsapp_status_delivered.json").read_bytes()):
            services.delivery_accept(provider="whatsapp", endpoint="whatsapp", account=account, headers={}, body=body)
        claimed = list(WebhookDelivery.objects.order_by("pk"))
        with pytest.raises(batch.HandBack):
            batch.messages_batch(claimed)
        assert processing.deliveries_process() == 2  # one by one instead
        assert Message.objects.get(external_id="wamid.xyzxyz").status == "delivered"
