from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from audit.services import audit_record, snapshot
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
    before = snapshot(User.objects.select_for_update().get(pk=user.pk))
    for name, value in data.items():
        setattr(user, name, value)
    if "role" in data:
        user.is_staff = user.is_superuser = user.role == User.Role.ADMIN
    user.full_clean()
    user.save()
    audit_record(action="update", instance=user, before=before, after=snapshot(user), actor=actor)
    return user
