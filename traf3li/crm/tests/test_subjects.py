import re

import pytest

from traf3li.core.subjects import ERROR_FORMAT, SubjectError, SubjectRef, subject_dict, subject_of, subject_parse
from traf3li.crm.tests.factories import ClientFactory


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("client:42", SubjectRef("client", 42)), ({"type": "case", "id": "7"}, SubjectRef("case", 7))],
)
def test_parse(raw, expected):
    assert subject_parse(raw) == expected


@pytest.mark.parametrize("raw", ["client", "client:", "client:x", "client:-1", "alien:1", {"type": "case"}, 42, ""])
def test_parse_rejects(raw):
    with pytest.raises(SubjectError):
        subject_parse(raw)


def test_unknown_type_names_the_known_ones():
    with pytest.raises(SubjectError, match="Known types: .*client"):
        subject_parse("alien:1")


def test_malformed_message():
    with pytest.raises(SubjectError, match=re.escape(str(ERROR_FORMAT))):
        subject_parse("client:abc")


@pytest.mark.django_db
def test_round_trip(in_firm_a):
    client = ClientFactory(name="Noura")
    ref = subject_of(client)
    assert str(ref) == f"client:{client.pk}"
    assert subject_parse(str(ref)).resolve() == client
    assert subject_dict(client) == {"type": "client", "id": client.pk, "name": "Noura"}
    with pytest.raises(SubjectError, match="No client with id"):
        SubjectRef("client", client.pk + 1000).resolve()


def test_api_input_names_only_the_contracts_types():
    # "user" is audited, but nothing an API client may point a timeline or an activity at
    assert subject_parse("user:1") == SubjectRef("user", 1)
    with pytest.raises(SubjectError, match="Unknown subject type 'user'"):
        subject_parse("user:1", public_only=True)
    with pytest.raises(SubjectError) as raised:
        subject_parse("alien:1", public_only=True)
    assert "user" not in str(raised.value) and "client" in str(raised.value)
