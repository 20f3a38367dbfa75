"""The firm admin names every model, field and app in Arabic too: "عميل", not "Client", on an Arabic page.

Django's admin builds its headings, breadcrumbs, buttons and column titles from the models'
``verbose_name`` and ``verbose_name_plural``, the fields' ``verbose_name`` and the apps' ``verbose_name``.
"""

import re

import pytest
from django.db import models
from django.utils import translation

from traf3li.admin_sites import firm_admin

ARABIC = re.compile(r"[\u0600-\u06ff]")
REGISTERED = sorted(firm_admin._registry, key=lambda model: model._meta.label)


def both(text) -> tuple[str, str]:
    with translation.override("en"):
        english = str(text)
    with translation.override("ar"):
        arabic = str(text)
    return english, arabic


def assert_arabic(what: str, text) -> None:
    english, arabic = both(text)
    assert arabic != english and ARABIC.search(arabic), f"{what}: {english!r} has no Arabic name"


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_every_model_of_the_firm_admin_has_an_arabic_name(model):
    assert_arabic(f"{model._meta.label} verbose_name", model._meta.verbose_name)
    assert_arabic(f"{model._meta.label} verbose_name_plural", model._meta.verbose_name_plural)
    assert_arabic(f"{model._meta.app_label} app", model._meta.app_config.verbose_name)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_every_field_of_the_firm_admins_models_has_an_arabic_name(model):
    admin = firm_admin._registry[model]
    shown = {*admin.get_list_display(None), *admin.readonly_fields}
    for field in model._meta.get_fields():
        if not (field.concrete or field.many_to_many) or isinstance(field, models.AutoField):
            continue  # reverse relations, generic keys and the id have no label of ours
        if not field.editable and field.name not in shown:
            continue  # a column the admin never shows (WorkingCalendar.singleton)
        assert_arabic(f"{model._meta.label}.{field.name}", field.verbose_name)
        if field.help_text:
            assert_arabic(f"{model._meta.label}.{field.name} help_text", field.help_text)


def test_the_arabic_admin_shows_the_arabic_names(firm_a):
    from conftest import make_user
    from tests.test_i18n import browser_for

    user = make_user(firm_a, "ar_names", role="admin", language="ar")
    browser = browser_for(firm_a, user)
    index = browser.get("/admin/").content.decode()
    assert "العملاء والقضايا" in index and "القضايا" in index and "العملاء المحتملون" in index
    assert ">Clients<" not in index and ">Cases<" not in index
    changelist = browser.get("/admin/crm/case/").content.decode()
    assert "أضف قضية" in changelist and "التجميد القانوني" in changelist
