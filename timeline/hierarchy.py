"""Which other subjects' 360° views show an entry about a record: a contact's or a case's client.

Each app registers, for its subject type, a function returning the record's ancestors as subject
references (all levels at once, from foreign-key ids, so recording needs no extra query):

    hierarchy_register("invoice", lambda inv: [SubjectRef("client", inv.client_id), SubjectRef("case", inv.case_id)])

The recording service stores one link row per subject, ancestors included (ADR 0012), so a 360°
page is one index range scan however many contacts, cases and invoices a client has. A type
with nothing registered simply has no ancestors.
"""

from collections.abc import Callable, Iterable

from django.db import models

from traf3li.core.subjects import SubjectRef

ParentsFn = Callable[[models.Model], Iterable[SubjectRef | None]]

_PARENTS: dict[str, ParentsFn] = {}


def hierarchy_register(subject_type: str, parents: ParentsFn) -> None:
    _PARENTS[subject_type] = parents


def hierarchy_ancestors(subject_type: str, instance: models.Model) -> list[SubjectRef]:
    parents = _PARENTS.get(subject_type)
    if parents is None:
        return []
    return [ref for ref in parents(instance) if ref is not None and ref.id]
