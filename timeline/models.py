from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _

from timeline.choices import EntryKind, EntrySource

LIVE = Q(deleted_at__isnull=True)


class EntryQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)


class Entry(models.Model):
    """One thing that happened, on one subject's timeline (and on its related subjects' and parents')."""

    activity_id = models.CharField(_("public ID"), max_length=24, editable=False)  # unique: see Meta (no LIKE index)
    kind = models.CharField(_("kind"), max_length=24, choices=EntryKind.choices)
    # No index of its own: timeline_entry_subject_idx starts with it.
    subject_content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, related_name="+", db_index=False, verbose_name=_("subject content type")
    )
    subject_id = models.BigIntegerField(_("subject ID"))
    subject = GenericForeignKey("subject_content_type", "subject_id")
    # Denormalised, so a page renders without a join per row and shows names as they were then.
    subject_type = models.CharField(_("subject type"), max_length=32)
    subject_name = models.CharField(_("subject"), max_length=300, blank=True)
    related = models.JSONField(_("related records"), default=list, blank=True)  # [{"type", "id", "name"}]
    title = models.CharField(_("title"), max_length=300)
    description = models.TextField(_("description"), blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    performed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("performed by"),
    )
    performed_by_name = models.CharField(_("performer's name"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=32, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=EntrySource.choices, default=EntrySource.SYSTEM)
    external_id = models.CharField(_("external ID"), max_length=255, null=True, blank=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    # Copied out of the payload so stats aggregate a real column (docs/performance.md).
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True, editable=False)
    # A stored ``search`` tsvector column exists in the table (migration 0001, generated from
    # title, description and the payload's text fields); the model leaves it out on purpose so
    # instances, snapshots and the audit log never carry it.

    objects = EntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # A constraint rather than unique=True, which would add a varchar_pattern_ops index for
            # LIKE that nothing uses and every insert pays for.
            models.UniqueConstraint(fields=["activity_id"], name="timeline_entry_activity_id_uniq"),
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=Q(external_id__isnull=False),
                name="timeline_entry_source_external_uniq",
            ),
        ]
        indexes = [
            # The firm-wide stream, newest first; live rows only, so soft deletes cost nothing.
            models.Index(fields=["-occurred_at", "-id"], condition=LIVE, name="timeline_entry_stream_idx"),
            models.Index(fields=["kind", "-occurred_at", "-id"], condition=LIVE, name="timeline_entry_kind_idx"),
            models.Index(
                fields=["performed_by", "-occurred_at", "-id"], condition=LIVE, name="timeline_entry_performer_idx"
            ),
            models.Index(fields=["subject_content_type", "subject_id"], name="timeline_entry_subject_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.activity_id} {self.title}"


class EntryLink(models.Model):
    """One row per subject whose 360° view shows the entry: its subject, related subjects and their parents."""

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="links", db_index=False)
    subject_type = models.CharField(max_length=32)
    subject_id = models.BigIntegerField()
    occurred_at = models.DateTimeField()  # copied from the entry so one index serves a whole page

    class Meta:
        verbose_name = _("entry link")
        verbose_name_plural = _("entry links")
        constraints = [
            models.UniqueConstraint(fields=["entry", "subject_type", "subject_id"], name="timeline_link_uniq"),
        ]
        indexes = [
            models.Index(
                fields=["subject_type", "subject_id", "-occurred_at", "-entry"], name="timeline_link_subject_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_type}:{self.subject_id} -> {self.entry_id}"


class RollupSpan(models.TextChoices):
    DAY = "d", gettext_lazy("Day")
    MONTH = "m", gettext_lazy("Month")


class RollupCounts(models.Model):
    """The columns of a rollup row: which day (or month), performer, kind and subject type, and the counts."""

    span = models.CharField(max_length=1, choices=RollupSpan.choices)
    day = models.DateField()  # a month's row carries the month's first day
    performer_id = models.BigIntegerField()  # no FK: users may be erased, their counts stay
    kind = models.CharField(max_length=24)
    subject_type = models.CharField(max_length=32)
    count = models.IntegerField(default=0)
    duration_count = models.IntegerField(default=0)
    duration_seconds = models.BigIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.span} {self.day} {self.performer_id} {self.kind} {self.subject_type}: {self.count}"


class StatRollup(RollupCounts):
    """Live entries per firm-local day (or month), performer, kind and subject type, for fast stats."""

    Span = RollupSpan
    # performer_id: a user's id, NOBODY (0) for system entries, or ALL (-1) for the firm-wide sum,
    # which saves stats without a performer filter from adding up one row per user.
    NOBODY, ALL = 0, -1

    class Meta:
        verbose_name = _("stats rollup")
        verbose_name_plural = _("stats rollups")
        constraints = [
            # The counts ride along in the index, so a range of rollups is read from it alone.
            models.UniqueConstraint(
                fields=["span", "performer_id", "day", "kind", "subject_type"],
                include=["count", "duration_count", "duration_seconds"],
                name="timeline_statrollup_key",
            ),
        ]


class StatRollupDelta(RollupCounts):
    """A transaction's changes to the rollups, appended, never updated (ADR 0030).

    Writers insert here instead of upserting ``StatRollup``'s hot rows (today's firm-wide row of a
    kind is touched by every writer); readers add both tables, and ``rollup_fold`` moves the
    deltas into the rollups every minute. Same columns as ``StatRollup``, without the unique key.
    """

    class Meta:
        verbose_name = _("stats rollup delta")
        verbose_name_plural = _("stats rollup deltas")
        indexes = [
            models.Index(
                fields=["span", "performer_id", "day"],
                include=["kind", "subject_type", "count", "duration_count", "duration_seconds"],
                name="timeline_rollupdelta_key_idx",
            ),
        ]
