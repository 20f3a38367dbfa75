"""The set-based path for a batch of SMS and WhatsApp deliveries: the same outcome as
``handlers``, in a handful of statements for the whole batch instead of a dozen per event.

For one claimed batch of one endpoint, in the batch's transaction (``processing``):

1. Parse every delivery. One the parser refuses is left to the per-delivery path, which keeps its
   error (``processing.Permanent``).
2. Count each event once: one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` of all the batch's
   idempotency keys; an event already counted (or repeated in the batch) is skipped.
3. Lock the stored messages the events name, in id order (``FOR NO KEY UPDATE``), and apply the
   events to them in delivery order in memory, with the handlers' own rules
   (``handlers.message_defaults`` and ``message_take``: status forward only, full history).
4. Write: one INSERT for the new messages, one UPDATE per stored message that changed; timeline
   entries for the newly matched ones through ``entry_import`` (set-based), then their entry ids
   in one more statement; status moves of messages already on the timeline through
   ``entry_update`` as before.

Lock order (ADR 0030) is the handlers': message rows, then their entries. What this path does not
cover it hands back whole, and the per-delivery path handles it: an event that isn't a message or
a status, a WhatsApp status naming one of our sends (``biz_opaque_callback_data``), a status while
one of our sends to that provider is in flight (``handlers.SendInFlight``), and a concurrent
worker creating one of the batch's messages first (the INSERT's conflict). The caller runs this
in a savepoint, so handing back undoes everything it did.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from messaging import handlers, parsers
from messaging.matching import counterpart, counterparts_prefetch
from messaging.models import Message, ProcessedEvent, WebhookDelivery
from messaging.outbound import sends_in_flight
from messaging.parsers import ParseError
from timeline.models import Entry
from timeline.services import entry_import
from traf3li.core.subjects import subject_of

log = logging.getLogger(__name__)
PARSERS = {"twilio_sms": parsers.parse_twilio_sms, "whatsapp": parsers.parse_whatsapp}


class HandBack(Exception):  # noqa: N818 - an outcome: the per-delivery path takes the batch
    pass


def messages_batch(deliveries: list[WebhookDelivery]) -> set[int]:
    """Process a batch of one message endpoint; returns the ids it handled (the rest: per delivery).

    Raises :class:`HandBack` when the batch needs the per-delivery path as a whole."""
    parsed, handled = [], set()
    for delivery in deliveries:
        try:
            events = PARSERS[delivery.endpoint](bytes(delivery.body))
        except ParseError:
            continue  # the per-delivery path records why
        if any(len(event.external_id) > handlers.MAX_EXTERNAL_ID for event in events):
            continue
        parsed.append((delivery, events))
        handled.add(delivery.pk)
    events = [(delivery, event) for delivery, events in parsed for event in events]
    _hand_back_what_is_not_ours_to_do(events)
    fresh = _count_once(events)
    by_message: dict[tuple[str, str], list] = defaultdict(list)
    for delivery, event in fresh:
        by_message[(event.provider, event.external_id)].append((event, handlers.event_time(event, delivery)))
    if by_message:
        _apply(by_message)
    return handled


def _hand_back_what_is_not_ours_to_do(events) -> None:
    statuses = set()
    for _, event in events:
        if event.kind not in ("message", "status"):
            raise HandBack(f"a {event.kind} event")
        if event.kind == "status":
            if event.raw.get("biz_opaque_callback_data"):
                raise HandBack("a status of one of our sends")
            statuses.add(event.provider)
    for provider in statuses:
        if sends_in_flight(provider):
            raise HandBack(f"one of our {provider} sends is in flight")


def _count_once(events) -> list:
    """The events counted for the first time, in order: one INSERT for the batch's keys."""
    if not events:
        return []
    table = ProcessedEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (provider, idempotency_key, delivery_id, processed_at)
            SELECT provider, key, delivery, %s
              FROM unnest(%s::text[], %s::text[], %s::bigint[]) AS e(provider, key, delivery)
            ON CONFLICT (provider, idempotency_key) DO NOTHING
            RETURNING provider, idempotency_key, delivery_id
            """,
            [
                timezone.now(),
                [event.provider for _, event in events],
                [event.idempotency_key for _, event in events],
                [delivery.pk for delivery, _ in events],
            ],
        )
        counted = {(provider, key): delivery for provider, key, delivery in cursor.fetchall()}
    fresh = []
    for delivery, event in events:
        key = (event.provider, event.idempotency_key)
        if counted.get(key) == delivery.pk:
            fresh.append((delivery, event))
            del counted[key]  # a key repeated in the same delivery counts once
    return fresh


def _stored(keys) -> dict[tuple[str, str], Message]:
    by_provider = defaultdict(list)
    for provider, external_id in keys:
        by_provider[provider].append(external_id)
    query = Q(pk__in=[])
    for provider, ids in by_provider.items():
        query |= Q(provider=provider, external_id__in=ids)
    rows = Message.objects.select_for_update(no_key=True).filter(query).order_by("pk")
    return {(row.provider, row.external_id): row for row in rows}


def _apply(by_message: dict) -> None:
    stored = _stored(by_message)
    created, changed, to_record, to_refresh = [], [], [], []
    for key, items in by_message.items():
        message, moved = stored.get(key), False
        first = 0
        if message is None:
            event, at = items[0]
            message = Message(
                provider=event.provider, external_id=event.external_id, **handlers.message_defaults(event, at)
            )
            created.append(message)
            first = 1
        for event, at in items[first:]:
            moved = handlers.message_take(message, event, at) or moved
        if message.pk is not None:
            changed.append(message)
        if message.entry_id is None:
            to_record.append((message, items[0][1] if first else items[-1][1]))
        elif moved:
            to_refresh.append(message)
    _match(to_record)
    now = timezone.now()
    for message in created:
        message.created_at = message.updated_at = now
    try:
        with transaction.atomic():
            Message.objects.bulk_create(created)
    except IntegrityError as exc:  # a concurrent worker created one of them first
        raise HandBack("a message was created concurrently") from exc
    for message in changed:
        message.updated_at = now
        message.save()
    _record(to_record)
    for message in to_refresh:
        handlers.timeline_refresh(message, handlers.message_payload(message))


def _match(to_record: list) -> None:
    """The counterpart of each message to record, kept on it with its related records."""
    counterparts_prefetch((_address(message), message.channel) for message, _ in to_record)
    for message, _ in to_record:
        subject, related = counterpart(_address(message), message.channel)
        message._counterpart = (subject, related)
        if subject is not None:
            ref = subject_of(subject)
            message.subject_type, message.subject_id = ref.type, ref.id


def _address(message: Message) -> str:
    return message.to_address if message.direction == "outbound" else message.from_address


def _record(to_record: list) -> None:
    """Entries for the newly matched messages: one ``entry_import``, then their ids in one UPDATE."""
    matched = [(message, at) for message, at in to_record if message._counterpart[0] is not None]
    if not matched:
        return
    items = (
        {
            "kind": message.channel,
            "subject": message._counterpart[0],
            "related": message._counterpart[1],
            "title": handlers.message_title(message),
            "description": message.body,
            "occurred_at": at,
            "status": message.status,
            "source": message.provider,
            "external_id": f"{message.provider}:{message.external_id}",
            "payload": handlers.message_payload(message),
        }
        for message, at in matched
    )
    entry_import(items=items)
    wanted = {(m.provider, f"{m.provider}:{m.external_id}"): m for m, _ in matched}
    query = Q(pk__in=[])
    for source in {source for source, _ in wanted}:
        query |= Q(source=source, external_id__in=[external for s, external in wanted if s == source])
    for entry_id, source, external_id in Entry.objects.filter(query).values_list("pk", "source", "external_id"):
        wanted[(source, external_id)].entry_id = entry_id
    table = Message._meta.db_table
    with connection.cursor() as cursor:  # one statement (Django's bulk_update builds a CASE per row and column)
        cursor.execute(
            f"""
            UPDATE {table} AS m SET subject_type = v.subject_type, subject_id = v.subject_id, entry_id = v.entry_id
              FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::bigint[])
                   AS v(id, subject_type, subject_id, entry_id)
             WHERE m.id = v.id
            """,
            [
                [m.pk for m, _ in matched],
                [m.subject_type for m, _ in matched],
                [m.subject_id for m, _ in matched],
                [m.entry_id for m, _ in matched],
            ],
        )
