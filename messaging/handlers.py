"""Delivery handlers of the message and call endpoints: parse, count each event once, record.

``messaging.processing`` runs a handler in a savepoint of its batch's transaction, so everything
one delivery does (its events, their messages or calls, their timeline entries) is kept or
undone together. For each event of the delivery:

1. **Once per event.** A ``ProcessedEvent`` row is inserted with ``ON CONFLICT DO NOTHING``; an
   event already counted (a provider's retry stored as a second delivery, or the same status in
   two payloads) is skipped. A concurrent worker inserting the same key waits for the first one's
   commit, then skips.
2. **Upsert by external id.** The ``Message`` (SMS, WhatsApp) or ``Call`` is read ``FOR NO KEY
   UPDATE``, or created. Every event goes into ``status_history``; the status only moves forward
   (``parsers.advances`` for messages, :data:`CALL_RANK` for calls), so out-of-order receipts end
   at the same status whatever order they arrive in. ``sent_at``/``delivered_at``/``read_at``
   are set by their status whenever it arrives (a late "sent" still says when it was sent).
3. **Timeline.** The counterpart (the sender of an inbound message or call, the recipient of an
   outbound one) is matched by ``messaging.matching.counterpart``. Matched: one entry, source the
   provider, external id ``"<provider>:<external id>"`` (``entry_record`` is idempotent on it);
   later status moves update its status and payload (``entry_update``). Unmatched: the message
   or call is kept with no subject and no entry; it gets its entry when a later event brings an
   address that matches (a minimal status callback carries no ``To``).

Lock order (ADR 0030): the message or call row first, then its entry (``entry_record`` /
``entry_update``). A batch holds the rows of all its deliveries until it commits, so two workers
whose batches touch the same two messages in opposite orders can deadlock; PostgreSQL then fails
one statement, its delivery's savepoint rolls back, and the next run retries it.

A body its parser refuses, or an event the timeline refuses to record (a ``ValidationError``), can
never succeed: the handler raises ``processing.Permanent`` and the delivery is marked processed
with the error, not retried (its savepoint is rolled back, so none of its events counts).
"""

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from messaging import parsers
from messaging.choices import CallOutcome
from messaging.matching import counterpart
from messaging.models import Call, Message, ProcessedEvent, WebhookDelivery
from messaging.parsers import ChannelEvent, ParseError
from messaging.processing import Later, Permanent
from timeline.models import Entry
from timeline.services import EntryDeletedError, entry_delete, entry_record, entry_update_by_id
from traf3li.api.exceptions import TransitionError
from traf3li.core.i18n import in_firm_language
from traf3li.core.subjects import subject_of

log = logging.getLogger(__name__)

MAX_EXTERNAL_ID = 255
# Calls move forward through these; the finished statuses are all last (none replaces another).
CALL_RANK = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}
CALL_FINISHED = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
# What a finished call's status says about it; a completed call answered by a machine is voicemail.
CALL_OUTCOME = {
    "busy": CallOutcome.BUSY,
    "no-answer": CallOutcome.NO_ANSWER,
    "failed": CallOutcome.FAILED,
    "canceled": CallOutcome.CANCELED,
}
# The outcomes the timeline's call payload knows (timeline.schemas.CALL_OUTCOMES); canceled isn't one.
ENTRY_OUTCOMES = frozenset({"connected", "no_answer", "voicemail", "busy", "failed"})
# Titles are stored as written: in the firm's language (traf3li.core.i18n).
TITLES = {
    ("sms", "inbound"): _("SMS from {address}"),
    ("sms", "outbound"): _("SMS to {address}"),
    ("whatsapp", "inbound"): _("WhatsApp message from {address}"),
    ("whatsapp", "outbound"): _("WhatsApp message to {address}"),
    ("call", "inbound"): _("Call from {address}"),
    ("call", "outbound"): _("Call to {address}"),
}


def _title(channel: str, direction: str, from_address: str, to_address: str) -> str:
    outbound = direction == "outbound"
    with in_firm_language():
        address = (to_address if outbound else from_address) or str(_("unknown number"))
        return str(TITLES[(channel, "outbound" if outbound else "inbound")]).format(address=address)


TIMESTAMP_OF = {"sent": "sent_at", "delivered": "delivered_at", "read": "read_at"}


# --- endpoints -----------------------------------------------------------------------------------


def twilio_sms(delivery: WebhookDelivery) -> None:
    _handle(delivery, parsers.parse_twilio_sms)


