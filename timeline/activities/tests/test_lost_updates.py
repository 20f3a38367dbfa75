"""Updates apply to the locked row and save only what changed (issue 8, defect 2).

"Another transaction committed in between" is a queryset ``update()`` between the caller reading
its instance and calling the service: the service's locked re-read sees it exactly as it would see
another connection's commit.
"""

from datetime import date, timedelta
from unittest import mock

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from timeline.activities import services
from timeline.activities.deadlines import firm_today
from timeline.activities.models import Activity, ActivityType, Holiday, WorkingCalendar
from timeline.activities.tests.factories import a_client, activity_type, schedule
from timeline.activities.tests.test_admin import browser_for
from traf3li.core.subjects import subject_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_browser(firm_a, admin_a):
    return browser_for(firm_a, admin_a)


def last_update(instance) -> dict:
    ref = subject_of(instance)
    return AuditEvent.objects.filter(entity_type=ref.type, entity_id=ref.id, action="update").latest("id").changes


def test_a_type_updated_from_a_stale_instance_keeps_what_another_transaction_committed(in_firm_a):
    # given a caller's copy of a type, and another transaction that then changes its icon
    call = activity_type("Call", icon="phone", delay_count=1)
    stale = ActivityType.objects.get(pk=call.pk)
    ActivityType.objects.filter(pk=call.pk).update(icon="headset")
    # when the caller changes only the delay
    result = services.activity_type_update(instance=stale, data={"delay_count": 5})
    # then the icon is not reverted, the audit names only the delay, and the caller sees the row as stored
    stored = ActivityType.objects.get(pk=call.pk)
    assert (stored.icon, stored.delay_count) == ("headset", 5)
    changes = last_update(call)
    assert set(changes["after"]) - {"updated_at"} == {"delay_count"}
    assert (changes["before"]["delay_count"], changes["after"]["delay_count"]) == (1, 5)
    assert (stale.icon, stale.delay_count, stale.updated_at) == ("headset", 5, stored.updated_at)
    assert result.pk == call.pk and result.icon == "headset"


def test_an_update_that_changes_nothing_writes_nothing(in_firm_a):
    call = activity_type("Call", icon="phone")
    updated_at = ActivityType.objects.get(pk=call.pk).updated_at
    services.activity_type_update(instance=call, data={"icon": "phone"})
    assert ActivityType.objects.get(pk=call.pk).updated_at == updated_at
    ref = subject_of(call)
    assert not AuditEvent.objects.filter(entity_type=ref.type, entity_id=ref.id, action="update").exists()


def test_the_calendar_and_a_holiday_saved_from_stale_instances_keep_other_fields(in_firm_a):
    # given stale copies of the calendar and a holiday, then other transactions rename both
    calendar = services.working_calendar_save(calendar=WorkingCalendar(name="Riyadh office"))
    holiday = services.holiday_save(holiday=Holiday(calendar=calendar, date=date(2026, 9, 23), name="National Day"))
    stale_calendar = WorkingCalendar.objects.get(pk=calendar.pk)
    stale_holiday = Holiday.objects.get(pk=holiday.pk)
    WorkingCalendar.objects.filter(pk=calendar.pk).update(name="Jeddah office")
    Holiday.objects.filter(pk=holiday.pk).update(name="Saudi National Day")
    # when each caller changes another field
    services.working_calendar_save(calendar=stale_calendar, data={"weekend_days": [6, 5]})
    services.holiday_save(holiday=stale_holiday, data={"date": date(2026, 9, 24)})
    # then
    stored = WorkingCalendar.objects.get(pk=calendar.pk)
    assert (stored.name, stored.weekend_days) == ("Jeddah office", [5, 6])  # clean() sorted it on the locked row
    assert (stale_calendar.name, stale_calendar.weekend_days) == ("Jeddah office", [5, 6])
    assert set(last_update(calendar)["after"]) - {"updated_at"} == {"weekend_days"}
    stored_holiday = Holiday.objects.get(pk=holiday.pk)
    assert (stored_holiday.name, stored_holiday.date) == ("Saudi National Day", date(2026, 9, 24))
    assert set(last_update(holiday)["after"]) == {"date"}


def test_an_activity_edited_from_a_stale_instance_keeps_the_other_field_and_returns_the_stored_row(in_firm_a, admin_a):
    # given a caller's copy of an activity, then another transaction changes its note
    activity = schedule(subject=a_client(), assignee=admin_a, deadline=firm_today(), summary="Call", note="old")
    stale = Activity.objects.get(pk=activity.pk)
    Activity.objects.filter(pk=activity.pk).update(note="Bring the power of attorney")
    # when the caller edits only the summary
    services.activity_update(activity=stale, data={"summary": "Call the clerk"})
    # then
    stored = Activity.objects.get(pk=activity.pk)
    assert (stored.summary, stored.note) == ("Call the clerk", "Bring the power of attorney")
    assert (stale.summary, stale.note, stale.updated_at) == (stored.summary, stored.note, stored.updated_at)
    assert set(last_update(activity)["after"]) - {"updated_at"} == {"summary"}


