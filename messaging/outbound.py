"""Sending WhatsApp and SMS messages: queued in the request, sent by a task, never twice (ADR 0033).

1. ``message_queue`` (the API's POST) stores the message as ``queued`` with ``send_state``
   pending and an idempotency key (``client_ref``: the request's ``Idempotency-Key`` header, else
   a new UUID), records it on the counterpart's timeline and audits it, all in one transaction; a
   POST repeated with the same key returns the first message. The send task is queued after the
   commit; with Redis down the sweeper sends it.
2. ``message_send`` claims the message in a short transaction of its own (pending → sending,
   ``FOR NO KEY UPDATE SKIP LOCKED``: one sender per message, however many tasks run), commits,
   calls the provider's HTTP API with no lock held (``messaging.adapters``), then records the
   outcome in a second short transaction:
   - accepted: the provider's id becomes the message's ``external_id`` (status callbacks find it
     by that id), ``send_state`` sent;
   - retry: back to pending with ``next_attempt_at`` backed off exponentially (with jitter, and
     the provider's Retry-After when longer); after ``MESSAGING_SEND_MAX_ATTEMPTS`` it fails;
   - refused: status ``failed`` with the provider's error code and message in the history;
   - uncertain (no answer to a request that may have arrived): ``send_state`` uncertain and no
     automatic resend, since that could send twice. A WhatsApp status webhook carrying our key
     (``biz_opaque_callback_data``) later settles it (``message_settle``); staff can resend it
     from the admin after checking.
3. A worker that dies between the claim and the outcome leaves the message ``sending``; the
   sweeper turns one that has been sending for longer than ``MESSAGING_SENDING_STALE_SECONDS``
   into uncertain, for the same reason.

Lock order (ADR 0030): the message row alone, in each of the two short transactions; the
timeline entry after it. No lock is held during the HTTP call.
"""

from __future__ import annotations

import logging
import random
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.services import audit_record, snapshot
from messaging import adapters, handlers
from messaging.choices import Channel, Direction, SendState
from messaging.matching import counterpart
from messaging.models import ChannelAccount, Message
from traf3li.api.exceptions import TransitionError
from traf3li.core.normalize import normalize_phone
from traf3li.core.subjects import subject_of

log = logging.getLogger(__name__)

PROVIDER_OF = {Channel.WHATSAPP: "whatsapp", Channel.SMS: "twilio"}
MAX_BODY = {Channel.WHATSAPP: 4096, Channel.SMS: 1600}  # Meta's text body limit; Twilio's 1,600 characters
REF_PREFIX = "out:"
CLIENT_REF = re.compile(r"[A-Za-z0-9_-]{1,64}")  # the external id of a message the provider has not named yet

ERROR_NO_ACCOUNT = _("This firm has no active {provider} account to send from.")
ERROR_BAD_NUMBER = _("'{value}' is not a phone number.")
ERROR_BODY_REQUIRED = _("Write the message, or choose a template.")
ERROR_BODY_TOO_LONG = _("A message has at most {limit} characters.")
ERROR_TEMPLATE_SMS = _("Templates are WhatsApp's: an SMS has a body only.")
ERROR_KEY_REUSED = _("This Idempotency-Key was already used for a different message.")
ERROR_RESEND_STATE = _("Only a message whose outcome is unknown or that failed to send can be sent again.")


@dataclass(frozen=True)
class Queued:
    message: Message
    created: bool


def _account(provider: str) -> ChannelAccount:
    account = ChannelAccount.objects.filter(provider=provider, is_active=True).order_by("id").first()
    if account is None:
        label = dict(ChannelAccount._meta.get_field("provider").choices)[provider]
        raise ValidationError({"channel": [str(ERROR_NO_ACCOUNT.format(provider=label))]})
    return account


def _validated(channel: str, to: str, body: str, template: dict | None) -> tuple[str, str]:
    errors = {}
    try:
        number = normalize_phone(to)
    except ValidationError as exc:
        errors["to"] = exc.messages
    else:
        if not number:
            errors["to"] = [str(ERROR_BAD_NUMBER.format(value=to))]
    body = handlers.clean_text(body).strip()
    if template and channel == Channel.SMS:
        errors["template"] = [str(ERROR_TEMPLATE_SMS)]
    elif not body and not template:
        errors["body"] = [str(ERROR_BODY_REQUIRED)]
    elif len(body) > MAX_BODY[channel]:
        errors["body"] = [str(ERROR_BODY_TOO_LONG.format(limit=MAX_BODY[channel]))]
    if errors:
        raise ValidationError(errors)
    return number, body


def _history(status: str, *, error_code: str = "", error_message: str = "") -> dict:
    at = timezone.now().isoformat()
    return {"status": status, "at": at, "error_code": error_code, "error_message": error_message[:1000]}


