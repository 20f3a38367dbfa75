"""Who a message or call is with: the CRM record whose phone or email is the counterpart's address.

``counterpart(address, channel)`` answers ``(subject, related)``. Addresses are normalized the way
the CRM stores them: phones to E.164 (``traf3li.core.normalize.normalize_phone``, in the firm's
default region), emails lower-cased. A Twilio WhatsApp address ``whatsapp:+…`` is a phone, and so
is a WhatsApp Cloud API number (digits without the ``+``: it is already international).

The rule when several records share the address: **contacts first, then clients, then leads; the
newest first within a kind** (``created_at``, then id). A contact is the person who actually
writes or calls, usually on a client's behalf, and its entries show on its client's 360° view
too; a lead is the weakest claim. The first record is the subject; every other match is
``related``, so the entry shows on their timelines as well. Nothing matches: ``(None, [])``.

Only the current schema is searched: a number known in two firms matches, in each, only that
firm's record.
"""

import time

from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.models.functions import Lower

from traf3li.core.normalize import normalize_email, normalize_phone
from traf3li.crm.models import Client, Contact, Lead

# In the order of the rule above.
MATCHED_MODELS: tuple[type[models.Model], ...] = (Contact, Client, Lead)
EMAIL_CHANNELS = frozenset({"email"})


def normalize_address(address: str, channel: str) -> tuple[str, str]:
    """``("phone" | "email", normalized value)``; the value is ``""`` when it isn't one."""
    value = (address or "").strip()
    if channel in EMAIL_CHANNELS or ("@" in value and not value.lower().startswith("whatsapp:")):
        email = normalize_email(value)
        return "email", email if "@" in email else ""
    if value.lower().startswith("whatsapp:"):
        value = value[len("whatsapp:") :].strip()
    if channel == "whatsapp" and value.isdigit():
        value = f"+{value}"  # the Cloud API sends international numbers without the plus
    try:
        return "phone", normalize_phone(value)  # in the firm's phone region
    except ValidationError:
        return "phone", ""  # a short code, an alphanumeric sender, a withheld number


# A burst of traffic comes from few counterparts: who an address is, per process and firm, for a
# couple of seconds (a CRM change of a phone or email applies to matching within MATCH_TTL).
MATCH_TTL = 2.0
MATCH_MEMO_SIZE = 10_000
_memo: dict[tuple, tuple[float, tuple]] = {}


def counterpart(address: str, channel: str) -> tuple[models.Model | None, list[models.Model]]:
    """The record this address belongs to and the other records sharing it (see the module rule)."""
    kind, value = normalize_address(address, channel)
    if not value:
        return None, []
    key, now = (connection.schema_name, kind, value), time.monotonic()
    cached = _memo.get(key)
    if cached is not None and now - cached[0] < MATCH_TTL:
        return cached[1][0], list(cached[1][1])
    if len(_memo) >= MATCH_MEMO_SIZE:
        _memo.clear()
    subject, related = _lookup(kind, value)
    _memo[key] = (now, (subject, tuple(related)))
    return subject, related


def counterparts_prefetch(pairs) -> None:
    """Look up many ``(address, channel)`` pairs at once (a batch): one query per record kind and
    address kind for what the memo doesn't know, after which ``counterpart`` answers from the memo."""
    now, wanted = time.monotonic(), {}
    for address, channel in pairs:
        kind, value = normalize_address(address, channel)
        key = (connection.schema_name, kind, value)
        cached = _memo.get(key)
        if value and (cached is None or now - cached[0] >= MATCH_TTL):
            wanted.setdefault(kind, set()).add(value)
    if not wanted:
        return
    if len(_memo) + sum(map(len, wanted.values())) >= MATCH_MEMO_SIZE:
        _memo.clear()
    found: dict[tuple[str, str], list] = {}
    for model in MATCHED_MODELS:  # the rule's order, newest first within each kind
        for kind, values in wanted.items():
            if kind == "phone":
                rows = model.objects.filter(phone__in=values).annotate(matched_address=models.F("phone"))
            else:
                rows = model.objects.alias(email_lower=Lower("email")).filter(email_lower__in=values)
                rows = rows.annotate(matched_address=Lower("email"))
            for row in rows.order_by("-created_at", "-id"):
                found.setdefault((kind, row.matched_address), []).append(row)
    for kind, values in wanted.items():
        for value in values:
            matches = found.get((kind, value), [])
            _memo[(connection.schema_name, kind, value)] = (
                now,
                (matches[0], tuple(matches[1:])) if matches else (None, ()),
            )


def counterpart_forget() -> None:
    """Forget the memo (a triage that must see a record at once, tests)."""
    _memo.clear()


def _lookup(kind: str, value: str) -> tuple[models.Model | None, list[models.Model]]:
    found: list[models.Model] = []
    for model in MATCHED_MODELS:
        # Stored normalized (ContactPointsMixin.clean); equality on the phone / lower(email) indexes.
        if kind == "phone":
            query = model.objects.filter(phone=value)
        else:
            query = model.objects.alias(email_lower=Lower("email")).filter(email_lower=value)
        found.extend(query.order_by("-created_at", "-id"))
    if not found:
        return None, []
    return found[0], found[1:]
