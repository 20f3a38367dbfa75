"""Email events from stored deliveries (SendGrid, Mailgun): each once, grouped by email, on the timeline.

The handlers follow ``messaging.handlers`` (read its docstring): a delivery runs in a savepoint
of its batch; each event is counted once through ``ProcessedEvent``; a body the parser refuses,
or an entry the timeline refuses, is ``processing.Permanent``.

Grouping.
    The events of one email share its ``EmailMessage``, keyed by provider and message id:
    SendGrid's ``X-Message-Id`` (``email["x_message_id"]``, the part of ``sg_message_id`` before
    ``.filter``/``.recvd``, the same for every event of the email) when it has one, else the
    whole ``sg_message_id``; Mailgun's Message-Id. An event with no message id at all (Mailgun's
    trimmed test payloads) names no email: it is counted as processed and otherwise skipped.
Counters.
    ``opens``/``clicks`` count events; ``first_opened_at``/``first_clicked_at``, ``sent_at``
    (processed) and ``delivered_at`` keep the earliest time, whatever order events arrive in.
    A machine open (Apple Mail Privacy Protection's prefetch, ``email["machine_open"]``) is kept
    as an event but is never an open. ``unsubscribed`` is set by unsubscribe and
    group_unsubscribe and cleared by group_resubscribe; ``complained`` by spamreport;
    ``bounced`` by bounce and dropped.
Status.
    ``processed < delivered``; ``bounce`` and ``dropped`` are terminal: they replace either, and
    nothing replaces them (a bounce can come after the receiving server said 250).
Timeline.
    The recipient is matched by ``messaging.matching.counterpart``; a match gets one ``email``
    entry per email, recorded at the first event that finds it (external id
    ``"<provider>:<message id>"``), and updated (status, opened, opened_at, clicked,
    clicked_links) only when one of those changes.
Campaigns.
    ``email["campaign"]`` (SendGrid Marketing Campaigns' name or id) is created on first sight,
    per provider; an email takes the campaign of the first event that names one.

The reports (``campaign_engagement``, ``campaign_devices``) are one query each.
"""

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.db.models.functions import Trunc
from django.utils.translation import gettext_lazy as _

from messaging import parsers
from messaging.choices import EmailEventType, EmailStatus
from messaging.handlers import (
    clean_text,
    event_first_time,
    event_time,
    locked_or_created,
    parsed,
    ranked_advances,
    timeline_record,
    timeline_refresh,
)
from messaging.matching import counterpart
from messaging.models import EmailCampaign, EmailEvent, EmailMessage, WebhookDelivery
from messaging.parsers import ChannelEvent
from messaging.processing import Permanent
from traf3li.core.i18n import in_firm_language
from traf3li.core.subjects import subject_of

log = logging.getLogger(__name__)

MAX_ID = 255
MAX_LINKS = 50
STATUS_RANK = {EmailStatus.PROCESSED: 0, EmailStatus.DELIVERED: 1}
TERMINAL = frozenset({EmailStatus.BOUNCE, EmailStatus.DROPPED})
TITLE = _("Email to {address}")


# --- endpoints -----------------------------------------------------------------------------------


def sendgrid(delivery: WebhookDelivery) -> None:
    _handle(delivery, parsers.parse_sendgrid)


def mailgun(delivery: WebhookDelivery) -> None:
    _handle(delivery, parsers.parse_mailgun)


HANDLERS = {"sendgrid": sendgrid, "mailgun": mailgun}


def message_key(event: ChannelEvent) -> str:
    """The id that groups an email's events (module docstring); "" when the event names no email."""
    if event.provider == "sendgrid":
        return (event.email.get("x_message_id") or event.external_id or "").strip()
    return (event.external_id or "").strip()


def _handle(delivery: WebhookDelivery, parse) -> None:
    for event in parsed(delivery, parse):
        key = message_key(event)
        if len(key) > MAX_ID or len(event.idempotency_key) > MAX_ID:
            raise Permanent(f"message id or event key longer than {MAX_ID} characters: {key[:40]}...")
        if not event_first_time(event, delivery):
            continue
        if not key:
            log.info("%s event %s names no message; not recorded", event.provider, event.idempotency_key)
            continue
        try:
            _apply(event, delivery, key)
        except ValidationError as exc:  # the timeline refuses what we'd record: it will again next time
            raise Permanent(f"{event.idempotency_key}: {exc}") from exc


