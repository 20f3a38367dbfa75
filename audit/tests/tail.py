"""The events a test appended: the test firms keep committed events, so tests look past a mark."""

from django_tenants.utils import schema_context

from audit.models import AuditChainHead, AuditEvent


def head_seq(schema: str = "alpha") -> int:
    with schema_context(schema):
        return AuditChainHead.objects.get(pk=1).seq


def events_after(seq: int, schema: str = "alpha") -> list[AuditEvent]:
    with schema_context(schema):
        return list(AuditEvent.objects.filter(seq__gt=seq).order_by("seq"))


class Tail:
    """The events appended to one firm's chain since the tail was opened."""

    def __init__(self, schema: str):
        self.schema = schema
        self.mark = head_seq(schema)

    def reset(self) -> None:
        self.mark = head_seq(self.schema)

    def events(self, entity_type: str | None = None) -> list[AuditEvent]:
        events = events_after(self.mark, self.schema)
        return [e for e in events if entity_type is None or e.entity_type == entity_type]

    def one(self, entity_type: str | None = None) -> AuditEvent:
        """The one event appended (about ``entity_type``: other apps' hooks may add their own writes)."""
        events = self.events(entity_type)
        assert len(events) == 1, [(e.action, e.entity_type, e.entity_id) for e in events]
        return events[0]
