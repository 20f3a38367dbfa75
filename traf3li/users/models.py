import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
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


def api_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    """An API token of a firm user, stored as its SHA-256 (ADR 0036): the token is shown once, when issued.

    ``prefix`` (its first characters) finds the row and names the token in lists; it is not enough
    to use it. A token works until ``expires_at`` unless revoked; ``last_used_at`` is written at most
    once every ``API_TOKEN_LAST_USED_EVERY_SECONDS`` (issuing counts as a use).
    """

    PREFIX_LENGTH = 8

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    prefix = models.CharField(_("prefix"), max_length=PREFIX_LENGTH, db_index=True, editable=False)
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at", "id"], name="api_token_user_created_idx")]

    def __str__(self) -> str:
        return f"{self.prefix}…"

    def is_active_at(self, now) -> bool:
        return self.revoked_at is None and now < self.expires_at

    @property
    def is_active(self) -> bool:
        return self.is_active_at(timezone.now())
