from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from conftest import api_client_for
from timeline import selectors
from timeline.models import Entry
from timeline.tests.factories import bulk_entries, client_family, record
from traf3li.core.registries import _PARENTS
from traf3li.core.subjects import SubjectRef

pytestmark = pytest.mark.django_db

CALL = {"direction": "inbound", "duration_seconds": 120, "outcome": "connected", "from": "+966501234567"}


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def walk(api, url):
    """Every id of a list, following next links to the end."""
    seen, response = [], api.get(url)
    while True:
        seen += ids(response)
        nxt = response.json()["next"]
        if not nxt:
            return seen
        response = api.get(nxt)


@pytest.fixture
def family(firm_a):
    with schema_context(firm_a.schema_name):
        return client_family("Huda")


def test_post_records_an_entry_with_the_contract_fields(api_a, admin_a, family):
    client, contact, case = family
    # when
    response = api_a.post(
        "/api/v1/timeline/",
        {
            "kind": "call",
            "subject": f"contact:{contact.id}",
            "related": [{"type": "case", "id": case.id}],
            "title": "Called back",
            "occurred_at": "2026-01-05T10:00:00+03:00",
            "payload": CALL,
        },
        format="json",
    )
    # then
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {
        "id", "activity_id", "kind", "subject", "related", "title", "description", "occurred_at",
        "performed_by", "status", "source", "external_id", "payload", "created_at",
    }  # fmt: skip
    assert body["subject"] == {"type": "contact", "id": contact.id, "name": "Huda contact"}
    assert body["related"] == [{"type": "case", "id": case.id, "name": "Huda case"}]
    assert body["performed_by"] == {"id": admin_a.id, "name": admin_a.display_name}
    assert body["source"] == "manual"
    assert body["occurred_at"] == "2026-01-05T10:00:00+03:00"  # the firm's time (Riyadh)
    assert api_a.get(f"/api/v1/timeline/{body['id']}/").json() == body
    assert body["id"] in ids(api_a.get(f"/api/v1/clients/{client.id}/timeline/"))


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"duration_seconds": "long"}, "duration_seconds"),
        ({"duration_seconds": -5}, "duration_seconds"),
        ({"direction": "inbound", "colour": "red"}, "colour"),
        ({"outcome": "exploded"}, "outcome"),
        ({"transcription": "nul \x00 byte"}, "transcription"),
    ],
)
def test_bad_payload_is_400_naming_the_field(api_a, family, payload, field):
    client, _, _ = family
    response = api_a.post(
        "/api/v1/timeline/", {"kind": "call", "subject": f"client:{client.id}", "title": "x", "payload": payload}
    )
    assert response.status_code == 400
    assert field in response.json()["payload"]


def test_bad_subject_and_kind_are_400(api_a, family):
    client, _, _ = family
    assert (
        "subject" in api_a.post("/api/v1/timeline/", {"kind": "note", "subject": "client:999999", "title": "x"}).json()
    )
    assert "subject" in api_a.post("/api/v1/timeline/", {"kind": "note", "subject": "user:1", "title": "x"}).json()
    assert (
        "kind"
        in api_a.post("/api/v1/timeline/", {"kind": "fax", "subject": f"client:{client.id}", "title": "x"}).json()
    )


def test_patch_is_audited_and_source_is_fixed(api_a, family):
    client, _, _ = family
    entry = api_a.post("/api/v1/timeline/", {"kind": "note", "subject": f"client:{client.id}", "title": "Draft"}).json()
    url = f"/api/v1/timeline/{entry['id']}/"
    # when
    response = api_a.patch(url, {"title": "Final", "payload": {"pinned": True}})
    # then
    assert response.status_code == 200, response.content
    assert response.json()["title"] == "Final" and response.json()["payload"] == {"pinned": True}
    with schema_context("alpha"):
        event = AuditEvent.objects.get(entity_type="entry", entity_id=entry["id"], action="update")
    assert event.changes["after"]["title"] == "Final"
    assert api_a.patch(url, {"source": "twilio"}).status_code == 400
    assert "payload" in api_a.patch(url, {"payload": {"pinned": "yes"}}).json()


