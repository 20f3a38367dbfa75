"""Point-in-time state: replaying a record's events rebuilds it exactly, snapshots or not."""

import random
from datetime import date, timedelta

import pytest

from audit.models import AuditEvent, AuditStateSnapshot
from audit.selectors import SNAPSHOT_EVERY, entity_state_at, state_as_fields
from audit.services import REDACTED, audit_erase, snapshot
from conftest import make_user
from traf3li.core.subjects import SubjectRef
from traf3li.crm import services as crm_services
from traf3li.crm.choices import CaseStatus
from traf3li.crm.models import Case, Client

pytestmark = pytest.mark.django_db

WORDS = ["نزاع", "عمالي", "lease", "appeal", "تعويض", "breach", "Riyadh", "جدة", "", "hearing"]


def random_change(rng: random.Random, lawyers: list) -> dict:
    field = rng.choice(["title", "status", "lawyer", "legal_hold", "description", "court", "opened_on", "case_number"])
    if field == "status":
        return {"status": rng.choice(CaseStatus.values)}
    if field == "lawyer":
        return {"lawyer": rng.choice([None, *lawyers])}
    if field == "legal_hold":
        return {"legal_hold": rng.random() < 0.5}
    if field == "opened_on":
        return {"opened_on": rng.choice([None, date(2020, 1, 1) + timedelta(days=rng.randrange(2000))])}
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))).strip()
    if field == "title":
        text = text or "untitled"  # a case must have a title
    return {field: text}


def test_replay_matches_the_live_record_after_a_random_walk_of_200_updates(in_firm_a):
    # given a case pushed through 200 random updates, remembering how it looked after each
    rng = random.Random(20261129)
    lawyers = [make_user(in_firm_a, f"walker{i}", role="lawyer") for i in range(2)]
    case = crm_services.record_create(instance=Case(title="Walk", client=crm_services.record_create(
        instance=Client(name="Walker")))
    )  # fmt: skip
    ref = SubjectRef("case", case.pk)
    seen = []
    for step in range(200):
        # Each step changes the description too: an update that changes nothing writes no event.
        change = random_change(rng, lawyers)
        change["description"] = f"{change.get('description', '')} #{step}".strip()
        crm_services.record_update(instance=case, data=change)
        last = AuditEvent.objects.filter(entity_type="case", entity_id=case.pk).latest("seq")
        seen.append((last.occurred_at, snapshot(Case.objects.get(pk=case.pk))))
    # then the state at every one of those moments is the record as it was then
    for at, expected in seen:
        assert entity_state_at(entity=ref, at=at).state == expected
    # and the snapshots those reads stored changed no answer
    assert AuditStateSnapshot.objects.filter(entity_type="case", entity_id=case.pk).count() >= 2
    for at, expected in seen[::17]:
        assert entity_state_at(entity=ref, at=at, use_snapshots=False).state == expected
    # and the latest state is the live record
    assert entity_state_at(entity=ref, at=seen[-1][0] + timedelta(days=1)).state == snapshot(case)


def test_a_long_history_replays_at_most_one_snapshot_interval(in_firm_a):
    # given a record with 2.5 snapshot intervals of history
    client = crm_services.record_create(instance=Client(name="Busy"))
    for i in range(SNAPSHOT_EVERY * 5 // 2):
        crm_services.record_update(instance=client, data={"notes": f"note {i}"})
    ref, now = SubjectRef("client", client.pk), AuditEvent.objects.latest("seq").occurred_at
    # when read twice
    first = entity_state_at(entity=ref, at=now)
    second = entity_state_at(entity=ref, at=now)
    # then the first read replayed everything and left snapshots, the second replayed only the tail
    assert first.replayed == SNAPSHOT_EVERY * 5 // 2 + 1
    assert second.replayed == (SNAPSHOT_EVERY * 5 // 2 + 1) % SNAPSHOT_EVERY
    assert first.state == second.state == snapshot(Client.objects.get(pk=client.pk))


def test_state_endpoint_is_cheap_on_a_long_history(api_a, django_assert_max_num_queries):
    client_id = api_a.post("/api/v1/clients/", {"name": "Long"}, format="json").data["id"]
    for i in range(SNAPSHOT_EVERY + 20):
        api_a.patch(f"/api/v1/clients/{client_id}/", {"notes": f"n{i}"}, format="json")
    query = {"entity": f"client:{client_id}", "at": "2100-01-01T00:00:00Z"}
    assert api_a.get("/api/v1/audit/state/", query).data["notes"] == f"n{SNAPSHOT_EVERY + 19}"
    with django_assert_max_num_queries(8):
        assert api_a.get("/api/v1/audit/state/", query).data["notes"] == f"n{SNAPSHOT_EVERY + 19}"


def test_state_shows_fields_as_the_api_names_them(in_firm_a):
    client = crm_services.record_create(instance=Client(name="Named"))
    shown = state_as_fields("client", {"organization_id": None, "name": "Named", "gone_field": 1})
    assert shown == {"organization": None, "name": "Named", "gone_field": 1}
    assert state_as_fields("unregistered", {"a_id": 1}) == {"a_id": 1}
    assert client.pk


def test_erasure_drops_the_snapshots_and_replays_the_blanked_values(in_firm_a):
    client = crm_services.record_create(instance=Client(name="Private Person", phone="0501234567"))
    for i in range(SNAPSHOT_EVERY):
        crm_services.record_update(instance=client, data={"notes": f"n{i}"})
    ref, at = SubjectRef("client", client.pk), AuditEvent.objects.latest("seq").occurred_at
    assert entity_state_at(entity=ref, at=at).state["name"] == "Private Person"
    assert AuditStateSnapshot.objects.filter(entity_type="client", entity_id=client.pk).exists()
    audit_erase(subject=ref)
    assert not AuditStateSnapshot.objects.filter(entity_type="client", entity_id=client.pk).exists()
    state = entity_state_at(entity=ref, at=at).state
    assert (state["name"], state["phone"], state["id"]) == (REDACTED, REDACTED, client.pk)


def test_a_domain_action_changes_the_records_fields_not_its_shape(in_firm_a):
    from audit.services import audit_record

    client = crm_services.record_create(instance=Client(name="Messaged"))
    before = snapshot(client)
    client.notes = "answered"
    audit_record(action="send_message", instance=client, before=before, after={**snapshot(client), "message_id": "m1"})
    at = AuditEvent.objects.latest("seq").occurred_at
    state = entity_state_at(entity=SubjectRef("client", client.pk), at=at).state
    assert state["notes"] == "answered" and "message_id" not in state


def test_a_record_born_by_a_domain_action_replays_from_it(in_firm_a, admin_a):
    from timeline.activities.models import Activity
    from timeline.activities.services import activity_cancel
    from timeline.activities.tests.factories import a_client, schedule

    # given an activity created by schedule_activity (not "create") and then cancelled
    activity = schedule(subject=a_client(), assignee=admin_a)
    born = AuditEvent.objects.filter(entity_type="activity", entity_id=activity.pk).latest("seq")
    activity_cancel(activity=activity, actor=admin_a)
    ref = SubjectRef("activity", activity.pk)
    # then the state right after scheduling is the scheduled record, and now the cancelled one
    assert born.action == "schedule_activity"
    assert entity_state_at(entity=ref, at=born.occurred_at).state["state"] == "scheduled"
    live = snapshot(Activity.objects.get(pk=activity.pk))
    assert entity_state_at(entity=ref, at=born.occurred_at + timedelta(days=1)).state == live
