"""Channel accounts and the webhook deliveries they receive (stored first, processed after)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from messaging import crypto
from messaging.choices import (
    SECRETS,
    CallOutcome,
    Channel,
    Direction,
    EmailEventType,
    EmailStatus,
    Endpoint,
    Provider,
    SendState,
)


class ChannelAccount(models.Model):
    """A firm's account at a provider. Secrets are encrypted (``messaging.crypto``), write-only in
    the API and the admin, and left out of audit snapshots; their fingerprint is audited instead."""

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    name = models.CharField(_("name"), max_length=200)
    is_active = models.BooleanField(_("active"), default=True)
    account_sid = models.CharField(_("Twilio account SID"), max_length=64, blank=True)
    from_number = models.CharField(
        _("sender number"), max_length=32, blank=True, help_text=_("Twilio: the number messages are sent from.")
    )
    phone_number_id = models.CharField(_("WhatsApp phone number ID"), max_length=64, blank=True)
    secrets_encrypted = models.TextField(editable=False, blank=True)
    secrets_fingerprint = models.CharField(_("secrets fingerprint"), max_length=64, editable=False, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["provider", "name", "id"]
        verbose_name = _("channel account")
        verbose_name_plural = _("channel accounts")
        constraints = [
            # At most one active account per provider, and for WhatsApp per phone number id.
            models.UniqueConstraint(
                fields=["provider"],
                condition=Q(is_active=True) & ~Q(provider="whatsapp"),
                name="messaging_one_active_account_per_provider",
                violation_error_message=_("This firm already has an active account with this provider."),
            ),
            models.UniqueConstraint(
                fields=["phone_number_id"],
                condition=Q(is_active=True, provider="whatsapp"),
                name="messaging_one_active_whatsapp_per_number",
                violation_error_message=_("An active WhatsApp account already uses this phone number id."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()}: {self.name}"

    @property
    def secrets(self) -> dict:
        return crypto.decrypt(self.secrets_encrypted)

    @property
    def secrets_set(self) -> list[str]:
        """Which of the provider's secrets are set (their names, never their values)."""
        stored = self.secrets
        return [name for name in SECRETS.get(self.provider, ()) if stored.get(name)]


