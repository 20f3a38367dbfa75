from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from timeline.activities import services
from timeline.activities.models import Activity, Holiday, WorkingCalendar
from timeline.activities.services import ERROR_ASSIGNEE_INACTIVE, ERROR_TRANSITION
from timeline.activities.tests.factories import a_client, activity_type, chained_types, schedule
from timeline.models import Entry
from traf3li.api.exceptions import TransitionError

pytestmark = pytest.mark.django_db

# Thursday 5 March 2026, 00:30 in Riyadh (UTC+3) is still Wednesday 4 March in UTC.
THURSDAY_0030_RIYADH = datetime(2026, 3, 4, 21, 30, tzinfo=UTC)
THURSDAY = date(2026, 3, 5)


def task_entries(subject):
    return Entry.objects.filter(kind="task", subject_id=subject.pk, subject_type="client").order_by("id")


def audit_actions(activity):
    return list(
        AuditEvent.objects.filter(entity_type="activity", entity_id=activity.pk)
        .order_by("id")
        .values_list("action", flat=True)
    )


@pytest.fixture
def client_(in_firm_a):
    return a_client()


def _act(action, activity, *, actor, other):
    if action == "complete":
        return services.activity_complete(activity=activity, feedback="Called, all good", actor=actor).activity
    if action == "reschedule":
        return services.activity_reschedule(
            activity=activity, deadline=activity.deadline + timedelta(days=3), actor=actor
        )
    if action == "cancel":
        return services.activity_cancel(activity=activity, actor=actor)
    return services.activity_reassign(activity=activity, assignee=other, actor=actor)


ALLOWED = {
    "complete": ("complete_activity", "completed", lambda a, old, other: a.state == "done" and a.done_at is not None),
    "reschedule": (
        "reschedule_activity",
        "rescheduled",
        lambda a, old, other: a.deadline == old.deadline + timedelta(days=3),
    ),
    "cancel": ("cancel_activity", "cancelled", lambda a, old, other: a.state == "cancelled"),
    "reassign": ("reassign_activity", "reassigned", lambda a, old, other: a.assignee_id == other.pk),
}


@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_every_action_is_allowed_on_a_scheduled_activity(client_, admin_a, lawyer_a, action):
    # given
    activity = schedule(subject=client_, assignee=admin_a, deadline=THURSDAY, actor=admin_a)
    audit_action, timeline_action, changed = ALLOWED[action]
    # when
    result = _act(action, activity, actor=admin_a, other=lawyer_a)
    # then the row changed, the audit log has the domain action and the subject's timeline shows it
    stored = Activity.objects.get(pk=activity.pk)
    assert changed(stored, activity, lawyer_a)
    assert result.pk == activity.pk
    assert audit_actions(activity) == ["schedule_activity", audit_action]
    entries = task_entries(client_)
    assert [e.payload["action"] for e in entries] == ["scheduled", timeline_action]
    assert entries.last().payload["activity_id"] == activity.pk
    assert entries.last().payload["state"] == stored.state
    assert entries.last().performed_by_id == admin_a.pk


@pytest.mark.parametrize("final", ["done", "cancelled"])
@pytest.mark.parametrize("action", sorted(ALLOWED))
def test_every_action_is_forbidden_once_done_or_cancelled_and_changes_nothing(
    client_, admin_a, lawyer_a, final, action
):
    # given an activity that is done or cancelled
    activity = schedule(subject=client_, assignee=admin_a, deadline=THURSDAY)
    if final == "done":
        services.activity_complete(activity=activity, feedback="first")
    else:
        services.activity_cancel(activity=activity)
    before = Activity.objects.values().get(pk=activity.pk)
    audits, entries = AuditEvent.objects.count(), Entry.objects.count()
    # when / then
    with pytest.raises(TransitionError) as raised:
        _act(action, activity, actor=admin_a, other=lawyer_a)
    assert str(raised.value) == ERROR_TRANSITION[action].format(state=final)
    assert Activity.objects.values().get(pk=activity.pk) == before
    assert (AuditEvent.objects.count(), Entry.objects.count()) == (audits, entries)


def test_a_stale_instance_cannot_complete_what_another_request_cancelled(client_, admin_a):
    # given two copies of one activity; one request cancels it
    activity = schedule(subject=client_, assignee=admin_a, deadline=THURSDAY)
    stale = Activity.objects.get(pk=activity.pk)
    services.activity_cancel(activity=activity)
    # when the other request completes its stale copy, then the locked re-read refuses it
    with pytest.raises(TransitionError):
        services.activity_complete(activity=stale, feedback="late")
    assert Activity.objects.get(pk=activity.pk).state == "cancelled"


