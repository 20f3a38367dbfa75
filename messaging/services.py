"""Writes of the messaging app: channel accounts, accepted deliveries, refusal counters.

Lock order (ADR 0030): a delivery is one statement (its replay key's INSERT … ON CONFLICT DO
NOTHING, then the delivery's INSERT) in a transaction of its own, with nothing else locked; a
refusal is one upsert of its counter row, also alone. Neither holds a lock across network I/O:
the provider's request is read before, the task is queued after the commit.
"""

import hashlib
import json
import logging
import time
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.services import audit_record, snapshot
from messaging import crypto
from messaging.choices import IDENTIFIERS, OPTIONAL_CREDENTIALS, SECRETS, Provider
from messaging.models import ChannelAccount, DeliveryKey, RejectedDelivery, WebhookDelivery
from traf3li.core.writes import apply_changes, copy_saved

log = logging.getLogger(__name__)

ERROR_UNKNOWN_CREDENTIAL = _("Unknown credential '{name}' for {provider}. Expected: {expected}.")
ERROR_MISSING_CREDENTIAL = _("This field is required for {provider}.")
ERROR_ONE_ACTIVE = _("This firm already has an active {provider} account.")
ERROR_ONE_ACTIVE_NUMBER = _("An active WhatsApp account already uses this phone number id.")


def _split_credentials(provider: str, credentials: dict, *, partial: bool, current: dict | None = None):
    """(identifier columns, secrets) from the contract's ``credentials`` object, validated."""
    identifiers, secret_names = IDENTIFIERS[provider], SECRETS[provider]
    expected = (*identifiers, *secret_names)
    label = Provider(provider).label
    errors = {}
    for name in credentials:
        if name not in expected:
            errors[name] = str(ERROR_UNKNOWN_CREDENTIAL.format(name=name, provider=label, expected=", ".join(expected)))
    columns = {name: str(credentials[name]).strip() for name in identifiers if name in credentials}
    secrets = dict(current or {})
    secrets.update({name: str(credentials[name]).strip() for name in secret_names if name in credentials})
    if not partial:
        for name in (name for name in expected if name not in OPTIONAL_CREDENTIALS):
            if not (columns.get(name) if name in identifiers else secrets.get(name)):
                errors[name] = str(ERROR_MISSING_CREDENTIAL.format(provider=label))
    if errors:
        raise ValidationError({"credentials": [f"{name}: {message}" for name, message in sorted(errors.items())]})
    return columns, secrets


def credentials_check(provider: str, credentials: dict, *, partial: bool) -> None:
    """Raise the ValidationError a create (or, ``partial``, a change) with these credentials would."""
    _split_credentials(provider, credentials, partial=partial)


def _store_secrets(account: ChannelAccount, secrets: dict) -> None:
    account.secrets_encrypted = crypto.encrypt(secrets)
    account.secrets_fingerprint = crypto.fingerprint(secrets)


