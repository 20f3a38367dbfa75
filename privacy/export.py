"""Exports of large subjects, made by a task and fetched through a signed link that expires (ADR 0067).

A request for a subject whose 360° view holds more than ``PRIVACY_EXPORT_INLINE_MAX_ENTRIES``
entries (or one that asks ``async=true``) gets a stored export: a directory
``PRIVACY_EXPORT_ROOT/<firm's schema>/<id>/`` holding ``status.json`` (the subject's reference, who
asked, when, the state) and, once the task ran, the file (``export.zip`` or ``export.json``). No
model: the directory is the record, and the firm's schema in its path keeps firms apart (every path
is built from the connection's schema, never from what a caller sent). The id is 128 random bits;
the download link is the id and the schema signed with the ``SECRET_KEY`` and a timestamp
(``django.core.signing``), refused on another firm's host and after ``PRIVACY_EXPORT_EXPIRY_SECONDS``.
Files are deleted on access once expired, by the sweep (beat, every 10 minutes), and by an erasure
of their subject. The sweep also queues again an export no worker took.

The task's only argument is the export's id (ADR 0068: task arguments carry no personal data).
"""

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError

from privacy import services
from timeline.selectors import entry_subject_view
from traf3li.core.privacy import SubjectHeldError, legal_hold_check
from traf3li.core.subjects import SubjectError, SubjectRef, subject_parse

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"
EXPORT, ERASURE = "export", "erasure"  # what a stored job makes: a file, or an erasure's summary
STATUSES = (PENDING, RUNNING, DONE, FAILED)
FORMATS = {"zip": ("export.zip", "application/zip"), "json": ("export.json", "application/json")}
STATUS_FILE = "status.json"
SALT = "privacy.export.download"
ID_PATTERN = re.compile(r"[0-9a-f]{32}")
# A pending export this old was never taken by a worker (the broker was down when it was asked
# for, or lost the message): the sweep queues it again.
STALE_PENDING = timedelta(minutes=10)
log = logging.getLogger(__name__)
ERROR_LINK = _("This download link is not valid here.")
ERROR_LINK_EXPIRED = _("This download link has expired; request the export again.")


class _Gone(Exception):
    """The export's directory went (its subject was erased) or its subject did, before it was made."""


class ExportLinkError(Exception):
    """A download link that is forged, of another firm, expired, or whose file is gone."""

    def __init__(self, message, *, expired: bool = False):
        super().__init__(str(message))
        self.expired = expired


@dataclass
class StoredExport:
    """One stored export: what ``status.json`` says about it."""

    id: str
    subject: str  # "contact:5": a reference, never the person's name
    format: str
    requested_by: int | None
    requested_at: datetime
    status: str = PENDING
    finished_at: datetime | None = None
    expires_at: datetime | None = None
    size: int | None = None
    sha256: str | None = None
    rows: int | None = None
    kind: str = EXPORT
    result: dict | None = None  # an erasure's summary: ids and field names, never values
    error: str = ""

    @property
    def directory(self) -> Path:
        return firm_root() / self.id

    @property
    def file(self) -> Path:
        return self.directory / FORMATS[self.format][0]

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def as_json(self) -> dict:
        data = dict(self.__dict__)
        for name in ("requested_at", "finished_at", "expires_at"):
            data[name] = data[name].isoformat() if data[name] else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> "StoredExport":
        for name in ("requested_at", "finished_at", "expires_at"):
            data[name] = datetime.fromisoformat(data[name]) if data.get(name) else None
        return cls(**data)

    def save(self, *, create: bool = False) -> None:
        """Write ``status.json`` whole or not at all (a reader never sees half of it). Only the
        request creates the directory: a task never brings back one an erasure deleted."""
        if create:
            self.directory.mkdir(parents=True, exist_ok=True)
        elif not self.directory.is_dir():
            raise _Gone(self.id)
        temporary = self.directory / f".{STATUS_FILE}.{uuid.uuid4().hex}"
        try:
            temporary.write_text(json.dumps(self.as_json()))
            os.replace(temporary, self.directory / STATUS_FILE)
        except FileNotFoundError:  # deleted between the check and the write (an erasure's commit)
            raise _Gone(self.id)


def expiry() -> timedelta:
    return timedelta(seconds=settings.PRIVACY_EXPORT_EXPIRY_SECONDS)


def firm_root() -> Path:
    """This firm's directory of exports: named after the connection's schema, so no firm reaches another's."""
    schema = connection.schema_name
    if not schema or schema == "public" or "/" in schema or schema.startswith("."):
        raise RuntimeError(f"privacy exports belong to a firm's schema, not {schema!r}")
    return Path(settings.PRIVACY_EXPORT_ROOT) / schema


