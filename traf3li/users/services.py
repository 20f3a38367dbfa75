import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record, snapshot
from traf3li.core.writes import apply_changes, copy_saved
from traf3li.users import roles
from traf3li.users.models import ApiToken, User, api_token_hash


def _role_group_apply(user: User) -> None:
    """Put ``user`` in their role's group, and in no other: the role is the one source of their rights."""
    group = roles.role_group(user.role)
    if list(user.groups.values_list("pk", flat=True)) != [group.pk]:
        user.groups.set([group])


@transaction.atomic
def user_create(
    *, username: str, password: str | None, email: str = "", role: str = User.Role.STAFF, actor=None, **extra
) -> User:
    """Create a firm user, with the admin access and the group their role gives (``traf3li.users.roles``)."""
    user = User(username=username, email=(email or "").lower(), role=role, **extra)
    for name, value in roles.role_flags(role=role, is_active=user.is_active).items():
        setattr(user, name, value)
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:  # the API's and the admin's error names the field
            raise ValidationError({"password": exc.messages}) from exc
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    _role_group_apply(user)
    audit_record(action="create", instance=user, after=snapshot(user), actor=actor)
    return user


@transaction.atomic
def user_update(*, user: User, data: dict, actor=None) -> User:
    """Apply the changes in ``data`` to a firm user; the audit event carries only what changed.

    ``user`` may be stale: the changes go onto a copy read under a row lock and only the changed
    fields are saved, so a field another transaction committed meanwhile is kept (a full save
    would revert it). ``user`` gets the saved row's values back. Nothing changed: no event.
    The role and ``is_active`` decide admin access and the group: ``is_staff``, ``is_superuser``
    and the groups are never set directly.
    """
    locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    before = snapshot(locked)
    changes = {name: value for name, value in data.items() if name not in ("is_staff", "is_superuser", "groups")}
    role, is_active = changes.get("role", locked.role), changes.get("is_active", locked.is_active)
    changes.update(roles.role_flags(role=role, is_active=is_active))
    changed = apply_changes(locked, changes)
    _role_group_apply(locked)
    copy_saved(locked, user)
    if changed:
        audit_record(action="update", instance=user, before=before, after=snapshot(user), actor=actor)
    return user


def user_roles_sync() -> int:
    """Bring every user of the current firm schema in line with their role (flags and group).

    Users created before the roles had groups (or edited behind the services' back) are corrected
    here, each flag change audited like any other. Only the derived fields are written, without
    validating the rest: this runs after every migration, and a row an old version let through
    (a blank password) must not stop a deploy. Returns how many users needed a correction.
    """
    groups = roles.role_groups_sync()
    fixed = 0
    for user in User.objects.prefetch_related("groups").order_by("pk"):
        flags = roles.role_flags(role=user.role, is_active=user.is_active)
        stale = [name for name, value in flags.items() if getattr(user, name) != value]
        if not stale and [group.pk for group in user.groups.all()] == [groups[user.role].pk]:
            continue
        with transaction.atomic():
            locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
            before = snapshot(locked)
            flags = roles.role_flags(role=locked.role, is_active=locked.is_active)
            stale = [name for name, value in flags.items() if getattr(locked, name) != value]
            for name in stale:
                setattr(locked, name, flags[name])
            if stale:
                locked.save(update_fields=stale)
                audit_record(action="update", instance=locked, before=before, after=snapshot(locked))
            _role_group_apply(locked)
        fixed += 1
    return fixed


# --- API tokens (ADR 0036) ------------------------------------------------------------------------


def api_token_expiry(now):
    return now + timedelta(days=settings.API_TOKEN_EXPIRY_DAYS)


@transaction.atomic
def api_token_issue(*, user: User, actor=None, token: str | None = None) -> tuple[ApiToken, str]:
    """A new API token for ``user``; returns its row and the token itself, which is stored nowhere.

    ``token`` is for the demo's documented, fixed token only: issued again, the same token is
    renewed (a new expiry, not revoked) instead of added twice. Everyone else gets 256 random bits.
    """
    now = timezone.now()
    token = token or secrets.token_urlsafe(32)
    digest = api_token_hash(token)
    existing = ApiToken.objects.select_for_update().filter(token_hash=digest, user=user).first()
    if existing is not None:
        before = snapshot(existing)
        existing.expires_at, existing.revoked_at = api_token_expiry(now), None
        existing.save(update_fields=["expires_at", "revoked_at"])
        audit_record(
            action="issue_api_token", instance=existing, before=before, after=snapshot(existing), actor=actor or user
        )
        return existing, token
    # Issuing counts as the first use: the token's first requests then write nothing (ADR 0036).
    issued = ApiToken.objects.create(
        user=user,
        prefix=token[: ApiToken.PREFIX_LENGTH],
        token_hash=digest,
        expires_at=api_token_expiry(now),
        last_used_at=now,
    )
    audit_record(action="issue_api_token", instance=issued, after=snapshot(issued), actor=actor or user)
    return issued, token


def _revoke_locked(tokens, *, actor, now) -> int:
    revoked = 0
    for token in tokens:
        if token.revoked_at is not None:
            continue
        before = snapshot(token)
        token.revoked_at = now
        token.save(update_fields=["revoked_at"])  # post_save: every process forgets its tokens (ADR 0034)
        audit_record(action="revoke_api_token", instance=token, before=before, after=snapshot(token), actor=actor)
        revoked += 1
    return revoked


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor=None) -> bool:
    """Stop one token from working, in every process at once; False when it was revoked already."""
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    revoked = _revoke_locked([locked], actor=actor, now=timezone.now())
    token.revoked_at = locked.revoked_at
    return bool(revoked)


@transaction.atomic
def api_token_revoke_all(*, user: User, actor=None) -> int:
    """Log ``user`` out of the API everywhere: revoke every token of theirs still working; returns how many."""
    now = timezone.now()
    working = ApiToken.objects.select_for_update().filter(user=user, revoked_at__isnull=True, expires_at__gt=now)
    return _revoke_locked(working.order_by("id"), actor=actor, now=now)


def api_token_touch(token: ApiToken, now) -> bool:
    """Note that ``token`` was used, unless that was noted less than the setting's seconds ago.

    An UPDATE without signals: the token caches stay (``token`` itself gets the new time).
    """
    every = timedelta(seconds=settings.API_TOKEN_LAST_USED_EVERY_SECONDS)
    if token.last_used_at is not None and now - token.last_used_at < every:
        return False
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
    return True


@transaction.atomic
def api_tokens_prune(*, now=None) -> int:
    """Delete the rows of the firm's tokens that stopped working (expired or revoked) more than
    ``API_TOKEN_KEEP_DAYS`` ago; returns how many. Until then a user's list shows them, so a leak
    can still be traced to a token. Their issue and revoke events stay in the audit log, and the
    prune is one event on the firm naming each row it deleted."""
    from traf3li.firms.selectors import firm_current

    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.API_TOKEN_KEEP_DAYS)
    dead = ApiToken.objects.select_for_update().filter(Q(expires_at__lt=cutoff) | Q(revoked_at__lt=cutoff))
    rows = list(dead.order_by("id").values_list("id", "prefix", "user_id"))
    if not rows:
        return 0
    ApiToken.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
    audit_record(
        action="prune_api_tokens",
        instance=firm_current(),
        after={"dead_before": cutoff.isoformat(), "deleted": len(rows), "tokens": [list(r) for r in rows]},
    )
    return len(rows)
