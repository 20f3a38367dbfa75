"""Retention (ADR 0064): the purge drops email events by monthly partition, deletes the rest by row,
keeps whatever is under legal hold (a case's or a client's, through the hierarchy), leaves a receipt
that verifies, and its settings and dry run are the firm's admins' alone."""

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from billing import services as billing
from conftest import api_client_for
from messaging import services
from messaging.models import (
    ChannelAccount,
    DeliveryKey,
    EmailEvent,
    EmailMessage,
    Message,
    ProcessedEvent,
    WebhookDelivery,
)
from privacy import retention
from privacy.api.retention_serializers import RetentionRunSerializer
from traf3li.core.privacy import SubjectHeldError, legal_hold_check, subject_held
from traf3li.crm import services as crm
from traf3li.crm.models import Case, Client, Contact

pytestmark = pytest.mark.django_db
DRY_RUN = "/api/v1/privacy/retention/dry-run/"
LATER = timedelta(days=8 * 366)  # "now" for the purge: everything written today has aged out


def partitions(schema) -> set[str]:
    return {name for name, _ in retention.partitions_of(schema, retention.EMAIL_EVENTS_BY_MONTH)}


def ids_digest(ids) -> str:
    return hashlib.sha256(",".join(str(i) for i in sorted(ids)).encode()).hexdigest()


class World:
    """Two clients: ``held`` (a client hold, or a held case) and ``free``; each a contact with an
    email and its events, an SMS and the webhook delivery it came by."""

    def __init__(self, actor, *, hold: str):
        self.held_client = crm.record_create(
            instance=Client(name="Held client", legal_hold=hold == "client"), actor=actor
        )
        self.free_client = crm.record_create(instance=Client(name="Free client"), actor=actor)
        self.held_case = crm.record_create(
            instance=Case(title="Held matter", client=self.held_client, legal_hold=hold == "case"), actor=actor
        )
        self.free_case = crm.record_create(instance=Case(title="Free matter", client=self.free_client), actor=actor)
        self.held_contact = crm.record_create(
            instance=Contact(name="Held person", client=self.held_client), actor=actor
        )
        self.free_contact = crm.record_create(
            instance=Contact(name="Free person", client=self.free_client), actor=actor
        )
        account = ChannelAccount.objects.create(provider="twilio", name="Retention", from_number="+966110000000")
        self.events, self.deliveries, self.emails = {}, {}, {}
        for side, contact in (("held", self.held_contact), ("free", self.free_contact)):
            email = EmailMessage.objects.create(
                subject_type="contact", subject_id=contact.pk, provider="sendgrid", message_id=f"ret-{side}",
                recipient=f"{side}@example.sa",
            )  # fmt: skip
            self.emails[side] = email
            self.events[side] = [
                EmailEvent.objects.create(
                    provider="sendgrid",
                    idempotency_key=f"ret-{side}-{n}:open",
                    message=email,
                    event="open",
                    occurred_at=timezone.now() - timedelta(seconds=n),
                )  # fmt: skip
                for n in range(3)
            ]
            Message.objects.create(
                subject_type="contact", subject_id=contact.pk, provider="twilio", channel="sms", direction="inbound",
                external_id=f"SM-ret-{side}", from_address="+966500000000", body="hello",
            )  # fmt: skip
            delivery = WebhookDelivery.objects.create(
                account=account, provider="twilio", endpoint="twilio_sms", body=b"Body=hello", body_digest="0" * 64,
                dedup_key=f"ret-dl-{side}", processed_at=timezone.now(),
            )  # fmt: skip
            ProcessedEvent.objects.create(
                provider="twilio", idempotency_key=f"SM-ret-{side}:received", delivery=delivery
            )
            self.deliveries[side] = delivery
        self.unmatched = Message.objects.create(
            provider="twilio", channel="sms", direction="inbound", external_id="SM-ret-nobody", body="who is this",
        )  # fmt: skip
        self.unmatched_email = EmailMessage.objects.create(provider="sendgrid", message_id="ret-nobody")
        self.unmatched_event = EmailEvent.objects.create(
            provider="sendgrid", idempotency_key="ret-nobody:open", message=self.unmatched_email, event="open",
            occurred_at=timezone.now(),
        )  # fmt: skip


