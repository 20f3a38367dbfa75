"""Redis down at delivery: the webhook still answers 200, the delivery is stored, and the sweeper
processes it once Redis is back. The broker is a real Redis URL on a port nothing listens on."""

import json
import time

from django.test import Client as HttpClient
from django_tenants.utils import schema_context

from messaging import processing, services, signatures
from messaging.models import WebhookDelivery


def test_a_delivery_during_a_redis_outage_is_stored_and_processed_by_the_sweeper(
    firm_a, redis_down, django_capture_on_commit_callbacks, caplog
):
    with schema_context(firm_a.schema_name):
        services.channel_account_create(provider="mailgun", name="mg", credentials={"signing_key": "k"})
    stamp, token = str(int(time.time())), "t" * 50
    signed = {"timestamp": stamp, "token": token, "signature": signatures.mailgun_signature("k", stamp, token)}
    body = json.dumps(
        {"signature": signed, "event-data": {"event": "delivered", "id": "outage-1", "recipient": "a@example.sa"}}
    ).encode()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        answer = HttpClient(HTTP_HOST="alpha.localhost").post("/hooks/mailgun/", body, content_type="application/json")
    # the provider is told "accepted", though queueing the processing failed
    assert answer.status_code == 200 and len(callbacks) == 1
    assert "could not queue processing" in caplog.text  # Redis really was unreachable
    with schema_context(firm_a.schema_name):
        stored = WebhookDelivery.objects.get()
        assert stored.processed_at is None
        # when Redis is back, the sweeper's run takes it
        seen = []
        real = processing._HANDLERS.get("mailgun")
        processing.delivery_handler_register("mailgun", lambda delivery: seen.append(delivery.pk))
        try:
            assert processing.deliveries_process() == 1
        finally:
            processing.delivery_handler_unregister("mailgun")
            if real is not None:  # the app's own handler (messaging.email)
                processing.delivery_handler_register("mailgun", real)
        assert seen == [stored.pk]
