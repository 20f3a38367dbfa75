"""Stored deliveries are processed once, in batches; a failing one waits without blocking the rest."""

import pytest
from django_tenants.utils import schema_context

from messaging import processing, services
from messaging.models import WebhookDelivery


@pytest.fixture
def handled():
    seen = []

    def handler(delivery):
        if bytes(delivery.body).startswith(b"boom"):
            raise ValueError("cannot parse this one")
        seen.append(bytes(delivery.body))

    real = processing._HANDLERS.get("sendgrid")
    processing.delivery_handler_register("sendgrid", handler)
    yield seen
    processing.delivery_handler_unregister("sendgrid")
    if real is not None:  # the app's own handler (messaging.email), for the tests that follow
        processing.delivery_handler_register("sendgrid", real)


@pytest.fixture
def no_mailgun_handler():
    real = processing._HANDLERS.get("mailgun")
    processing.delivery_handler_unregister("mailgun")
    yield
    if real is not None:
        processing.delivery_handler_register("mailgun", real)


def stored(account, *bodies):
    for body in bodies:
        services.delivery_accept(provider="sendgrid", endpoint="sendgrid", account=account, headers={}, body=body)


def test_each_owed_delivery_is_processed_once_in_batches(firm_a, handled):
    with schema_context(firm_a.schema_name):
        account = services.channel_account_create(provider="sendgrid", name="sg", credentials={"public_key": "k"})
        stored(account, *[f"[{n}]".encode() for n in range(7)])
        assert processing.deliveries_process(batch=3) == 7
        assert processing.deliveries_process(batch=3) == 0  # nothing twice
        assert sorted(handled) == sorted(f"[{n}]".encode() for n in range(7))
        assert not WebhookDelivery.objects.filter(processed_at__isnull=True).exists()


def test_a_failing_delivery_keeps_its_error_and_waits_for_the_next_run(firm_a, handled):
    with schema_context(firm_a.schema_name):
        account = services.channel_account_create(provider="sendgrid", name="sg", credentials={"public_key": "k"})
        stored(account, b"[1]", b"boom", b"[2]")
        assert processing.deliveries_process(batch=2) == 2
        failed = WebhookDelivery.objects.get(processed_at__isnull=True)
        assert bytes(failed.body) == b"boom" and "cannot parse this one" in failed.last_error and failed.attempts == 1
        assert processing.deliveries_process() == 0
        assert WebhookDelivery.objects.get(pk=failed.pk).attempts == 2


def test_an_endpoint_without_a_handler_stays_queued(firm_a, no_mailgun_handler):
    with schema_context(firm_a.schema_name):
        account = services.channel_account_create(provider="mailgun", name="mg", credentials={"signing_key": "k"})
        services.delivery_accept(provider="mailgun", endpoint="mailgun", account=account, headers={}, body=b"{}")
        assert processing.deliveries_process() == 0
        assert WebhookDelivery.objects.filter(processed_at__isnull=True).count() == 1