def test_deleted_entry_is_in_no_list_count_search_or_stat(api_a, family):
    # given
    client, contact, _ = family
    body = {"kind": "call", "subject": f"contact:{contact.id}", "title": "Zanzibar retainer", "payload": CALL}
    entry = api_a.post("/api/v1/timeline/", body).json()
    url = f"/api/v1/timeline/{entry['id']}/"
    before = api_a.get("/api/v1/timeline/stats/").json()
    assert entry["id"] in ids(api_a.get("/api/v1/timeline/?q=zanzibar"))
    # when
    assert api_a.delete(url).status_code == 204
    # then
    assert api_a.get(url).status_code == 404
    assert api_a.patch(url, {"title": "x"}).status_code == 404
    assert entry["id"] not in ids(api_a.get("/api/v1/timeline/"))
    assert entry["id"] not in ids(api_a.get(f"/api/v1/clients/{client.id}/timeline/"))
    assert entry["id"] not in ids(api_a.get(f"/api/v1/contacts/{contact.id}/timeline/"))
    assert entry["id"] not in ids(api_a.get(f"/api/v1/timeline/?subject=client:{client.id}&kind=call"))
    assert ids(api_a.get("/api/v1/timeline/?q=zanzibar")) == []
    after = api_a.get("/api/v1/timeline/stats/").json()
    assert after["total"] == before["total"] - 1
    assert after["by_kind"].get("call", 0) == before["by_kind"]["call"] - 1
    subject_stats = api_a.get(f"/api/v1/timeline/stats/?subject=client:{client.id}&kind=call").json()
    assert subject_stats["total"] == 0
    with schema_context("alpha"):
        assert Entry.objects.filter(pk=entry["id"], deleted_at__isnull=False).exists()
        assert AuditEvent.objects.filter(entity_type="entry", entity_id=entry["id"], action="delete").exists()


def test_client_view_includes_its_contacts_cases_and_registered_children_only(api_a, firm_a, family, monkeypatch):
    # given: an organization stands in for a child type another app registers (billing's invoices)
    client, contact, case = family
    with schema_context(firm_a.schema_name):
        other, other_contact, _ = client_family("Other")
        from traf3li.crm import services as crm
        from traf3li.crm.models import Organization

        child = crm.record_create(instance=Organization(name="Child record"))
        monkeypatch.setitem(_PARENTS, "organization", lambda org: [SubjectRef("client", client.id)])
        own = record(client, title="On the client").id
        on_contact = record(contact, title="On the contact").id
        on_case = record(case, title="On the case").id
        on_child = record(child, title="On the child").id
        related_only = record(other, title="Related to the client", related=[client]).id
        foreign = record(other_contact, title="Another client's").id
    # when
    view = ids(api_a.get(f"/api/v1/clients/{client.id}/timeline/?page_size=200"))
    # then
    assert {own, on_contact, on_case, on_child, related_only} <= set(view)
    assert foreign not in view
    assert len(view) == len(set(view))
    assert set(ids(api_a.get(f"/api/v1/contacts/{contact.id}/timeline/"))) >= {on_contact}
    assert own not in ids(api_a.get(f"/api/v1/contacts/{contact.id}/timeline/"))
    assert ids(api_a.get(f"/api/v1/timeline/?subject=client:{client.id}&page_size=200")) == view


def test_crm_writes_appear_on_the_clients_timeline(api_a, family):
    client, contact, case = family
    # when
    assert api_a.patch(f"/api/v1/cases/{case.id}/", {"status": "closed"}).status_code == 200
    # then
    rows = api_a.get(f"/api/v1/clients/{client.id}/timeline/").json()["results"]
    kinds = [(row["kind"], row["subject"]["type"]) for row in rows]
    assert kinds[0] == ("status_change", "case")
    assert rows[0]["payload"] == {"field": "status", "from": "open", "to": "closed"}
    assert {("case_created", "case"), ("note", "contact")} <= set(kinds)


