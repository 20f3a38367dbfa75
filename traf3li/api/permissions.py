from django.utils.translation import gettext_lazy
from rest_framework.permissions import BasePermission

ERROR_ADMIN_ONLY = gettext_lazy("Only the firm's admins may do this.")


class IsFirmAdmin(BasePermission):
    """The contract reserves audit and privacy endpoints for the firm's `admin` role."""

    message = ERROR_ADMIN_ONLY

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and getattr(user, "role", None) == "admin")
