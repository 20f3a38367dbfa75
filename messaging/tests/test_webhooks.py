"""Channel accounts and the webhooks: verified on the exact bytes, stored first, never doubled.

Payloads are the providers' real ones, read in place from the shared fixtures (their sources are
in SOURCES.md there): Twilio's from nyaruka/courier's handler tests, Meta's messages-webhook
reference example, SendGrid's signed batch from sendgrid-nodejs's eventwebhook tests, Mailgun's
event-data from django-anymail's tests. Only the providers are faked; PostgreSQL is real.
"""

import base64
import json
import time
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection
from django.test import Client as HttpClient
from django.test import override_settings
from django_tenants.utils import schema_context

from audit.models import AuditEvent
from conftest import PROVIDER_FIXTURES, api_client_for
from messaging import crypto, services, signatures
from messaging.models import ChannelAccount, RejectedDelivery, WebhookDelivery

FIXTURES = PROVIDER_FIXTURES
TWILIO_TOKEN = "twilio-auth-token-of-alpha"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def hooks(firm, **extra) -> HttpClient:
    return HttpClient(HTTP_HOST=f"{firm.schema_name}.localhost", **extra)


def account(firm, provider: str, **credentials) -> ChannelAccount:
    with schema_context(firm.schema_name):
        return services.channel_account_create(provider=provider, name=f"{provider} line", credentials=credentials)


def deliveries(firm) -> int:
    with schema_context(firm.schema_name):
        return WebhookDelivery.objects.count()


def refused(firm, provider: str) -> dict:
    with schema_context(firm.schema_name):
        return dict(RejectedDelivery.objects.filter(provider=provider).values_list("reason", "count"))


# --- channel accounts ----------------------------------------------------------------------------


