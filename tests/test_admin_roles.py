"""Every role × model × action in the firm admin, against the role map (traf3li/users/roles.py, ADR 0031).

Each role logs in; each model's list, add, change and delete pages answer as the role's rights say;
each admin action is offered, and does something, only to the roles allowed it.
"""

from datetime import timedelta

import pytest
from django.test import Client as BrowserClient
from django.utils import timezone
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from billing import services as billing
from conftest import browser_for
from messaging import services as channels
from messaging.models import Call, EmailCampaign, EmailMessage, Message, RejectedDelivery
from timeline.activities import services as activities
from timeline.activities.choices import ActivityState, ReminderBucket
from timeline.activities.deadlines import firm_today
from timeline.activities.models import Activity, ActivityType, Reminder, WorkingCalendar
from timeline.events import services as events
from timeline.events.models import EventReminder
from timeline.models import Entry
from timeline.services import entry_record
from traf3li.crm import services as crm
from traf3li.crm.models import Case, Client, Contact, Lead, Organization
from traf3li.users.services import api_token_issue

pytestmark = pytest.mark.django_db

ROLES = ("admin", "lawyer", "staff")
CRM = ("organization", "client", "contact", "lead", "case")
VACD, VAC, VC, V, NONE = "vacd", "vac", "vc", "v", ""

# (app_label, model) -> {role: the rights among view, add, change, delete}: what ADR 0031 says, written out.
RIGHTS = {
    **{("crm", model): {"admin": VACD, "lawyer": VACD, "staff": VACD} for model in CRM},
    ("crm", "case"): {"admin": VACD, "lawyer": VACD, "staff": VAC},
    ("timeline", "entry"): {"admin": VC, "lawyer": VC, "staff": VC},  # no add page, no hard delete
    ("activities", "activity"): {"admin": VAC, "lawyer": VAC, "staff": VAC},  # never deleted
    ("activities", "activitytype"): {"admin": VACD, "lawyer": V, "staff": V},
    ("activities", "workingcalendar"): {"admin": VC, "lawyer": NONE, "staff": NONE},  # one per firm, exists
    ("activities", "reminder"): {"admin": V, "lawyer": NONE, "staff": NONE},
    ("audit", "auditevent"): {"admin": V, "lawyer": NONE, "staff": NONE},
    ("users", "user"): {"admin": VAC, "lawyer": NONE, "staff": NONE},  # deactivate, never delete
    # channel accounts hold the firm's provider secrets: admins only, deactivated rather than deleted
    ("messaging", "channelaccount"): {"admin": VAC, "lawyer": NONE, "staff": NONE},
    ("messaging", "webhookdelivery"): {"admin": V, "lawyer": NONE, "staff": NONE},  # as received
    ("messaging", "rejecteddelivery"): {"admin": V, "lawyer": NONE, "staff": NONE},
    # messages, calls and emails as the providers reported them: everyone reads, nobody edits
    **{("messaging", model): {"admin": V, "lawyer": V, "staff": V} for model in ("message", "call", "emailmessage")},
    ("messaging", "emailcampaign"): {"admin": V, "lawyer": V, "staff": V},
    # invoices are never deleted (gapless numbers); the firm's billing settings are one row, for admins
    ("billing", "invoice"): {"admin": VAC, "lawyer": VAC, "staff": VAC},
    ("billing", "billingsettings"): {"admin": VC, "lawyer": NONE, "staff": NONE},
    # everyone plans events; the sample is the lawyer's, and only its organizer, creator or an admin changes it
    ("events", "event"): {"admin": VACD, "lawyer": VACD, "staff": "va"},
    # each user's feed, revoked by an admin (a change); reminders as sent
    ("events", "feedtoken"): {"admin": VC, "lawyer": NONE, "staff": NONE},
    # API tokens likewise: listed without their secret and revoked by an admin (ADR 0036)
    ("users", "apitoken"): {"admin": VC, "lawyer": NONE, "staff": NONE},
    ("events", "eventreminder"): {"admin": V, "lawyer": NONE, "staff": NONE},
}

