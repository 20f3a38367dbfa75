"""The audit log: an append-only, hash-chained event store per firm (ADR 0004, ADR 0005).

The product's database role holds no UPDATE, DELETE or TRUNCATE on ``audit_auditevent`` and no
write on the anchors (migration 0008), and triggers refuse them to every other role too, the
owner's included. Only two SECURITY DEFINER functions owned by the ``traf3li_audit`` role pass:
``audit_purge_events`` (retention) and ``audit_erase_events`` (GDPR), which
``audit.services.audit_purge`` and ``audit_erase`` call and record as events (ADR 0062).
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from audit.choices import ActorType, Source


class AuditEvent(models.Model):
    """One append-only record of a write: who, what, which entity, which fields changed."""

    # Position in the firm's chain: 1, 2, 3… without gaps, except where the retention purge left
    # an anchor. Assigned under the chain-head row lock, so two writers can never share one.
    seq = models.BigIntegerField(_("sequence number"), unique=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    actor_type = models.CharField(_("actor type"), max_length=16, choices=ActorType.choices, default=ActorType.SYSTEM)
    actor_id = models.BigIntegerField(_("actor ID"), null=True, blank=True)  # no FK: users are erased, events stay
    actor_name = models.CharField(_("actor"), max_length=200)
    actor_email = models.CharField(_("actor's email"), max_length=254, blank=True)
    actor_role = models.CharField(_("actor's role"), max_length=16, blank=True)
    action = models.CharField(_("action"), max_length=64)
    entity_type = models.CharField(_("entity type"), max_length=32)
    entity_id = models.BigIntegerField(_("entity ID"))
    entity_name = models.CharField(_("entity"), max_length=300, blank=True)
    case_id = models.BigIntegerField(_("case ID"), null=True, blank=True)
    changes = models.JSONField(_("changes"), default=dict)
    metadata = models.JSONField(_("metadata"), default=dict)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.SYSTEM)
    request_id = models.CharField(_("request ID"), max_length=64)  # indexed in Meta: exact lookups only, no LIKE index
    # The hash covers ``payload_digest``, not the personal fields themselves (actor name and
    # email, entity name, changes, metadata), so erasure can blank them without breaking the
    # chain. The salt keeps a digest of a short value (a phone number) from being guessed by
    # brute force; erasure wipes it with the payload (ADR 0005).
    payload_salt = models.CharField(_("payload salt"), max_length=32, blank=True)
    payload_digest = models.CharField(_("payload digest"), max_length=64)
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)
    # 2: per-field digests (ADR 0063); 1: events written before them, one digest of the whole payload.
    digest_version = models.PositiveSmallIntegerField(_("digest version"), default=2)
    # What an erasure leaves to check the fields it did not blank: their salts, and the blanked
    # fields' digests (never the event's salt, from which the blanked fields' salts would follow).
    payload_proof = models.JSONField(_("erasure proof"), null=True, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["occurred_at", "id"], name="audit_time_idx"),
            models.Index(fields=["entity_type", "entity_id", "occurred_at", "id"], name="audit_entity_time_idx"),
            models.Index(
                fields=["case_id", "occurred_at", "id"], name="audit_case_time_idx", condition=Q(case_id__isnull=False)
            ),
            models.Index(fields=["action", "occurred_at", "id"], name="audit_action_time_idx"),
            models.Index(fields=["request_id"], name="audit_request_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.entity_type}:{self.entity_id}"


class AuditChainHead(models.Model):
    """The firm's chain head (one row): the last event's seq, hash and time; its row lock serialises appends."""

    seq = models.BigIntegerField(default=0)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    occurred_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"head #{self.seq}"


class AuditChainAnchor(models.Model):
    """The seq and hash of an event the retention purge deleted, so the link after it still verifies."""

    seq = models.BigIntegerField(unique=True)
    hash = models.CharField(max_length=64)
    purged_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"anchor #{self.seq}"


class AuditVerifyCheckpoint(models.Model):
    """The last event a verify walked and found sound (one row): the next verify starts after it.

    A shortcut, not evidence: ``manage.py audit_verify`` (full by default) walks from the first
    event whatever this says, and only moves it forward."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)
    verified_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"verified to #{self.seq}"


class AuditStateSnapshot(models.Model):
    """A cached replay of one entity's events up to one event; point-in-time reads start from it."""

    entity_type = models.CharField(max_length=32)
    entity_id = models.BigIntegerField()
    event_id = models.BigIntegerField()
    occurred_at = models.DateTimeField()
    state = models.JSONField(default=dict)
    deleted = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entity_type", "entity_id", "event_id"], name="audit_snapshot_unique")
        ]
        indexes = [
            models.Index(fields=["entity_type", "entity_id", "occurred_at", "event_id"], name="audit_snapshot_time_idx")
        ]

    def __str__(self) -> str:
        return f"{self.entity_type}:{self.entity_id} @ {self.event_id}"