@pytest.fixture(params=["case", "client"])
def world(request, in_firm_a, admin_a):
    return World(admin_a, hold=request.param)


def test_the_purge_drops_whole_partitions_and_keeps_what_is_held(world, in_firm_a, admin_a, api_a):
    schema = in_firm_a.schema_name
    this_month = retention.EMAIL_EVENTS_BY_MONTH.partition(retention._month_start(timezone.now()))
    assert this_month in partitions(schema)  # the migration made the month's partition
    free_ids = [event.pk for event in world.events["free"]]
    mine = [*world.emails.values(), world.unmatched_email]
    every_other = set(EmailEvent.objects.exclude(message__in=mine).values_list("pk", flat=True))
    # when
    receipt = retention.retention_purge(actor=admin_a, now=timezone.now() + LATER)
    # then: this month's partition is gone (dropped, not emptied) and a new one ahead exists
    assert this_month not in partitions(schema)
    ahead = retention.EMAIL_EVENTS_BY_MONTH.partition(retention._month_start(timezone.now() + LATER))
    assert ahead in partitions(schema)
    assert not EmailEvent.objects.filter(pk__in=free_ids).exists()
    # the held email's events survive, now in the DEFAULT partition
    held_ids = {event.pk for event in world.events["held"]}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {retention.DEFAULT_PARTITION}")
        assert {row[0] for row in cursor.fetchall()} >= held_ids
    assert set(EmailEvent.objects.values_list("pk", flat=True)) == held_ids
    # the free SMS's delivery went with the event it was counted by; the held one stays
    assert not WebhookDelivery.objects.filter(pk=world.deliveries["free"].pk).exists()
    assert not ProcessedEvent.objects.filter(delivery_id=world.deliveries["free"].pk).exists()
    assert WebhookDelivery.objects.filter(pk=world.deliveries["held"].pk).exists()
    assert not Message.objects.filter(pk=world.unmatched.pk).exists()
    assert Message.objects.filter(external_id="SM-ret-held").exists()  # matched messages are not the inbox's
    # the held case's audit stays; the free case's went
    assert AuditEvent.objects.filter(case_id=world.held_case.pk).exists()
    assert not AuditEvent.objects.filter(case_id=world.free_case.pk).exists()
    # the receipt: one event, counts per table, the range, digests of the ids
    event = AuditEvent.objects.filter(action="retention_purge").latest("seq")
    assert event.entity_type == "firm" and event.changes["after"] == receipt
    tables = {table["model"]: table for table in receipt["tables"]}
    events_table = tables["messaging.EmailEvent"]
    assert events_table["method"] == "partition" and this_month in events_table["partitions_dropped"]
    assert events_table["removed"] == len(free_ids) + len(every_other)
    assert events_table["kept_under_hold"] == len(held_ids)
    dropped = next(part for part in events_table["parts"] if part["name"] == this_month)
    assert dropped["sha256"] == ids_digest([*free_ids, *every_other])
    assert tables["messaging.WebhookDelivery"]["kept_under_hold"] == 1
    assert tables["messaging.Message"]["parts"][0]["sha256"] == ids_digest([world.unmatched.pk])
    # an unmatched email goes with its events, listed with it
    assert not EmailMessage.objects.filter(pk=world.unmatched_email.pk).exists()
    email_parts = tables["messaging.EmailMessage"]["parts"]
    assert [(part["name"], part["removed"]) for part in email_parts] == [
        ("messaging_emailmessage", 1), ("messaging_emailevent", 1)
    ]  # fmt: skip
    assert email_parts[1]["sha256"] == ids_digest([world.unmatched_event.pk])
    assert tables["audit.AuditEvent"]["removed"] > 0 and tables["audit.AuditEvent"]["kept_under_hold"] > 0
    assert "Held person" not in str(receipt) and "hello" not in str(receipt)  # ids and counts, no content
    verify = api_a.get("/api/v1/audit/verify/?full=true")
    assert verify.status_code == 200 and verify.json()["ok"] is True, verify.json()


