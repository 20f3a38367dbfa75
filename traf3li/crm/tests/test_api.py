import pytest

from conftest import api_client_for, make_user
from traf3li.api.pagination import ERROR_PAGE_SIZE
from traf3li.core.normalize import ERROR_PHONE

pytestmark = pytest.mark.django_db

RECORDS = {
    "clients": {"name": "Ahmed Al-Harbi", "kind": "individual", "email": "Ahmed@Example.COM", "phone": "0501234567"},
    "contacts": {"name": "سارة القحطاني", "email": "SARA@example.com", "phone": "+966 55 123 4567"},
    "leads": {"name": "Omar", "email": "omar@example.com", "phone": "0551112222", "source": "website"},
    "organizations": {"name": "شركة الرياض للتجارة"},
}


@pytest.mark.parametrize("resource", sorted(RECORDS))
def test_crud_roundtrip(api_a, resource):
    # given
    body = RECORDS[resource]
    # when
    created = api_a.post(f"/api/v1/{resource}/", body, format="json")
    # then
    assert created.status_code == 201, created.content
    url = f"/api/v1/{resource}/{created.data['id']}/"
    assert api_a.get(url).data["name"] == body["name"]
    assert api_a.patch(url, {"name": "Renamed"}, format="json").data["name"] == "Renamed"
    assert api_a.delete(url).status_code == 204
    assert api_a.get(url).status_code == 404


def test_phone_and_email_are_normalised(api_a):
    response = api_a.post("/api/v1/clients/", RECORDS["clients"], format="json")
    assert response.data["phone"] == "+966501234567"
    assert response.data["email"] == "ahmed@example.com"


def test_malformed_phone_is_400_and_stores_nothing(api_a):
    response = api_a.post("/api/v1/clients/", {"name": "X", "phone": "12"}, format="json")
    assert response.status_code == 400
    assert response.data == {"phone": [ERROR_PHONE]}
    assert api_a.get("/api/v1/clients/").data["results"] == []


def test_case_with_client_and_lawyer(api_a, lawyer_a):
    client = api_a.post("/api/v1/clients/", {"name": "Client"}, format="json").data
    response = api_a.post(
        "/api/v1/cases/", {"title": "Labour dispute", "client": client["id"], "lawyer": lawyer_a.id}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.data["status"] == "open"
    assert response.data["legal_hold"] is False
    listed = api_a.get(f"/api/v1/cases/?client={client['id']}&status=open,in_progress").data["results"]
    assert [c["id"] for c in listed] == [response.data["id"]]


def test_deleting_a_client_with_cases_is_400(api_a):
    client = api_a.post("/api/v1/clients/", {"name": "Client"}, format="json").data
    api_a.post("/api/v1/cases/", {"title": "T", "client": client["id"]}, format="json")
    response = api_a.delete(f"/api/v1/clients/{client['id']}/")
    assert response.status_code == 400
    assert api_a.get(f"/api/v1/clients/{client['id']}/").status_code == 200


def test_unknown_filter_value_is_400(api_a):
    response = api_a.get("/api/v1/clients/?kind=alien")
    assert response.status_code == 400
    assert "kind" in response.data


@pytest.mark.parametrize("size", ["201", "0", "abc"])
def test_bad_page_size_is_400(api_a, size):
    response = api_a.get(f"/api/v1/clients/?page_size={size}")
    assert response.status_code == 400
    assert response.data == {"page_size": [ERROR_PAGE_SIZE]}


def test_garbage_cursor_is_400(api_a):
    assert api_a.get("/api/v1/clients/?cursor=%%%").status_code == 400


def test_cursor_pages_cover_every_record_once(api_a):
    for i in range(7):
        api_a.post("/api/v1/clients/", {"name": f"C{i}"}, format="json")
    seen, url = [], "/api/v1/clients/?page_size=3"
    while url:
        page = api_a.get(url).data
        seen += [row["name"] for row in page["results"]]
        url = page["next"]
    assert seen == [f"C{i}" for i in reversed(range(7))]
    # and back again from the last page
    last = api_a.get("/api/v1/clients/?page_size=3").data
    second = api_a.get(last["next"]).data
    back = api_a.get(second["previous"]).data
    assert [r["name"] for r in back["results"]] == ["C6", "C5", "C4"]
    assert back["previous"] is None


def test_list_query_count_does_not_grow_with_page_size(api_a, django_assert_max_num_queries):
    for i in range(30):
        api_a.post("/api/v1/contacts/", {"name": f"P{i}"}, format="json")
    with django_assert_max_num_queries(6):
        assert len(api_a.get("/api/v1/contacts/?page_size=30").data["results"]) == 30


def test_staff_cannot_add_users_but_admin_can(api_a, api_a_staff):
    body = {"username": "newbie", "password": "long-enough-1", "role": "lawyer"}
    assert api_a_staff.post("/api/v1/users/", body, format="json").status_code == 403
    assert api_a.post("/api/v1/users/", body, format="json").status_code == 201


def test_token_endpoint(firm_a):
    make_user(firm_a, "tok", role="lawyer")
    client = api_client_for(firm_a)
    response = client.post("/api/v1/auth/token/", {"username": "tok", "password": "pass-word-123"}, format="json")
    assert response.status_code == 200 and len(response.data["token"]) == 43  # 256 random bits, URL-safe
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.data['token']}")
    assert client.get("/api/v1/me/").data["role"] == "lawyer"


def test_times_are_shown_in_the_firms_timezone(api_a, firm_a):
    # given a firm in Riyadh (the default)
    assert firm_a.timezone == "Asia/Riyadh"
    # when a record is created and read back
    created = api_a.post("/api/v1/clients/", {"name": "Clock"}, format="json").data
    # then its time carries the firm's offset, and the stored instant is unchanged
    assert created["created_at"].endswith("+03:00")
    from django.utils.dateparse import parse_datetime
    from django_tenants.utils import schema_context

    from traf3li.crm.models import Client

    with schema_context("alpha"):
        assert Client.objects.get(pk=created["id"]).created_at == parse_datetime(created["created_at"])
