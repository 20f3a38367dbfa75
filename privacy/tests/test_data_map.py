"""Every model that can hold a person's data is in the privacy data map, or said here not to."""

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models

from traf3li.core.privacy import privacy_mapped

# Field types a person's name, email, phone, address or free text about them can be written to.
PERSONAL_TYPES = (models.CharField, models.TextField, models.JSONField, models.BinaryField)
# Models with such fields that hold nothing about a contact, client or lead, each with the reason.
NO_PERSONAL_DATA = {
    "contenttypes.ContentType": "model names",
    "auth.Permission": "permission names",
    "auth.Group": "role names",
    "sessions.Session": "the firm's users' logins (no client data); they expire",
    "users.ApiToken": "hashes and first characters of the firm's users' API tokens",
    "audit.AuditChainHead": "hashes",
    "audit.AuditChainAnchor": "hashes",
    "audit.AuditVerifyCheckpoint": "the last verified event's seq and hash",
    "timeline.EntryLink": "subject types and ids",
    "timeline.StatRollup": "counters by kind and subject type",
    "timeline.StatRollupDelta": "counters by kind and subject type",
    "activities.WorkingCalendar": "the firm's business days",
    "activities.Holiday": "the firm's holidays",
    "activities.ActivityType": "the firm's kinds of to-do",
    "activities.Reminder": "delivery state and errors of reminders to the firm's users",
    "events.FeedToken": "hashes of calendar feed tokens",
    "events.EventReminder": "delivery state and errors of reminders to the firm's users",
    "billing.BillingSettings": "the firm's payment terms",
    "billing.InvoiceCounter": "numbering counters",
    "billing.ZatcaChainHead": "hashes",
    "billing.PaymentPlan": "installment counts",
    "billing.Installment": "amounts, dates and states",
    "billing.Rollup": "money counters",
    "billing.RollupDelta": "money counters",
    "messaging.ChannelAccount": "the firm's own provider accounts and numbers",
    "messaging.RejectedDelivery": "counters per provider and reason, never content",
    "messaging.ProcessedEvent": "providers' event ids",
    "messaging.DeliveryKey": "providers' idempotency tokens and body digests of deliveries",
    # The periodic tasks' schedules (django_celery_beat, public schema): when tasks run, never what with.
    "django_celery_beat.IntervalSchedule": "intervals",
    "django_celery_beat.CrontabSchedule": "cron fields and a timezone",
    "django_celery_beat.SolarSchedule": "solar events and coordinates (of a schedule, not a person)",
    "django_celery_beat.ClockedSchedule": "times",
    "django_celery_beat.PeriodicTasks": "the schedule's last change",
}
# Personal data, but not of the people this map erases: the firm's own users. Their audit trail is
# erased by ``audit_erase(subject="user:<id>")``; their accounts by the users' admin.
STAFF = {"users.User": "the firm's own users"}
# Apps outside the firm's schema whose rows still carry a firm's data: the periodic tasks' stored
# arguments (task arguments, ADR 0068; queued tasks carry ids only: test_export_task_arguments.py).
SHARED_APPS_WITH_FIRM_DATA = ("django_celery_beat",)
# Mappings of what is not a model: the stored exports are files in the firm's directory (ADR 0067).
NOT_MODELS = {"privacy.StoredExport": "files of privacy exports"}


def _tenant_models():
    tenant_apps = set(settings.TENANT_APPS) | set(SHARED_APPS_WITH_FIRM_DATA)
    for model in apps.get_models():
        if model._meta.app_config.name in tenant_apps and not model._meta.proxy and model._meta.managed:
            yield model


def test_every_model_with_a_persons_field_is_mapped_or_listed():
    unmapped = []
    for model in _tenant_models():
        label = model._meta.label
        personal = [f.name for f in model._meta.concrete_fields if isinstance(f, PERSONAL_TYPES)]
        if personal and privacy_mapped(label) is None and label not in NO_PERSONAL_DATA and label not in STAFF:
            unmapped.append(f"{label} ({', '.join(personal)})")
    assert unmapped == [], "map these in their app's privacy.py, or say why not in NO_PERSONAL_DATA"


def test_the_lists_name_real_models_and_mapped_fields_exist():
    labels = {model._meta.label for model in _tenant_models()}
    assert set(NO_PERSONAL_DATA) | set(STAFF) <= labels
    assert not {label for label in NO_PERSONAL_DATA if privacy_mapped(label)}, "listed here and mapped"
    for model in _tenant_models():
        mapping = privacy_mapped(model._meta.label)
        if mapping is not None:
            names = {f.name for f in model._meta.concrete_fields} | {f.attname for f in model._meta.concrete_fields}
            assert set(mapping.fields) <= names, (mapping.model, set(mapping.fields) - names)


def test_every_mapping_names_a_model_or_says_what_it_is():
    from traf3li.core.privacy import privacy_map

    labels = {model._meta.label for model in _tenant_models()}
    assert {mapping.model for mapping in privacy_map()} - labels == set(NOT_MODELS)
    assert privacy_mapped("django_celery_beat.PeriodicTask") is not None


@pytest.mark.parametrize("label", ["billing.Invoice", "django_celery_beat.PeriodicTask"])
def test_the_walk_sees_a_new_model(monkeypatch, label):
    """The check can fail: take one mapping away and it names the model."""
    from traf3li.core import privacy

    monkeypatch.delitem(privacy._MAP, label)
    try:
        test_every_model_with_a_persons_field_is_mapped_or_listed()
    except AssertionError:
        return
    raise AssertionError("an unmapped model went unnoticed")