# (app_label, model) -> {role: the actions its changelist offers}.
ACTIONS = {
    **{("crm", model): dict.fromkeys(ROLES, {"delete_selected"}) for model in CRM},
    ("crm", "case"): {"admin": {"delete_selected"}, "lawyer": {"delete_selected"}, "staff": set()},
    ("timeline", "entry"): dict.fromkeys(ROLES, {"soft_delete", "restore"}),
    ("activities", "activity"): dict.fromkeys(ROLES, {"complete_selected", "cancel_selected"}),
    ("activities", "activitytype"): {"admin": {"delete_selected"}, "lawyer": set(), "staff": set()},
    ("events", "event"): dict.fromkeys(ROLES, {"cancel_selected", "delete_selected"}),
}


@pytest.fixture
def people(admin_a, lawyer_a, staff_a):
    return {"admin": admin_a, "lawyer": lawyer_a, "staff": staff_a}


@pytest.fixture
def samples(firm_a, people):
    """One record of each model the firm admin shows, by (app_label, model)."""
    with schema_context(firm_a.schema_name):
        organization = crm.record_create(instance=Organization(name="Roles Org"))
        client = crm.record_create(instance=Client(name="Roles client", organization=organization))
        contact = crm.record_create(instance=Contact(name="Roles contact", client=client))
        lead = crm.record_create(instance=Lead(name="Roles lead"))
        case = crm.record_create(instance=Case(title="Roles case", client=client))
        entry = entry_record(subject=client, kind="note", title="Roles note")
        kind = activities.activity_type_create(instance=ActivityType(name="Roles call"))
        activity = activities.activity_schedule(subject=client, type=kind, assignee=people["lawyer"])
        calendar = WorkingCalendar.objects.first() or activities.working_calendar_save(
            calendar=WorkingCalendar(name="Roles calendar")
        )
        reminder = Reminder.objects.create(
            activity=activity, deadline=activity.deadline, bucket=ReminderBucket.TODAY, next_attempt_at=timezone.now()
        )
        event = AuditEvent.objects.order_by("-seq").first()
        channel = channels.channel_account_create(
            provider="mailgun", name="Roles mail", credentials={"signing_key": "k"}
        )
        delivery, _ = channels.delivery_accept(
            provider="mailgun", endpoint="mailgun", account=channel, headers={}, body=b"{}"
        )
        channels.delivery_refused(provider="mailgun", reason="bad_signature")
        message = Message.objects.create(provider="twilio", channel="sms", external_id="SMroles", status="sent")
        call = Call.objects.create(provider="twilio", external_id="CAroles", status="completed")
        campaign = EmailCampaign.objects.create(provider="sendgrid", name="Roles campaign")
        hearing = events.event_create(
            data={"title": "Roles hearing", "type": "hearing", "start": timezone.now(), "organizer": people["lawyer"]},
            actor=people["lawyer"],
        )
        email = EmailMessage.objects.create(provider="sendgrid", message_id="roles-1", campaign=campaign)
        return {
            ("crm", "organization"): organization,
            ("crm", "client"): client,
            ("crm", "contact"): contact,
            ("crm", "lead"): lead,
            ("crm", "case"): case,
            ("timeline", "entry"): entry,
            ("activities", "activity"): activity,
            ("activities", "activitytype"): kind,
            ("activities", "workingcalendar"): calendar,
            ("activities", "reminder"): reminder,
            ("audit", "auditevent"): event,
            ("users", "user"): people["staff"],
            ("messaging", "channelaccount"): channel,
            ("messaging", "webhookdelivery"): delivery,
            ("messaging", "rejecteddelivery"): RejectedDelivery.objects.get(),
            ("messaging", "message"): message,
            ("messaging", "call"): call,
            ("messaging", "emailmessage"): email,
            ("messaging", "emailcampaign"): campaign,
            ("billing", "invoice"): billing.invoice_create(client=client, items=[]),
            ("billing", "billingsettings"): billing.billing_settings(),
            ("events", "event"): hearing,
            ("events", "feedtoken"): events.feed_token_issue(user=people["lawyer"])[0],
            ("users", "apitoken"): api_token_issue(user=people["lawyer"])[0],
            ("events", "eventreminder"): EventReminder.objects.create(
                event=hearing,
                occurrence_start=hearing.start_at,
                offset="day_before",
                recipient=people["lawyer"],
                due_at=hearing.start_at,
                next_attempt_at=hearing.start_at,
            ),
        }


