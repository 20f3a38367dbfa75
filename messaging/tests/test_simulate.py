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


def test_firm_as_signed_deliveries_are_refused_on_firm_bs_host(firm_a, firm_b):
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from messaging import services

    with schema_context(firm_a.schema_name):
        crm.record_create(instance=Client(name="Both firms", phone="+966501234560", email="both@example.sa"))
        demo.seed(firm_a, random.Random(1))
        planned = deliveries(base_url="http://alpha.localhost", count=40, seed=3)
    other_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = other_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with schema_context(firm_b.schema_name):
        crm.record_create(instance=Client(name="Both firms", phone="+966501234560", email="both@example.sa"))
        # firm B's own accounts, with the same identifiers where a provider routes by them
        a = {p: c for p, c in demo.demo_credentials(firm_a.slug).items()}
        for provider, credentials in (
            ("twilio", {"account_sid": a["twilio"]["account_sid"], "auth_token": "beta-token"}),
            ("whatsapp", {**a["whatsapp"], "app_secret": "beta-app-secret"}),
            ("sendgrid", {"public_key": base64.b64encode(der).decode()}),
            ("mailgun", {"signing_key": "beta-mailgun-key"}),
        ):
            services.channel_account_create(provider=provider, name=provider, credentials=credentials)
    http = HttpClient(HTTP_HOST="beta.localhost")
    answers = {
        (d.provider, http.post(d.path, d.body, content_type=d.content_type, **meta(d.headers)).status_code)
        for d in planned
    }
    assert answers == {("twilio", 403), ("whatsapp", 403), ("sendgrid", 403), ("mailgun", 403)}
    with schema_context(firm_b.schema_name):
        assert WebhookDelivery.objects.count() == 0
    with schema_context(firm_a.schema_name):
        assert WebhookDelivery.objects.count() == 0
