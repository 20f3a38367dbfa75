from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A person who works in one firm (firm schema) or runs the platform (public schema)."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Admin")
        LAWYER = "lawyer", _("Lawyer")
        STAFF = "staff", _("Staff")

    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.STAFF)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    # Blank follows the firm's default language (and that, when blank too, the browser's).
    language = models.CharField(
        _("language"),
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("The language of your pages. Blank: the firm's default language."),
    )

    class Meta:
        ordering = ["id"]
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            # "Sara" and "sara" are one person to everyone reading a list of names.
            models.UniqueConstraint(
                Lower("username"),
                name="users_username_unique_ignoring_case",
                violation_error_message=_("A user with that username already exists."),
            ),
        ]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def is_firm_admin(self) -> bool:
        return self.role == self.Role.ADMIN