class WebhookDelivery(models.Model):
    """One request a provider made to a webhook, as received, committed before the 2xx.

    ``body`` is the exact bytes (the signature was checked on them); ``headers`` the ones that
    matter. ``dedup_key`` makes a replay of the same delivery a no-op: the provider's idempotency
    token where it sends one (Twilio), the signature's token (Mailgun), else the body's digest.
    Processing (``messaging.tasks``) sets ``processed_at``; a beat sweeper re-drives the rest.
    """

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    endpoint = models.CharField(_("endpoint"), max_length=16, choices=Endpoint.choices)
    account = models.ForeignKey(
        ChannelAccount, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("account")
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    headers = models.JSONField(_("headers"), default=dict)
    body = models.BinaryField(_("body"))
    body_digest = models.CharField(_("body digest"), max_length=64)
    dedup_key = models.CharField(_("deduplication key"), max_length=128)
    signature_ok = models.BooleanField(_("signature verified"), default=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        # The table is partitioned by month of ``received_at`` (migration 0009, ADR 0064): its
        # database primary key is ``(id, received_at)`` and a replay is refused by ``DeliveryKey``.
        indexes = [
            # A replay's answer: the first delivery of its key.
            models.Index(fields=["provider", "dedup_key"], name="messaging_delivery_dedup"),
            # The sweeper's and the worker's queue: only what is still owed (one index per partition).
            models.Index(
                fields=["received_at", "id"], condition=Q(processed_at__isnull=True), name="messaging_delivery_owed"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} #{self.pk}"


class DeliveryKey(models.Model):
    """A delivery's replay key, unique, outside the deliveries' partitions (ADR 0064).

    PostgreSQL puts the partition key in every unique constraint of a partitioned table, and a
    replay gets a new ``received_at``: the uniqueness of ``(provider, dedup_key)`` lives here,
    written in the same statement as the delivery (``delivery_accept``). A key lives as long as its
    delivery: the retention purge removes both, so a replay older than that is accepted again.
    """

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    dedup_key = models.CharField(_("deduplication key"), max_length=128)
    received_at = models.DateTimeField(_("received at"))

    class Meta:
        verbose_name = _("delivery key")
        verbose_name_plural = _("delivery keys")
        constraints = [models.UniqueConstraint(fields=["provider", "dedup_key"], name="messaging_delivery_key_once")]

    def __str__(self) -> str:
        return f"{self.provider} {self.dedup_key}"


class RejectedDelivery(models.Model):
    """What a refused delivery leaves: a counter per provider and reason, never its content."""

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    reason = models.CharField(_("reason"), max_length=32)
    count = models.BigIntegerField(_("count"), default=0)
    last_at = models.DateTimeField(_("last at"), null=True, blank=True)

    class Meta:
        ordering = ["provider", "reason"]
        verbose_name = _("rejected delivery count")
        verbose_name_plural = _("rejected delivery counts")
        constraints = [models.UniqueConstraint(fields=["provider", "reason"], name="messaging_rejected_once")]

    def __str__(self) -> str:
        return f"{self.provider} {self.reason}: {self.count}"


class ProcessedEvent(models.Model):
    """One provider event, counted once however many deliveries carry it (the parser's idempotency key)."""

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255)
    # No foreign key in the database: one to a partitioned table would need its whole key. The
    # retention purge removes a delivery and its processed events together (ADR 0064).
    delivery = models.ForeignKey(
        WebhookDelivery,
        on_delete=models.CASCADE,
        related_name="processed_events",
        verbose_name=_("delivery"),
        db_constraint=False,
    )
    processed_at = models.DateTimeField(_("processed at"), default=timezone.now)

    class Meta:
        ordering = ["-processed_at", "-id"]
        verbose_name = _("processed event")
        verbose_name_plural = _("processed events")
        constraints = [
            models.UniqueConstraint(fields=["provider", "idempotency_key"], name="messaging_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.idempotency_key}"


class CounterpartMixin(models.Model):
    """The CRM record a message or call was matched to (none: unmatched) and its timeline entry."""

    subject_type = models.CharField(_("subject type"), max_length=32, blank=True)
    subject_id = models.BigIntegerField(_("subject id"), null=True, blank=True)
    entry_id = models.BigIntegerField(_("timeline entry id"), null=True, blank=True)
    status_history = models.JSONField(_("status history"), default=list, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class Message(CounterpartMixin):
    """An SMS or WhatsApp message, inbound or outbound, as its provider reported it."""

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    direction = models.CharField(_("direction"), max_length=16, choices=Direction.choices, blank=True)
    external_id = models.CharField(_("external id"), max_length=255)
    from_address = models.CharField(_("from"), max_length=255, blank=True)
    to_address = models.CharField(_("to"), max_length=255, blank=True)
    body = models.TextField(_("body"), blank=True)
    message_type = models.CharField(_("message type"), max_length=32, blank=True)
    media = models.JSONField(_("media"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=16, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    # Outbound messages the firm sends (messaging.outbound); blank on everything a webhook brought.
    template = models.JSONField(_("template"), null=True, blank=True, help_text=_("WhatsApp: {name, language}."))
    client_ref = models.CharField(_("idempotency key"), max_length=64, blank=True)
    send_state = models.CharField(_("sending"), max_length=16, choices=SendState.choices, blank=True)
    send_attempts = models.PositiveSmallIntegerField(_("send attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    send_started_at = models.DateTimeField(_("last attempt started at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    account = models.ForeignKey(
        ChannelAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("account"),
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sent by"),
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_id"], name="messaging_message_once"),
            # One message per idempotency key: a retried POST finds the first one.
            models.UniqueConstraint(
                fields=["client_ref"], condition=~Q(client_ref=""), name="messaging_message_client_ref_once"
            ),
        ]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"], name="messaging_message_subject"),
            # The sender's queue: only what is still to send.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(send_state__in=["pending", "sending"]),
                name="messaging_message_to_send",
            ),
            # The unmatched inbox, newest first, and the per-channel lists and conversations.
            models.Index(
                fields=["created_at", "id"], condition=Q(subject_id__isnull=True), name="messaging_message_unmatched"
            ),
            models.Index(fields=["channel", "created_at", "id"], name="messaging_message_channel"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.external_id}"


class Call(CounterpartMixin):
    """A phone call, as the provider's status callbacks reported it."""

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    external_id = models.CharField(_("external id"), max_length=255)
    direction = models.CharField(_("direction"), max_length=16, choices=Direction.choices, blank=True)
    from_address = models.CharField(_("from"), max_length=255, blank=True)
    to_address = models.CharField(_("to"), max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=16, blank=True)
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"), null=True, blank=True)
    answered_by = models.CharField(_("answered by"), max_length=32, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=CallOutcome.choices, blank=True)
    recording_url = models.URLField(_("recording URL"), max_length=1000, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        constraints = [
            models.UniqueConstraint(fields=["provider", "external_id"], name="messaging_call_once"),
        ]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"], name="messaging_call_subject"),
            models.Index(
                fields=["created_at", "id"], condition=Q(subject_id__isnull=True), name="messaging_call_unmatched"
            ),
        ]

    def __str__(self) -> str:
        return _("Call {id}").format(id=self.external_id)


class EmailCampaign(models.Model):
    """A provider's campaign (SendGrid Marketing Campaigns name or id) its emails' events name."""

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    name = models.CharField(_("name"), max_length=255)
    external_id = models.CharField(_("external id"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("email campaign")
        verbose_name_plural = _("email campaigns")
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"],
                condition=~Q(external_id=""),
                name="messaging_campaign_once",
            ),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="messaging_campaign_keyset")]

    def __str__(self) -> str:
        return self.name


class EmailMessage(CounterpartMixin):
    """One sent email, as its events reported it: where it got to and how it was engaged with.

    ``message_id`` groups the events of one email (SendGrid's ``X-Message-Id``, Mailgun's
    Message-Id); the counters and ``first_*`` times are kept by ``messaging.email``, machine opens
    (Apple Mail Privacy Protection) never counting as opens.
    """

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    message_id = models.CharField(_("message id"), max_length=255)
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    campaign = models.ForeignKey(
        EmailCampaign,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        verbose_name=_("campaign"),
    )
    status = models.CharField(_("status"), max_length=16, choices=EmailStatus.choices, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    first_opened_at = models.DateTimeField(_("first opened at"), null=True, blank=True)
    first_clicked_at = models.DateTimeField(_("first clicked at"), null=True, blank=True)
    opens = models.PositiveIntegerField(_("opens"), default=0)
    clicks = models.PositiveIntegerField(_("clicks"), default=0)
    bounced = models.BooleanField(_("bounced"), default=False)
    bounce_type = models.CharField(_("bounce type"), max_length=32, blank=True)
    unsubscribed = models.BooleanField(_("unsubscribed"), default=False)
    complained = models.BooleanField(_("complained"), default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("email message")
        verbose_name_plural = _("email messages")
        constraints = [
            models.UniqueConstraint(fields=["provider", "message_id"], name="messaging_email_once"),
        ]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"], name="messaging_email_subject"),
            models.Index(fields=["recipient"], name="messaging_email_recipient"),
            # The unmatched inbox's email part, newest first.
            models.Index(
                fields=["created_at", "id"], condition=Q(subject_id__isnull=True), name="messaging_email_unmatched"
            ),
        ]

    def __str__(self) -> str:
        return _("Email {id}").format(id=self.message_id)

    @property
    def external_id(self) -> str:
        """The provider's id of the email, under the name the channels' timeline helpers use."""
        return self.message_id


class EmailEvent(models.Model):
    """One provider event of an email (each once: its idempotency key), as reported.

    The table is partitioned by month of ``occurred_at`` (ADR 0064): the database's primary key is
    ``(id, occurred_at)``; ``id`` alone is still unique (one sequence) and Django's primary key."""

    provider = models.CharField(_("provider"), max_length=16, choices=Provider.choices)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255)
    message = models.ForeignKey(
        EmailMessage, on_delete=models.CASCADE, related_name="events", verbose_name=_("email message")
    )
    event = models.CharField(_("event"), max_length=32, choices=EmailEventType.choices)
    occurred_at = models.DateTimeField(_("occurred at"))
    device = models.CharField(_("device"), max_length=16, blank=True)
    machine_open = models.BooleanField(_("machine open"), default=False)
    url = models.CharField(_("URL"), max_length=2000, blank=True)
    ip = models.CharField(_("IP address"), max_length=64, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=1000, blank=True)
    bounce_type = models.CharField(_("bounce type"), max_length=32, blank=True)
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("email event")
        verbose_name_plural = _("email events")
        constraints = [
            # Partitioned by month of ``occurred_at`` (migration 0008, ADR 0064): the key is in every
            # unique constraint. A replay carries the provider's same time, and ``ProcessedEvent``
            # counts each event once before it is stored.
            models.UniqueConstraint(
                fields=["provider", "idempotency_key", "occurred_at"], name="messaging_email_event_once"
            ),
        ]
        indexes = [models.Index(fields=["message", "event"], name="messaging_email_event_kind")]

    def __str__(self) -> str:
        return f"{self.get_event_display()} {self.occurred_at:%Y-%m-%d %H:%M}"