def export_is_large(ref: SubjectRef) -> bool:
    """Whether the subject's 360° view holds more entries than an export in the request should read
    (one count on the links' subject index; entries, their audit events and messages are most of
    an export)."""
    limit = settings.PRIVACY_EXPORT_INLINE_MAX_ENTRIES
    return entry_subject_view(ref)[: limit + 1].count() > limit


def export_load(export_id, kind: str | None = EXPORT) -> StoredExport | None:
    """The firm's stored export (or queued erasure, by ``kind``; any with None) ``export_id``; None
    when there is none (or it expired: then it goes)."""
    export_id = str(export_id).replace("-", "")
    if not ID_PATTERN.fullmatch(export_id):
        return None
    try:
        stored = StoredExport.from_json(json.loads((firm_root() / export_id / STATUS_FILE).read_text()))
    except (FileNotFoundError, NotADirectoryError, ValueError, TypeError, KeyError):
        return None  # none, or not one this code wrote
    if stored.expired:
        shutil.rmtree(stored.directory, ignore_errors=True)
        return None
    return stored if kind is None or stored.kind == kind else None


def export_request(*, subject, actor, format: str = "zip") -> StoredExport:
    """Store a pending export of ``subject`` and queue the task that makes it.

    The subject is checked here (400 for a bad one, as the inline export), so the task only fails
    for reasons of its own. With the broker down the export stays pending and the sweep queues it."""
    person = services.privacy_subject(subject)
    now = timezone.now()
    stored = StoredExport(
        id=uuid.uuid4().hex,
        subject=str(person.ref),
        format=format,
        requested_by=getattr(actor, "pk", None),
        requested_at=now,
        expires_at=now + expiry(),
    )
    stored.save(create=True)
    _enqueue(stored)
    return export_load(stored.id) or stored  # done already when tasks run eagerly


def _enqueue(stored: StoredExport) -> None:
    from privacy.tasks import privacy_erase_task, privacy_export_task

    task = privacy_export_task if stored.kind == EXPORT else privacy_erase_task
    try:
        task.apply_async((stored.id,))
    except OperationalError:  # the broker is down: the job is stored, the sweep queues it
        log.warning("could not queue privacy %s %s; the sweep will", stored.kind, stored.id, exc_info=True)


