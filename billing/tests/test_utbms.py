"""The product's UTBMS table is the ABA's set, and items take the codes their type needs."""

import json

import pytest

from billing.utbms import code_set, item_code_errors
from conftest import PROVIDER_FIXTURES

PUBLISHED = PROVIDER_FIXTURES.parent / "billing" / "utbms_codes.json"


def test_the_table_is_the_published_aba_set():
    published = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    codes = code_set()
    assert codes["tasks"] == {t["code"]: t["name"] for p in published["litigation_phases"] for t in p["tasks"]}
    assert codes["phases"] == {p["code"]: p["name"] for p in published["litigation_phases"]}
    assert codes["activities"] == {c["code"]: c["name"] for c in published["activity_codes"]["codes"]}
    assert codes["expenses"] == {c["code"]: c["name"] for c in published["expense_codes"]["codes"]}
    counts = published["counts"]
    assert (len(codes["phases"]), len(codes["tasks"]), len(codes["activities"]), len(codes["expenses"])) == (
        counts["phases"],
        counts["tasks"],
        counts["activities"],
        counts["expenses"],
    )


@pytest.mark.parametrize(
    ("type", "task", "activity"),
    [
        ("time", "L110", "A101"),
        ("time", "l530", "a111"),
        ("expense", "", "E101"),
        ("expense", "L330", "E124"),
        ("flat_fee", "", ""),
        ("flat_fee", "L240", ""),
        ("product", "", ""),
        ("discount", "", ""),
    ],
)
def test_valid_codes(type, task, activity):
    assert item_code_errors(type=type, task_code=task, activity_code=activity) == {}


@pytest.mark.parametrize(
    ("type", "task", "activity", "fields"),
    [
        ("time", "", "A101", {"task_code"}),
        ("time", "L110", "", {"activity_code"}),
        ("time", "L100", "A101", {"task_code"}),  # a phase, not a task
        ("time", "E101", "A101", {"task_code"}),  # an expense code on a time item
        ("time", "L110", "E101", {"activity_code"}),
        ("expense", "", "A101", {"activity_code"}),  # an expense takes an E-code
        ("expense", "", "", {"activity_code"}),
        ("expense", "", "E125", {"activity_code"}),
        ("flat_fee", "", "E101", {"activity_code"}),
        ("flat_fee", "X1", "A112", {"task_code", "activity_code"}),
    ],
)
def test_invalid_and_mismatched_codes(type, task, activity, fields):
    assert set(item_code_errors(type=type, task_code=task, activity_code=activity)) == fields


def test_codes_third_party_lists_invent_are_refused():
    published = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    for code in published["invalid_codes_seen_in_third_party_lists"]["codes"]:
        assert "task_code" in item_code_errors(type="time", task_code=code, activity_code="A101")
