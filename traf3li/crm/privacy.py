"""Where the core records keep personal data (the privacy data map, ``traf3li.core.privacy``).

The person's own record keeps its row and id (invoices, cases and entries point at it) but loses
everything that names or reaches them. Other records only lose the places that quote the person.
"""

from django.db.models import Q

from traf3li.core.privacy import REDACTED, privacy_register_rows
from traf3li.crm.models import Case, Client, Contact, Lead, Organization

# What the person's own record becomes: the name says it was erased, the rest is blank.
ERASED = {"name": REDACTED, "email": "", "phone": "", "national_id": "", "notes": "", "job_title": ""}
PERSONAL_FIELDS = {
    Client: ("name", "email", "phone", "national_id", "notes"),
    Contact: ("name", "email", "phone", "job_title"),
    Lead: ("name", "email", "phone", "notes"),
    Organization: ("name", "email", "phone", "website"),
    Case: ("title", "description", "court"),
}


def _own_record(model):
    def about(subject) -> Q:
        return Q(pk=subject.ref.id) if isinstance(subject.instance, model) else Q(pk__in=[])

    def replace(subject, row) -> dict:
        if isinstance(subject.instance, model) and row.pk == subject.ref.id:
            return {name: ERASED[name] for name in PERSONAL_FIELDS[model]}
        return {}

    return about, replace


def register() -> None:
    for model, fields in PERSONAL_FIELDS.items():
        about, replace = _own_record(model) if model in (Client, Contact, Lead) else (None, None)
        # First (10): records are locked before entries (ADR 0030). The identifiers were taken before.
        privacy_register_rows(model, scrubbed=fields, about=about, replace=replace, order=10)
