"""Reads of the messaging app: channel accounts, the triage inbox, WhatsApp and SMS messages.

The counterpart of a message or call is the other side: the recipient of an outbound one, the
sender of anything else (``handlers._counterpart_address``); :func:`counterpart_expression` is
the same rule in SQL. A row is unmatched while it has no subject (``subject_id IS NULL``).
"""

from collections.abc import Iterable

from django.db.models import Case, CharField, Count, F, IntegerField, Max, QuerySet, Value, When
from django.db.models.functions import Cast, Left

from messaging.models import Call, ChannelAccount, EmailMessage, Message
from traf3li.api.pagination import keyset_filter
from traf3li.core.subjects import SubjectRef, subject_dict, subjects_load

PREVIEW_LENGTH = 140  # characters of a message's body in the inbox and the conversations


def channel_account_list():
    return ChannelAccount.objects.all()


def counterpart_expression() -> Case:
    """The counterpart's address in SQL: ``to_address`` when outbound, else ``from_address``."""
    return Case(When(direction="outbound", then=F("to_address")), default=F("from_address"), output_field=CharField())


# --- the triage inbox ------------------------------------------------------------------------------

# One list of messages, calls and emails: its key is (created_at, 4 * id + kind) so that rows of
# different kinds with the same id never tie (a keyset cursor holds one integer).
KIND_BIT = {"message": 0, "call": 1, "email": 2}
KINDS = len(KIND_BIT) + 1


def _unmatched_part(model, kind: str, channels: Iterable[str] | None) -> QuerySet:
    queryset = model.objects.filter(subject_id__isnull=True)
    direction, address = F("direction"), counterpart_expression()
    if model is Message:
        if channels is not None:
            queryset = queryset.filter(channel__in=list(channels))
        channel, preview, duration = F("channel"), Left("body", PREVIEW_LENGTH), Value(None, IntegerField())
    elif model is Call:
        channel, preview = Value("call", CharField()), Cast("duration_seconds", CharField())
        duration = F("duration_seconds")
    else:  # an email the firm sent: its recipient is the counterpart
        channel, preview, duration = Value("email", CharField()), Value("", CharField()), Value(None, IntegerField())
        direction, address = Value("outbound", CharField()), F("recipient")
    # Every column an annotation, in the same order in both parts (a UNION matches them by position).
    return queryset.values(
        type=Value(kind, CharField()),
        item_id=F("id"),
        key=F("id") * KINDS + KIND_BIT[kind],
        item_channel=channel,
        item_direction=direction,
        address=address,
        preview=preview,
        item_duration=duration,
        item_status=F("status"),
        at=F("created_at"),
    )


def unmatched_page(*, channels: Iterable[str] | None, after: tuple | None, reverse: bool, limit: int) -> list[dict]:
    """One page of unmatched messages, calls and emails, newest first (oldest first when ``reverse``): one query.

    ``channels`` narrows it (``sms``, ``whatsapp``, ``call``, ``email``); ``after`` is the cursor's
    (created_at, key). Each part is ordered and limited on its own, then the UNION once more.
    """
    wanted = set(channels) if channels else {"sms", "whatsapp", "call", "email"}
    order = ("at", "key") if reverse else ("-at", "-key")
    parts = []
    if wanted & {"sms", "whatsapp"}:
        message_channels = None if {"sms", "whatsapp"} <= wanted else wanted & {"sms", "whatsapp"}
        parts.append(_unmatched_part(Message, "message", message_channels))
    if "call" in wanted:
        parts.append(_unmatched_part(Call, "call", None))
    if "email" in wanted:
        parts.append(_unmatched_part(EmailMessage, "email", None))
    if after is not None:
        parts = [part.filter(keyset_filter("created_at", "key", after, descending=not reverse)) for part in parts]
    parts = [part.order_by(*order)[:limit] for part in parts]
    rows = list(parts[0].union(*parts[1:], all=True).order_by(*order)[:limit]) if len(parts) > 1 else list(parts[0])
    return [
        {
            "type": row["type"],
            "id": row["item_id"],
            "key": row["key"],
            "channel": row["item_channel"],
            "direction": row["item_direction"],
            "address": row["address"],
            "preview": row["preview"] or "",
            "duration_seconds": row["item_duration"],
            "status": row["item_status"],
            "at": row["at"],
        }
        for row in rows
    ]


# --- messages and conversations ---------------------------------------------------------------------


