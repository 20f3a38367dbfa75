import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin

from traf3li.core.db import as_owner


def validate_phone_region(value: str) -> None:
    import phonenumbers

    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            _("Unknown phone region: %(value)s (an ISO 3166 code such as SA)."), params={"value": value}
        )


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(_("Unknown timezone: %(value)s"), params={"value": value})


# Retention (privacy.retention purges by these, daily; ADR 0064), with the defaults below.
RETENTION_FIELDS = (
    "retention_email_events_days",
    "retention_case_audit_years",
    "retention_unmatched_inbox_days",
    "retention_webhook_deliveries_days",
)
MAX_RETENTION_DAYS = 36500  # a hundred years: long enough for anything a firm means, short enough to compute


def _retention_days(name, default, help_text):
    return models.PositiveIntegerField(
        name,
        default=default,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text=help_text,
    )


class Firm(TenantMixin):
    """A law firm: one PostgreSQL schema holding all of its data."""

    slug = models.SlugField(_("slug"), max_length=63, unique=True)
    name = models.CharField(_("name"), max_length=200)
    timezone = models.CharField(
        _("timezone"), max_length=64, default=settings.DEFAULT_FIRM_TIMEZONE, validators=[validate_timezone]
    )
    vat_number = models.CharField(_("VAT number"), max_length=32, blank=True)
    # How phone numbers written without a country code are read: the CRM's records and the numbers
    # channels report are both stored in E.164 through it, so that they match.
    phone_region = models.CharField(
        _("default phone region"),
        max_length=2,
        default=settings.PHONE_DEFAULT_REGION,
        validators=[validate_phone_region],
        help_text=_("The country of phone numbers written without a country code (ISO 3166, e.g. SA)."),
    )
    address = models.TextField(_("address"), blank=True)
    # Blank: each user's browser decides (Accept-Language); a user's own preference beats both.
    language = models.CharField(
        _("default language"),
        max_length=8,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("The language of the firm's pages for users without a preference. Blank: the browser's."),
    )
    retention_email_events_days = _retention_days(
        _("email events kept (days)"), 365, _("Email events (opens, clicks, deliveries) older than this are purged.")
    )
    retention_case_audit_years = models.PositiveIntegerField(
        _("case audit kept (years)"),
        default=7,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("A case's audit events older than this are purged, unless the case is under legal hold."),
    )
    retention_unmatched_inbox_days = _retention_days(
        _("unmatched inbox kept (days)"),
        90,
        _("Messages, calls and emails matched to no record are purged after this."),
    )
    retention_webhook_deliveries_days = _retention_days(
        _("webhook deliveries kept (days)"),
        30,
        _("Raw webhook deliveries are purged this long after they were processed."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    auto_create_schema = True
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]
        verbose_name = _("firm")
        verbose_name_plural = _("firms")

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    # The product's role owns no tables and can't create or drop a schema: django-tenants' schema
    # work runs as the owner (ADR 0062). Its migrations grant the product what it needs.
    def create_schema(self, check_if_exists=False, sync_schema=True, verbosity=1):
        with as_owner():
            return super().create_schema(check_if_exists=check_if_exists, sync_schema=sync_schema, verbosity=verbosity)

    def _drop_schema(self, force_drop=False):
        with as_owner():
            return super()._drop_schema(force_drop)


class Domain(DomainMixin):
    """A hostname that resolves to a firm (``<slug>.<BASE_DOMAIN>``)."""

    class Meta:
        verbose_name = _("domain")
        verbose_name_plural = _("domains")