def url(model_key, suffix=""):
    app_label, model = model_key
    return f"/admin/{app_label}/{model}/{suffix}"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_logs_in_to_the_firm_admin_with_its_password(firm_a, people, role):
    browser = BrowserClient(HTTP_HOST=f"{firm_a.schema_name}.localhost")
    page = browser.post("/admin/login/?next=/admin/", {"username": people[role].username, "password": "pass-word-123"})
    assert page.status_code == 302 and page["Location"] == "/admin/", page.content[:400]
    assert browser.get("/admin/").status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_the_index_lists_the_apps_the_role_may_see(firm_a, people, role):
    page = browser_for(firm_a, people[role]).get("/admin/")
    assert page.status_code == 200
    shown = {
        (app["app_label"], model["object_name"].lower()) for app in page.context["app_list"] for model in app["models"]
    }
    assert shown == {key for key, rights in RIGHTS.items() if "v" in rights[role]}


@pytest.mark.parametrize("model_key", list(RIGHTS), ids="{0[0]}.{0[1]}".format)
@pytest.mark.parametrize("role", ROLES)
def test_each_page_answers_as_the_role_map_says(firm_a, people, samples, role, model_key):
    rights = RIGHTS[model_key][role]
    browser = browser_for(firm_a, people[role])
    obj = samples[model_key]
    # view: the list
    assert browser.get(url(model_key)).status_code == (200 if "v" in rights else 403)
    # add: its page
    assert browser.get(url(model_key, "add/")).status_code == (200 if "a" in rights else 403)
    # change: the record's page, editable or read-only
    page = browser.get(url(model_key, f"{obj.pk}/change/"))
    assert page.status_code == (200 if "v" in rights else 403)
    if page.status_code == 200:
        assert page.context["has_change_permission"] is ("c" in rights)
    # delete: its confirmation page
    assert browser.get(url(model_key, f"{obj.pk}/delete/")).status_code == (200 if "d" in rights else 403)


@pytest.mark.parametrize("model_key", list(ACTIONS), ids="{0[0]}.{0[1]}".format)
@pytest.mark.parametrize("role", ROLES)
def test_each_changelist_offers_the_actions_the_role_map_allows(firm_a, people, samples, role, model_key):
    page = browser_for(firm_a, people[role]).get(url(model_key))
    form = page.context["action_form"]
    offered = {name for name, _ in form.fields["action"].choices if name} if form is not None else set()
    assert offered == ACTIONS[model_key][role]


def post_action(browser, model_key, action, pks, **extra):
    data = {"action": action, "_selected_action": [str(pk) for pk in pks], **extra}
    return browser.post(url(model_key), data, follow=True)


@pytest.mark.parametrize("model", CRM)
@pytest.mark.parametrize("role", ROLES)
def test_delete_selected_deletes_only_for_the_roles_allowed(firm_a, people, samples, role, model):
    model_key = ("crm", model)
    obj = samples[model_key]
    if model in ("organization", "client"):  # nothing may depend on it: a client with cases is protected
        with schema_context(firm_a.schema_name):
            obj = crm.record_create(instance=type(obj)(name=f"Lone {model}"))
    allowed = "delete_selected" in ACTIONS[model_key][role]
    page = post_action(browser_for(firm_a, people[role]), model_key, "delete_selected", [obj.pk], post="yes")
    assert page.status_code == 200
    with schema_context(firm_a.schema_name):
        assert type(obj).objects.filter(pk=obj.pk).exists() is not allowed
        deleted = AuditEvent.objects.filter(entity_type=model, entity_id=obj.pk, action="delete")
        assert deleted.exists() is allowed


