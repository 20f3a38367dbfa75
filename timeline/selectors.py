"""Reads of the timeline: the firm-wide stream, 360° views, search and stats.

Two base queries serve every list (ADR 0012): live entries, newest first on
``(occurred_at, id)``, and one subject's link rows, newest first on ``(occurred_at, entry_id)``.
Each walks its own index in order, so a page costs the same at any depth. PostgreSQL renders each
row's JSON (``ENTRY_JSON``): no model instances, serializers or parsing per row.
"""

import orjson
from django.db import connection
from django.db.models import BooleanField, Count, Sum, TextField
from django.db.models.expressions import RawSQL
from django.db.models.query import QuerySet
from django.utils import timezone

from timeline.choices import COMMUNICATION_KINDS
from timeline.models import Entry, EntryLink
from timeline.rollups import firm_tz, rollup_plan, rollup_totals
from traf3li.core.subjects import SubjectRef

# The contract's entry, built by PostgreSQL from the denormalised columns: a page is one query and
# no Python per row (docs/performance.md: "Postgres building the JSON" ran at 93% of bare
# SQL, a DRF ModelSerializer at 9%). The entries table is "timeline_entry" in both base queries.
ENTRY_JSON = """json_build_object(
    'id', e.id, 'activity_id', e.activity_id, 'kind', e.kind,
    'subject', json_build_object('type', e.subject_type, 'id', e.subject_id, 'name', e.subject_name),
    'related', e.related, 'title', e.title, 'description', e.description,
    'occurred_at', timeline_isotime(e.occurred_at, %s),
    'performed_by', CASE WHEN e.performed_by_id IS NULL THEN NULL
                         ELSE json_build_object('id', e.performed_by_id, 'name', e.performed_by_name) END,
    'status', e.status, 'source', e.source, 'external_id', e.external_id, 'payload', e.payload,
    'created_at', timeline_isotime(e.created_at, %s))::text""".replace("e.", '"timeline_entry".')
# Filters that the stat rollups can't answer (they don't keep subjects, words, statuses or sources).
DIRECT_STAT_FILTERS = ("subject", "q", "status", "source")


# A 360° page with no filter, the commonest read of all, by one statement written out: the ORM's
# own for it cost more in Python (building, compiling, reading 51 timestamps into datetimes) than
# PostgreSQL spent on it (docs/benchmarks.md). The same rows, order and keyset as the ORM's path
# (``entry_subject_view``, ``keyset_filter``), checked against it in timeline/tests/test_api.py.
SUBJECT_PAGE_SQL = """SELECT "timeline_entrylink".entry_id, "timeline_entrylink".occurred_at::text, {document}
  FROM "timeline_entrylink" JOIN "timeline_entry" ON "timeline_entry".id = "timeline_entrylink".entry_id
 WHERE "timeline_entrylink".subject_type = %(type)s AND "timeline_entrylink".subject_id = %(id)s
   AND "timeline_entry".deleted_at IS NULL{after}
 ORDER BY "timeline_entrylink".occurred_at {order}, "timeline_entrylink".entry_id {order}
 LIMIT %(limit)s"""
# The keyset's redundant-bound form (traf3li.api.pagination): ``occurred_at`` stays an index condition.
SUBJECT_PAGE_AFTER = {
    "DESC": """ AND "timeline_entrylink".occurred_at <= %(ts)s
   AND ("timeline_entrylink".occurred_at < %(ts)s OR "timeline_entrylink".entry_id < %(pk)s)""",
    "ASC": """ AND "timeline_entrylink".occurred_at >= %(ts)s
   AND ("timeline_entrylink".occurred_at > %(ts)s OR "timeline_entrylink".entry_id > %(pk)s)""",
}

# The statement for each direction, with and without a key, made once.
SUBJECT_PAGES = {
    (order, keyed): SUBJECT_PAGE_SQL.format(
        document=ENTRY_JSON.replace("%s", "%(tz)s"), after=SUBJECT_PAGE_AFTER[order] if keyed else "", order=order
    )
    for order in ("ASC", "DESC")
    for keyed in (False, True)
}


def entry_subject_page(ref: SubjectRef, *, key: tuple | None, reverse: bool, limit: int) -> list[dict]:
    """Up to ``limit`` rows of ``ref``'s 360° view after ``key`` (newest first; oldest first when
    ``reverse``), as ``KeysetPagination.page_of`` takes them: ``entry_id``, ``occurred_at`` as
    PostgreSQL's text, and the entry's ``document``."""
    sql = SUBJECT_PAGES[("ASC" if reverse else "DESC", key is not None)]
    params = {"tz": timezone.get_current_timezone_name(), "type": ref.type, "id": ref.id, "limit": limit}
    if key:
        params["ts"], params["pk"] = key
    with connection.prepared_cursor() as cursor:  # planned once per connection (ADR 0070)
        cursor.execute(sql, params)
        return [{"entry_id": pk, "occurred_at": at, "document": doc} for pk, at, doc in cursor.fetchall()]


def entry_stream() -> QuerySet:
    """Live entries: the firm-wide stream and the detail, update and delete endpoints."""
    return Entry.objects.live()


def entry_subject_view(ref: SubjectRef) -> QuerySet:
    """One subject's 360° view: its links, each carrying the entry's time for the index."""
    return EntryLink.objects.filter(subject_type=ref.type, subject_id=ref.id, entry__deleted_at__isnull=True)