def test_moving_a_contact_moves_its_history(api_a, firm_a, family):
    client, contact, _ = family
    with schema_context(firm_a.schema_name):
        other, _, _ = client_family("Other")
        entry = record(contact, title="Before the move").id
    assert api_a.patch(f"/api/v1/contacts/{contact.id}/", {"client": other.id}).status_code == 200
    assert entry in ids(api_a.get(f"/api/v1/clients/{other.id}/timeline/"))
    assert entry not in ids(api_a.get(f"/api/v1/clients/{client.id}/timeline/"))


@pytest.mark.parametrize("base", ["/api/v1/timeline/", "/api/v1/clients/{client}/timeline/"])
def test_cursor_pages_over_shared_timestamps_return_each_entry_once(api_a, firm_a, family, base):
    # given: 1,000 entries on 10 timestamps
    client, _, _ = family
    start = datetime(2024, 6, 1, tzinfo=UTC)
    with schema_context(firm_a.schema_name):
        made = {e.id for e in bulk_entries(client, [start + timedelta(seconds=i % 10) for i in range(1000)])}
    url = base.format(client=client.id) + "?since=2024-06-01&until=2024-06-02&page_size=37"
    # when
    forward = walk(api_a, url)
    # then
    assert len(forward) == 1000 and set(forward) == made
    # and walking back from the last page returns the previous page exactly
    response = api_a.get(url)
    for _ in range(3):
        response = api_a.get(response.json()["next"])
    page4 = ids(response)
    back = api_a.get(response.json()["previous"])
    assert ids(back) == forward[2 * 37 : 3 * 37]
    assert page4 == forward[3 * 37 : 4 * 37]


def cursor_of(link: str | None) -> str | None:
    return parse_qs(urlsplit(link).query)["cursor"][0] if link else None


def test_an_unfiltered_360_page_is_the_filtered_paths_page_row_for_row(api_a, firm_a, family):
    # given a client's view with ties on the keyset, deleted entries, and entries of its contact and case
    client, contact, case = family
    start = datetime(2024, 6, 1, 10, 0, 0, 120000, tzinfo=UTC)
    with schema_context(firm_a.schema_name):
        made = bulk_entries(client, [start + timedelta(seconds=i % 7) for i in range(60)])
        record(contact, title="on the contact", occurred_at=start)
        record(case, title="on the case", occurred_at=start + timedelta(seconds=3))
        Entry.objects.filter(pk__in=[made[5].id, made[17].id]).update(deleted_at=start)
    base = f"/api/v1/clients/{client.id}/timeline/?page_size=9"
    # when both paths walk it forward (``q=`` names a filter that filters nothing: the FilterSet's path)
    fast, filtered = [api_a.get(base)], [api_a.get(base + "&q=")]
    while fast[-1].json()["next"]:
        fast.append(api_a.get(fast[-1].json()["next"]))
        filtered.append(api_a.get(filtered[-1].json()["next"]))
    # then every page holds the same documents, and each cursor the same key
    assert len(fast) == len(filtered) == 7 and filtered[-1].json()["next"] is None
    for a, b in zip(fast, filtered, strict=True):
        assert a.json()["results"] == b.json()["results"]
        for link in ("next", "previous"):
            assert cursor_of(a.json()[link]) == cursor_of(b.json()[link]), link
    shown = [row["id"] for page in fast for row in page.json()["results"]]
    with schema_context(firm_a.schema_name):
        live = set(selectors.entry_subject_view(SubjectRef("client", client.id)).values_list("entry_id", flat=True))
    assert len(shown) == len(live) >= 60 and set(shown) == live and not {made[5].id, made[17].id} & live
    # and walking back from the last page gives the page before it, on both
    back = api_a.get(fast[-1].json()["previous"])
    assert back.json()["results"] == fast[-2].json()["results"]
    assert api_a.get("/api/v1/clients/987654/timeline/").status_code == 404


