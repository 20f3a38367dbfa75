"""The WhatsApp response time: minutes from a client's message to the firm's first reply."""

from datetime import timedelta
from itertools import count

from django.utils import timezone
from django_tenants.utils import schema_context

from conftest import api_client_for
from messaging.models import Message

_ids = count(1)
FIRM_NUMBER = "966110000000"


def said(client: str, direction: str, at) -> None:
    inbound = direction == "inbound"
    row = Message.objects.create(
        provider="whatsapp",
        channel="whatsapp",
        direction=direction,
        external_id=f"wamid.rt{next(_ids)}",
        from_address=client if inbound else FIRM_NUMBER,
        to_address=FIRM_NUMBER if inbound else client,
        status="received" if inbound else "sent",
    )
    Message.objects.filter(pk=row.pk).update(created_at=at)


def test_medians_per_conversation_and_for_the_firm(firm_a, api_a, staff_a, firm_b, admin_b):
    t0 = timezone.now() - timedelta(days=1)
    minute = timedelta(minutes=1)
    with schema_context(firm_a.schema_name):
        # A: a wait of two messages answered after 5 minutes, then one answered after 2
        said("16505550001", "inbound", t0)
        said("16505550001", "inbound", t0 + minute)
        said("16505550001", "outbound", t0 + 5 * minute)
        said("16505550001", "outbound", t0 + 6 * minute)  # a second reply starts nothing
        said("16505550001", "inbound", t0 + 10 * minute)
        said("16505550001", "outbound", t0 + 12 * minute)
        # B: answered after 10 minutes; C: not answered yet, so not counted
        said("16505550002", "inbound", t0)
        said("16505550002", "outbound", t0 + 10 * minute)
        said("16505550003", "inbound", t0)
        # the firm writing first is no wait either
        said("16505550004", "outbound", t0)
        # SMS is another channel
        Message.objects.create(
            provider="twilio", channel="sms", direction="inbound", external_id="SMrt", from_address="+1"
        )
    staff = api_client_for(firm_a, staff_a)
    body = staff.get("/api/v1/whatsapp/response-time/").json()
    assert body == {
        "median_minutes": 5.0,
        "replies": 3,
        "conversations": [
            {"address": "16505550001", "replies": 2, "median_minutes": 3.5},
            {"address": "16505550002", "replies": 1, "median_minutes": 10.0},
        ],
    }
    # another firm sees its own (none), and firm A's token means nothing on firm B's host
    other = api_client_for(firm_b, admin_b).get("/api/v1/whatsapp/response-time/").json()
    assert other == {"median_minutes": None, "replies": 0, "conversations": []}
    token = staff._credentials["HTTP_AUTHORIZATION"]
    foreign = api_client_for(firm_b).get("/api/v1/whatsapp/response-time/", HTTP_AUTHORIZATION=token)
    assert foreign.status_code == 401