def twilio_voice(delivery: WebhookDelivery) -> None:
    _handle(delivery, parsers.parse_twilio_voice)


def whatsapp(delivery: WebhookDelivery) -> None:
    _handle(delivery, parsers.parse_whatsapp)


HANDLERS = {"twilio_sms": twilio_sms, "twilio_voice": twilio_voice, "whatsapp": whatsapp}


def parsed(delivery: WebhookDelivery, parse) -> list[ChannelEvent]:
    """The delivery's events; a body its parser refuses can never process (``Permanent``)."""
    try:
        return parse(bytes(delivery.body))
    except ParseError as exc:
        raise Permanent(str(exc)) from exc


def _handle(delivery: WebhookDelivery, parse) -> None:
    for event in parsed(delivery, parse):
        if len(event.external_id) > MAX_EXTERNAL_ID:
            raise Permanent(f"external id longer than {MAX_EXTERNAL_ID} characters: {event.external_id[:40]}...")
        if not event_first_time(event, delivery):
            continue
        try:
            if event.kind == "call":
                _call_apply(event, delivery)
            elif event.kind in ("message", "status"):
                _message_apply(event, delivery)
        except ValidationError as exc:  # the timeline refuses what we'd record: it will again next time
            raise Permanent(f"{event.idempotency_key}: {exc}") from exc


def event_first_time(event: ChannelEvent, delivery: WebhookDelivery) -> bool:
    """Count the event; False when it was counted already (by this delivery or another one)."""
    table = ProcessedEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (provider, idempotency_key, delivery_id, processed_at) VALUES (%s, %s, %s, %s)
            ON CONFLICT (provider, idempotency_key) DO NOTHING
            RETURNING id
            """,
            [event.provider, event.idempotency_key, delivery.pk, timezone.now()],
        )
        return cursor.fetchone() is not None


# --- shared --------------------------------------------------------------------------------------


def clean_text(text: str) -> str:
    """Text fit for PostgreSQL's text and jsonb (no NUL)."""
    return (text or "").replace("\x00", "")


def event_time(event: ChannelEvent, delivery: WebhookDelivery) -> datetime:
    """When the event happened: the provider's time, else when its delivery arrived (Twilio messaging)."""
    return event.occurred_at or delivery.received_at


def _history_item(event: ChannelEvent, at: datetime) -> dict:
    return {
        "status": event.status,
        "at": at.isoformat(),
        "error_code": clean_text(event.error_code),
        "error_message": clean_text(event.error_message),
    }


def _counterpart_address(direction: str, from_address: str, to_address: str) -> str:
    return to_address if direction == "outbound" else from_address


def _match(row: Message | Call, channel: str) -> tuple:
    """(subject, related) of the row's counterpart; also stores the subject on the row."""
    address = _counterpart_address(row.direction, row.from_address, row.to_address)
    subject, related = counterpart(address, channel)
    if subject is not None:
        ref = subject_of(subject)
        row.subject_type, row.subject_id = ref.type, ref.id
    return subject, related


def _fill_blanks(row: Message | Call, event: ChannelEvent) -> None:
    """Take what a later event knows and the row doesn't yet (a minimal callback carries no To)."""
    for name, value in (
        ("direction", event.direction),
        ("from_address", clean_text(event.from_address)),
        ("to_address", clean_text(event.to_address)),
    ):
        if value and not getattr(row, name):
            setattr(row, name, value[:255])


def timeline_record(
    row: Message | Call, *, kind: str, subject, related, title: str, description: str, at, payload
) -> None:
    """Put the row on its subject's timeline (once: the external id makes a second call a no-op)."""
    try:
        entry = entry_record(
            kind=kind,
            subject=subject,
            related=related,
            title=title,
            description=description,
            occurred_at=at,
            status=row.status,
            source=row.provider,
            external_id=f"{row.provider}:{row.external_id}",
            payload=payload,
        )
    except EntryDeletedError as exc:  # a user deleted it: keep it deleted, and remember it
        entry = exc.entry
    row.entry_id = entry.pk


def timeline_refresh(row: Message | Call, payload: dict) -> None:
    try:
        entry_update_by_id(entry_id=row.entry_id, data={"status": row.status, "payload": payload})
    except TransitionError:  # the entry was deleted on the timeline: it stays deleted
        log.info("entry %s of %s %s is deleted; not updated", row.entry_id, type(row).__name__, row.external_id)


