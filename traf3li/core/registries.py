"""Seams between the domain apps and the feature apps above them (timeline, audit, billing …).

A domain app registers, from its ``AppConfig.ready()``, what the layers above need to know about
its records, so that they never import it:

- ``hierarchy_register(type, fn)``: a record's ancestors, as subject references (all levels at
  once, from foreign-key ids, so recording needs no extra query). The timeline stores one link
  row per subject, ancestors included (ADR 0012), so a 360° page is one index range scan however
  many contacts, cases and invoices a client has::

      hierarchy_register("invoice", lambda inv: [SubjectRef("client", inv.client_id), SubjectRef("case", inv.case_id)])

- ``case_of_register(type, fn)``: the case a record belongs to, which the audit log stores on
  each event and the timeline on each entry's event. ``fn(ref, instance)`` gets the record's
  reference and, when the caller has it, the instance (None otherwise: an entry only stores its
  subjects' references)::

      case_of_register("invoice", lambda ref, inv: (inv or ref.resolve()).case_id)

- ``legal_hold_register(fn)``: a queryset of the ids of cases under legal hold, whose audit is
  never purged (a held client's cases included).
- ``legal_hold_clients_register(fn)``: a queryset of the ids of clients under a hold of their own:
  everything under them is held, cases or not.
- ``admin_index_register(fn)``: extra context for the firm admin's index page (the activity
  counters), so that the admin site in ``traf3li/`` needs no feature app.

A type with nothing registered has no ancestors and no case.
"""

from collections.abc import Callable, Iterable

from django.db import models

from traf3li.core.subjects import SubjectRef, subject_of, subject_parse

ParentsFn = Callable[[models.Model], Iterable[SubjectRef | None]]
CaseOfFn = Callable[[SubjectRef, models.Model | None], int | None]
HeldCasesFn = Callable[[], models.QuerySet]
AdminIndexFn = Callable[[object], dict]

_PARENTS: dict[str, ParentsFn] = {}
_CASE_OF: dict[str, CaseOfFn] = {}
_LEGAL_HOLDS: list[HeldCasesFn] = []
_CLIENT_HOLDS: list[HeldCasesFn] = []
_ADMIN_INDEX: list[AdminIndexFn] = []


def hierarchy_register(subject_type: str, parents: ParentsFn) -> None:
    _PARENTS[subject_type] = parents


def hierarchy_registered(subject_type: str) -> bool:
    """Whether records of this type have ancestors (so their entries' links depend on their fields)."""
    return subject_type in _PARENTS


def hierarchy_types() -> list[str]:
    return sorted(_PARENTS)


def hierarchy_ancestors(subject_type: str, instance: models.Model) -> list[SubjectRef]:
    parents = _PARENTS.get(subject_type)
    if parents is None:
        return []
    return [ref for ref in parents(instance) if ref is not None and ref.id]


def case_of_register(subject_type: str, fn: CaseOfFn) -> None:
    _CASE_OF[subject_type] = fn


def case_of(record: models.Model | SubjectRef | dict | str) -> int | None:
    """The id of the case ``record`` belongs to (a case belongs to itself), or None.

    ``record`` is an instance or a reference to one (a SubjectRef, ``{"type", "id"}``, ``"case:7"``).
    """
    if isinstance(record, models.Model):
        ref, instance = subject_of(record), record
    else:
        ref, instance = subject_parse(record), None
    fn = _CASE_OF.get(ref.type)
    return fn(ref, instance) if fn is not None else None


def legal_hold_register(held_case_ids: HeldCasesFn) -> None:
    if held_case_ids not in _LEGAL_HOLDS:  # ready() may run twice (tests, autoreload)
        _LEGAL_HOLDS.append(held_case_ids)


def legal_hold_case_ids() -> models.QuerySet | list:
    """The ids of every case under legal hold, as one subquery (``…__in=``); [] when no app has cases."""
    return _union(_LEGAL_HOLDS)


def legal_hold_clients_register(held_client_ids: HeldCasesFn) -> None:
    if held_client_ids not in _CLIENT_HOLDS:
        _CLIENT_HOLDS.append(held_client_ids)


def legal_hold_client_ids() -> models.QuerySet | list:
    """The ids of every client under a legal hold of its own, as one subquery; [] when none registered."""
    return _union(_CLIENT_HOLDS)


def _union(fns: list[HeldCasesFn]) -> models.QuerySet | list:
    if not fns:
        return []
    first, *rest = (fn() for fn in fns)
    return first.union(*rest) if rest else first


def admin_index_register(context: AdminIndexFn) -> None:
    if context not in _ADMIN_INDEX:
        _ADMIN_INDEX.append(context)


def admin_index_context(request) -> dict:
    """What the registered apps add to the firm admin's index page for ``request``."""
    extra = {}
    for context in _ADMIN_INDEX:
        extra.update(context(request))
    return extra
