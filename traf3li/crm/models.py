from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from traf3li.core.normalize import normalize_email, normalize_phone
from traf3li.crm.choices import CaseStatus, ClientKind, LeadSource, LeadStatus


class ContactPointsMixin(models.Model):
    """Email and phone, stored lower-cased and in E.164 so channel traffic can be matched."""

    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, help_text=_("Stored in E.164, e.g. +966501234567"))

    class Meta:
        abstract = True

    def clean(self):
        from django.core.exceptions import ValidationError

        super().clean()
        self.email = normalize_email(self.email)
        try:
            self.phone = normalize_phone(self.phone)
        except ValidationError as exc:
            raise ValidationError({"phone": exc.messages})


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True


class Organization(ContactPointsMixin, TimestampedModel):
    """A company or public body: a client's employer, an opposing party, a court."""

    name = models.CharField(_("name"), max_length=200)
    website = models.URLField(_("website"), blank=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at", "-id"], name="org_created_idx")]

    def __str__(self) -> str:
        return self.name


class Client(ContactPointsMixin, TimestampedModel):
    """A person or company the firm acts for."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=ClientKind.choices, default=ClientKind.INDIVIDUAL)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="clients",
        verbose_name=_("organization"),
    )
    national_id = models.CharField(_("national ID"), max_length=32, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    legal_hold = models.BooleanField(
        _("legal hold"),
        default=False,
        help_text=_("Blocks erasure and retention purges of the client and everything under it."),
    )

    class Meta:
        verbose_name = _("client")
        verbose_name_plural = _("clients")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="client_created_idx"),
            models.Index(fields=["phone"], name="client_phone_idx"),
            models.Index(Lower("email"), name="client_email_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(ContactPointsMixin, TimestampedModel):
    """A person the firm talks to on a client's behalf (or an organization's)."""

    name = models.CharField(_("name"), max_length=200)
    client = models.ForeignKey(
        Client, null=True, blank=True, on_delete=models.CASCADE, related_name="contacts", verbose_name=_("client")
    )
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        verbose_name=_("organization"),
    )
    job_title = models.CharField(_("job title"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="contact_created_idx"),
            models.Index(fields=["phone"], name="contact_phone_idx"),
            models.Index(Lower("email"), name="contact_email_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Lead(ContactPointsMixin, TimestampedModel):
    """A prospective client who has not signed yet."""

    name = models.CharField(_("name"), max_length=200)
    source = models.CharField(_("source"), max_length=16, choices=LeadSource.choices, default=LeadSource.OTHER)
    status = models.CharField(_("status"), max_length=16, choices=LeadStatus.choices, default=LeadStatus.NEW)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="lead_created_idx"),
            models.Index(fields=["phone"], name="lead_phone_idx"),
            models.Index(Lower("email"), name="lead_email_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Case(TimestampedModel):
    """A legal matter handled for a client."""

    title = models.CharField(_("title"), max_length=300)
    case_number = models.CharField(_("case number"), max_length=40, blank=True)
    client = models.ForeignKey(Client, on_delete=models.PROTECT, related_name="cases", verbose_name=_("client"))
    status = models.CharField(_("status"), max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    lawyer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
        verbose_name=_("lawyer"),
    )
    legal_hold = models.BooleanField(
        _("legal hold"), default=False, help_text=_("Blocks erasure and retention purges.")
    )
    description = models.TextField(_("description"), blank=True)
    court = models.CharField(_("court"), max_length=200, blank=True)
    opened_on = models.DateField(_("opened on"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at", "-id"], name="case_created_idx")]

    def __str__(self) -> str:
        return self.title
