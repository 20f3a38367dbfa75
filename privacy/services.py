"""Erase and export a person (a contact, client or lead) everywhere the privacy data map says.

The map (``traf3li.core.privacy``) is walked in its order; each app's own function exports or
anonymises its own rows. Erasure is one transaction. Its lock order (ADR 0030, ADR 0061): the
person's record first (FOR UPDATE), then each mapping's rows in map order, each in id order, the
audit events last (``audit_erase``), and the chain head at commit as always.
"""

import hashlib
import io
import json
import zipfile
from collections import defaultdict

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.choices import AuditAction
from audit.services import audit_record
from traf3li.core.privacy import PrivacySubject, legal_hold_check, privacy_map
from traf3li.core.subjects import SubjectError, subject_dict, subject_parse

SUBJECT_TYPES = ("contact", "client", "lead")
ERROR_SUBJECT_TYPE = _("Only a contact, a client or a lead can be erased or exported, not a {type}.")


def privacy_subject(subject, *, lock: bool = False) -> PrivacySubject:
    """The person ``subject`` names (``"contact:5"``), with the identifiers other rows quote them by."""
    ref = subject_parse(subject, public_only=True)
    if ref.type not in SUBJECT_TYPES:
        raise SubjectError(ERROR_SUBJECT_TYPE.format(type=ref.type))
    if lock:
        instance = ref.model._default_manager.select_for_update().filter(pk=ref.id).first()
        if instance is None:
            ref.resolve()  # raises "No contact with id 5."
    else:
        instance = ref.resolve()
    identifiers = [instance.name, instance.email, instance.phone, getattr(instance, "national_id", "")]
    return PrivacySubject.of(instance, identifiers)


@transaction.atomic
def subject_erase(*, subject, actor) -> dict:
    """Anonymise the person everywhere the map says; one ``erase`` audit event lists what went.

    Refused (409) under legal hold. Returns, per model, the ids and field names redacted."""
    person = privacy_subject(subject, lock=True)
    legal_hold_check(person.ref, person.instance)
    person.actor = actor
    for mapping in privacy_map():
        redactions = mapping.erase(person)
        person.redacted.extend(redactions)
    summary = defaultdict(lambda: {"ids": [], "fields": set()})
    for redaction in person.redacted:
        summary[redaction.model]["ids"].append(redaction.id)
        summary[redaction.model]["fields"].update(redaction.fields)
    return {
        "subject": str(person.ref),
        "redacted": {
            model: {"ids": row["ids"], "fields": sorted(row["fields"])} for model, row in sorted(summary.items())
        },
    }


@transaction.atomic
def subject_export(*, subject, actor) -> dict:
    """Everything the map holds about the person, per model; the export itself is audited."""
    person = privacy_subject(subject)
    data = {mapping.model: mapping.export(person) for mapping in privacy_map()}
    audit_record(action=AuditAction.EXPORT, instance=person.instance, actor=actor)
    return {
        "subject": subject_dict(person.instance),
        "exported_at": timezone.now(),
        "data": {model: rows for model, rows in data.items() if rows},
    }


def export_zip(export: dict) -> bytes:
    """The export as a zip: one JSON file per model, and ``manifest.json`` naming each with its
    row count and SHA-256, so a recipient can check that nothing is missing or altered."""
    buffer, files = io.BytesIO(), []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for model, rows in export["data"].items():
            path = f"data/{model}.json"
            content = json.dumps(rows, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2).encode()
            archive.writestr(path, content)
            files.append(
                {"path": path, "model": model, "rows": len(rows), "sha256": hashlib.sha256(content).hexdigest()}
            )
        manifest = {"subject": export["subject"], "exported_at": export["exported_at"], "files": files}
        archive.writestr("manifest.json", json.dumps(manifest, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2))
    return buffer.getvalue()