def test_a_lifted_hold_lets_the_next_purge_remove_what_it_kept(world, in_firm_a, admin_a):
    later = timezone.now() + LATER
    retention.retention_purge(actor=admin_a, now=later)
    held_ids = [event.pk for event in world.events["held"]]
    assert EmailEvent.objects.filter(pk__in=held_ids).count() == 3
    for record in (world.held_case, world.held_client):
        crm.record_update(instance=record, data={"legal_hold": False}, actor=admin_a)
    receipt = retention.retention_purge(actor=admin_a, now=later)
    assert not EmailEvent.objects.filter(pk__in=held_ids).exists()
    default = next(t for t in receipt["tables"] if t["model"] == "messaging.EmailEvent")["parts"][0]
    assert default["name"] == retention.DEFAULT_PARTITION and default["removed"] == 3
    assert default["sha256"] == ids_digest(held_ids)


def test_the_dry_run_says_what_would_go_and_changes_nothing(world, in_firm_a, api_a):
    before = (EmailEvent.objects.count(), AuditEvent.objects.count(), partitions(in_firm_a.schema_name))
    response = api_a.get(DRY_RUN)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dry_run"] is True and body["settings"]["email_events_days"] == 365
    shape = RetentionRunSerializer(data=body)  # the answer is what the schema says
    assert shape.is_valid(), shape.errors
    tables = {table["model"]: table for table in body["tables"]}
    assert tables["messaging.EmailEvent"]["removed"] == 0  # today's events are not a year old
    assert tables["messaging.Message"]["removed"] == 0
    # with "now" eight years on, it lists what the purge would take
    later = retention.retention_dry_run(now=timezone.now() + LATER)
    tables = {table["model"]: table for table in later["tables"]}
    assert tables["messaging.EmailEvent"]["kept_under_hold"] == 3
    assert tables["messaging.Message"]["removed"] == 1
    assert (EmailEvent.objects.count(), AuditEvent.objects.count(), partitions(in_firm_a.schema_name)) == before


def stored_delivery(account, key: str, *, processed_at, received_at=None) -> WebhookDelivery:
    """A delivery as ``delivery_accept`` stores it: with its replay key."""
    received_at = received_at or timezone.now()
    DeliveryKey.objects.get_or_create(provider="twilio", dedup_key=key, defaults={"received_at": received_at})
    return WebhookDelivery.objects.create(
        account=account, provider="twilio", endpoint="twilio_sms", body=b"Body=hi", body_digest="0" * 64,
        dedup_key=key, received_at=received_at, processed_at=processed_at,
    )  # fmt: skip