@contextmanager
def _one_active_account(account: ChannelAccount):
    """Turn the one-active-account constraints into the API's 400 (a savepoint keeps the rest)."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        if "messaging_one_active_whatsapp_per_number" in str(exc):
            raise ValidationError({"phone_number_id": [str(ERROR_ONE_ACTIVE_NUMBER)]}) from exc
        if "messaging_one_active_account_per_provider" in str(exc):
            provider = Provider(account.provider).label
            raise ValidationError({"provider": [str(ERROR_ONE_ACTIVE.format(provider=provider))]}) from exc
        raise


@transaction.atomic
def channel_account_create(*, provider: str, name: str, credentials: dict, is_active: bool = True, actor=None):
    if provider not in Provider.values:
        raise ValidationError({"provider": [f"'{provider}' is not a provider."]})
    columns, secrets = _split_credentials(provider, credentials or {}, partial=False)
    account = ChannelAccount(provider=provider, name=name, is_active=is_active, **columns)
    _store_secrets(account, secrets)
    account.full_clean()
    with _one_active_account(account):
        account.save()
    audit_record(action="create", instance=account, after=snapshot(account), actor=actor)
    return account


@transaction.atomic
def channel_account_update(*, account: ChannelAccount, data: dict, credentials: dict | None = None, actor=None):
    """Change the name, ``is_active`` or credentials; a secret not sent keeps its value."""
    locked = ChannelAccount.objects.select_for_update(no_key=True).get(pk=account.pk)
    before = snapshot(locked)
    changes = {key: data[key] for key in ("name", "is_active") if key in data}
    if credentials:
        columns, secrets = _split_credentials(locked.provider, credentials, partial=True, current=locked.secrets)
        changes.update(columns)
        if secrets != locked.secrets:
            changes["secrets_encrypted"] = crypto.encrypt(secrets)
            changes["secrets_fingerprint"] = crypto.fingerprint(secrets)
    with _one_active_account(locked):
        changed = apply_changes(locked, changes) if changes else []
    copy_saved(locked, account)
    if changed:
        audit_record(action="update", instance=account, before=before, after=snapshot(account), actor=actor)
    return account


def channel_secrets_rotate() -> int:
    """Re-encrypt every account's secrets with the newest key; returns how many rows changed."""
    done = 0
    for pk in ChannelAccount.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            account = ChannelAccount.objects.select_for_update(no_key=True).get(pk=pk)
            if account.secrets_encrypted:
                account.secrets_encrypted = crypto.rotate(account.secrets_encrypted)
                account.save(update_fields=["secrets_encrypted"])
                done += 1
    return done


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def delivery_accept(
    *, provider: str, endpoint: str, account: ChannelAccount, headers: dict, body: bytes, dedup_key: str | None = None
) -> tuple[WebhookDelivery | None, bool]:
    """Store a verified delivery and commit it; (delivery, created). A replay finds the first one.

    Its own transaction (one autocommitted statement), committed before the webhook answers: what
    the provider was told is accepted is on disk. Processing is queued after the commit; if Redis
    is down the sweeper picks it up.
    """
    digest = body_digest(body)
    key = dedup_key or digest
    # One statement: the replay key (unique, outside the deliveries' monthly partitions: ADR 0064)
    # and, only if the key is new, the delivery. A replay inserts nothing and finds the first one.
    insert = f"""
        WITH k AS (
            INSERT INTO {DeliveryKey._meta.db_table} (provider, dedup_key, received_at) VALUES (%s, %s, %s)
            ON CONFLICT (provider, dedup_key) DO NOTHING
            RETURNING provider, dedup_key, received_at
        )
        INSERT INTO {WebhookDelivery._meta.db_table} (provider, endpoint, account_id, received_at, headers, body,
                                                     body_digest, dedup_key, signature_ok, attempts, last_error)
        SELECT k.provider, %s, %s, k.received_at, %s::jsonb, %s, %s, k.dedup_key, true, 0, '' FROM k
        RETURNING id
    """
    params = [provider, key, timezone.now(), endpoint, account.pk, _json(headers), body, digest]

    def stored():
        with connection.cursor() as cursor:
            cursor.execute(insert, params)
            return cursor.fetchone()

    if connection.get_autocommit() and not connection.in_atomic_block:
        # One statement is its own transaction: committed when it returns, with no BEGIN and COMMIT
        # round trips (the webhook's hot path).
        row = stored()
        if row is not None:
            _enqueue(row[0])
    else:  # inside a caller's transaction: the task is queued once that commits
        with transaction.atomic():
            row = stored()
            if row is not None:
                transaction.on_commit(lambda: _enqueue(row[0]))
    if row is None:
        return WebhookDelivery.objects.filter(provider=provider, dedup_key=key).first(), False
    # What the caller needs of the row it just wrote, without reading it back.
    delivery = WebhookDelivery(
        id=row[0], provider=provider, endpoint=endpoint, account=account, body=body, body_digest=digest, dedup_key=key
    )
    delivery._state.adding = False
    return delivery, True


def _json(value) -> str:
    return json.dumps(value, sort_keys=True)


# One processing task per firm per second and process, not one per delivery: a burst is one batch.
# A process queues the task to run a second after its window closes; a delivery inside the window
# is committed by then, so that task takes it. Whatever a task still misses, the sweeper (beat,
# every minute) takes. No Redis round trip per delivery: the window is the process's own.
PROCESS_WINDOW_SECONDS = 1.0
_queued_at: dict[str, float] = {}


def _enqueue(delivery_id: int) -> None:
    from messaging.tasks import deliveries_process_task

    schema, now = connection.schema_name, time.monotonic()
    if now - _queued_at.get(schema, -PROCESS_WINDOW_SECONDS) < PROCESS_WINDOW_SECONDS:
        return
    try:
        deliveries_process_task.apply_async(countdown=PROCESS_WINDOW_SECONDS + 1)
        _queued_at[schema] = now
    except Exception:  # noqa: BLE001 - Redis down: the delivery is stored; the sweeper re-drives it
        log.warning("could not queue processing of delivery %s; the sweeper will", delivery_id, exc_info=True)


def delivery_refused(*, provider: str, reason: str) -> None:
    """Count a refused delivery (bad or missing signature, replayed token): nothing else is kept."""
    table = RejectedDelivery._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (provider, reason, count, last_at) VALUES (%s, %s, 1, %s)
            ON CONFLICT (provider, reason) DO UPDATE SET count = {table}.count + 1, last_at = EXCLUDED.last_at
            """,
            [provider, reason, timezone.now()],
        )
