from datetime import timedelta

import pytest
from django_tenants.utils import schema_context

from conftest import api_client_for
from timeline.activities import services
from timeline.activities.api.serializers import ERROR_USE_ACTION
from timeline.activities.deadlines import firm_today
from timeline.activities.models import Activity, ActivityType, Notification
from timeline.activities.tests.factories import a_client, activity_type, chained_types, schedule
from traf3li.core.tests.test_tenant_cache import cache_on  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(firm_a, admin_a, lawyer_a):
    """A client with a call type; everything created inside firm A's schema."""
    with schema_context(firm_a.schema_name):
        client = a_client()
        call = activity_type("Call", icon="phone", delay_count=2, delay_unit="days")
        trigger = chained_types("trigger", delay_count=1, delay_unit="days")
        suggest = chained_types("suggest", delay_count=1, delay_unit="days")
        today = firm_today()
    return {"client": client, "call": call, "trigger": trigger, "suggest": suggest, "today": today}


def post_activity(api, world, assignee, **extra):
    body = {"subject": f"client:{world['client'].pk}", "type": world["call"].pk, "assignee": assignee.pk, **extra}
    return api.post("/api/v1/activities/", body, format="json")


def test_schedule_through_the_api_defaults_the_deadline_and_names_the_subject(api_a, world, lawyer_a):
    response = post_activity(api_a, world, lawyer_a, summary="Call about the lease")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["subject"] == {"type": "client", "id": world["client"].pk, "name": world["client"].name}
    assert body["deadline"] == (world["today"] + timedelta(days=2)).isoformat()
    assert (body["state"], body["is_overdue"], body["assignee"], body["type_name"]) == (
        "scheduled",
        False,
        lawyer_a.pk,
        "Call",
    )
    assert api_a.get(f"/api/v1/activities/{body['id']}/").json()["summary"] == "Call about the lease"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"deadline": "31/12/2026"}, "deadline"),
        ({"deadline": "2026-13-45"}, "deadline"),
        ({"assignee": 987654}, "assignee"),
        ({"subject": "client:987654"}, "subject"),
        ({"subject": "alien:1"}, "subject"),
        ({"type": 987654}, "type"),
    ],
)
def test_bad_input_is_400_and_stores_nothing(api_a, world, lawyer_a, extra, field, in_firm_a):
    count = Activity.objects.count()
    body = {"subject": f"client:{world['client'].pk}", "type": world["call"].pk, "assignee": lawyer_a.pk, **extra}
    response = api_a.post("/api/v1/activities/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Activity.objects.count() == count


def test_edits_change_the_text_only(api_a, world, lawyer_a):
    activity = post_activity(api_a, world, lawyer_a).json()
    url = f"/api/v1/activities/{activity['id']}/"
    assert api_a.patch(url, {"note": "Bring the contract"}, format="json").json()["note"] == "Bring the contract"
    response = api_a.patch(url, {"deadline": "2030-01-01"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"deadline": [ERROR_USE_ACTION.format(action="reschedule")]}
    assert api_a.delete(url).status_code == 405
    assert api_a.put(url, activity, format="json").status_code == 405


def test_complete_returns_the_triggered_follow_up(api_a, world, lawyer_a):
    activity = post_activity(api_a, world, lawyer_a, type=world["trigger"].pk).json()
    response = api_a.post(f"/api/v1/activities/{activity['id']}/complete/", {"feedback": "Filed"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["activity"]["state"] == "done" and body["activity"]["feedback"] == "Filed"
    assert body["next_kind"] == "scheduled"
    assert body["next"]["id"] is not None and body["next"]["chained_from"] == activity["id"]
    assert body["next"]["automated"] is True
    assert body["next"]["deadline"] == (world["today"] + timedelta(days=1)).isoformat()


def test_complete_returns_an_unsaved_suggestion(api_a, world, lawyer_a):
    activity = post_activity(api_a, world, lawyer_a, type=world["suggest"].pk).json()
    body = api_a.post(f"/api/v1/activities/{activity['id']}/complete/", {}, format="json").json()
    assert body["next_kind"] == "suggested"
    assert "id" not in body["next"] and body["next"]["type_name"] == "Follow-up (suggest)"
    assert body["next"]["subject"]["id"] == world["client"].pk


def test_complete_without_chaining_has_no_next(api_a, world, lawyer_a):
    activity = post_activity(api_a, world, lawyer_a).json()
    body = api_a.post(f"/api/v1/activities/{activity['id']}/complete/", {"feedback": ""}, format="json").json()
    assert (body["next"], body["next_kind"]) == (None, None)


def test_forbidden_transitions_are_409_and_change_nothing(api_a, world, lawyer_a, admin_a):
    activity = post_activity(api_a, world, lawyer_a).json()
    url = f"/api/v1/activities/{activity['id']}/"
    assert api_a.post(url + "cancel/").status_code == 200
    for path, body in (
        ("complete/", {"feedback": "x"}),
        ("reschedule/", {"deadline": "2030-01-01"}),
        ("cancel/", {}),
        ("reassign/", {"assignee": admin_a.pk}),
    ):
        response = api_a.post(url + path, body, format="json")
        assert response.status_code == 409, path
        past = {"complete": "completed", "reschedule": "rescheduled", "cancel": "cancelled", "reassign": "reassigned"}
        assert response.json() == {"detail": f"This activity can't be {past[path.rstrip('/')]}: it is cancelled."}
    after = api_a.get(url).json()
    assert (after["state"], after["deadline"], after["assignee"]) == (
        "cancelled",
        activity["deadline"],
        lawyer_a.pk,
    )


def test_reschedule_and_reassign(api_a, world, lawyer_a, admin_a):
    activity = post_activity(api_a, world, lawyer_a).json()
    url = f"/api/v1/activities/{activity['id']}/"
    response = api_a.post(url + "reschedule/", {"deadline": "2030-01-02"}, format="json")
    assert response.status_code == 200 and response.json()["deadline"] == "2030-01-02"
    assert api_a.post(url + "reschedule/", {"deadline": "02-01-2030"}, format="json").status_code == 400
    response = api_a.post(url + "reassign/", {"assignee": admin_a.pk}, format="json")
    assert response.status_code == 200 and response.json()["assignee"] == admin_a.pk
    assert api_a.post(url + "reassign/", {"assignee": 987654}, format="json").status_code == 400


def test_filters(api_a, firm_a, world, lawyer_a, admin_a):
    today = world["today"]
    with schema_context(firm_a.schema_name):
        other = a_client("Other")
        overdue = schedule(subject=world["client"], assignee=lawyer_a, deadline=today - timedelta(days=1))
        due_today = schedule(subject=world["client"], assignee=admin_a, deadline=today)
        planned = schedule(subject=other, assignee=lawyer_a, deadline=today + timedelta(days=5))
        done = schedule(subject=other, assignee=lawyer_a, deadline=today - timedelta(days=3))
        services.activity_complete(activity=done)

    def ids(query):
        response = api_a.get(f"/api/v1/activities/?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("due=overdue") == {overdue.pk}
    assert ids("due=today") == {due_today.pk}
    assert ids("due=overdue,today") == {overdue.pk, due_today.pk}
    assert ids("due=planned") == {planned.pk}
    assert ids("state=done") == {done.pk}
    assert ids(f"subject=client:{other.pk}") == {planned.pk, done.pk}
    assert ids(f"assignee={admin_a.pk}") == {due_today.pk}
    assert ids(f"deadline_after={today.isoformat()}&deadline_before={today.isoformat()}") == {due_today.pk}
    assert ids(f"type={world['call'].pk}&state=scheduled") == {overdue.pk, due_today.pk, planned.pk}
    overdue_row = api_a.get(f"/api/v1/activities/{overdue.pk}/").json()
    assert overdue_row["is_overdue"] is True
    for bad in ("due=someday", "deadline_after=31/12/2026", "state=nope", "subject=alien:1", "assignee=abc"):
        assert api_a.get(f"/api/v1/activities/?{bad}").status_code == 400, bad


def test_upcoming_lists_the_next_days_soonest_first(api_a, firm_a, world, lawyer_a):
    today = world["today"]
    with schema_context(firm_a.schema_name):
        made = [
            schedule(subject=world["client"], assignee=lawyer_a, deadline=today + timedelta(days=d))
            for d in (5, -1, 0, 2, 2, 8)
        ]
    expected = [made[2].pk, made[3].pk, made[4].pk, made[0].pk]  # today, +2, +2, +5: not -1, not +8
    seen, url = [], "/api/v1/activities/upcoming/?days=7&page_size=3"
    while url:
        page = api_a.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    assert seen == expected
    assert api_a.get("/api/v1/activities/upcoming/?days=-1").status_code == 400


def test_stats_endpoint(api_a, firm_a, world, lawyer_a, admin_a):
    today = world["today"]
    with schema_context(firm_a.schema_name):
        schedule(subject=world["client"], assignee=lawyer_a, deadline=today - timedelta(days=1))
        schedule(subject=world["client"], assignee=lawyer_a, deadline=today)
        schedule(subject=world["client"], assignee=admin_a, deadline=today + timedelta(days=1))
    firm = api_a.get("/api/v1/activities/stats/").json()
    mine = api_a.get(f"/api/v1/activities/stats/?assignee={lawyer_a.pk}").json()
    assert (firm["overdue_count"], firm["today_count"], firm["planned_count"], firm["total_pending"]) == (1, 1, 1, 3)
    assert (mine["overdue_count"], mine["today_count"], mine["planned_count"], mine["total_pending"]) == (1, 1, 0, 2)
    assert firm["by_type"] == [{"type": "Call", "type_id": world["call"].pk, "count": 3}]
    assert firm["by_subject_type"] == [{"subject_type": "client", "count": 3}]
    assert api_a.get("/api/v1/activities/stats/?assignee=abc").status_code == 400
    assert api_a.get("/api/v1/activities/stats/?assignee=987654").status_code == 400


def test_activity_types_crud_is_for_admins(api_a, api_a_staff, world):
    body = {"name": "Hearing prep", "icon": "gavel", "delay_count": 3, "delay_unit": "business_days"}
    assert api_a_staff.post("/api/v1/activity-types/", body, format="json").status_code == 403
    created = api_a.post("/api/v1/activity-types/", body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["chaining"] == "none"
    names = [row["name"] for row in api_a_staff.get("/api/v1/activity-types/?page_size=200").json()["results"]]
    assert "Hearing prep" in names
    url = f"/api/v1/activity-types/{created.json()['id']}/"
    bad = api_a.patch(url, {"chaining": "trigger"}, format="json")
    assert bad.status_code == 400 and "next_type" in bad.json()
    assert api_a.patch(url, {"chaining": "trigger", "next_type": world["call"].pk}, format="json").status_code == 200
    assert api_a.delete(f"/api/v1/activity-types/{world['call'].pk}/").status_code == 400  # used by Hearing prep
    assert api_a.delete(url).status_code == 204


def test_list_query_count_does_not_grow_with_page_size(api_a, firm_a, world, lawyer_a, django_assert_max_num_queries):
    with schema_context(firm_a.schema_name):
        case_subject = _a_case(world["client"])
        for i in range(40):
            subject = world["client"] if i % 2 else case_subject
            schedule(subject=subject, assignee=lawyer_a, deadline=world["today"] + timedelta(days=i))
    counts = []
    for size in (2, 40):
        # host, token, page, then per subject type (client, case) its content type and its rows; each
        # after a SET search_path. django-tenants empties the content-type cache when the schema changes.
        with django_assert_max_num_queries(14) as captured:
            assert len(api_a.get(f"/api/v1/activities/?page_size={size}").json()["results"]) == size
        counts.append(len(captured))
    assert counts[0] == counts[1]


def _a_case(client):
    from traf3li.crm import services as crm
    from traf3li.crm.models import Case

    return crm.record_create(instance=Case(title="Lease dispute", client=client))


def test_notifications_are_the_users_own_and_can_be_marked_read(firm_a, world, lawyer_a, admin_a, api_a):
    # given one reminder each for the lawyer and the admin
    with schema_context(firm_a.schema_name):
        schedule(subject=world["client"], assignee=lawyer_a, deadline=world["today"])
        schedule(subject=world["client"], assignee=admin_a, deadline=world["today"])
        services.reminders_send()
        others = Notification.objects.get(recipient=admin_a)
    api_lawyer = api_client_for(firm_a, lawyer_a)
    # when the lawyer lists notifications
    rows = api_lawyer.get("/api/v1/notifications/").json()["results"]
    # then only their own shows, unread
    assert [(r["bucket"], r["is_read"]) for r in rows] == [("today", False)]
    assert api_lawyer.post(f"/api/v1/notifications/{others.pk}/read/").status_code == 404
    read = api_lawyer.post(f"/api/v1/notifications/{rows[0]['id']}/read/")
    assert read.status_code == 200 and read.json()["is_read"] is True and read.json()["read_at"]
    assert api_lawyer.get("/api/v1/notifications/?unread=true").json()["results"] == []
    assert api_a.post("/api/v1/notifications/read-all/").json() == {"marked": 1}
    assert api_a.get("/api/v1/notifications/?unread=true").json()["results"] == []


def test_notification_list_query_count_does_not_grow(firm_a, world, lawyer_a, django_assert_max_num_queries):
    with schema_context(firm_a.schema_name):
        for i in range(20):
            Notification.objects.create(recipient=lawyer_a, title=f"N{i}")
    client = api_client_for(firm_a, lawyer_a)
    counts = []
    for size in (2, 20):
        with django_assert_max_num_queries(8) as captured:
            assert len(client.get(f"/api/v1/notifications/?page_size={size}").json()["results"]) == size
        counts.append(len(captured))
    assert counts[0] == counts[1]


ENDPOINTS = [
    ("get", "/api/v1/activities/{id}/"),
    ("patch", "/api/v1/activities/{id}/"),
    ("post", "/api/v1/activities/{id}/complete/"),
    ("post", "/api/v1/activities/{id}/reschedule/"),
    ("post", "/api/v1/activities/{id}/cancel/"),
    ("post", "/api/v1/activities/{id}/reassign/"),
    ("get", "/api/v1/activity-types/{type}/"),
    ("patch", "/api/v1/activity-types/{type}/"),
    ("delete", "/api/v1/activity-types/{type}/"),
    ("get", "/api/v1/notifications/{notification}/"),
    ("post", "/api/v1/notifications/{notification}/read/"),
]
LISTS = [
    "/api/v1/activities/",
    "/api/v1/activities/stats/",
    "/api/v1/activities/upcoming/",
    "/api/v1/activity-types/",
    "/api/v1/notifications/",
]


@pytest.fixture
def firm_a_records(firm_a, world, admin_a):
    with schema_context(firm_a.schema_name):
        activity = schedule(subject=world["client"], assignee=admin_a, deadline=world["today"])
        services.reminders_send()
        notification = Notification.objects.get(activity=activity)
    return {"id": activity.pk, "type": world["call"].pk, "notification": notification.pk}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_another_firms_records_are_404_from_its_host(api_b, firm_b, firm_a_records, method, path):
    # firm B's own rows must not share ids with firm A's by accident
    with schema_context(firm_b.schema_name):
        assert not Activity.objects.filter(pk=firm_a_records["id"]).exists()
        assert not ActivityType.objects.filter(pk=firm_a_records["type"]).exists()
    body = {"feedback": "x", "deadline": "2030-01-01", "assignee": 1, "note": "x"}
    response = getattr(api_b, method)(path.format(**firm_a_records), body, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", path) for path in LISTS]
    + [
        ("post", "/api/v1/activities/"),
        ("post", "/api/v1/activity-types/"),
        ("post", "/api/v1/notifications/read-all/"),
    ]
    + ENDPOINTS,
)
def test_firm_a_token_on_firm_b_is_401(firm_a, firm_b, admin_a, firm_a_records, method, path):
    client = api_client_for(firm_a, admin_a)
    client.defaults["HTTP_HOST"] = f"{firm_b.schema_name}.localhost"
    assert getattr(client, method)(path.format(**firm_a_records), {}, format="json").status_code == 401


def test_firm_b_lists_do_not_show_firm_a(api_b, firm_a_records):
    assert api_b.get("/api/v1/activities/").json()["results"] == []
    assert api_b.get("/api/v1/activities/stats/").json()["total_pending"] == 0
    assert api_b.get("/api/v1/notifications/").json()["results"] == []


def test_staff_can_work_activities(api_a_staff, world, staff_a, firm_a):
    # staff are the usual assignees: they list, schedule and complete
    response = post_activity(api_a_staff, world, staff_a)
    assert response.status_code == 201
    done = api_a_staff.post(f"/api/v1/activities/{response.json()['id']}/complete/", {}, format="json")
    assert done.status_code == 200


def test_a_suggestion_is_accepted_by_posting_it_back(api_a, world, lawyer_a):
    # given the suggestion returned by completing a suggest-type activity
    activity = post_activity(api_a, world, lawyer_a, type=world["suggest"].pk).json()
    suggestion = api_a.post(f"/api/v1/activities/{activity['id']}/complete/", {}, format="json").json()["next"]
    # when the user accepts it as it is
    fields = ("subject", "type", "assignee", "summary", "deadline", "chained_from")
    accepted = api_a.post("/api/v1/activities/", {k: suggestion[k] for k in fields}, format="json")
    # then it is scheduled, linked to the activity it follows from
    assert accepted.status_code == 201, accepted.content
    assert accepted.json()["chained_from"] == activity["id"]
    assert accepted.json()["deadline"] == suggestion["deadline"]


def test_an_activity_whose_subject_was_deleted_still_lists(api_a, firm_a, world, lawyer_a):
    from traf3li.crm import services as crm
    from traf3li.crm.models import Lead

    with schema_context(firm_a.schema_name):
        lead = crm.record_create(instance=Lead(name="Gone soon"))
        activity = schedule(subject=lead, assignee=lawyer_a, deadline=world["today"])
        lead_id = lead.pk
        crm.record_delete(instance=lead)
    row = api_a.get(f"/api/v1/activities/{activity.pk}/").json()
    assert row["subject"] == {"type": "lead", "id": lead_id, "name": None}
    assert api_a.post(f"/api/v1/activities/{activity.pk}/cancel/").status_code == 200


def test_a_deleted_subject_conforms_to_the_schema(api_a, firm_a, world, lawyer_a):
    """The probe's finding: ``subject.name`` null for a deleted subject, where the schema said a string."""
    from tests.openapi import response_errors
    from traf3li.crm import services as crm
    from traf3li.crm.models import Lead

    with schema_context(firm_a.schema_name):
        lead = crm.record_create(instance=Lead(name="Gone soon"))
        activity = schedule(subject=lead, assignee=lawyer_a, deadline=world["today"])
        crm.record_delete(instance=lead)
    response = api_a.get(f"/api/v1/activities/{activity.pk}/")
    assert response.json()["subject"]["name"] is None
    assert response_errors(response, "/api/v1/activities/{id}/", "get") == []
    listed = api_a.get("/api/v1/activities/", {"subject": f"lead:{lead.pk}"})
    assert response_errors(listed, "/api/v1/activities/", "get") == []


def test_a_suggestion_has_no_id_or_times_and_conforms_to_the_schema(api_a, world, lawyer_a):
    """The probe's finding: the suggested ``next`` had a null id, created_at and updated_at."""
    from tests.openapi import response_errors

    activity = post_activity(api_a, world, lawyer_a, type=world["suggest"].pk).json()
    response = api_a.post(f"/api/v1/activities/{activity['id']}/complete/", {}, format="json")
    suggestion = response.json()["next"]
    assert not {"id", "created_at", "updated_at"} & suggestion.keys()
    assert suggestion["chained_from"] == activity["id"]
    assert response_errors(response, "/api/v1/activities/{id}/complete/", "post") == []
    # a scheduled follow-up still has them all
    triggered = post_activity(api_a, world, lawyer_a, type=world["trigger"].pk).json()
    response = api_a.post(f"/api/v1/activities/{triggered['id']}/complete/", {}, format="json")
    assert {"id", "created_at", "updated_at"} <= response.json()["next"].keys()
    assert response_errors(response, "/api/v1/activities/{id}/complete/", "post") == []


@pytest.mark.usefixtures("cache_on")
def test_scheduling_reads_each_record_once(api_a, world, lawyer_a, django_assert_max_num_queries):
    # given a firm whose host, token and content types this process has already seen
    assert post_activity(api_a, world, lawyer_a, summary="warm").status_code == 201
    # when an activity is scheduled through the API
    # the token, subject, type and assignee; the insert and its entry (two savepoints); the flush
    with django_assert_max_num_queries(11) as captured:
        response = post_activity(api_a, world, lawyer_a, summary="Call back")
    assert response.status_code == 201, response.content
    # then the subject, type and assignee are each read once, and nothing re-checks them: no
    # ``SELECT 1`` per foreign key, no query for the check constraint, no content type lookup
    sql = [query["sql"] for query in captured]
    assert not [s for s in sql if s.startswith("SELECT 1 AS")], sql
    assert not [s for s in sql if 'FROM "django_content_type"' in s], sql
    assert sum('FROM "users_user"' in s for s in sql) <= 1, sql
