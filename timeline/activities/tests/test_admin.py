from datetime import timedelta

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from conftest import browser_for
from timeline.activities import services
from timeline.activities.admin import ADMIN_FEEDBACK
from timeline.activities.deadlines import firm_today
from timeline.activities.models import Activity, Holiday, WorkingCalendar
from timeline.activities.tests.factories import a_client, activity_type, schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(firm_a, admin_a):
    return browser_for(firm_a, admin_a)


@pytest.fixture
def spread(firm_a, admin_a, lawyer_a):
    """Two overdue, one due today, one planned and one done activity in firm A."""
    with schema_context(firm_a.schema_name):
        client = a_client()
        today = firm_today()
        rows = {
            "overdue_mine": schedule(subject=client, assignee=admin_a, deadline=today - timedelta(days=2)),
            "overdue": schedule(subject=client, assignee=lawyer_a, deadline=today - timedelta(days=1)),
            "today": schedule(subject=client, assignee=lawyer_a, deadline=today, summary="Call the court clerk"),
            "planned": schedule(subject=client, assignee=lawyer_a, deadline=today + timedelta(days=9)),
            "done": schedule(subject=client, assignee=lawyer_a, deadline=today),
        }
        services.activity_complete(activity=rows["done"])
    return rows


def test_the_index_page_shows_the_firms_and_my_counters(admin_browser, spread):
    page = admin_browser.get("/admin/")
    assert page.status_code == 200
    counters = page.context["activity_counters"]
    assert (counters["firm"]["overdue_count"], counters["firm"]["today_count"]) == (2, 1)
    assert (counters["firm"]["planned_count"], counters["firm"]["done_count"]) == (1, 1)
    assert (counters["mine"]["overdue_count"], counters["mine"]["total_pending"]) == (1, 1)
    html = page.content.decode()
    assert 'id="activity-counters"' in html and "?due=overdue" in html


def test_the_changelist_filters_by_due_state_and_assignee(admin_browser, spread, lawyer_a):
    def listed(query):
        page = admin_browser.get(f"/admin/activities/activity/?{query}")
        assert page.status_code == 200
        return {row.pk for row in page.context["cl"].result_list}

    assert listed("due=overdue") == {spread["overdue_mine"].pk, spread["overdue"].pk}
    assert listed("due=today") == {spread["today"].pk}
    assert listed("due=done") == {spread["done"].pk}
    assert listed(f"due=overdue&assignee__id__exact={lawyer_a.pk}") == {spread["overdue"].pk}


def test_the_complete_action_goes_through_the_service(admin_browser, firm_a, spread):
    # when two scheduled activities and a done one are completed from the list
    ids = [spread["today"].pk, spread["overdue"].pk, spread["done"].pk]
    page = admin_browser.post(
        "/admin/activities/activity/",
        {"action": "complete_selected", "_selected_action": [str(i) for i in ids]},
        follow=True,
    )
    # then the two are done with the admin's feedback, the done one is skipped, and each is audited
    assert page.status_code == 200
    with schema_context(firm_a.schema_name):
        states = dict(Activity.objects.filter(pk__in=ids).values_list("pk", "feedback"))
        assert states[spread["today"].pk] == ADMIN_FEEDBACK and states[spread["overdue"].pk] == ADMIN_FEEDBACK
        completed = AuditEvent.objects.filter(action="complete_activity", entity_id__in=ids)
        assert sorted(completed.values_list("entity_id", flat=True)) == sorted(
            [spread["today"].pk, spread["overdue"].pk, spread["done"].pk]  # the done one was completed earlier
        )
        assert completed.filter(source="admin").count() == 2
    messages = [str(m) for m in page.context["messages"]]
    assert "2 activities completed." in messages and any("1 skipped" in m for m in messages)


def test_adding_and_rescheduling_in_the_admin_use_the_services(admin_browser, firm_a, admin_a, lawyer_a):
    from django.contrib.contenttypes.models import ContentType

    with schema_context(firm_a.schema_name):
        client = a_client()
        call = activity_type("Call", delay_count=1, delay_unit="days")
        client_type = ContentType.objects.get_for_model(client).pk
    form = {
        "subject_content_type": client_type,
        "subject_id": client.pk,
        "type": call.pk,
        "summary": "From the admin",
        "note": "",
        "assignee": lawyer_a.pk,
        "deadline": "",
    }
    page = admin_browser.post("/admin/activities/activity/add/", form)
    assert page.status_code == 302, page.content[:2000]
    with schema_context(firm_a.schema_name):
        activity = Activity.objects.get(summary="From the admin")
        assert activity.deadline == firm_today() + timedelta(days=1)
        assert AuditEvent.objects.filter(action="schedule_activity", entity_id=activity.pk).exists()
    change = {"summary": "From the admin", "note": "", "assignee": admin_a.pk, "deadline": "2030-05-01"}
    page = admin_browser.post(f"/admin/activities/activity/{activity.pk}/change/", change)
    assert page.status_code == 302, page.content[:2000]
    with schema_context(firm_a.schema_name):
        activity.refresh_from_db()
        assert (activity.deadline.isoformat(), activity.assignee_id) == ("2030-05-01", admin_a.pk)
        actions = set(
            AuditEvent.objects.filter(entity_id=activity.pk, entity_type="activity").values_list("action", flat=True)
        )
        assert {"reschedule_activity", "reassign_activity"} <= actions
    missing = {**form, "subject_id": 987654}
    page = admin_browser.post("/admin/activities/activity/add/", missing)
    assert page.status_code == 200 and "subject_id" in page.context["adminform"].form.errors


def test_the_working_calendar_and_its_holidays_are_edited_in_the_admin(admin_browser, firm_a):
    form = {
        "name": "Riyadh office",
        "weekend_days": ["4", "5"],
        "holidays-TOTAL_FORMS": "1",
        "holidays-INITIAL_FORMS": "0",
        "holidays-MIN_NUM_FORMS": "0",
        "holidays-MAX_NUM_FORMS": "1000",
        "holidays-0-date": "2026-09-23",
        "holidays-0-name": "National Day",
    }
    page = admin_browser.post("/admin/activities/workingcalendar/add/", form)
    assert page.status_code == 302, page.content[:3000]
    with schema_context(firm_a.schema_name):
        calendar = WorkingCalendar.objects.get()
        assert calendar.weekend_days == [4, 5]
        assert list(Holiday.objects.values_list("name", flat=True)) == ["National Day"]
        assert AuditEvent.objects.filter(entity_type="holiday", action="create").exists()
    # only one calendar per firm
    assert admin_browser.get("/admin/activities/workingcalendar/add/").status_code == 403


def test_other_admin_pages_render(admin_browser, spread):
    for path in (
        "/admin/activities/activity/",
        f"/admin/activities/activity/{spread['today'].pk}/change/",
        f"/admin/activities/activity/{spread['done'].pk}/change/",
        "/admin/activities/activitytype/",
        "/admin/activities/reminder/",
        "/admin/activities/workingcalendar/",
    ):
        assert admin_browser.get(path).status_code == 200, path