def test_an_admin_creates_an_account_and_no_secret_ever_comes_back(firm_a, admin_a):
    api = api_client_for(firm_a, admin_a)
    created = api.post(
        "/api/v1/channel-accounts/",
        {"provider": "twilio", "name": "Main line", "credentials": {"account_sid": "AC123", "auth_token": "s3cr3t-tw"}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secrets_set"] == ["auth_token"] and body["account_sid"] == "AC123"
    assert "s3cr3t-tw" not in json.dumps(body) and "credentials" not in body
    listed = api.get("/api/v1/channel-accounts/").json()["results"]
    assert [row["name"] for row in listed] == ["Main line"] and "s3cr3t-tw" not in json.dumps(listed)
    with schema_context(firm_a.schema_name):
        stored = ChannelAccount.objects.get(pk=body["id"])
        assert "s3cr3t-tw" not in stored.secrets_encrypted and stored.secrets == {"auth_token": "s3cr3t-tw"}
        # the audit log has the fingerprint, never the secret or its ciphertext
        event = AuditEvent.objects.get(entity_type="channel_account", entity_id=stored.pk)
        logged = json.dumps(event.changes)
        assert "s3cr3t-tw" not in logged and stored.secrets_encrypted not in logged
        assert event.changes["after"]["secrets_fingerprint"] == stored.secrets_fingerprint


def test_a_change_keeps_the_secrets_it_does_not_send_and_is_audited_by_fingerprint(firm_a, admin_a):
    api = api_client_for(firm_a, admin_a)
    made = account(firm_a, "whatsapp", phone_number_id="106540352242922", app_secret="app-1", verify_token="vt-1")
    url = f"/api/v1/channel-accounts/{made.pk}/"
    changed = api.patch(url, {"credentials": {"verify_token": "vt-2"}}, format="json")
    assert changed.status_code == 200, changed.json()
    with schema_context(firm_a.schema_name):
        assert ChannelAccount.objects.get(pk=made.pk).secrets == {"app_secret": "app-1", "verify_token": "vt-2"}
        update = AuditEvent.objects.filter(entity_type="channel_account", action="update").get()
        assert set(update.changes["after"]) == {"secrets_fingerprint", "updated_at"}
    assert api.patch(url, {"provider": "twilio"}, format="json").status_code == 400


@pytest.mark.parametrize(
    ("credentials", "field"),
    [
        ({"account_sid": "AC1"}, "auth_token: This field is required"),
        ({"account_sid": "AC1", "auth_token": "x", "app_secret": "y"}, "Unknown credential 'app_secret'"),
    ],
)
def test_bad_credentials_are_400_and_store_nothing(firm_a, admin_a, credentials, field):
    api = api_client_for(firm_a, admin_a)
    answer = api.post(
        "/api/v1/channel-accounts/", {"provider": "twilio", "name": "x", "credentials": credentials}, format="json"
    )
    assert answer.status_code == 400 and field in json.dumps(answer.json())
    with schema_context(firm_a.schema_name):
        assert not ChannelAccount.objects.exists()


def test_one_active_account_per_provider_and_per_whatsapp_number(firm_a, admin_a):
    api = api_client_for(firm_a, admin_a)
    account(firm_a, "mailgun", signing_key="k1")
    second = api.post(
        "/api/v1/channel-accounts/",
        {"provider": "mailgun", "name": "again", "credentials": {"signing_key": "k2"}},
        format="json",
    )
    assert second.status_code == 400 and "already has an active" in json.dumps(second.json())
    account(firm_a, "whatsapp", phone_number_id="111", app_secret="a", verify_token="v")
    account(firm_a, "whatsapp", phone_number_id="222", app_secret="a", verify_token="v")  # another number
    same = api.post(
        "/api/v1/channel-accounts/",
        {"provider": "whatsapp", "name": "dup", "credentials": {"phone_number_id": "111", "app_secret": "a",
                                                                "verify_token": "v"}},
        format="json",
    )  # fmt: skip
    assert same.status_code == 400 and "already uses this phone number id" in json.dumps(same.json())


def test_channel_accounts_are_for_admins_of_their_own_firm(firm_a, firm_b, staff_a, admin_b):
    made = account(firm_a, "mailgun", signing_key="k1")
    assert api_client_for(firm_a, staff_a).get("/api/v1/channel-accounts/").status_code == 403
    # firm B's admin token on firm A's host is 401; on B's own host A's account is 404
    assert api_client_for(firm_a).get("/api/v1/channel-accounts/", HTTP_AUTHORIZATION="Token x").status_code == 401
    other = api_client_for(firm_b, admin_b)
    assert other.get(f"/api/v1/channel-accounts/{made.pk}/").status_code == 404


def test_secrets_survive_a_key_rotation():
    old, new = "x" * 43 + "=", None
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(CHANNEL_SECRET_KEYS=[old]):
        token = crypto.encrypt({"signing_key": "k"})
    with override_settings(CHANNEL_SECRET_KEYS=[new, old]):
        assert crypto.decrypt(token) == {"signing_key": "k"}  # old ciphertext, new key in front
        rotated = crypto.rotate(token)
    with override_settings(CHANNEL_SECRET_KEYS=[new]):
        assert crypto.decrypt(rotated) == {"signing_key": "k"}  # the old key can go
        with pytest.raises(Exception):  # noqa: B017, PT011 - InvalidToken: not readable without the old key
            crypto.decrypt(token)


# --- Twilio --------------------------------------------------------------------------------------


def twilio_post(firm, body: bytes, *, url: str, token: str = TWILIO_TOKEN, path: str = "/hooks/twilio/sms/", **headers):
    signature = signatures.twilio_signature(token, url, parse_qsl(body.decode(), keep_blank_values=True))
    return hooks(firm).post(
        path, body, content_type="application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE=signature, **headers
    )


def test_a_signed_twilio_status_is_stored_once_however_often_it_is_replayed(firm_a):
    account(firm_a, "twilio", account_sid="acctid", auth_token=TWILIO_TOKEN)
    body = fixture_bytes("twilio_sms_status_sent.txt")  # AccountSid=acctid, the test's placeholder
    url = "http://alpha.localhost/hooks/twilio/sms/"
    for _ in range(5):
        answer = twilio_post(firm_a, body, url=url)
        assert answer.status_code == 200 and b"<Response/>" in answer.content
    assert deliveries(firm_a) == 1
    with schema_context(firm_a.schema_name):
        stored = WebhookDelivery.objects.get()
        assert bytes(stored.body) == body and stored.endpoint == "twilio_sms" and stored.processed_at is None
        assert stored.headers["X-Twilio-Signature"]


def test_a_twilio_voice_callback_with_its_idempotency_token(firm_a):
    account(firm_a, "twilio", account_sid="ACd4a88df477b07e1693a390518517e9f8", auth_token=TWILIO_TOKEN)
    body = fixture_bytes("twilio_voice_status_completed.txt")
    url = "http://alpha.localhost/hooks/twilio/voice/"
    first = twilio_post(firm_a, body, url=url, path="/hooks/twilio/voice/", HTTP_I_TWILIO_IDEMPOTENCY_TOKEN="tok-1")
    again = twilio_post(firm_a, body, url=url, path="/hooks/twilio/voice/", HTTP_I_TWILIO_IDEMPOTENCY_TOKEN="tok-1")
    assert first.status_code == again.status_code == 200 and deliveries(firm_a) == 1
    with schema_context(firm_a.schema_name):
        assert WebhookDelivery.objects.get().dedup_key == "token:tok-1"


@pytest.mark.parametrize("tamper", ["no header", "wrong token", "changed byte", "another url"])
def test_a_bad_twilio_signature_is_403_and_only_counted(firm_a, tamper):
    account(firm_a, "twilio", account_sid="acctid", auth_token=TWILIO_TOKEN)
    body = fixture_bytes("twilio_sms_status_sent.txt")
    url = "http://alpha.localhost/hooks/twilio/sms/"
    if tamper == "no header":
        answer = hooks(firm_a).post("/hooks/twilio/sms/", body, content_type="application/x-www-form-urlencoded")
    elif tamper == "wrong token":
        answer = twilio_post(firm_a, body, url=url, token="not-the-token")
    elif tamper == "changed byte":
        signature = signatures.twilio_signature(TWILIO_TOKEN, url, parse_qsl(body.decode(), keep_blank_values=True))
        answer = hooks(firm_a).post(
            "/hooks/twilio/sms/",
            body.replace(b"sent", b"read", 1),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_TWILIO_SIGNATURE=signature,
        )
    else:
        answer = twilio_post(firm_a, body, url="http://alpha.localhost/hooks/twilio/voice/")
    assert answer.status_code == 403
    assert deliveries(firm_a) == 0 and refused(firm_a, "twilio") == {"bad_signature": 1}


def test_behind_a_trusted_tls_proxy_twilio_signed_the_public_https_url(firm_a):
    account(firm_a, "twilio", account_sid="acctid", auth_token=TWILIO_TOKEN)
    body = fixture_bytes("twilio_sms_status_delivered_minimal.txt")
    public = "https://alpha.example.com/hooks/twilio/sms/"
    forwarded = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_HOST": "alpha.example.com"}
    with override_settings(TRUSTED_PROXIES=["127.0.0.1/32"]):
        assert twilio_post(firm_a, body, url=public, **forwarded).status_code == 200
    # the same headers from anyone else are not believed: the URL is the request's own
    with override_settings(TRUSTED_PROXIES=["10.0.0.0/8"]):
        assert twilio_post(firm_a, body + b"&x=1", url=public, **forwarded).status_code == 403
    assert deliveries(firm_a) == 1


def test_firm_as_twilio_signature_is_refused_on_firm_bs_host(firm_a, firm_b):
    account(firm_a, "twilio", account_sid="acctid", auth_token=TWILIO_TOKEN)
    account(firm_b, "twilio", account_sid="acctid", auth_token="beta-token")
    body = fixture_bytes("twilio_sms_status_sent.txt")
    answer = twilio_post(firm_b, body, url="http://beta.localhost/hooks/twilio/sms/", token=TWILIO_TOKEN)
    assert answer.status_code == 403 and deliveries(firm_b) == 0 and deliveries(firm_a) == 0


def test_a_callback_for_another_twilio_account_is_403(firm_a):
    account(firm_a, "twilio", account_sid="AC-not-the-fixtures", auth_token=TWILIO_TOKEN)
    answer = twilio_post(
        firm_a, fixture_bytes("twilio_sms_status_sent.txt"), url="http://alpha.localhost/hooks/twilio/sms/"
    )
    assert answer.status_code == 403 and refused(firm_a, "twilio") == {"other_account": 1} and deliveries(firm_a) == 0


# --- WhatsApp ------------------------------------------------------------------------------------

WA_NUMBER = "106540352242922"  # the phone_number_id of Meta's reference example


def test_the_whatsapp_verification_handshake(firm_a):
    account(firm_a, "whatsapp", phone_number_id=WA_NUMBER, app_secret="meta-secret", verify_token="vt-alpha")
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt-alpha", "hub.challenge": "1158201444"}
    answer = hooks(firm_a).get("/hooks/whatsapp/", params)
    assert answer.status_code == 200 and answer.content == b"1158201444"
    assert hooks(firm_a).get("/hooks/whatsapp/", {**params, "hub.verify_token": "nope"}).status_code == 403


def test_a_signed_whatsapp_message_is_stored_once_and_a_bad_one_is_403(firm_a):
    account(firm_a, "whatsapp", phone_number_id=WA_NUMBER, app_secret="meta-secret", verify_token="vt")
    body = fixture_bytes("whatsapp_inbound_text_metadoc.json")
    signed = {"HTTP_X_HUB_SIGNATURE_256": signatures.meta_signature("meta-secret", body)}
    for _ in range(3):
        assert (
            hooks(firm_a).post("/hooks/whatsapp/", body, content_type="application/json", **signed).status_code == 200
        )
    assert deliveries(firm_a) == 1
    forged = {"HTTP_X_HUB_SIGNATURE_256": signatures.meta_signature("other-secret", body)}
    assert hooks(firm_a).post("/hooks/whatsapp/", body, content_type="application/json", **forged).status_code == 403
    assert refused(firm_a, "whatsapp") == {"bad_signature": 1} and deliveries(firm_a) == 1


@pytest.mark.parametrize(
    ("body", "detail"),
    [(b"not json", "not JSON"), (b'{"object": "page", "entry": []}', "whatsapp_business_account")],
)
def test_a_signed_but_malformed_whatsapp_body_is_400_and_stores_nothing(firm_a, body, detail):
    account(firm_a, "whatsapp", phone_number_id=WA_NUMBER, app_secret="meta-secret", verify_token="vt")
    signed = {"HTTP_X_HUB_SIGNATURE_256": signatures.meta_signature("meta-secret", body)}
    answer = hooks(firm_a).post("/hooks/whatsapp/", body, content_type="application/json", **signed)
    assert answer.status_code == 400 and detail in answer.json()["detail"] and deliveries(firm_a) == 0


# --- SendGrid ------------------------------------------------------------------------------------


def test_sendgrids_signed_batch_is_stored(firm_a):
    vector = json.loads(fixture_bytes("sendgrid_signature_vectors.json"))["vectors"][0]
    account(firm_a, "sendgrid", public_key=vector["public_key"])
    headers = {
        "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE": vector["signature"],
        "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP": vector["timestamp"],
    }
    body = vector["payload"].encode()
    for _ in range(2):
        assert (
            hooks(firm_a).post("/hooks/sendgrid/", body, content_type="application/json", **headers).status_code == 200
        )
    assert deliveries(firm_a) == 1
    headers["HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP"] = str(int(vector["timestamp"]) + 1)
    assert hooks(firm_a).post("/hooks/sendgrid/", body, content_type="application/json", **headers).status_code == 403


def test_a_sendgrid_body_that_is_not_an_array_is_400(firm_a):
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    account(firm_a, "sendgrid", public_key=base64.b64encode(public).decode())
    body, stamp = b'{"event": "open"}', "1700000000"
    signature = base64.b64encode(key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    answer = hooks(firm_a).post(
        "/hooks/sendgrid/",
        body,
        content_type="application/json",
        HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE=signature,
        HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP=stamp,
    )
    assert answer.status_code == 400 and "JSON array" in answer.json()["detail"] and deliveries(firm_a) == 0


# --- Mailgun -------------------------------------------------------------------------------------

MAILGUN_KEY = "TEST_WEBHOOK_SIGNING_KEY"


def mailgun_body(event_data: dict, *, token: str, timestamp: str | None = None) -> bytes:
    timestamp = timestamp or str(int(time.time()))
    signature = signatures.mailgun_signature(MAILGUN_KEY, timestamp, token)
    return json.dumps(
        {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event_data}
    ).encode()


def test_mailgun_fresh_signed_event_once_stale_refused_and_a_token_good_for_one_body(firm_a):
    account(firm_a, "mailgun", signing_key=MAILGUN_KEY)
    events = [case["payload"]["event-data"] for case in json.loads(fixture_bytes("mailgun_events.json"))]
    post = lambda body: hooks(firm_a).post("/hooks/mailgun/", body, content_type="application/json")  # noqa: E731
    body = mailgun_body(events[0], token="a" * 50)
    assert post(body).status_code == 200 and post(body).status_code == 200  # a replay: one row
    assert deliveries(firm_a) == 1
    # the same token and signature on another body: the signature doesn't cover the body
    assert (
        post(mailgun_body(events[1], token="a" * 50, timestamp=json.loads(body)["signature"]["timestamp"])).status_code
        == 403
    )
    # the fixture's own 2018 signatures are stale by now
    stale = json.loads(fixture_bytes("mailgun_events.json"))[0]["payload"]
    assert post(json.dumps(stale).encode()).status_code == 403
    assert deliveries(firm_a) == 1 and refused(firm_a, "mailgun") == {"token_replayed": 1, "bad_signature": 1}


def test_a_huge_body_is_413_and_stores_nothing(firm_a):
    account(firm_a, "mailgun", signing_key=MAILGUN_KEY)
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        answer = hooks(firm_a).post("/hooks/mailgun/", b"x" * 5000, content_type="application/json")
    assert answer.status_code == 413 and deliveries(firm_a) == 0


def test_without_an_account_the_webhook_is_404(firm_a):
    assert hooks(firm_a).post("/hooks/sendgrid/", b"[]", content_type="application/json").status_code == 404
    with connection.cursor():
        pass


def test_a_deeply_nested_body_is_a_clear_4xx_before_or_after_the_signature(firm_a):
    account(firm_a, "mailgun", signing_key=MAILGUN_KEY)
    account(firm_a, "whatsapp", phone_number_id=WA_NUMBER, app_secret="meta-secret", verify_token="vt")
    deep = b"[" * 100_000 + b"]" * 100_000  # Python's decoder recursed on it: a 500
    # Mailgun's signature is inside the body: parsing comes first, and the depth limit holds there
    assert hooks(firm_a).post("/hooks/mailgun/", deep, content_type="application/json").status_code == 403
    signed = {"HTTP_X_HUB_SIGNATURE_256": signatures.meta_signature("meta-secret", deep)}
    answer = hooks(firm_a).post("/hooks/whatsapp/", deep, content_type="application/json", **signed)
    assert answer.status_code == 400 and "nested too deeply" in answer.json()["detail"]
    # a notification whose parts have the wrong shape names no number of ours
    odd = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": [1]}, {"value": {"metadata": "x"}}]}, "x"],
        }
    ).encode()
    signed = {"HTTP_X_HUB_SIGNATURE_256": signatures.meta_signature("meta-secret", odd)}
    assert hooks(firm_a).post("/hooks/whatsapp/", odd, content_type="application/json", **signed).status_code == 403
    assert deliveries(firm_a) == 0
