"""An unavailable database is a 503 with Retry-After (traf3li.core.errors); other errors stay 500s.

The PostgreSQL restart drill (tests/test_drill_postgres_restart.py) sees the real thing through
gunicorn; here each kind of failure is raised as psycopg raises it, from the view and from a
webhook, so each answer can be checked exactly."""

from unittest import mock

import psycopg
import pytest
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.test import Client

from traf3li.users.api.views import MeView

pytestmark = pytest.mark.django_db


def failing_with(error: BaseException):
    def fail(*args, **kwargs):
        raise error

    return fail


def wrapped(outer, cause: BaseException) -> BaseException:
    """As Django's DatabaseErrorWrapper raises a driver error: its own class, the driver's as cause."""
    try:
        raise outer(*cause.args) from cause
    except outer as exc:
        return exc


def state_error(sqlstate: str) -> psycopg.Error:
    return psycopg.errors.lookup(sqlstate)("from the server")


UNAVAILABLE = {
    "refused": wrapped(OperationalError, psycopg.OperationalError("connection failed: Connection refused")),
    "closed": wrapped(OperationalError, psycopg.OperationalError("server closed the connection unexpectedly")),
    "admin shutdown": wrapped(OperationalError, state_error("57P01")),
    "starting up": wrapped(OperationalError, state_error("57P03")),
    "connection exception": wrapped(OperationalError, state_error("08006")),
    "lost mid-request": wrapped(InterfaceError, psycopg.InterfaceError("the connection is closed")),
}
STILL_500 = {
    "deadlock": wrapped(OperationalError, state_error("40P01")),
    "statement timeout": wrapped(OperationalError, state_error("57014")),
    "another database error": wrapped(DatabaseError, state_error("XX000")),
    "a bug": ZeroDivisionError("division by zero"),
}


def me_failing_with(firm, user, error: BaseException):
    from conftest import token_for

    client = Client(HTTP_HOST=f"{firm.schema_name}.localhost", raise_request_exception=False)
    token = token_for(firm, user)
    connection.set_schema_to_public()
    with mock.patch.object(MeView, "get", failing_with(error)):
        return client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token}")


@pytest.mark.parametrize("name", UNAVAILABLE)
def test_an_unavailable_database_is_a_503_to_retry(firm_a, admin_a, name):
    response = me_failing_with(firm_a, admin_a, UNAVAILABLE[name])
    assert (response.status_code, response["Retry-After"]) == (503, "5")
    assert response.json() == {"detail": "The service is briefly unavailable. Try again in a few seconds."}


@pytest.mark.parametrize("name", STILL_500)
def test_any_other_error_is_still_a_500(firm_a, admin_a, name):
    response = me_failing_with(firm_a, admin_a, STILL_500[name])
    assert response.status_code == 500 and not response.has_header("Retry-After")


def test_a_webhook_that_meets_an_unavailable_database_is_a_503_the_provider_retries(firm_a):
    from messaging import webhooks

    client = Client(HTTP_HOST=f"{firm_a.schema_name}.localhost", raise_request_exception=False)
    connection.set_schema_to_public()
    with mock.patch.object(webhooks, "_active", failing_with(UNAVAILABLE["refused"])):  # its first read
        response = client.post("/hooks/twilio/sms/", data={"MessageSid": "SM1"})
    assert (response.status_code, response["Retry-After"]) == (503, "5")