@pytest.mark.parametrize("role", ROLES)
def test_activity_types_are_deleted_by_admins_only(firm_a, people, role):
    with schema_context(firm_a.schema_name):
        kind = activities.activity_type_create(instance=ActivityType(name=f"Unused type {role}"))
    model_key = ("activities", "activitytype")
    post_action(browser_for(firm_a, people[role]), model_key, "delete_selected", [kind.pk], post="yes")
    with schema_context(firm_a.schema_name):
        assert ActivityType.objects.filter(pk=kind.pk).exists() is (role != "admin")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_soft_deletes_and_restores_entries(firm_a, people, samples, role):
    entry = samples[("timeline", "entry")]
    browser = browser_for(firm_a, people[role])
    post_action(browser, ("timeline", "entry"), "soft_delete", [entry.pk])
    with schema_context(firm_a.schema_name):
        assert Entry.objects.get(pk=entry.pk).deleted_at is not None
    browser.post(url(("timeline", "entry"), "?deleted=yes"), {"action": "restore", "_selected_action": [str(entry.pk)]})
    with schema_context(firm_a.schema_name):
        assert Entry.objects.get(pk=entry.pk).deleted_at is None
        assert AuditEvent.objects.filter(entity_type="entry", entity_id=entry.pk, actor_id=people[role].pk).count() == 2


@pytest.mark.parametrize("action, state", [("complete_selected", "done"), ("cancel_selected", "cancelled")])
@pytest.mark.parametrize("role", ROLES)
def test_every_role_completes_and_cancels_activities(firm_a, people, samples, role, action, state):
    activity = samples[("activities", "activity")]
    post_action(browser_for(firm_a, people[role]), ("activities", "activity"), action, [activity.pk])
    with schema_context(firm_a.schema_name):
        assert Activity.objects.get(pk=activity.pk).state == getattr(ActivityState, state.upper())


@pytest.mark.parametrize("role", ("lawyer", "staff"))
def test_lawyers_and_staff_edit_clients_and_schedule_activities(firm_a, people, samples, role):
    browser = browser_for(firm_a, people[role])
    client = samples[("crm", "client")]
    page = browser.post(
        url(("crm", "client"), f"{client.pk}/change/"),
        {"name": f"Renamed by {role}", "kind": client.kind, "organization": client.organization_id},
    )
    assert page.status_code == 302, page.content[:600]
    kind = samples[("activities", "activitytype")]
    with schema_context(firm_a.schema_name):
        assert Client.objects.get(pk=client.pk).name == f"Renamed by {role}"
        content_type = Activity._meta.get_field("subject_content_type").related_model.objects.get_for_model(Client)
    deadline = firm_today() + timedelta(days=3)
    page = browser.post(
        url(("activities", "activity"), "add/"),
        {
            "subject_content_type": content_type.pk,
            "subject_id": client.pk,
            "type": kind.pk,
            "summary": f"Scheduled by {role}",
            "assignee": people[role].pk,
            "deadline": deadline.isoformat(),
        },
    )
    assert page.status_code == 302, page.content[:600]
    with schema_context(firm_a.schema_name):
        assert Activity.objects.filter(summary=f"Scheduled by {role}", created_by=people[role]).exists()


@pytest.mark.parametrize("role", ("lawyer", "staff"))
def test_the_audit_log_and_users_are_refused_to_lawyers_and_staff(firm_a, people, role):
    browser = browser_for(firm_a, people[role])
    assert browser.get("/admin/audit/auditevent/").status_code == 403
    assert browser.get("/admin/users/user/").status_code == 403
    assert browser.get("/admin/activities/workingcalendar/").status_code == 403  # the firm's settings


