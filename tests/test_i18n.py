"""Arabic and English: the language each request speaks, right-to-left pages, and every label's two names.

The language of a request is the user's preference, else the firm's default, else the browser's
(Accept-Language); ``traf3li.core.middleware.UserLanguageMiddleware`` after Django's LocaleMiddleware.
"""

import importlib
import re

import pytest
from django.apps import apps
from django.db import models
from django.test import Client as BrowserClient
from django.utils import translation
from django_tenants.utils import schema_context

from conftest import api_client_for, browser_for, make_user
from timeline.activities.tests.factories import a_client, schedule
from traf3li.users.models import User

pytestmark = pytest.mark.django_db

# Every module that defines the choices of kinds, actions, states, channels, roles and settings;
# the last test fails when a model field takes its choices from a class none of them defines.
CHOICES_MODULES = [
    "timeline.choices",
    "timeline.models",
    "timeline.activities.choices",
    "timeline.events.choices",
    "audit.choices",
    "traf3li.crm.choices",
    "traf3li.users.models",
    "messaging.choices",
    "billing.choices",
    "billing.models",
]
ARABIC = re.compile(r"[\u0600-\u06ff]")


def choices_classes() -> dict[str, type[models.Choices]]:
    found = {}
    for name in CHOICES_MODULES:
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, type) and issubclass(value, models.Choices) and value.__module__ == name:
                found[f"{name}.{value.__qualname__}"] = value
    found["traf3li.users.models.User.Role"] = User.Role
    return found


@pytest.fixture
def firm_language(firm_a):
    """Sets firm A's default language for one test (the firm's row rolls back with the test)."""

    def apply(language):
        firm_a.language = language
        firm_a.save(update_fields=["language"])

    return apply


