"""Triage of unmatched messages, calls and emails: link a counterpart's whole history to a record.

``unmatched_link(address=…, subject=…)`` gives every unmatched message, call and email whose
counterpart has that address the subject, and each its timeline entry, as the handlers record a
matched one (same kind, title in the firm's language, payload, source and external id: a later
status moves the entry as usual, and a replayed link records nothing twice).

**Addresses.** Providers spell one number three ways: ``+14155238886`` (Twilio SMS and voice),
``whatsapp:+14155238886`` (Twilio WhatsApp) and ``14155238886`` (WhatsApp Cloud API). The address
given is normalized like the matcher does (``matching.normalize_address``) and every spelling of
it is linked, as well as the address exactly as given (a short code, an alphanumeric sender).

**The record is not changed.** The address is not written onto the record (CRM data is the
firm's to edit); a later message from the same address is unmatched again until the record has
that phone, from which point the handlers match it by themselves.

**Lock order** (ADR 0030): the unmatched messages ``FOR NO KEY UPDATE`` in id order, then the
unmatched calls, then the unmatched emails, each in id order, then each row's entry
(``entry_record``) as the rows are taken in that order; the handlers lock one row and then its
entry, so the two never wait for each other in opposite orders on the same row. A row a handler
matched meanwhile no longer qualifies (PostgreSQL re-checks ``subject_id IS NULL`` on the locked
version) and is left alone.
Everything is one transaction: the history moves entirely or not at all.

**Audit.** One ``link_message`` event on the record, naming the address and the ids moved; each
new entry is audited by ``entry_record`` as every entry is.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from audit.services import audit_record
from messaging import email, handlers
from messaging.matching import normalize_address
from messaging.models import Call, EmailMessage, Message
from messaging.selectors import counterpart_expression
from traf3li.api.exceptions import TransitionError
from traf3li.core.registries import case_of
from traf3li.core.subjects import subject_of

ERROR_NOTHING_UNMATCHED = _("Nothing unmatched has the address '{address}'.")
ERROR_NO_ADDRESS = _("An address is required.")
# What a message or call may be linked to: the records that have a 360° view.
LINK_TYPES = ("client", "contact", "lead", "organization", "case")


def address_spellings(address: str) -> set[str]:
    """The stored spellings of ``address``: as given, and each provider's form of its E.164 number."""
    given = (address or "").strip()
    spellings = {given} if given else set()
    kind, value = normalize_address(given, "sms")
    if not value and given.isdigit():
        kind, value = normalize_address(given, "whatsapp")  # a Cloud API number: digits, no plus
    if not value:
        return spellings
    if kind == "email":
        return spellings | {value}
    return spellings | {value, f"whatsapp:{value}", value.removeprefix("+")}


def _first_at(row: Message | Call) -> datetime:
    """When the row's first event happened (its history's first time), else when it was stored."""
    for item in row.status_history[:1]:
        at = parse_datetime(str(item.get("at") or ""))
        if at is not None and at.tzinfo is not None:
            return at
    return row.created_at


def _link_message(message: Message, subject: models.Model) -> None:
    handlers.timeline_record(
        message,
        kind=message.channel,
        subject=subject,
        related=[],
        title=handlers.message_title(message),
        description=message.body,
        at=_first_at(message),
        payload=handlers.message_payload(message),
    )


def _link_call(call: Call, subject: models.Model) -> None:
    handlers.timeline_record(
        call,
        kind="call",
        subject=subject,
        related=[],
        title=handlers.call_title(call),
        description="",
        at=_first_at(call),
        payload=handlers.call_payload(call),
    )


@transaction.atomic
def unmatched_link(*, address: str, subject: models.Model, actor=None) -> dict[str, list[int]]:
    """Link the unmatched history of ``address`` to ``subject``; ``{"messages": [ids], "calls": [ids]}``.

    Raises ``TransitionError`` (409) when nothing unmatched has the address.
    """
    spellings = address_spellings(address)
    if not spellings:
        raise ValidationError({"address": [str(ERROR_NO_ADDRESS)]})
    ref = subject_of(subject)
    moved: dict[str, list[int]] = {"messages": [], "calls": [], "emails": []}
    for model, link, key in (
        (Message, _link_message, "messages"),
        (Call, _link_call, "calls"),
        (EmailMessage, lambda row, subject: email.email_link(row, subject, at=_first_at(row)), "emails"),
    ):
        counterpart = F("recipient") if model is EmailMessage else counterpart_expression()
        rows = (
            model.objects.select_for_update(no_key=True)
            .alias(address=counterpart)
            .filter(subject_id__isnull=True, address__in=sorted(spellings))
            .order_by("id")
        )
        for row in rows:
            row.subject_type, row.subject_id = ref.type, ref.id
            link(row, subject)
            row.save(update_fields=["subject_type", "subject_id", "entry_id", "updated_at"])
            moved[key].append(row.pk)
    if not any(moved.values()):
        raise TransitionError(str(ERROR_NOTHING_UNMATCHED.format(address=address.strip())))
    audit_record(
        action="link_message",
        instance=subject,
        after={"address": address.strip(), **moved},
        case_id=case_of(subject),
        actor=actor,
    )
    return moved