def _commit_in_between(target, model, **values):
    """Wrap a service so another transaction's write lands after the admin read its object."""

    def run(**kwargs):
        model.objects.filter(pk=kwargs.get("instance", kwargs.get("activity", kwargs.get("calendar"))).pk).update(
            **values
        )
        return target(**kwargs)

    return run


def test_the_type_admin_passes_only_the_changed_fields(admin_browser, firm_a):
    with schema_context(firm_a.schema_name):
        call = activity_type("Call", icon="phone", delay_count=1)
    form = {
        "name": "Call",
        "icon": "phone",
        "delay_count": "3",
        "delay_unit": "days",
        "chaining": "none",
        "next_type": "",
        "default_summary": "",
    }
    real = services.activity_type_update
    with mock.patch.object(
        services, "activity_type_update", side_effect=_commit_in_between(real, ActivityType, icon="headset")
    ) as spy:
        page = admin_browser.post(f"/admin/activities/activitytype/{call.pk}/change/", form)
    assert page.status_code == 302, page.content[:2000]
    assert spy.call_args.kwargs["data"] == {"delay_count": 3}
    with schema_context(firm_a.schema_name):
        assert ActivityType.objects.values_list("icon", "delay_count").get(pk=call.pk) == ("headset", 3)


def test_the_activity_admin_passes_only_the_changed_fields(admin_browser, firm_a, admin_a):
    with schema_context(firm_a.schema_name):
        activity = schedule(subject=a_client(), assignee=admin_a, deadline=firm_today(), summary="Call", note="old")
    change = {
        "summary": "Call",
        "note": "new note",
        "assignee": admin_a.pk,
        "deadline": activity.deadline.isoformat(),
    }
    real = services.activity_update
    with mock.patch.object(
        services, "activity_update", side_effect=_commit_in_between(real, Activity, summary="Call the clerk")
    ) as spy:
        page = admin_browser.post(f"/admin/activities/activity/{activity.pk}/change/", change)
    assert page.status_code == 302, page.content[:2000]
    assert spy.call_args.kwargs["data"] == {"note": "new note"}
    with schema_context(firm_a.schema_name):
        assert Activity.objects.values_list("summary", "note").get(pk=activity.pk) == ("Call the clerk", "new note")


def test_the_calendar_admin_passes_only_the_changed_fields(admin_browser, firm_a):
    with schema_context(firm_a.schema_name):
        calendar = services.working_calendar_save(calendar=WorkingCalendar(name="Riyadh office"))
        holiday = services.holiday_save(holiday=Holiday(calendar=calendar, date=date(2026, 9, 23), name="National Day"))
    form = {
        "name": "Riyadh office",
        "weekend_days": ["5", "6"],
        "holidays-TOTAL_FORMS": "1",
        "holidays-INITIAL_FORMS": "1",
        "holidays-MIN_NUM_FORMS": "0",
        "holidays-MAX_NUM_FORMS": "1000",
        "holidays-0-id": str(holiday.pk),
        "holidays-0-calendar": str(calendar.pk),
        "holidays-0-date": (holiday.date + timedelta(days=1)).isoformat(),
        "holidays-0-name": "National Day",
    }
    calendar_save, holiday_save = services.working_calendar_save, services.holiday_save

    def holiday_in_between(**kwargs):
        Holiday.objects.filter(pk=kwargs["holiday"].pk).update(name="Saudi National Day")
        return holiday_save(**kwargs)

    with (
        mock.patch.object(
            services, "working_calendar_save", side_effect=_commit_in_between(calendar_save, WorkingCalendar, name="HQ")
        ) as calendar_spy,
        mock.patch.object(services, "holiday_save", side_effect=holiday_in_between) as holiday_spy,
    ):
        page = admin_browser.post(f"/admin/activities/workingcalendar/{calendar.pk}/change/", form)
    assert page.status_code == 302, page.content[:3000]
    assert calendar_spy.call_args.kwargs["data"] == {"weekend_days": [5, 6]}
    assert holiday_spy.call_args.kwargs["data"] == {"date": date(2026, 9, 24)}
    with schema_context(firm_a.schema_name):
        assert WorkingCalendar.objects.values_list("name", "weekend_days").get() == ("HQ", [5, 6])
        assert Holiday.objects.values_list("name", "date").get() == ("Saudi National Day", date(2026, 9, 24))


def test_a_change_naming_a_loaded_record_is_still_checked_for_duplicates(in_firm_a):
    # given two holidays of the calendar
    from django.core.exceptions import ValidationError

    calendar = services.working_calendar_save(calendar=WorkingCalendar(name="Riyadh office"))
    taken = services.holiday_save(holiday=Holiday(calendar=calendar, date=date(2026, 9, 23), name="National Day"))
    other = services.holiday_save(holiday=Holiday(calendar=calendar, date=date(2026, 2, 22), name="Founding Day"))
    # when a change names the calendar, read just now, and moves one onto the other's date
    with pytest.raises(ValidationError) as raised:
        services.holiday_save(holiday=other, data={"calendar": calendar, "date": taken.date})
    # then the unique check still ran (a 400 for the API and the admin, not the database's error)
    assert "__all__" in raised.value.message_dict
    assert Holiday.objects.get(pk=other.pk).date == date(2026, 2, 22)