def _lock_subject(ref: SubjectRef) -> bool:
    """``FOR SHARE`` on the person's record (ADR 0030: the record first, as erasure takes it): an
    erasure waits until the file is written, and its commit then deletes it; an export started
    after an erasure reads what the erasure left. False when the record is gone."""
    table = connection.ops.quote_name(ref.model._meta.db_table)
    column = connection.ops.quote_name(ref.model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE {column} = %s FOR SHARE", [ref.id])
        return cursor.fetchone() is not None


def export_run(export_id: str) -> str:
    """Make the stored export ``export_id`` (the task's body); returns its status."""
    stored = export_load(export_id)
    if stored is None:
        return "gone"  # expired, or erased with its subject, before the task ran
    if stored.status == DONE:
        return DONE  # a redelivered task (acks_late) finds it made
    try:
        stored.status = RUNNING
        stored.save()
        with transaction.atomic():
            ref = subject_parse(stored.subject, public_only=True)
            if not _lock_subject(ref) or export_load(stored.id) is None:
                raise _Gone(stored.subject)
            actor = get_user_model()._default_manager.filter(pk=stored.requested_by).first()
            export = services.subject_export(subject=stored.subject, actor=actor)
            content = services.export_zip(export) if stored.format == "zip" else export_json(export)
            temporary = stored.directory / f".{stored.file.name}.{uuid.uuid4().hex}"
            try:
                temporary.write_bytes(content)
                os.replace(temporary, stored.file)
            except FileNotFoundError:  # an erasure that committed just before us removed the directory
                raise _Gone(stored.subject)
            stored.status, stored.finished_at = DONE, timezone.now()
            stored.expires_at = stored.finished_at + expiry()
            stored.size, stored.sha256 = len(content), hashlib.sha256(content).hexdigest()
            stored.rows = sum(len(rows) for rows in export["data"].values())
            stored.save()
    except _Gone:
        shutil.rmtree(stored.directory, ignore_errors=True)
        return "gone"
    except Exception:
        stored.status, stored.finished_at = FAILED, timezone.now()
        with contextlib.suppress(_Gone):
            stored.save()
        raise
    return DONE


def export_json(export: dict) -> bytes:
    """The export as one JSON document, as the inline answer has it."""
    return json.dumps(export, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode()


def export_link(stored: StoredExport) -> str:
    """The download token: the id and this firm's schema, signed and timestamped."""
    return signing.dumps({"schema": connection.schema_name, "id": stored.id}, salt=SALT, compress=False)


def export_from_link(token: str) -> StoredExport:
    """The finished export a download token names, on this firm's host, within its lifetime."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=expiry())
    except signing.SignatureExpired:
        raise ExportLinkError(ERROR_LINK_EXPIRED, expired=True)
    except signing.BadSignature:
        raise ExportLinkError(ERROR_LINK)
    if not isinstance(payload, dict) or payload.get("schema") != connection.schema_name:
        raise ExportLinkError(ERROR_LINK)
    export_id = str(payload.get("id", ""))
    if not ID_PATTERN.fullmatch(export_id) or not (firm_root() / export_id).is_dir():
        raise ExportLinkError(ERROR_LINK)  # never here, or deleted (erased with its subject, swept)
    stored = export_load(export_id)
    if stored is None:
        raise ExportLinkError(ERROR_LINK_EXPIRED, expired=True)  # expired: deleted just now
    if stored.status != DONE or not stored.file.is_file():
        raise ExportLinkError(ERROR_LINK)
    return stored


def _stored_exports(kind: str | None = EXPORT):
    root = firm_root()
    if not root.is_dir():
        return
    for directory in sorted(root.iterdir()):
        if directory.is_dir() and ID_PATTERN.fullmatch(directory.name):
            stored = export_load(directory.name, kind)  # deletes it when expired
            if stored is not None:
                yield stored


def exports_sweep() -> dict:
    """Beat: delete this firm's expired exports and erasures, queue again those no worker took."""
    kept = requeued = 0
    for stored in _stored_exports(kind=None):  # deletes the expired ones
        kept += 1
        if stored.status == PENDING and stored.requested_at < timezone.now() - STALE_PENDING:
            _enqueue(stored)
            requeued += 1
    return {"kept": kept, "requeued": requeued}


# Queued erasures (ADR 0067): a large subject's erasure runs in a task; its status file keeps the
# summary the inline answer gives (ids and field names), for the status URL, for a day.


def erasure_request(*, subject, actor) -> StoredExport:
    """Check the subject (400) and its legal hold (409) now, store a pending erasure, queue it."""
    person = services.privacy_subject(subject)
    legal_hold_check(person.ref, person.instance)
    now = timezone.now()
    stored = StoredExport(
        id=uuid.uuid4().hex, subject=str(person.ref), format="json", requested_by=getattr(actor, "pk", None),
        requested_at=now, expires_at=now + expiry(), kind=ERASURE,
    )  # fmt: skip
    stored.save(create=True)
    _enqueue(stored)
    return export_load(stored.id, ERASURE) or stored


def erasure_run(erasure_id: str) -> str:
    """Run the queued erasure (the task's body); its status. A hold placed since the request
    refuses it (``failed``, with the reason) and nothing changes."""
    stored = export_load(erasure_id, ERASURE)
    if stored is None:
        return "gone"
    if stored.status in (DONE, FAILED):
        return stored.status  # a redelivered task (acks_late) finds it settled
    try:
        stored.status = RUNNING
        stored.save()
        actor = get_user_model()._default_manager.filter(pk=stored.requested_by).first()
        try:
            stored.result = services.subject_erase(subject=stored.subject, actor=actor)
            stored.status = DONE
        except (SubjectHeldError, SubjectError) as refused:
            stored.status, stored.error = FAILED, str(refused)
        stored.finished_at = timezone.now()
        stored.save()
    except _Gone:
        return "gone"
    except Exception:
        stored.status, stored.finished_at = FAILED, timezone.now()
        with contextlib.suppress(_Gone):
            stored.save()
        raise
    return stored.status


# The privacy data map's entry for the stored exports (``privacy/privacy.py``).
EXPORT_FIELDS = ("subject", "status", "requested_at", "expires_at")


def exports_of(subject) -> list[dict]:
    """The subject's stored exports (not their content: that is the rest of the export)."""
    ref = str(subject.ref)
    return [
        {"id": stored.id, **{name: getattr(stored, name) for name in EXPORT_FIELDS}}
        for stored in _stored_exports()
        if stored.subject == ref
    ]


def exports_erase(subject) -> list:
    """Delete the subject's stored exports when the erasure commits (a rollback keeps them).

    Files are not rows: nothing is listed as redacted; they are simply gone."""
    directories = [stored.directory for stored in _stored_exports() if stored.subject == str(subject.ref)]

    def delete():
        for directory in directories:
            shutil.rmtree(directory, ignore_errors=True)

    transaction.on_commit(delete)
    return []