@pytest.mark.parametrize("path", ["/api/v1/timeline/", "/api/v1/clients/{client}/timeline/"])
def test_list_query_count_is_independent_of_page_size(api_a, firm_a, family, path, django_assert_max_num_queries):
    client, _, _ = family
    with schema_context(firm_a.schema_name):
        bulk_entries(client, [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=i) for i in range(120)])
    url = path.format(client=client.id)
    # The tenant middleware's domain lookup, django-tenants' search_path SETs, the token and the
    # page itself: the same for 5 rows as for 100.
    for size in (5, 100):
        with django_assert_max_num_queries(6):
            assert len(ids(api_a.get(f"{url}?page_size={size}&kind=note,call"))) == size


def test_filters(api_a, admin_a, lawyer_a, firm_a, family):
    client, contact, case = family
    with schema_context(firm_a.schema_name):
        call = record(
            contact,
            kind="call",
            title="c",
            payload=CALL,
            performed_by=lawyer_a,
            source="twilio",
            status="completed",
            occurred_at=datetime(2025, 3, 10, 21, 30, tzinfo=UTC),  # 11 March 00:30 in Riyadh
        ).id
        mail = record(
            case, kind="email", title="m", source="sendgrid", occurred_at=datetime(2025, 3, 9, 12, tzinfo=UTC)
        ).id
    base = f"/api/v1/clients/{client.id}/timeline/"
    assert ids(api_a.get(f"{base}?kind=call,email")) == [call, mail]
    assert ids(api_a.get(f"{base}?kind=email")) == [mail]
    assert ids(api_a.get(f"{base}?performed_by={lawyer_a.id}")) == [call]
    assert ids(api_a.get(f"{base}?source=twilio")) == [call]
    assert ids(api_a.get(f"{base}?status=completed")) == [call]
    assert ids(api_a.get(f"{base}?subject_type=case&kind=email")) == [mail]
    # Dates are whole days in the firm's timezone (Asia/Riyadh): the call is on the 11th there.
    assert ids(api_a.get(f"{base}?since=2025-03-11&until=2025-03-11")) == [call]
    assert ids(api_a.get(f"{base}?since=2025-03-09&until=2025-03-10")) == [mail]
    assert ids(api_a.get("/api/v1/timeline/?until=2025-03-10T00:00:00Z&kind=email")) == [mail]
    assert ids(api_a.get(f"/api/v1/timeline/?subject=case:{case.id}&kind=email,call")) == [mail]
    for bad in ("kind=fax", "since=yesterday", "performed_by=x", "subject=client", "source=pigeon"):
        assert api_a.get(f"/api/v1/timeline/?{bad}").status_code == 400, bad
        assert api_a.get(f"{base}?{bad}").status_code == 400, bad
        assert api_a.get(f"/api/v1/timeline/stats/?{bad}").status_code == 400, bad


def test_each_filterset_points_its_own_copies_of_the_filters_at_itself():
    from timeline.filtersets import EntryFilterSet

    first, second = EntryFilterSet({"kind": "call"}), EntryFilterSet({"kind": "email"})
    base = EntryFilterSet.base_filters["kind"]
    assert len({id(first.filters["kind"]), id(second.filters["kind"]), id(base)}) == 3
    assert first.filters["kind"].parent is first and second.filters["kind"].parent is second
    assert getattr(base, "parent", None) is None
    assert first.is_valid() and first.form.cleaned_data["kind"] == ["call"]
    assert second.is_valid() and second.form.cleaned_data["kind"] == ["email"]


def test_nul_in_a_search_is_400_not_500(api_a):
    assert api_a.get("/api/v1/timeline/", {"q": "a\x00b"}).status_code == 400


def test_missing_subject_view_is_404(api_a):
    assert api_a.get("/api/v1/clients/987654/timeline/").status_code == 404
    assert api_a.get("/api/v1/timeline/987654/").status_code == 404