def test_the_purge_drops_the_deliveries_month_and_keeps_held_unprocessed_and_recent(world, in_firm_a, admin_a, api_a):
    schema, later = in_firm_a.schema_name, timezone.now() + LATER
    by_month = retention.DELIVERIES_BY_MONTH
    this_month = by_month.partition(retention._month_start(timezone.now()))
    account = ChannelAccount.objects.get(name="Retention")
    for made in world.deliveries.values():
        DeliveryKey.objects.create(provider="twilio", dedup_key=made.dedup_key, received_at=made.received_at)
    owed = stored_delivery(account, "ret-owed", processed_at=None)  # accepted, not processed yet
    recent = stored_delivery(account, "ret-recent", processed_at=later - timedelta(days=1))  # processed late
    old = stored_delivery(account, "ret-old", processed_at=timezone.now())
    ProcessedEvent.objects.create(provider="twilio", idempotency_key="SM-ret-old:received", delivery=old)
    kept = {world.deliveries["held"].pk, owed.pk, recent.pk}
    removed = set(WebhookDelivery.objects.values_list("pk", flat=True)) - kept
    assert {world.deliveries["free"].pk, old.pk} <= removed
    dry = {t["model"]: t for t in retention.retention_dry_run(now=later)["tables"]}["messaging.WebhookDelivery"]
    # when
    receipt = retention.retention_purge(actor=admin_a, now=later)
    # then: the month's partition is gone; what it kept is in DEFAULT, with its key and events
    assert this_month not in {name for name, _ in retention.partitions_of(schema, by_month)}
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == kept
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {by_month.default}")
        assert {row[0] for row in cursor.fetchall()} == kept
    assert set(DeliveryKey.objects.values_list("dedup_key", flat=True)) == {"ret-dl-held", "ret-owed", "ret-recent"}
    assert not ProcessedEvent.objects.filter(delivery_id__in=removed).exists()
    assert ProcessedEvent.objects.filter(delivery_id=world.deliveries["held"].pk).count() == 1
    table = {t["model"]: t for t in receipt["tables"]}["messaging.WebhookDelivery"]
    assert table["method"] == "partition" and table["partitions_dropped"][0] == this_month  # and the months ahead
    assert table["kept_under_hold"] == 1 and table["removed"] == len(removed)
    dropped = next(part for part in table["parts"] if part["name"] == this_month)
    assert dropped["sha256"] == ids_digest(removed)
    assert {k: dry[k] for k in ("removed", "sha256", "kept_under_hold", "partitions_dropped")} == {
        k: table[k] for k in ("removed", "sha256", "kept_under_hold", "partitions_dropped")
    }  # the dry run said so
    verify = api_a.get("/api/v1/audit/verify/?full=true")
    assert verify.status_code == 200 and verify.json()["ok"] is True, verify.json()
    # a replay of a kept delivery is still refused; one of a removed delivery is accepted again (ADR 0064)
    replay = {"provider": "twilio", "endpoint": "twilio_sms", "account": account, "headers": {}, "body": b"x"}
    assert services.delivery_accept(**replay, dedup_key="ret-owed") == (owed, False)
    again, created = services.delivery_accept(**replay, dedup_key="ret-old")
    assert created and again.pk not in removed | kept
    # when: the hold is lifted and the owed one processed, the next run deletes them from DEFAULT by row
    for record in (world.held_case, world.held_client):
        crm.record_update(instance=record, data={"legal_hold": False}, actor=admin_a)
    WebhookDelivery.objects.filter(pk=owed.pk).update(processed_at=timezone.now())
    receipt = retention.retention_purge(actor=admin_a, now=later)
    table = {t["model"]: t for t in receipt["tables"]}["messaging.WebhookDelivery"]
    default = table["parts"][0]
    assert default["name"] == by_month.default and default["removed"] == 2
    assert default["sha256"] == ids_digest([world.deliveries["held"].pk, owed.pk])
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {recent.pk, again.pk}
    assert set(DeliveryKey.objects.values_list("dedup_key", flat=True)) == {"ret-recent", "ret-old"}
    assert not ProcessedEvent.objects.filter(delivery_id=world.deliveries["held"].pk).exists()


def test_partitions_ensure_moves_strays_out_of_default(in_firm_a, admin_a):
    client = crm.record_create(instance=Client(name="Stray"), actor=admin_a)
    email = EmailMessage.objects.create(
        subject_type="client", subject_id=client.pk, provider="sendgrid", message_id="s"
    )
    far = timezone.now() + timedelta(days=400)  # beyond the months made ahead: lands in DEFAULT
    stray = EmailEvent.objects.create(provider="sendgrid", idempotency_key="s:open", message=email, event="open",
                                      occurred_at=far)  # fmt: skip
    account = ChannelAccount.objects.create(provider="twilio", name="Stray", from_number="+966110000001")
    stray_delivery = WebhookDelivery.objects.create(
        account=account, provider="twilio", endpoint="twilio_sms", body=b"x", body_digest="0" * 64,
        dedup_key="stray", received_at=far,
    )  # fmt: skip
    created = retention.partitions_ensure(in_firm_a.schema_name, now=far, months_ahead=0)
    month = retention._month_start(far)
    name, deliveries = retention.EMAIL_EVENTS_BY_MONTH.partition(month), retention.DELIVERIES_BY_MONTH.partition(month)
    assert created == [name, deliveries]
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id FROM "{name}"')
        assert [row[0] for row in cursor.fetchall()] == [stray.pk]
        cursor.execute(f'SELECT id FROM "{deliveries}"')
        assert [row[0] for row in cursor.fetchall()] == [stray_delivery.pk]
        # a new month of the deliveries' queue keeps its autovacuum settings (migration 0007)
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [deliveries])
        assert "autovacuum_vacuum_scale_factor=0.01" in cursor.fetchone()[0]
    assert retention.partitions_ensure(in_firm_a.schema_name, now=far, months_ahead=0) == []