def message_queue(
    *,
    channel: str,
    to: str,
    body: str = "",
    template: dict | None = None,
    subject=None,
    client_ref: str = "",
    actor=None,
) -> Queued:
    """Store an outbound message as queued and owe its sending; a repeated ``client_ref`` returns the first."""
    client_ref = client_ref or uuid.uuid4().hex
    existing = Message.objects.filter(client_ref=client_ref).first()
    number, body = _validated(channel, to, body, template)
    if existing is not None:
        # The same key for another message is the client's mistake, not a retry: say so, send nothing.
        if (existing.channel, existing.to_address, existing.body, existing.template) != (
            channel,
            number,
            body,
            template,
        ):
            raise TransitionError(str(ERROR_KEY_REUSED))
        return Queued(existing, False)
    account = _account(PROVIDER_OF[channel])
    sender = account.phone_number_id if channel == Channel.WHATSAPP else account.from_number
    try:
        with transaction.atomic():
            message = Message.objects.create(
                provider=account.provider,
                channel=channel,
                direction=Direction.OUTBOUND,
                external_id=f"{REF_PREFIX}{client_ref}",
                from_address=sender,
                to_address=number,
                body=body,
                message_type="template" if template else "text",
                status="queued",
                status_history=[_history("queued")],
                client_ref=client_ref,
                send_state=SendState.PENDING,
                next_attempt_at=timezone.now(),
                account=account,
                sent_by=actor if getattr(actor, "pk", None) else None,
                template=template,
            )
            _record(message, subject)
            audit_record(action="create", instance=message, after=snapshot(message), actor=actor)
            transaction.on_commit(lambda: _enqueue(message.pk))
    except IntegrityError:  # the same key, posted twice at once: the other request stored it
        return Queued(Message.objects.get(client_ref=client_ref), False)
    return Queued(message, True)


def _record(message: Message, subject) -> None:
    """The timeline entry: on the subject the caller named, else on the recipient's record."""
    related = []
    if subject is None:
        subject, related = counterpart(message.to_address, message.channel)
    if subject is None:
        return
    ref = subject_of(subject)
    message.subject_type, message.subject_id = ref.type, ref.id
    handlers.timeline_record(
        message,
        kind=message.channel,
        subject=subject,
        related=related,
        title=handlers.message_title(message),
        description=message.body,
        at=message.created_at,
        payload=handlers.message_payload(message),
    )
    message.save(update_fields=["subject_type", "subject_id", "entry_id", "updated_at"])


def _enqueue(message_id: int, countdown: float = 0) -> None:
    from messaging.tasks import message_send_task

    try:
        message_send_task.apply_async((message_id,), countdown=countdown)
    except Exception:  # noqa: BLE001 - Redis down: the message is stored; the sweeper sends it
        log.warning("could not queue the sending of message %s; the sweeper will", message_id, exc_info=True)


def backoff_seconds(attempt: int, retry_after: float | None = None) -> float:
    """Exponential from ``MESSAGING_SEND_BACKOFF`` seconds, capped, ±20 % jitter; never below Retry-After."""
    base, cap = settings.MESSAGING_SEND_BACKOFF
    delay = min(cap, base * 2 ** max(attempt - 1, 0)) * random.uniform(0.8, 1.2)
    return max(delay, retry_after or 0)


def _locked(message_id: int) -> Message:
    return Message.objects.select_for_update(no_key=True).get(pk=message_id)


def _status_callback() -> str:
    """Where Twilio sends this message's status callbacks: the firm's own host."""
    from traf3li.firms.models import Domain

    domain = Domain.objects.filter(tenant__schema_name=connection.schema_name, is_primary=True).first()
    return f"{settings.PUBLIC_URL_SCHEME}://{domain.domain}/hooks/twilio/sms/" if domain else ""


def _claim(message_id: int) -> Message | None:
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
            .select_related("account")
            .filter(pk=message_id, send_state=SendState.PENDING, next_attempt_at__lte=timezone.now())
            .first()
        )
        if message is None:
            return None
        message.send_state = SendState.SENDING
        message.send_attempts += 1
        message.send_started_at = timezone.now()
        message.save(update_fields=["send_state", "send_attempts", "send_started_at", "updated_at"])
    return message


def message_send(message_id: int) -> str:
    """Send one pending message if it is due; returns what happened (for the task's result and tests)."""
    message = _claim(message_id)
    if message is None:
        return "not due"
    outgoing = adapters.Outgoing(
        ref=message.client_ref,
        to=message.to_address,
        body=message.body,
        template=message.template,
        status_callback=_status_callback() if message.provider == "twilio" else "",
    )
    try:
        accepted = adapters.adapter_for(message.provider).send(message.account, outgoing)
    except adapters.Retry as exc:
        return _retry_or_fail(message.pk, exc)
    except adapters.Refused as exc:
        _fail(message.pk, exc)
        return "refused"
    except adapters.Uncertain as exc:
        _uncertain(message.pk, str(exc))
        return "uncertain"
    _accepted(message.pk, accepted)
    return "sent"


