"""Creating firms (the tenant, its domain and its first admin, idempotently) and their settings."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django_tenants.utils import schema_context

from audit.services import audit_record, snapshot
from traf3li.firms.models import RETENTION_FIELDS, Domain, Firm
from traf3li.firms.signals import firm_timezone_changed

RESERVED_SLUGS = {"public", "www", "admin", "api", "pg_catalog", "information_schema"}
FIRM_SETTINGS = ("name", "timezone", "vat_number", "address", "language", "phone_region", *RETENTION_FIELDS)
ERROR_NOT_A_SETTING = "Only these firm settings can change: {fields}."


@dataclass
class FirmResult:
    firm: Firm
    created: bool
    admin_created: bool


def firm_domain(slug: str) -> str:
    return f"{slug}.{settings.BASE_DOMAIN}"


def firm_create(
    *,
    slug: str,
    name: str,
    timezone: str = settings.DEFAULT_FIRM_TIMEZONE,
    admin_username: str | None = None,
    admin_password: str | None = None,
    admin_email: str = "",
) -> FirmResult:
    """Create the firm, its domain and an admin; an existing firm is left exactly as it is."""
    from traf3li.users.services import user_create

    slug = slug.strip().lower()
    if slug in RESERVED_SLUGS or not slug.replace("_", "").isalnum() or slug[0].isdigit():
        raise ValueError(f"'{slug}' can't be a firm slug: use letters, digits and underscores.")
    firm = Firm.objects.filter(schema_name=slug).first()
    created = firm is None
    if created:
        firm = Firm(schema_name=slug, slug=slug, name=name, timezone=timezone)
        firm.full_clean(exclude=["schema_name"])
        firm.save()  # creates and migrates the schema (auto_create_schema)
        # The firm's own audit log starts with its creation (the schema exists only now).
        with schema_context(firm.schema_name), transaction.atomic():
            audit_record(action="create", instance=firm, after=snapshot(firm))
    with transaction.atomic():
        Domain.objects.get_or_create(domain=firm_domain(slug), defaults={"tenant": firm, "is_primary": True})
    admin_created = False
    if admin_username:
        from traf3li.users.models import User

        with schema_context(firm.schema_name):
            if not User.objects.filter(username=admin_username).exists():
                user_create(
                    username=admin_username,
                    password=admin_password,
                    email=admin_email,
                    role=User.Role.ADMIN,
                    actor=None,
                )
                admin_created = True
    return FirmResult(firm=firm, created=created, admin_created=admin_created)


def firm_update(*, firm: Firm, data: dict, actor=None) -> Firm:
    """Change the firm's settings; the event lands in the firm's own audit log.

    A timezone change sends ``firm_timezone_changed`` in this transaction (see ``signals``), so what
    is cut by the firm-local day (the stats rollups) is re-cut before the change commits.
    """
    unknown = set(data) - set(FIRM_SETTINGS)
    if unknown:
        raise ValueError(ERROR_NOT_A_SETTING.format(fields=", ".join(FIRM_SETTINGS)))
    # The whole transaction, its COMMIT included, runs in the firm's schema (the firms table is in
    # public, on the search path): what the firm's tables owe at commit lands in them even when the
    # platform admin calls from the public schema.
    with schema_context(firm.schema_name), transaction.atomic():
        # Lock and re-read: the admin hands us an already-mutated instance.
        before = snapshot(Firm.objects.select_for_update().get(pk=firm.pk))
        for name, value in data.items():
            setattr(firm, name, value)
        firm.full_clean(exclude=["schema_name"])
        firm.save(update_fields=list(FIRM_SETTINGS))
        if firm.timezone != before["timezone"]:
            # Before the audit event: receivers lock what they change before the audit head, which
            # every writer takes last.
            firm_timezone_changed.send(
                sender=Firm, firm=firm, old_timezone=before["timezone"], new_timezone=firm.timezone
            )
        audit_record(action="update", instance=firm, before=before, after=snapshot(firm), actor=actor)
    return firm
