"""The simulator's deliveries are what the webhooks accept: signed, well-formed, stored once."""

import random

from django.test import Client as HttpClient
from django_tenants.utils import schema_context

from messaging import demo
from messaging.models import ChannelAccount, WebhookDelivery
from messaging.simulate import deliveries
from traf3li.crm import services as crm
from traf3li.crm.models import Client


def meta(headers: dict) -> dict:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def test_every_simulated_delivery_is_accepted_once(firm_a):
    with schema_context(firm_a.schema_name):
        for n in range(3):
            crm.record_create(instance=Client(name=f"Sim {n}", phone=f"+96650123456{n}", email=f"sim{n}@example.sa"))
        demo.seed(firm_a, random.Random(1))
        assert set(ChannelAccount.objects.values_list("provider", flat=True)) == {
            "twilio", "whatsapp", "sendgrid", "mailgun"
        }  # fmt: skip
        planned = deliveries(base_url="http://alpha.localhost", count=60, seed=7)
    assert {d.provider for d in planned} == {"twilio", "whatsapp", "sendgrid", "mailgun"}
    http = HttpClient(HTTP_HOST="alpha.localhost")
    for delivery in planned:
        answer = http.post(delivery.path, delivery.body, content_type=delivery.content_type, **meta(delivery.headers))
        assert answer.status_code == 200, (delivery.provider, answer.content)
    with schema_context(firm_a.schema_name):
        stored = WebhookDelivery.objects.count()
        assert stored == len({(d.provider, d.body) for d in planned})
    # sent again, nothing is stored twice (Mailgun's tokens and bodies are the same ones)
    for delivery in planned:
        answer = http.post(delivery.path, delivery.body, content_type=delivery.content_type, **meta(delivery.headers))
        assert answer.status_code == 200
    with schema_context(firm_a.schema_name):
        assert WebhookDelivery.objects.count() == stored
