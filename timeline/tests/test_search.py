import pytest
from django_tenants.utils import schema_context

from timeline.tests.factories import client_family, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(firm_a):
    with schema_context(firm_a.schema_name):
        client, contact, _ = client_family("Searcher")
        made = {
            "english": record(client, title="Meetings with the opposing lawyers", description="Settlement talks"),
            "arabic": record(client, title="اتصال مع المحامي بخصوص القضية", description="تم الاتفاق على موعد الجلسة"),
            "diacritics": record(client, title="مُذَكِّرَةٌ للمحكمة"),
            "hamza": record(client, title="إستئناف الحكم"),
            "payload": record(
                contact,
                kind="call",
                title="Inbound call",
                payload={"transcription": "The client asked about the arbitration clause", "outcome": "connected"},
            ),
            "whatsapp": record(contact, kind="whatsapp", title="WhatsApp", payload={"body": "أرسلت العقد الموقّع"}),
        }
        return client, {name: entry.id for name, entry in made.items()}


def found(api, q, base="/api/v1/timeline/"):
    response = api.get(base, {"q": q, "page_size": 200})
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("meeting", "english"),  # stemming: meetings -> meet
        ("lawyer", "english"),
        ("settlements", "english"),
        ("محامي", "arabic"),  # the definite article is stripped: المحامي
        ("القضيه", "arabic"),  # taa marbuta and haa are one letter
        ("جلسة", "arabic"),
        ("مذكرة", "diacritics"),  # diacritics are ignored
        ("محكمه", "diacritics"),  # li+al prefix (للمحكمة) stripped
        ("استئناف", "hamza"),  # alef forms are one letter
        ("arbitration", "payload"),  # payload text fields are searched
        ("العقد", "whatsapp"),
    ],
)
def test_search_english_and_arabic(api_a, entries, query, expected):
    client, made = entries
    assert made[expected] in found(api_a, query)
    assert made[expected] in found(api_a, query, f"/api/v1/clients/{client.id}/timeline/")


def test_search_matches_nothing_else(api_a, entries):
    _, made = entries
    assert found(api_a, "محامي") & set(made.values()) == {made["arabic"]}
    assert found(api_a, "connected") & set(made.values()) == {made["payload"]}  # outcome is a text field
    assert found(api_a, "zzyzx") == set()
    # Only stop words: no lexeme to look for, so no result rather than everything.
    assert found(api_a, "the") == set()