# --- legal hold through the hierarchy --------------------------------------------------------------


@pytest.mark.parametrize("hold", ["case", "client"])
def test_a_hold_blocks_erasure_of_everything_under_it(in_firm_a, admin_a, hold):
    world = World(admin_a, hold=hold)
    invoice = billing.invoice_create(  # no case: the client's own
        client=world.held_client, actor=admin_a,
        items=[{"type": "time", "description": "Advice", "quantity": Decimal("1"), "unit_price": Decimal("100.00"),
                "task_code": "L210", "activity_code": "A103"}],
    )  # fmt: skip
    for ref in (f"client:{world.held_client.pk}", f"contact:{world.held_contact.pk}", f"invoice:{invoice.pk}"):
        assert subject_held(ref), ref
        with pytest.raises(SubjectHeldError):
            legal_hold_check(ref)
    assert not subject_held(f"contact:{world.free_contact.pk}")


def test_a_client_hold_answers_409_to_the_erase_api(firm_a, admin_a, api_a):
    with schema_context(firm_a.schema_name):
        world = World(admin_a, hold="client")
    response = api_a.post("/api/v1/privacy/erase/", {"subject": f"contact:{world.held_contact.pk}"}, format="json")
    assert response.status_code == 409 and "legal hold" in response.json()["detail"]
    with schema_context(firm_a.schema_name):
        assert Contact.objects.get(pk=world.held_contact.pk).name == "Held person"


@pytest.mark.parametrize(("role", "status"), [("admin", 200), ("lawyer", 403), ("staff", 403)])
def test_only_admins_place_or_lift_a_client_hold_and_it_is_audited(firm_a, admin_a, lawyer_a, staff_a, role, status):
    user = {"admin": admin_a, "lawyer": lawyer_a, "staff": staff_a}[role]
    with schema_context(firm_a.schema_name):
        client = crm.record_create(instance=Client(name="Maybe held"), actor=admin_a)
    api = api_client_for(firm_a, user)
    response = api.patch(f"/api/v1/clients/{client.pk}/", {"legal_hold": True}, format="json")
    assert response.status_code == status, response.content
    with schema_context(firm_a.schema_name):
        assert Client.objects.get(pk=client.pk).legal_hold is (status == 200)
        updates = AuditEvent.objects.filter(entity_type="client", entity_id=client.pk, action="update")
        holds = [(e.changes["before"]["legal_hold"], e.changes["after"]["legal_hold"], e.actor_id) for e in updates]
    assert holds == ([(False, True, admin_a.pk)] if status == 200 else [])


# --- settings and isolation ------------------------------------------------------------------------