def test_a_user_who_chose_arabic_gets_arabic_admin_pages_right_to_left(firm_a):
    user = make_user(firm_a, "ar_admin", role="admin", language="ar")
    page = browser_for(firm_a, user).get("/admin/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200 and page["Content-Language"] == "ar"
    assert '<html lang="ar" dir="rtl">' in html
    assert "الأنشطة" in html and "متأخر" in html  # our index counters too, not only Django's strings


def test_a_user_who_chose_english_gets_english_in_an_arabic_firm(firm_a, firm_language):
    firm_language("ar")
    user = make_user(firm_a, "en_admin", role="admin", language="en")
    html = browser_for(firm_a, user).get("/admin/", HTTP_ACCEPT_LANGUAGE="ar").content.decode()
    assert '<html lang="en" dir="ltr">' in html


def test_the_firms_default_applies_when_the_user_has_none(firm_a, firm_language, admin_a):
    firm_language("ar")
    assert admin_a.language == ""
    html = browser_for(firm_a, admin_a).get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="ar" dir="rtl">' in html
    # The login page too: nobody is logged in yet, and the firm speaks Arabic.
    login = BrowserClient(HTTP_HOST=f"{firm_a.schema_name}.localhost").get("/admin/login/")
    assert '<html lang="ar" dir="rtl">' in login.content.decode()


def test_without_any_preference_the_browsers_language_decides(firm_a, admin_a):
    browser = browser_for(firm_a, admin_a)
    assert 'dir="rtl"' in browser.get("/admin/", HTTP_ACCEPT_LANGUAGE="ar").content.decode()
    assert 'dir="ltr"' in browser.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_admin_header_names_the_firm(firm_a, admin_a):
    html = browser_for(firm_a, admin_a).get("/admin/").content.decode()
    assert f'<a href="/admin/">{firm_a.name}</a>' in html
    assert f"<title>{firm_a.name} administration | {firm_a.name}</title>" in html
    assert "Your firm" not in html and "Traf3li Timeline" not in html


def test_the_admin_header_names_the_firm_in_arabic_too(firm_a):
    user = make_user(firm_a, "ar_lawyer", role="admin", language="ar")
    html = browser_for(firm_a, user).get("/admin/").content.decode()
    assert f'<a href="/admin/">{firm_a.name}</a>' in html and f"إدارة {firm_a.name}" in html


def test_accept_language_arabic_gives_arabic_api_errors(firm_a, admin_a, staff_a):
    api = api_client_for(firm_a, admin_a)
    invalid = api.post("/api/v1/timeline/", {"kind": "nope", "title": ""}, HTTP_ACCEPT_LANGUAGE="ar")
    assert invalid.status_code == 400 and invalid["Content-Language"] == "ar"
    # DRF's own messages come from its catalogue, ours from locale/ar.
    assert invalid.json() == {
        "kind": ['"nope" ليس خياراً صالحاً.'],
        "subject": ["هذا الحقل مطلوب."],
        "title": ["لا يمكن لهذا الحقل ان يكون فارغاً."],
    }
    unknown = api.post(
        "/api/v1/timeline/",
        {"kind": "note", "title": "x", "subject": {"type": "client", "id": 99999}},
        HTTP_ACCEPT_LANGUAGE="ar",
    )
    assert unknown.json() == {"subject": ["لا يوجد سجل من نوع «عميل» بالمعرّف 99999."]}

    staff = api_client_for(firm_a, staff_a)
    refused = staff.patch("/api/v1/firm/", {"name": "x"}, HTTP_ACCEPT_LANGUAGE="ar")
    assert refused.status_code == 403 and refused.json() == {"detail": "لا يحق هذا إلا لمسؤولي المكتب."}
    missing = api.get("/api/v1/clients/999999999/", HTTP_ACCEPT_LANGUAGE="ar")
    assert missing.status_code == 404 and missing.json() == {"detail": "لا يوجد سجل من نوع «عميل» يطابق الطلب."}
    anonymous = api_client_for(firm_a).get("/api/v1/clients/", HTTP_ACCEPT_LANGUAGE="ar")
    assert anonymous.status_code == 401 and anonymous.json() == {"detail": "لم يتم تزويد بيانات الدخول."}

    # English when asked for English, and when nothing is asked (the default language).
    english = staff.patch("/api/v1/firm/", {"name": "x"}, HTTP_ACCEPT_LANGUAGE="en")
    assert english.json() == {"detail": "Only the firm's admins may do this."}
    assert api.get("/api/v1/clients/999999999/").json() == {"detail": "No client matches the given query."}
    bad_subject = api.get("/api/v1/timeline/?subject=client", HTTP_ACCEPT_LANGUAGE="ar")
    assert bad_subject.status_code == 400 and "اكتب '<النوع>:<المعرّف>'" in str(bad_subject.json())


def test_a_token_users_language_decides_the_apis_language(firm_a, firm_language):
    # DRF authenticates the token in the view, after UserLanguageMiddleware: the preference must still count
    firm_language("en")
    api = api_client_for(firm_a, make_user(firm_a, "ar_token", role="staff", language="ar"))
    refused = api.patch("/api/v1/firm/", {"name": "x"})  # no Accept-Language
    assert refused.status_code == 403 and refused["Content-Language"] == "ar"
    assert refused.json() == {"detail": "لا يحق هذا إلا لمسؤولي المكتب."}
    invalid = api.post("/api/v1/timeline/", {"kind": "note", "title": ""}, HTTP_ACCEPT_LANGUAGE="en")
    assert invalid.status_code == 400 and invalid.json()["title"] == ["لا يمكن لهذا الحقل ان يكون فارغاً."]
    assert translation.get_language() == "en"  # and the thread speaks the default again afterwards

    # A user without a preference: the firm's default, else the client's Accept-Language, as before.
    english = api_client_for(firm_a, make_user(firm_a, "no_pref_token", role="staff"))
    assert english.patch("/api/v1/firm/", {"name": "x"}).json() == {"detail": "Only the firm's admins may do this."}
    firm_language("ar")
    assert english.patch("/api/v1/firm/", {"name": "x"}, HTTP_ACCEPT_LANGUAGE="en")["Content-Language"] == "ar"


def test_a_forbidden_transition_is_a_409_in_arabic(firm_a, admin_a, lawyer_a):
    with schema_context(firm_a.schema_name):
        activity = schedule(subject=a_client(), assignee=lawyer_a)
    api = api_client_for(firm_a, admin_a)
    url = f"/api/v1/activities/{activity.pk}/"
    assert api.post(url + "cancel/").status_code == 200
    refused = api.post(url + "complete/", {"feedback": "x"}, HTTP_ACCEPT_LANGUAGE="ar")
    assert refused.status_code == 409
    # a whole Arabic sentence, the state by its Arabic label: no code words
    assert refused.json() == {"detail": "لا يمكن إنجاز هذا النشاط: حالته «ملغى»."}


def test_the_admins_bulk_actions_answer_in_arabic_with_arabic_plurals(firm_a, lawyer_a):
    # given an Arabic-speaking lawyer, two scheduled activities and a cancelled one
    user = make_user(firm_a, "ar_bulk", role="lawyer", language="ar")
    with schema_context(firm_a.schema_name):
        client = a_client()
        ids = [schedule(subject=client, assignee=lawyer_a).pk for _ in range(3)]
    browser = browser_for(firm_a, user)
    api_client_for(firm_a, lawyer_a).post(f"/api/v1/activities/{ids[2]}/cancel/")
    # when the three are completed from the list
    page = browser.post(
        "/admin/activities/activity/",
        {"action": "complete_selected", "_selected_action": [str(i) for i in ids]},
        follow=True,
    )
    # then the messages are Arabic sentences, in the dual for two and the singular for one
    messages = [str(m) for m in page.context["messages"]]
    assert messages == ["أُنجز نشاطان.", "تُخطّي نشاط واحد: كان منجزًا أو ملغى من قبل."]
    html = page.content.decode()
    assert "تحديد الأنشطة المختارة كمنجزة" in html and "إلغاء الأنشطة المختارة" in html  # the actions' names


def test_the_firm_and_the_user_expose_their_language_in_the_api(firm_a, admin_a):
    api = api_client_for(firm_a, admin_a)
    assert api.get("/api/v1/firm/").json()["language"] == ""
    changed = api.patch("/api/v1/firm/", {"language": "ar"})
    assert changed.status_code == 200 and changed.json()["language"] == "ar"
    assert api.patch("/api/v1/firm/", {"language": "fr"}).status_code == 400
    assert api.get("/api/v1/me/").json()["language"] == ""
    # People set their own language; nothing else about themselves through this door.
    mine = api.patch("/api/v1/me/", {"language": "ar", "role": "staff"})
    assert mine.status_code == 200 and (mine.json()["language"], mine.json()["role"]) == ("ar", "admin")
    assert api.patch("/api/v1/me/", {"language": "xx"}, HTTP_ACCEPT_LANGUAGE="en").status_code == 400


@pytest.mark.parametrize("name", sorted(choices_classes()))
def test_every_choice_label_has_a_human_name_in_both_languages(name):
    for value, label in choices_classes()[name].choices:
        with translation.override("en"):
            english = str(label)
        with translation.override("ar"):
            arabic = str(label)
        assert "_" not in english and english != value, f"{name}.{value}: {english!r} reads like a code identifier"
        assert arabic != english, f"{name}.{value}: {english!r} has no Arabic translation"
        assert ARABIC.search(arabic), f"{name}.{value}: {arabic!r} is not Arabic"


def test_every_audit_action_has_an_arabic_description():
    from audit.choices import action_catalogue

    for action, description in action_catalogue().items():
        with translation.override("ar"):
            assert ARABIC.search(str(description)), f"{action}: {description!r} has no Arabic translation"


def test_every_model_field_with_choices_takes_them_from_a_checked_class():
    checked = [{str(choice.label) for choice in choices} for choices in choices_classes().values()]
    for model in apps.get_models():
        if not model.__module__.startswith(("timeline", "audit", "billing", "messaging", "traf3li")):
            continue
        for field in model._meta.get_fields():
            flat = getattr(field, "flatchoices", None)
            if not flat or field.name == "language":  # languages are named in themselves (settings.LANGUAGES)
                continue
            labels = {str(label) for _, label in flat}
            assert labels in checked, f"{model._meta.label}.{field.name} takes its choices from an unchecked class"


def test_a_request_leaves_the_threads_language_as_it_found_it(firm_a):
    user = make_user(firm_a, "ar_staff", role="admin", language="ar")
    assert 'dir="rtl"' in browser_for(firm_a, user).get("/admin/").content.decode()
    assert translation.get_language() == "en"  # what runs next on this thread speaks the default again


def test_payload_range_and_paging_errors_are_arabic_too(firm_a, admin_a):
    api = api_client_for(firm_a, admin_a)
    with schema_context(firm_a.schema_name):
        client = a_client("Arabic errors")
    body = {"kind": "call", "subject": f"client:{client.pk}", "title": "x", "payload": {"duration_seconds": 2**31}}
    # when
    payload = api.post("/api/v1/timeline/", body, format="json", HTTP_ACCEPT_LANGUAGE="ar")
    dates = api.get("/api/v1/timeline/", {"since": "1800-01-01T00:00:00+00:00"}, HTTP_ACCEPT_LANGUAGE="ar")
    paging = api.get("/api/v1/clients/", {"page_size": 0}, HTTP_ACCEPT_LANGUAGE="ar")
    # then
    assert payload.status_code == 400 and "الحد الأقصى 2147483647" in str(payload.json()["payload"])
    assert dates.status_code == 400 and "يجب أن يقع بين عامي 1900 و9000" in str(dates.json())
    assert paging.status_code == 400 and "page_size" in str(paging.json()) and "عددًا صحيحًا" in str(paging.json())