def entry_search(q: str) -> RawSQL:
    """A condition: the entry's stored search document matches ``q`` (websearch syntax)."""
    # timeline_tsquery normalises Arabic exactly as the stored document was (migration 0002).
    # PostgreSQL text can't hold NUL; the API's form refuses it, the admin's search box does not.
    q = q.replace("\x00", "")
    return RawSQL('"timeline_entry"."search" @@ timeline_tsquery(%s)', [q], output_field=BooleanField())


def entry_filter(
    queryset: QuerySet,
    *,
    subject: SubjectRef | None = None,
    subject_type=None,
    kind=None,
    performed_by=None,
    since=None,
    until=None,
    status=None,
    source=None,
    q: str | None = None,
) -> QuerySet:
    """Apply the stream's filters to either base query; ``subject`` turns the stream into that view."""
    via_links = queryset.model is EntryLink
    if subject is not None:
        if via_links:
            queryset = queryset.filter(entry__links__subject_type=subject.type, entry__links__subject_id=subject.id)
        else:
            queryset, via_links = entry_subject_view(subject), True
    p = "entry__" if via_links else ""
    # Time bounds go on the base table's own occurred_at: on links that makes them index conditions.
    if since is not None:
        queryset = queryset.filter(occurred_at__gte=since)
    if until is not None:
        queryset = queryset.filter(occurred_at__lt=until)
    if subject_type:
        queryset = queryset.filter(**{f"{p}subject_type__in": subject_type})
    if kind:
        queryset = queryset.filter(**{f"{p}kind__in": kind})
    if performed_by:
        queryset = queryset.filter(**{f"{p}performed_by__in": performed_by})
    if status:
        queryset = queryset.filter(**{f"{p}status__in": status})
    if source:
        queryset = queryset.filter(**{f"{p}source__in": source})
    if q and q.strip():
        queryset = queryset.filter(entry_search(q.strip()))
    return queryset


def entry_json() -> RawSQL:
    """The row's document, its times in the active (the firm's) timezone as the rest of the API shows them."""
    tz = timezone.get_current_timezone_name()
    return RawSQL(ENTRY_JSON, [tz, tz], output_field=TextField())


def entry_values(queryset: QuerySet) -> QuerySet:
    """Each row's keyset columns and its JSON document, ready for ``KeysetPagination``."""
    document = entry_json()
    if queryset.model is EntryLink:
        return queryset.values("entry_id", "occurred_at", document=document)
    return queryset.values("id", "occurred_at", document=document)


def entry_page(rows) -> orjson.Fragment:
    """A page's ``results``: the documents PostgreSQL built, spliced in without parsing them."""
    return orjson.Fragment("[" + ",".join(row["document"] for row in rows) + "]")


def entry_document(entry_id: int) -> orjson.Fragment:
    """One entry exactly as a list renders it (detail, create and update responses)."""
    document = Entry.objects.filter(pk=entry_id).values_list(entry_json())
    return orjson.Fragment(document.get()[0])


def _direct_totals(filters: dict) -> list[tuple]:
    queryset = entry_filter(entry_stream(), **filters)
    p = "entry__" if queryset.model is EntryLink else ""
    return list(
        queryset.order_by()
        .values_list(f"{p}kind", f"{p}subject_type")
        .annotate(n=Count("pk"), dn=Count(f"{p}duration_seconds"), ds=Sum(f"{p}duration_seconds"))
    )


def entry_stats(*, filters: dict) -> dict:
    """Counts by kind and subject type, and communications with their average durations.

    Rollups answer whole days and months; partial days at the range's edges, and filters the
    rollups don't keep, are aggregated from the entries (always live ones only).
    """
    if any(filters.get(name) for name in DIRECT_STAT_FILTERS):
        rows = _direct_totals(filters)
    else:
        pieces, edges = rollup_plan(filters.get("since"), filters.get("until"), firm_tz())
        rows = rollup_totals(
            pieces,
            performers=filters.get("performed_by"),
            kinds=filters.get("kind"),
            subject_types=filters.get("subject_type"),
        )
        for since, until in edges:
            rows += _direct_totals({**filters, "since": since, "until": until})
    return stats_shape(rows)


def stats_shape(rows) -> dict:
    by_kind, by_subject_type, durations = {}, {}, {}
    for kind, subject_type, count, duration_count, duration_seconds in rows:
        if not count:
            continue
        by_kind[kind] = by_kind.get(kind, 0) + count
        by_subject_type[subject_type] = by_subject_type.get(subject_type, 0) + count
        known, total = durations.get(kind, (0, 0))
        durations[kind] = (known + (duration_count or 0), total + (duration_seconds or 0))
    communications = []
    for kind in COMMUNICATION_KINDS:
        known, total = durations.get(kind, (0, 0))
        communications.append(
            {
                "kind": kind.value,
                "count": by_kind.get(kind, 0),
                "avg_duration_minutes": round(float(total) / known / 60, 2) if known else None,
            }
        )
    return {
        "total": sum(by_kind.values()),
        "by_kind": dict(sorted(by_kind.items())),
        "by_subject_type": dict(sorted(by_subject_type.items())),
        "communications": communications,
    }
