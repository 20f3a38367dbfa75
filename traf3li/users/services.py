from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from audit.services import audit_record, snapshot
from traf3li.core.writes import apply_changes, copy_saved
from traf3li.users.models import User


@transaction.atomic
def user_create(
    *, username: str, password: str | None, email: str = "", role: str = User.Role.STAFF, actor=None, **extra
) -> User:
    """Create a firm user. Firm admins may use the firm's admin site."""
    user = User(username=username, email=(email or "").lower(), role=role, **extra)
    if role == User.Role.ADMIN:
        user.is_staff = True
        user.is_superuser = True
    if password:
        validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean()
    user.save()
    audit_record(action="create", instance=user, after=snapshot(user), actor=actor)
    return user


@transaction.atomic
def user_update(*, user: User, data: dict, actor=None) -> User:
    """Apply the changes in ``data`` to a firm user; the audit event carries only what changed.

    ``user`` may be stale: the changes go onto a copy read under a row lock and only the changed
    fields are saved, so a field another transaction committed meanwhile is kept (a full save
    would revert it). ``user`` gets the saved row's values back. Nothing changed: no event.
    """
    locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    before = snapshot(locked)
    changes = dict(data)
    if "role" in changes:  # the role decides admin-site access
        changes["is_staff"] = changes["is_superuser"] = changes["role"] == User.Role.ADMIN
    changed = apply_changes(locked, changes)
    copy_saved(locked, user)
    if changed:
        audit_record(action="update", instance=user, before=before, after=snapshot(user), actor=actor)
    return user