def test_the_firm_settings_carry_the_retention_settings_for_admins(firm_a, api_a, api_a_staff):
    body = api_a.get("/api/v1/firm/").json()
    assert body["retention"] == {"email_events_days": 365, "case_audit_years": 7, "unmatched_inbox_days": 90,
                                 "webhook_deliveries_days": 30}  # fmt: skip
    assert "retention" not in api_a_staff.get("/api/v1/firm/").json()
    response = api_a.patch("/api/v1/firm/", {"retention": {"email_events_days": 180}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["retention"]["email_events_days"] == 180
    assert response.json()["retention"]["case_audit_years"] == 7
    with schema_context(firm_a.schema_name):
        event = AuditEvent.objects.filter(entity_type="firm", action="update").latest("seq")
    assert event.changes == {
        "before": {"retention_email_events_days": 365},
        "after": {"retention_email_events_days": 180},
    }
    assert api_a_staff.patch("/api/v1/firm/", {"retention": {"email_events_days": 1}}, format="json").status_code == 403


@pytest.mark.parametrize(
    "bad", [{"email_events_days": 0}, {"case_audit_years": 101}, {"unmatched_inbox_days": "soon"},
            {"webhook_deliveries_days": None}, "365"],
)  # fmt: skip
def test_bad_retention_settings_are_a_400_and_change_nothing(firm_a, api_a, bad):
    response = api_a.patch("/api/v1/firm/", {"retention": bad, "name": "Renamed"}, format="json")
    assert response.status_code == 400 and "retention" in response.json(), response.content
    body = api_a.get("/api/v1/firm/").json()
    assert body["name"] == firm_a.name and body["retention"]["email_events_days"] == 365


def test_the_dry_run_is_admin_only_and_stays_in_its_firm(firm_a, firm_b, admin_a, lawyer_a, api_a, api_b):
    with schema_context(firm_a.schema_name):
        Message.objects.create(provider="twilio", channel="sms", external_id="SM-iso", body="x")
    assert api_client_for(firm_a, lawyer_a).get(DRY_RUN).status_code == 403
    assert api_client_for(firm_a).get(DRY_RUN).status_code in (401, 403)
    a_token_on_b = api_client_for(firm_b)
    a_token_on_b.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    assert a_token_on_b.get(DRY_RUN).status_code == 401
    # firm B's own dry run counts firm B's rows only (eight years on, A's unmatched SMS would go)
    with schema_context(firm_b.schema_name):
        connection.set_tenant(firm_b)
        later = retention.retention_dry_run(now=timezone.now() + LATER)
    assert next(t for t in later["tables"] if t["model"] == "messaging.Message")["removed"] == 0
    assert api_b.get(DRY_RUN).status_code == 200


def test_the_public_host_has_no_retention_endpoint(db):
    from rest_framework.test import APIClient

    assert APIClient(HTTP_HOST="localhost").get(DRY_RUN).status_code == 404


def test_the_beat_runs_the_purge_daily_in_every_firm():
    from traf3li.beat import BEAT_SCHEDULE

    entry = BEAT_SCHEDULE["retention-purge"]
    assert entry["task"] == "privacy.tasks.retention_purge_task" and "tenant_schemas" not in entry


def test_the_task_purges_the_firm_it_runs_in(world, in_firm_a):
    from privacy.tasks import retention_purge_task

    Message.objects.filter(pk=world.unmatched.pk).update(created_at=timezone.now() - timedelta(days=91))
    assert retention_purge_task() == {"removed": 1, "kept_under_hold": 0}
    assert not Message.objects.filter(pk=world.unmatched.pk).exists()
    assert AuditEvent.objects.filter(action="retention_purge").count() == 1


PURGE_AS_THE_PRODUCT = """
import json, django
django.setup()
from django.db import connection, connections
from traf3li.firms.models import Firm
from privacy import retention
connection.set_tenant(Firm.objects.get(schema_name="gamma"))
assert connections["default"].settings_dict["USER"] != connections["owner"].settings_dict["USER"]
dry = retention.retention_dry_run()
done = retention.retention_purge()
print(json.dumps({"dry_run": dry["dry_run"], "purged": done["dry_run"] is False}))
"""


def test_the_dry_run_and_the_purge_work_as_the_product_with_the_owners_connection_beside_it(scratch_firm):
    # given the product's deployment: its own role (DATABASE_URL), the owner's beside it
    import json
    import subprocess
    import sys

    from traf3li.core.db import product_database_env
    from traf3li.core.processes import child_env

    # when the dry run and the purge run there (the web's and the worker's paths), in a firm that commits
    done = subprocess.run(
        [sys.executable, "-c", PURGE_AS_THE_PRODUCT],
        env=child_env(**product_database_env()),
        cwd=settings_root(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    # then both finish: one connection does the work (two would wait on each other's locks, and the
    # owner's has no firm schema set), and the receipt went into the chain
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"dry_run": True, "purged": True}


def settings_root():
    from django.conf import settings

    return settings.BASE_DIR