def timeline_forget(entry_id: int) -> None:
    """Soft-delete an entry that duplicated another (an outbound message's early status row)."""
    entry = Entry.objects.filter(pk=entry_id, deleted_at__isnull=True).first()
    if entry is not None:
        entry_delete(entry=entry)


def _locked_or_created(model, event: ChannelEvent, defaults: dict):
    """(row locked FOR NO KEY UPDATE, created). A concurrent creator wins; we then lock its row."""
    return locked_or_created(model, {"provider": event.provider, "external_id": event.external_id}, defaults)


def locked_or_created(model, lookup: dict, defaults: dict, *, before_create=None):
    """The row ``lookup`` names, locked FOR NO KEY UPDATE, or a new one: (row, created).

    ``before_create`` runs when there is no such row yet; it may raise to create nothing."""
    row = model.objects.select_for_update(no_key=True).filter(**lookup).first()
    if row is not None:
        return row, False
    if before_create is not None:
        before_create()
    try:
        with transaction.atomic():
            return model.objects.create(**lookup, **defaults), True
    except IntegrityError:
        return model.objects.select_for_update(no_key=True).get(**lookup), False


# --- messages ------------------------------------------------------------------------------------


def message_payload(message: Message) -> dict:
    media = []
    for item in message.media:
        cleaned = {}
        url = str(item.get("url") or "")
        if url.lower().startswith(("http://", "https://")) and " " not in url:
            cleaned["url"] = url
        if item.get("id"):
            cleaned["id"] = str(item["id"])
        if item.get("content_type"):
            cleaned["mime_type"] = str(item["content_type"])
        if item.get("filename"):
            cleaned["filename"] = clean_text(str(item["filename"]))
        if cleaned:
            media.append(cleaned)
    return {
        "direction": message.direction or None,
        "from": message.from_address,
        "to": message.to_address,
        "body": message.body,
        "status": message.status,
        "message_id": message.external_id,
        "media": media,
    }


def message_title(message: Message) -> str:
    return _title(message.channel, message.direction, message.from_address, message.to_address)


def _message_record(message: Message, at: datetime) -> None:
    subject, related = _match(message, message.channel)
    if subject is None:
        return
    timeline_record(
        message,
        kind=message.channel,
        subject=subject,
        related=related,
        title=message_title(message),
        description=message.body,
        at=at,
        payload=message_payload(message),
    )


def message_defaults(event: ChannelEvent, at: datetime) -> dict:
    """The columns of a message its first event creates."""
    defaults = {
        "channel": event.channel,
        "direction": event.direction,
        "from_address": clean_text(event.from_address)[:255],
        "to_address": clean_text(event.to_address)[:255],
        "body": clean_text(event.body),
        "message_type": event.message_type[:32],
        "media": [dict(item) for item in event.media],
        "status": event.status,
        "status_history": [_history_item(event, at)],
    }
    if event.status in TIMESTAMP_OF:
        defaults[TIMESTAMP_OF[event.status]] = at
    return defaults


def message_take(message: Message, event: ChannelEvent, at: datetime) -> bool:
    """A later event of a stored message, in memory: its history, its status if it moves forward
    (returns whether it did), the times and what the message didn't know yet."""
    message.status_history = [*message.status_history, _history_item(event, at)]
    moved = parsers.advances(message.status, event.status)
    if moved:
        message.status = event.status
    stamp = TIMESTAMP_OF.get(event.status)
    if stamp and getattr(message, stamp) is None:
        setattr(message, stamp, at)
    if event.kind == "message":  # an inbound message stored first by a status (rare): its content
        message.body = message.body or clean_text(event.body)
        message.message_type = message.message_type or event.message_type[:32]
        message.media = message.media or [dict(item) for item in event.media]
    _fill_blanks(message, event)
    return moved


def _message_apply(event: ChannelEvent, delivery: WebhookDelivery) -> None:
    at = event_time(event, delivery)
    message, created = _ours(event), False
    if message is None:
        lookup = {"provider": event.provider, "external_id": event.external_id}
        message, created = locked_or_created(
            Message, lookup, message_defaults(event, at), before_create=lambda: _not_before_our_send(event)
        )
    if created:
        _message_record(message, at)
        if message.entry_id is not None:
            message.save(update_fields=["subject_type", "subject_id", "entry_id", "updated_at"])
        return
    moved = message_take(message, event, at)
    if message.entry_id is None:  # unmatched so far: the CRM or this event may know it now
        _message_record(message, at)
    elif moved:
        timeline_refresh(message, message_payload(message))
    message.save()


