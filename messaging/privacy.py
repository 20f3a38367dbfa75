"""Where the channels keep personal data (the privacy data map, ``traf3li.core.privacy``).

A message, call or email the person exchanged keeps its row (provider ids, times, states: what
the firm's statistics and deduplication need) and loses its content and the person's address.
Raw webhook deliveries keep their bytes for reprocessing until retention removes them; erasure
cuts the person's identifiers out of them (as sent, URL-encoded and JSON-escaped), so a delivery's
signature no longer checks after an erasure (it was checked on receipt).
"""

import json
from urllib.parse import quote, quote_plus

from django.db.models import Q
from django.db.models.expressions import RawSQL

from messaging.models import Call, EmailCampaign, EmailEvent, EmailMessage, Message, WebhookDelivery
from traf3li.core.privacy import (
    REDACTED,
    Redaction,
    privacy_register,
    privacy_register_rows,
    quoting,
    rows_export,
    scrub,
    with_text,
)

COUNTERPART_FIELDS = ("from_address", "to_address")


def _counterpart(subject) -> Q:
    return Q(subject_type=subject.ref.type, subject_id=subject.ref.id)


def _addresses(subject, row) -> dict:
    return {name: REDACTED for name in COUNTERPART_FIELDS if getattr(row, name)}


def _message_replace(subject, message: Message) -> dict:
    if not subject.is_subject(message.subject_type, message.subject_id):
        return {}
    return {**_addresses(subject, message), "body": "", "media": [], "template": None}


def _call_replace(subject, call: Call) -> dict:
    if not subject.is_subject(call.subject_type, call.subject_id):
        return {}
    return {**_addresses(subject, call), "recording_url": ""}


def _email_replace(subject, email: EmailMessage) -> dict:
    return {"recipient": REDACTED} if subject.is_subject(email.subject_type, email.subject_id) else {}


def _email_events_of(subject) -> Q:
    return Q(message__in=EmailMessage.objects.filter(_counterpart(subject)).values("pk"))


def _email_event_replace(subject, event: EmailEvent) -> dict:
    # Where and on what the person opened the email, and the links they followed (which may carry them).
    return {"ip": "", "user_agent": "", "url": "", "reason": ""}


def _encodings(markers) -> list[bytes]:
    """Each marker as a webhook body may carry it: UTF-8, form-encoded, URL-encoded, JSON-escaped."""
    forms = set()
    for marker in markers:
        forms.update({marker, quote_plus(marker), quote(marker), json.dumps(marker)[1:-1]})
    return sorted((form.encode() for form in forms), key=len, reverse=True)


def _deliveries(subject):
    encodings = _encodings(subject.markers)
    if not encodings:
        return WebhookDelivery.objects.none()
    table = WebhookDelivery._meta.db_table
    where = " OR ".join(["position(%s::bytea in body) > 0"] * len(encodings))
    in_body = Q(pk__in=RawSQL(f"SELECT id FROM {table} WHERE {where}", encodings))  # noqa: S611 (fixed SQL)
    quoted = quoting(WebhookDelivery, ("headers", "last_error"), subject.markers)
    return with_text(WebhookDelivery.objects.all(), ("headers",)).filter(in_body | quoted)


def _deliveries_export(subject) -> list[dict]:
    return [
        {**row, "body": bytes(row["body"]).decode("utf-8", "replace")}
        for row in rows_export(_deliveries(subject), ("provider", "received_at", "headers", "body", "last_error"))
    ]


def _deliveries_erase(subject) -> list[Redaction]:
    encodings, redactions, changed = _encodings(subject.markers), [], []
    for delivery in _deliveries(subject).select_for_update(of=("self",)).order_by("pk"):
        body = bytes(delivery.body)
        for form in encodings:
            body = body.replace(form, REDACTED.encode())
        delivery.body = body
        delivery.headers = scrub(delivery.headers, subject.markers)
        delivery.last_error = scrub(delivery.last_error, subject.markers)
        changed.append(delivery)
        redactions.append(Redaction(WebhookDelivery._meta.label, delivery.pk, ("body", "headers", "last_error")))
    WebhookDelivery.objects.bulk_update(changed, ["body", "headers", "last_error"], batch_size=200)
    return redactions


def register() -> None:
    scrubbed = (*COUNTERPART_FIELDS, "body", "media", "template", "status_history", "last_error")
    privacy_register_rows(
        Message,
        scrubbed=scrubbed,
        about=_counterpart,
        replace=_message_replace,
        exported=("channel", "direction", "sent_at"),
    )
    privacy_register_rows(
        Call, scrubbed=(*COUNTERPART_FIELDS, "recording_url", "status_history"), about=_counterpart,
        replace=_call_replace, exported=("direction", "duration_seconds", "outcome"),
    )  # fmt: skip
    privacy_register_rows(
        EmailMessage, scrubbed=("recipient", "status_history"), about=_counterpart, replace=_email_replace,
        exported=("message_id", "status", "sent_at", "opens", "clicks"),
    )  # fmt: skip
    privacy_register_rows(
        EmailEvent, scrubbed=("url", "ip", "user_agent", "reason"), about=_email_events_of,
        replace=_email_event_replace, exported=("event", "occurred_at"),
    )  # fmt: skip
    privacy_register_rows(EmailCampaign, scrubbed=("name",))
    privacy_register(
        WebhookDelivery, fields=("headers", "body", "last_error"), export=_deliveries_export, erase=_deliveries_erase
    )