# --- recording -----------------------------------------------------------------------------------


def status_advances(current: str, new: str) -> bool:
    """Whether an email whose status is ``current`` takes ``new`` (module docstring)."""
    return ranked_advances(current, new, rank=STATUS_RANK, final=TERMINAL)


def _campaign(event: ChannelEvent) -> EmailCampaign | None:
    name = clean_text(str(event.email.get("campaign") or "")).strip()[:255]
    if not name:
        return None
    lookup = {"provider": event.provider, "external_id": name}
    campaign = EmailCampaign.objects.filter(**lookup).first()
    if campaign is not None:
        return campaign
    try:
        with transaction.atomic():
            return EmailCampaign.objects.create(**lookup, name=name)
    except IntegrityError:  # a concurrent worker created it
        return EmailCampaign.objects.get(**lookup)


def _locked_or_created(provider: str, key: str, defaults: dict) -> tuple[EmailMessage, bool]:
    return locked_or_created(EmailMessage, {"provider": provider, "message_id": key}, defaults)


def _earliest(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or at < current else current


def _count(message: EmailMessage, event: ChannelEvent, at: datetime) -> None:
    """The event's effect on the email's status, times and counters."""
    name = event.status
    if status_advances(message.status, name):
        message.status = name
    if name == EmailEventType.PROCESSED:
        message.sent_at = _earliest(message.sent_at, at)
    elif name == EmailEventType.DELIVERED:
        message.delivered_at = _earliest(message.delivered_at, at)
    elif name in (EmailEventType.BOUNCE, EmailEventType.DROPPED):
        message.bounced = True
        message.bounce_type = message.bounce_type or str(event.email.get("bounce_type") or name)[:32]
    elif name == EmailEventType.OPEN and not event.email.get("machine_open"):
        message.opens += 1
        message.first_opened_at = _earliest(message.first_opened_at, at)
    elif name == EmailEventType.CLICK:
        message.clicks += 1
        message.first_clicked_at = _earliest(message.first_clicked_at, at)
    elif name in (EmailEventType.UNSUBSCRIBE, EmailEventType.GROUP_UNSUBSCRIBE):
        message.unsubscribed = True
    elif name == EmailEventType.GROUP_RESUBSCRIBE:
        message.unsubscribed = False
    elif name == EmailEventType.SPAMREPORT:
        message.complained = True


def _entry_state(message: EmailMessage) -> tuple:
    """What the entry shows, but the links (they change only with a click)."""
    return (message.status, message.first_opened_at, message.first_clicked_at)


def _links(message: EmailMessage) -> list[str]:
    urls = EmailEvent.objects.filter(message=message, event=EmailEventType.CLICK).exclude(url="")
    seen: list[str] = []
    for url in urls.order_by("occurred_at", "id").values_list("url", flat=True):
        if url not in seen:
            seen.append(url)
            if len(seen) == MAX_LINKS:
                break
    return seen


def _payload(message: EmailMessage) -> dict:
    return {
        "message_id": message.message_id,
        "to": [message.recipient] if message.recipient else [],
        "opened": message.first_opened_at is not None,
        "opened_at": message.first_opened_at.isoformat() if message.first_opened_at else None,
        "clicked": message.first_clicked_at is not None,
        "clicked_links": _links(message),
    }


def _title(message: EmailMessage) -> str:
    with in_firm_language():
        return str(TITLE).format(address=message.recipient or "?")


def _entry_record(message: EmailMessage, at: datetime) -> None:
    subject, related = counterpart(message.recipient, "email")
    if subject is not None:
        email_link(message, subject, related=related, at=at)


def email_link(message: EmailMessage, subject, *, related=(), at: datetime) -> None:
    """Give the email its subject and its entry on that subject's timeline (the matcher, or triage)."""
    ref = subject_of(subject)
    message.subject_type, message.subject_id = ref.type, ref.id
    timeline_record(
        message,
        kind="email",
        subject=subject,
        related=list(related),
        title=_title(message),
        description="",
        at=at,
        payload=_payload(message),
    )


def _apply(event: ChannelEvent, delivery: WebhookDelivery, key: str) -> None:
    at = event_time(event, delivery)
    recipient = clean_text(event.to_address).strip().lower()[:254]
    campaign = _campaign(event)
    message, created = _locked_or_created(event.provider, key, {"recipient": recipient, "campaign": campaign})
    before = None if created else _entry_state(message)
    if not message.recipient and recipient:
        message.recipient = recipient
    if message.campaign_id is None and campaign is not None:
        message.campaign = campaign
    url = clean_text(str(event.email.get("url") or ""))[:2000]
    new_link = (
        event.status == EmailEventType.CLICK
        and bool(url)
        and not EmailEvent.objects.filter(message=message, event=EmailEventType.CLICK, url=url).exists()
    )
    EmailEvent.objects.create(
        provider=event.provider,
        idempotency_key=event.idempotency_key,
        message=message,
        event=event.status,
        occurred_at=at,
        device=str(event.email.get("device") or "")[:16],
        machine_open=bool(event.email.get("machine_open")),
        url=url,
        ip=clean_text(str(event.email.get("ip") or ""))[:64],
        user_agent=clean_text(str(event.email.get("user_agent") or ""))[:1000],
        bounce_type=clean_text(str(event.email.get("bounce_type") or ""))[:32],
        reason=clean_text(str(event.email.get("reason") or event.error_message or "")),
    )
    _count(message, event, at)
    if message.entry_id is None:  # first event, or unmatched so far: the CRM may know it now
        _entry_record(message, at)
    elif new_link or _entry_state(message) != before:
        timeline_refresh(message, _payload(message))
    message.save()


# --- reports -------------------------------------------------------------------------------------

INTERVALS = ("hour", "day", "week")
# The engagement report's columns: the events each counts (distinct emails).
FUNNEL = {
    "sent": Q(event=EmailEventType.PROCESSED),
    "delivered": Q(event=EmailEventType.DELIVERED),
    "opened": Q(event=EmailEventType.OPEN, machine_open=False),
    "clicked": Q(event=EmailEventType.CLICK),
    "bounced": Q(event__in=[EmailEventType.BOUNCE, EmailEventType.DROPPED]),
    "unsubscribed": Q(event__in=[EmailEventType.UNSUBSCRIBE, EmailEventType.GROUP_UNSUBSCRIBE]),
    "complained": Q(event=EmailEventType.SPAMREPORT),
}


def campaign_engagement(campaign: EmailCampaign, interval: str, tz: ZoneInfo) -> list[dict]:
    """Per ``interval`` bucket in ``tz`` (its local start, aware): how many emails had each event.

    One query: ``date_trunc(interval, occurred_at AT TIME ZONE tz)``, distinct emails per column.
    """
    if interval not in INTERVALS:
        raise ValueError(interval)
    rows = (
        EmailEvent.objects.filter(message__campaign=campaign)
        .annotate(bucket=Trunc("occurred_at", interval, tzinfo=tz))
        .values("bucket")
        .annotate(**{name: Count("message", distinct=True, filter=where) for name, where in FUNNEL.items()})
        .order_by("bucket")
    )
    return [{**row, "bucket": row["bucket"].astimezone(tz)} for row in rows]


def campaign_devices(campaign: EmailCampaign) -> list[dict]:
    """Opens (machine opens left out) and clicks by device type ("" is "unknown"), most first."""
    rows = (
        EmailEvent.objects.filter(message__campaign=campaign, event__in=[EmailEventType.OPEN, EmailEventType.CLICK])
        .values("device")
        .annotate(
            opens=Count("id", filter=Q(event=EmailEventType.OPEN, machine_open=False)),
            clicks=Count("id", filter=Q(event=EmailEventType.CLICK)),
        )
    )
    found: dict[str, dict] = {}
    for row in rows:  # Mailgun says "unknown" where SendGrid's user agent says nothing: one row
        device = row["device"] or "unknown"
        total = found.setdefault(device, {"device": device, "opens": 0, "clicks": 0})
        total["opens"] += row["opens"]
        total["clicks"] += row["clicks"]
    kept = [row for row in found.values() if row["opens"] or row["clicks"]]
    return sorted(kept, key=lambda row: (-(row["opens"] + row["clicks"]), row["device"]))