# The legal hold in the admin (ADR 0031, ADR 0065): admins place and lift it, no one deletes a held case.


def case_form(case, **changes):
    data = {
        "title": case.title,
        "case_number": case.case_number,
        "client": case.client_id,
        "status": case.status,
        "lawyer": case.lawyer_id or "",
        "court": getattr(case, "court", ""),
        "description": getattr(case, "description", ""),
        "opened_on": case.opened_on.isoformat() if getattr(case, "opened_on", None) else "",
    }
    if case.legal_hold:
        data["legal_hold"] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.mark.parametrize("role, may", [("admin", True), ("lawyer", False), ("staff", False)])
def test_only_admins_place_and_lift_a_hold_in_the_admin(firm_a, people, samples, role, may):
    case = samples[("crm", "case")]
    browser = browser_for(firm_a, people[role])
    page = browser.get(url(("crm", "case"), f"{case.pk}/change/"))
    assert ("legal_hold" in page.context["adminform"].form.fields) is may  # read-only for lawyers and staff
    # when the role ticks the hold (a staff member's tick is not a field of their form, so it is ignored)
    page = browser.post(url(("crm", "case"), f"{case.pk}/change/"), case_form(case, legal_hold="on"))
    assert page.status_code == 302, page.content[:800]
    with schema_context(firm_a.schema_name):
        assert Case.objects.get(pk=case.pk).legal_hold is may
        if not may:
            crm.record_update(instance=case, data={"legal_hold": True})  # held by someone allowed to
    # when they untick it
    with schema_context(firm_a.schema_name):
        case.refresh_from_db()
    page = browser.post(url(("crm", "case"), f"{case.pk}/change/"), case_form(case, legal_hold=None))
    assert page.status_code == 302, page.content[:800]
    with schema_context(firm_a.schema_name):
        assert Case.objects.get(pk=case.pk).legal_hold is not may


@pytest.mark.parametrize("role, may", [("admin", True), ("lawyer", False), ("staff", False)])
def test_a_clients_hold_box_is_the_admins_alone_in_the_admin(firm_a, people, samples, role, may):
    client = samples[("crm", "client")]
    page = browser_for(firm_a, people[role]).get(url(("crm", "client"), f"{client.pk}/change/"))
    assert page.status_code == 200
    assert ("legal_hold" in page.context["adminform"].form.fields) is may


@pytest.fixture
def held_case(firm_a, samples):
    with schema_context(firm_a.schema_name):
        return crm.record_update(instance=samples[("crm", "case")], data={"legal_hold": True})


@pytest.mark.parametrize("role", ("admin", "lawyer"))
def test_a_held_case_is_refused_on_its_delete_page_with_a_message(firm_a, people, held_case, role):
    browser = browser_for(firm_a, people[role])
    page = browser.get(url(("crm", "case"), f"{held_case.pk}/delete/"))
    assert page.status_code == 200 and page.context["protected"]
    assert "under legal hold" in page.content.decode()
    page = browser.post(url(("crm", "case"), f"{held_case.pk}/delete/"), {"post": "yes"}, follow=True)
    assert page.status_code == 200
    with schema_context(firm_a.schema_name):
        assert Case.objects.filter(pk=held_case.pk).exists()


@pytest.mark.parametrize("role", ("admin", "lawyer"))
def test_delete_selected_refuses_a_held_case_and_deletes_nothing(firm_a, people, samples, held_case, role):
    with schema_context(firm_a.schema_name):
        free = crm.record_create(instance=Case(title="Free case", client=samples[("crm", "client")]))
    page = post_action(
        browser_for(firm_a, people[role]), ("crm", "case"), "delete_selected", [held_case.pk, free.pk], post="yes"
    )
    assert page.status_code == 200 and "under legal hold" in page.content.decode()
    with schema_context(firm_a.schema_name):
        assert Case.objects.filter(pk__in=[held_case.pk, free.pk]).count() == 2