def test_schedule_defaults_the_deadline_from_the_type_in_business_days(client_, admin_a):
    # given a type with a 3 business-day delay and a holiday on Sunday the 8th
    calendar = services.working_calendar_save(calendar=WorkingCalendar())
    services.holiday_save(holiday=Holiday(calendar=calendar, date=date(2026, 3, 8), name="Founding Day"))
    review = activity_type("Document review", delay_count=3, delay_unit="business_days")
    # when scheduled at 00:30 on Thursday, Riyadh time
    activity = services.activity_schedule(subject=client_, type=review, assignee=admin_a, now=THURSDAY_0030_RIYADH)
    # then Friday and Saturday (weekend) and Sunday (holiday) are skipped: Mon 9, Tue 10, Wed 11
    assert activity.deadline == date(2026, 3, 11)


def test_trigger_schedules_the_next_activity_counted_from_the_completion_date(client_, admin_a):
    # given a court filing that triggers a follow-up 2 business days later; Sunday the 8th is a holiday
    calendar = services.working_calendar_save(calendar=WorkingCalendar())
    services.holiday_save(holiday=Holiday(calendar=calendar, date=date(2026, 3, 8), name="Holiday"))
    filing = schedule(subject=client_, assignee=admin_a, type=chained_types("trigger"), deadline=date(2026, 2, 1))
    # when completed at 00:30 Thursday in Riyadh (still Wednesday in UTC)
    completion = services.activity_complete(activity=filing, feedback="Filed", now=THURSDAY_0030_RIYADH)
    # then the follow-up counts from Thursday, skips Fri/Sat and the holiday: Mon 9, Tue 10
    follow_up = completion.next
    assert completion.next_is_suggestion is False
    assert follow_up.pk is not None and follow_up.state == "scheduled"
    assert follow_up.deadline == date(2026, 3, 10)
    assert follow_up.chained_from_id == filing.pk and follow_up.automated is True
    assert follow_up.assignee_id == admin_a.pk and follow_up.subject == client_
    assert Activity.objects.get(pk=filing.pk).done_at == THURSDAY_0030_RIYADH
    completed = task_entries(client_).get(payload__action="completed")
    assert completed.payload["next_activity_id"] == follow_up.pk
    assert completed.payload["feedback"] == "Filed"


def test_suggest_returns_an_unsaved_suggestion(client_, admin_a):
    filing = schedule(
        subject=client_, assignee=admin_a, type=chained_types("suggest", delay_count=1, delay_unit="days")
    )
    count = Activity.objects.count()
    completion = services.activity_complete(activity=filing, feedback="Filed", now=THURSDAY_0030_RIYADH)
    assert completion.next_is_suggestion is True
    assert completion.next.pk is None
    assert completion.next.type.name == "Follow-up (suggest)"
    assert completion.next.deadline == date(2026, 3, 6)
    assert completion.next.chained_from_id == filing.pk
    assert Activity.objects.count() == count
    assert "next_activity_id" not in task_entries(client_).get(payload__action="completed").payload


def test_a_type_without_chaining_has_no_next(client_, admin_a):
    activity = schedule(subject=client_, assignee=admin_a)
    assert services.activity_complete(activity=activity).next is None


def test_an_inactive_assignee_is_refused(client_, admin_a, lawyer_a):
    lawyer_a.is_active = False
    lawyer_a.save()
    with pytest.raises(ValidationError) as raised:
        schedule(subject=client_, assignee=lawyer_a)
    assert raised.value.message_dict == {"assignee": [ERROR_ASSIGNEE_INACTIVE]}
    activity = schedule(subject=client_, assignee=admin_a)
    with pytest.raises(ValidationError):
        services.activity_reassign(activity=activity, assignee=lawyer_a)
    assert Activity.objects.get(pk=activity.pk).assignee_id == admin_a.pk


def test_rescheduling_to_the_same_date_writes_nothing(client_, admin_a):
    activity = schedule(subject=client_, assignee=admin_a, deadline=THURSDAY)
    audits = AuditEvent.objects.count()
    services.activity_reschedule(activity=activity, deadline=THURSDAY)
    assert AuditEvent.objects.count() == audits


def test_an_activity_on_a_case_is_audited_with_its_case(in_firm_a, admin_a):
    from traf3li.crm import services as crm
    from traf3li.crm.models import Case

    case = crm.record_create(instance=Case(title="Labour dispute", client=a_client()))
    activity = schedule(subject=case, assignee=admin_a)
    assert AuditEvent.objects.get(entity_type="activity", entity_id=activity.pk).case_id == case.pk
    assert Entry.objects.get(kind="task", subject_type="case", subject_id=case.pk).payload["activity_id"] == activity.pk
