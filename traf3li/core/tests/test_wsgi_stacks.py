"""The WSGI application gunicorn serves: webhooks through their lean stack, everything else through the full one."""

import io
import json

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django_tenants.utils import schema_context

from messaging import services
from messaging.models import WebhookDelivery
from messaging.tests.test_webhooks import MAILGUN_KEY, mailgun_body
from traf3li.wsgi import application

pytestmark = pytest.mark.django_db


def call(path: str, *, host: str, body: bytes = b"", method: str = "POST", content_type="application/json"):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": host,
        "SERVER_PORT": "80",
        "HTTP_HOST": host,
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    status, headers = [], []

    def start_response(line, response_headers, exc_info=None):
        status.append(int(line.split()[0]))
        headers.extend(response_headers)

    # As Django's test client does: the test's transaction must outlive the request's connection handling.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        content = b"".join(application(environ, start_response))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
        connection.set_schema_to_public()
    return status[0], dict(headers), content


def test_a_signed_webhook_is_stored_through_the_hooks_stack(firm_a):
    assert "django.contrib.sessions.middleware.SessionMiddleware" not in settings.HOOKS_MIDDLEWARE
    with schema_context(firm_a.schema_name):
        services.channel_account_create(provider="mailgun", name="mg", credentials={"signing_key": MAILGUN_KEY})
    host = f"{firm_a.schema_name}.localhost"
    body = mailgun_body({"event": "delivered", "id": "wsgi-1", "recipient": "a@b.sa"}, token="w" * 50)
    status, headers, content = call("/hooks/mailgun/", host=host, body=body)
    assert status == 200 and json.loads(content) == {"accepted": True, "duplicate": False}
    assert "Set-Cookie" not in headers and headers["X-Request-ID"]  # no session; the audit context ran
    tampered = body.replace(b"a@b.sa", b"x@b.sa")
    assert call("/hooks/mailgun/", host=host, body=tampered)[0] == 403
    with schema_context(firm_a.schema_name):
        assert WebhookDelivery.objects.count() == 1


def test_an_unknown_host_is_a_404_on_the_hooks_stack_too():
    assert call("/hooks/mailgun/", host="nobody.localhost", body=b"{}")[0] == 404


def test_everything_else_goes_through_the_full_stack(firm_a):
    status, headers, _ = call("/admin/login/", host=f"{firm_a.schema_name}.localhost", method="GET")
    assert status == 200 and "csrftoken" in headers.get("Set-Cookie", "")  # CSRF and sessions ran
