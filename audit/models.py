from django.db import models


class AuditEvent(models.Model):
    """One append-only record of a write: who, what, which entity, which fields changed."""

    occurred_at = models.DateTimeField(db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)  # no FK: users are erased, events stay
    actor_name = models.CharField(max_length=200)
    actor_email = models.CharField(max_length=254, blank=True)
    actor_role = models.CharField(max_length=16, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    entity_type = models.CharField(max_length=32)
    entity_id = models.BigIntegerField()
    entity_name = models.CharField(max_length=300, blank=True)
    case_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    changes = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["entity_type", "entity_id", "occurred_at"], name="audit_entity_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.entity_type}:{self.entity_id}"