def message_list(channel: str) -> QuerySet:
    return Message.objects.filter(channel=channel).annotate(address=counterpart_expression())


def message_filter_address(queryset: QuerySet, address: str) -> QuerySet:
    return queryset.filter(address=address)


def message_filter_subject(queryset: QuerySet, ref: SubjectRef) -> QuerySet:
    return queryset.filter(subject_type=ref.type, subject_id=ref.id)


def conversation_list(channel: str) -> QuerySet:
    """Messages grouped by counterpart address: ``address``, ``last_message_at``, ``last_id``, ``messages``."""
    return (
        Message.objects.filter(channel=channel)
        .annotate(address=counterpart_expression())
        .values("address")
        .annotate(last_message_at=Max("created_at"), last_id=Max("id"), messages=Count("id"))
        .order_by()
    )


def conversation_page(queryset: QuerySet, *, after: tuple | None, reverse: bool, limit: int) -> list[dict]:
    """One page of conversations, newest first, with their last message's preview and subject: two
    queries, plus one per subject type on the page (``subjects_resolve``)."""
    if after is not None:
        queryset = queryset.filter(keyset_filter("last_message_at", "last_id", after, descending=not reverse))
    order = ("last_message_at", "last_id") if reverse else ("-last_message_at", "-last_id")
    rows = list(queryset.order_by(*order)[:limit])
    last = {
        row["id"]: row
        for row in Message.objects.filter(pk__in=[row["last_id"] for row in rows]).values(
            "id", "body", "subject_type", "subject_id"
        )
    }
    refs = [(m["subject_type"], m["subject_id"]) for m in last.values() if m["subject_id"] is not None]
    subjects = subjects_resolve(refs)
    page = []
    for row in rows:
        message = last.get(row["last_id"], {})
        ref = (message.get("subject_type"), message.get("subject_id"))
        page.append(
            {
                "address": row["address"],
                "subject": subjects.get(ref),
                "last_message_at": row["last_message_at"],
                "last_id": row["last_id"],
                "messages": row["messages"],
                "last_preview": (message.get("body") or "")[:PREVIEW_LENGTH],
            }
        )
    return page


def subjects_resolve(refs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], dict]:
    """``{(type, id): {"type", "id", "name"}}`` for the records behind ``refs``: one query per type."""
    return {ref: subject_dict(instance) for ref, instance in subjects_load(refs).items()}


# Minutes from a client's message to the firm's first reply, on WhatsApp. A wait starts with an
# inbound message that follows an outbound one (or opens the conversation); later inbound messages
# before the reply belong to the same wait. A wait with no reply yet is not counted. Times are when
# the product recorded each message (``created_at``), seconds after the provider's.
_RESPONSE_TIME_SQL = """
WITH m AS (
    SELECT CASE WHEN direction = 'outbound' THEN to_address ELSE from_address END AS address,
           direction, created_at,
           lag(direction) OVER (PARTITION BY CASE WHEN direction = 'outbound' THEN to_address
                                                  ELSE from_address END
                                ORDER BY created_at, id) AS previous
      FROM {table}
     WHERE channel = 'whatsapp' AND direction IN ('inbound', 'outbound')
),
waits AS (
    SELECT w.address, w.created_at AS asked,
           (SELECT min(o.created_at) FROM m o
             WHERE o.address = w.address AND o.direction = 'outbound' AND o.created_at > w.created_at) AS answered
      FROM m w
     WHERE w.direction = 'inbound' AND w.previous IS DISTINCT FROM 'inbound'
),
answered AS (
    SELECT address, extract(epoch FROM answered - asked) / 60 AS minutes FROM waits WHERE answered IS NOT NULL
)
SELECT address, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes), NULL
  FROM answered GROUP BY address
UNION ALL
SELECT NULL, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes), NULL FROM answered
"""


def whatsapp_response_times() -> dict:
    """The firm's median minutes to a first reply, and each conversation's (one query)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_RESPONSE_TIME_SQL.format(table=Message._meta.db_table))
        rows = cursor.fetchall()
    firm = next(row for row in rows if row[0] is None)
    conversations = sorted((row for row in rows if row[0] is not None), key=lambda row: row[0])
    return {
        "median_minutes": round(firm[2], 1) if firm[2] is not None else None,
        "replies": firm[1],
        "conversations": [
            {"address": address, "replies": count, "median_minutes": round(median, 1)}
            for address, count, median, _ in conversations
        ],
    }