def _retry_or_fail(message_id: int, exc: adapters.Retry) -> str:
    with transaction.atomic():
        message = _locked(message_id)
        if message.send_state != SendState.SENDING:
            return "settled"  # a status webhook carrying our key settled it meanwhile
        if message.send_attempts >= settings.MESSAGING_SEND_MAX_ATTEMPTS:
            _failed(message, exc)
            return "given up"
        delay = backoff_seconds(message.send_attempts, exc.retry_after)
        message.send_state = SendState.PENDING
        message.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        message.last_error = str(exc)[:2000]
        message.save(update_fields=["send_state", "next_attempt_at", "last_error", "updated_at"])
        transaction.on_commit(lambda: _enqueue(message_id, countdown=delay))
    return "retry"


def _fail(message_id: int, exc: adapters.SendError) -> None:
    with transaction.atomic():
        message = _locked(message_id)
        if message.send_state == SendState.SENDING:
            _failed(message, exc)


def _failed(message: Message, exc: adapters.SendError) -> None:
    message.send_state = SendState.FAILED
    message.last_error = str(exc)[:2000]
    message.status_history = [*message.status_history, _history("failed", error_code=exc.code, error_message=str(exc))]
    _advance(message, "failed")
    message.save()


def _advance(message: Message, status: str) -> None:
    from messaging import parsers

    if parsers.advances(message.status, status):
        message.status = status
        if status == "sent" and message.sent_at is None:
            message.sent_at = timezone.now()
        if message.entry_id is not None:
            handlers.timeline_refresh(message, handlers.message_payload(message))


def _uncertain(message_id: int, error: str) -> None:
    with transaction.atomic():
        message = _locked(message_id)
        if message.send_state == SendState.SENDING:
            message.send_state = SendState.UNCERTAIN
            message.last_error = error[:2000]
            message.save(update_fields=["send_state", "last_error", "updated_at"])


def _accepted(message_id: int, accepted: adapters.Accepted) -> None:
    with transaction.atomic():
        message = _locked(message_id)
        if message.send_state not in (SendState.SENDING, SendState.UNCERTAIN):
            return  # settled by a status webhook meanwhile: it knows the id already
        _take_external_id(message, accepted.external_id)
        message.send_state = SendState.SENT
        message.last_error = ""
        if accepted.status == "sent":
            message.status_history = [*message.status_history, _history("sent")]
            _advance(message, "sent")
        message.save()


def _take_external_id(message: Message, external_id: str) -> None:
    """Name the message by the provider's id. A status callback that came before we could (no key
    to find us by) made a row of its own: its history moves onto ours and the row goes."""
    early = (
        Message.objects.select_for_update(no_key=True)
        .filter(provider=message.provider, external_id=external_id)
        .exclude(pk=message.pk)
        .first()
    )
    if early is not None:
        message.status_history = [*message.status_history, *early.status_history]
        for stamp in ("sent_at", "delivered_at", "read_at"):
            setattr(message, stamp, getattr(message, stamp) or getattr(early, stamp))
        early_entry = early.entry_id
        early.delete()
        if early_entry is not None and early_entry != message.entry_id:
            handlers.timeline_forget(early_entry)
        _advance(message, early.status)
    message.external_id = external_id


def message_settle(message: Message, external_id: str) -> None:
    """A status webhook named our message by its key: take the provider's id (the caller holds the row)."""
    if message.external_id.startswith(REF_PREFIX):
        _take_external_id(message, external_id)
    if message.send_state in (SendState.SENDING, SendState.UNCERTAIN, SendState.PENDING):
        message.send_state = SendState.SENT
        message.last_error = ""


def sends_in_flight(provider: str) -> bool:
    """Whether a send of ours to this provider has started and not yet recorded its outcome."""
    stale = timezone.now() - timedelta(seconds=settings.MESSAGING_SENDING_STALE_SECONDS)
    return Message.objects.filter(provider=provider, send_state=SendState.SENDING, send_started_at__gte=stale).exists()


def message_resend(*, message: Message, actor=None) -> Message:
    """Staff, after checking with the provider: send an uncertain or failed message again."""
    with transaction.atomic():
        locked = _locked(message.pk)
        if locked.send_state not in (SendState.UNCERTAIN, SendState.FAILED) or locked.direction != Direction.OUTBOUND:
            raise ValidationError(str(ERROR_RESEND_STATE))
        before = snapshot(locked)
        locked.send_state = SendState.PENDING
        locked.send_attempts = 0
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["send_state", "send_attempts", "next_attempt_at", "updated_at"])
        audit_record(action="update", instance=locked, before=before, after=snapshot(locked), actor=actor)
        transaction.on_commit(lambda: _enqueue(locked.pk))
    return locked


def outbound_sweep() -> dict:
    """Beat: queue what is due (Redis was down, a countdown was lost) and mark stale sends uncertain."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.MESSAGING_SENDING_STALE_SECONDS)
    uncertain = Message.objects.filter(send_state=SendState.SENDING, send_started_at__lt=stale).update(
        send_state=SendState.UNCERTAIN,
        last_error="The sender stopped during the provider call; check with the provider before resending.",
        updated_at=now,
    )
    due = list(
        Message.objects.filter(send_state=SendState.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:1000]
    )
    for pk in due:
        _enqueue(pk)
    return {"queued": len(due), "uncertain": uncertain}
