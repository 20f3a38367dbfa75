"""Normalising contact points so channel traffic can be matched to people."""

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext_lazy

ERROR_PHONE = gettext_lazy("Enter a valid phone number, e.g. +966501234567 or 0501234567.")


def phone_region() -> str:
    """The region a number without a country code belongs to: the current firm's, else the default."""
    return getattr(getattr(connection, "tenant", None), "phone_region", "") or settings.PHONE_DEFAULT_REGION


def normalize_phone(value: str | None, region: str | None = None) -> str:
    """Return the E.164 form of a phone number, or '' for blank input; raise on garbage.

    A number without a country code is read in ``region``, else the current firm's region."""
    if not value or not str(value).strip():
        return ""
    raw = str(value).strip()
    if raw.startswith("whatsapp:"):
        raw = raw.removeprefix("whatsapp:")
    try:
        parsed = phonenumbers.parse(raw, region or phone_region())
    except phonenumbers.NumberParseException:
        raise ValidationError(ERROR_PHONE, code="invalid_phone")
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(ERROR_PHONE, code="invalid_phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str | None) -> str:
    return (value or "").strip().lower()
