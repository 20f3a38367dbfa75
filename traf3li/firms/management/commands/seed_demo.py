import importlib

from django.core.management.base import BaseCommand
from django.db import connection
from django_tenants.utils import schema_context

from traf3li.core.context import command_context
from traf3li.firms.services import firm_create, firm_update

# slug: (name, timezone, default language): nour's staff see the back office in Arabic out of the box.
DEMO_FIRMS = {"acme": ("Acme Law", "Asia/Riyadh", "en"), "nour": ("مكتب نور للمحاماة", "Asia/Riyadh", "ar")}
DEMO_USERS = {
    "admin": ("admin", "demo-admin-2026"),
    "lawyer": ("lawyer", "demo-lawyer-2026"),
    "staff": ("staff", "demo-staff-2026"),
}
# Each app that has demo data exposes ``seed(firm, rng)`` in ``<app>/demo.py``; each is idempotent.
SEEDERS = [
    "traf3li.crm.demo",
    "timeline.demo",
    "timeline.activities.demo",
    "timeline.events.demo",
    "billing.demo",
    "messaging.demo",
    "audit.demo",
]


def demo_token(slug: str) -> str:
    return f"{slug}-demo-token-".ljust(40, "0")


class Command(BaseCommand):
    help = "Load the demo firms acme and nour with realistic data. Running it twice changes nothing."

    def handle(self, *args, **opts):
        import random

        from traf3li.users.models import User
        from traf3li.users.services import api_token_issue, user_create

        with command_context("seed_demo"):
            for slug, (name, tz, language) in DEMO_FIRMS.items():
                result = firm_create(slug=slug, name=name, timezone=tz)
                firm = result.firm
                if firm.language != language:
                    firm = firm_update(firm=firm, data={"language": language})
                with schema_context(slug):
                    connection.set_tenant(firm)
                    for role, (username, password) in DEMO_USERS.items():
                        if not User.objects.filter(username=username).exists():
                            user_create(
                                username=username,
                                password=password,
                                role=role,
                                email=f"{username}@{slug}.example.com",
                                first_name={"admin": "Huda", "lawyer": "Faisal", "staff": "Reem"}[role],
                                last_name={"admin": "Al-Otaibi", "lawyer": "Al-Qahtani", "staff": "Al-Shehri"}[role],
                            )
                    for module_name in SEEDERS:
                        try:
                            module = importlib.import_module(module_name)
                        except ModuleNotFoundError:
                            continue
                        module.seed(firm, random.Random(f"{slug}-{module_name}"))
                    # A documented, fixed token for the demo admin so the README's curl works as written;
                    # each run renews it (it expires like any token, ADR 0036).
                    _, token = api_token_issue(user=User.objects.get(username="admin"), token=demo_token(slug))
                    self.stdout.write(f"Firm {slug} ready; admin token: {token}")
                connection.set_schema_to_public()
