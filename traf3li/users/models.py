from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who works in one firm (firm schema) or runs the platform (public schema)."""

    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        LAWYER = "lawyer", "Lawyer"
        STAFF = "staff", "Staff"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STAFF)
    phone = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["id"]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def is_firm_admin(self) -> bool:
        return self.role == self.Role.ADMIN