class SendInFlight(Later):
    """A status for an id we don't know yet while one of our sends is in flight: it may be ours."""


def _ours(event: ChannelEvent) -> Message | None:
    """The outbound message a WhatsApp status names by our key (``biz_opaque_callback_data``), locked."""
    ref = str(event.raw.get("biz_opaque_callback_data") or "") if event.kind == "status" else ""
    if not ref:
        return None
    message = Message.objects.select_for_update(no_key=True).filter(client_ref=ref, provider=event.provider).first()
    if message is not None:
        from messaging.outbound import message_settle

        message_settle(message, event.external_id)
    return message


def _not_before_our_send(event: ChannelEvent) -> None:
    """Twilio echoes no key of ours: a status that may belong to a send still in flight waits for it
    (the sender names the message by the provider's id as soon as the provider answers)."""
    from messaging.outbound import sends_in_flight

    if event.kind == "status" and sends_in_flight(event.provider):
        raise SendInFlight(f"{event.provider} {event.external_id}: one of our sends is in flight; retried next run")


# --- calls ---------------------------------------------------------------------------------------


def ranked_advances(current: str, new: str, *, rank: dict[str, int], final) -> bool:
    """Forward only: a final status stays, any final one wins over the rest, the others by rank."""
    if new == current or current in final:
        return False
    if new in final:
        return True
    if new in rank:
        return current not in rank or rank[new] > rank[current]
    return False


def call_advances(current: str, new: str) -> bool:
    """Whether a call whose status is ``current`` takes ``new``: forward only, a finished call stays."""
    return ranked_advances(current, new, rank=CALL_RANK, final=CALL_FINISHED)


def call_outcome(status: str, answered_by: str) -> str:
    """The outcome of a finished call ("" while it isn't): completed + a machine is voicemail."""
    if status == "completed":
        answered_by = (answered_by or "").lower()
        return CallOutcome.VOICEMAIL if answered_by.startswith("machine") else CallOutcome.CONNECTED
    return CALL_OUTCOME.get(status, "")


def call_payload(call: Call) -> dict:
    payload = {
        "direction": call.direction or None,
        "from": call.from_address,
        "to": call.to_address,
        "duration_seconds": call.duration_seconds,
        "outcome": call.outcome if call.outcome in ENTRY_OUTCOMES else None,
    }
    if call.recording_url.lower().startswith(("http://", "https://")):
        payload["recording_url"] = call.recording_url
    return payload


def call_title(call: Call) -> str:
    return _title("call", call.direction, call.from_address, call.to_address)


def _call_record(call: Call, at: datetime) -> None:
    subject, related = _match(call, "call")
    if subject is None:
        return
    timeline_record(
        call,
        kind="call",
        subject=subject,
        related=related,
        title=call_title(call),
        description="",
        at=at,
        payload=call_payload(call),
    )


def _call_facts(call: Call, event: ChannelEvent) -> bool:
    """Duration, answered-by and recording from the event, when it has them; True when any changed."""
    changed = False
    if event.duration_seconds is not None and event.duration_seconds != call.duration_seconds:
        call.duration_seconds = min(event.duration_seconds, 2**31 - 1)
        changed = True
    for name, value in (("answered_by", event.answered_by[:32]), ("recording_url", clean_text(event.recording_url))):
        if value and value != getattr(call, name):
            setattr(call, name, value[:1000])
            changed = True
    outcome = call_outcome(call.status, call.answered_by)
    if outcome != call.outcome:
        call.outcome = outcome
        changed = True
    return changed


def _call_apply(event: ChannelEvent, delivery: WebhookDelivery) -> None:
    at = event_time(event, delivery)
    defaults = {
        "direction": event.direction,
        "from_address": clean_text(event.from_address)[:255],
        "to_address": clean_text(event.to_address)[:255],
        "status": event.status,
        "status_history": [_history_item(event, at)],
    }
    call, created = _locked_or_created(Call, event, defaults)
    if created:
        _call_facts(call, event)
        _call_record(call, at)
        call.save()
        return
    call.status_history = [*call.status_history, _history_item(event, at)]
    moved = call_advances(call.status, event.status)
    if moved:
        call.status = event.status
    changed = _call_facts(call, event) or moved
    _fill_blanks(call, event)
    if call.entry_id is None:  # unmatched so far: the CRM or this event may know it now
        _call_record(call, at)
    elif changed:
        timeline_refresh(call, call_payload(call))
    call.save()
