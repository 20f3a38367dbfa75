"""Builders for timeline tests: a client with a contact and a case, and entries on any of them."""

from traf3li.crm import services as crm
from traf3li.crm.models import Case, Client, Contact


def client_family(name="Client"):
    client = crm.record_create(instance=Client(name=name))
    contact = crm.record_create(instance=Contact(name=f"{name} contact", client=client))
    case = crm.record_create(instance=Case(title=f"{name} case", client=client))
    return client, contact, case


def record(subject, **kwargs):
    from timeline.services import entry_record

    kwargs.setdefault("kind", "note")
    kwargs.setdefault("title", "A note")
    return entry_record(subject=subject, **kwargs)


def bulk_entries(subject, times, kind="note", title="Bulk entry"):
    """Insert many live entries on ``subject`` quickly (no audit or rollups): for paging tests."""
    import uuid

    from django.contrib.contenttypes.models import ContentType

    from timeline.models import Entry, EntryLink
    from traf3li.core.registries import hierarchy_ancestors
    from traf3li.core.subjects import subject_of

    ref = subject_of(subject)
    content_type = ContentType.objects.get_for_model(subject)
    entries = Entry.objects.bulk_create(
        Entry(
            activity_id=f"ACT-T-{uuid.uuid4().hex[:16]}",
            kind=kind,
            subject_content_type=content_type,
            subject_id=ref.id,
            subject_type=ref.type,
            subject_name=str(subject),
            title=f"{title} {i}",
            occurred_at=moment,
        )
        for i, moment in enumerate(times)
    )
    keys = [(ref.type, ref.id), *((p.type, p.id) for p in hierarchy_ancestors(ref.type, subject))]
    EntryLink.objects.bulk_create(
        EntryLink(entry=entry, subject_type=t, subject_id=i, occurred_at=entry.occurred_at)
        for entry in entries
        for t, i in keys
    )
    return entries


def links_of(entry):
    """The subjects whose 360° views show ``entry``, as (type, id) pairs."""
    from timeline.models import EntryLink

    return set(EntryLink.objects.filter(entry_id=entry.pk).values_list("subject_type", "subject_id"))