def firm_a_urls(client, entry_id):
    return [
        ("get", "/api/v1/timeline/", None),
        ("get", "/api/v1/timeline/stats/", None),
        ("get", f"/api/v1/timeline/{entry_id}/", None),
        ("patch", f"/api/v1/timeline/{entry_id}/", {"title": "hijack"}),
        ("delete", f"/api/v1/timeline/{entry_id}/", None),
        ("post", "/api/v1/timeline/", {"kind": "note", "subject": f"client:{client.id}", "title": "x"}),
        *(("get", f"/api/v1/{plural}/{client.id}/timeline/", None) for plural in ["clients"]),
    ]


def test_firm_isolation_on_every_timeline_endpoint(api_a, api_b, firm_a, firm_b, admin_a, family):
    # given: firm A's entry, and firm B with records of its own
    client, contact, case = family
    with schema_context(firm_a.schema_name):
        entry = record(client, title="Secret").id
    paths = {
        "clients": client.id,
        "contacts": contact.id,
        "cases": case.id,
        "leads": 1,
        "organizations": 1,
    }
    # then: firm B's host and token see none of it
    for method, url, body in firm_a_urls(client, entry):
        response = getattr(api_b, method)(url, body, format="json")
        if url.endswith("/timeline/") and method == "get":
            assert "Secret" not in response.content.decode(), url
        elif url.endswith("/stats/"):
            assert response.status_code == 200
        else:
            assert response.status_code in (400, 404), (method, url, response.status_code)
    for plural, pk in paths.items():
        assert api_b.get(f"/api/v1/{plural}/{pk}/timeline/").status_code in (200, 404)
        assert "Secret" not in api_b.get(f"/api/v1/{plural}/{pk}/timeline/").content.decode()
    # and firm A's token on firm B's host is refused outright
    intruder = api_client_for(firm_b)
    intruder.credentials(HTTP_AUTHORIZATION=api_a._credentials["HTTP_AUTHORIZATION"])
    for method, url, body in firm_a_urls(client, entry):
        assert getattr(intruder, method)(url, body, format="json").status_code == 401, url
    for plural, pk in paths.items():
        assert intruder.get(f"/api/v1/{plural}/{pk}/timeline/").status_code == 401
    with schema_context(firm_a.schema_name):
        assert Entry.objects.get(pk=entry).title == "Secret" and Entry.objects.get(pk=entry).deleted_at is None


def test_an_entry_cannot_be_about_an_internal_record(api_a, admin_a):
    response = api_a.post(
        "/api/v1/timeline/", {"kind": "note", "subject": f"user:{admin_a.id}", "title": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "Unknown subject type 'user'" in response.data["subject"][0]


def test_a_prepared_360_statement_reads_the_firm_whose_search_path_is_set(firm_a, firm_b):
    # given a client with an entry in each of two firms
    from django.db import connection

    ids = {}
    for firm in (firm_a, firm_b):
        with schema_context(firm.schema_name):
            client, _, _ = client_family(f"{firm.schema_name} client")
            record(client, title=f"only in {firm.schema_name}")
            ids[firm.schema_name] = client.id
    # when one connection runs the 360° statement (prepared once) for both ids, firm after firm
    seen = {}
    for firm in (firm_a, firm_b, firm_a, firm_b):
        connection.set_tenant(firm)
        for client_id in ids.values():
            rows = selectors.entry_subject_page(SubjectRef("client", client_id), key=None, reverse=False, limit=50)
            seen.setdefault(firm.schema_name, []).extend(row["document"] for row in rows)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%timeline_entrylink%%'")
        prepared = cursor.fetchone()[0]
    connection.set_schema_to_public()
    # then the server held it prepared, and each firm's runs read its own entry and never the other's
    assert prepared >= 1
    for schema, other in ((firm_a.schema_name, firm_b.schema_name), (firm_b.schema_name, firm_a.schema_name)):
        assert sum(f"only in {schema}" in doc for doc in seen[schema]) == 2
        assert not any(f"only in {other}" in doc for doc in seen[schema])
