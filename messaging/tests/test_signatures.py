"""Webhook signature verifiers against published provider vectors; no database needed.

The vectors are read in place from the shared fixtures directory; each test names where its
vector comes from.
"""

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.http import QueryDict

from conftest import PROVIDER_FIXTURES
from messaging.signatures import (
    mailgun_signature,
    mailgun_token_key,
    mailgun_valid,
    meta_challenge,
    meta_valid,
    sendgrid_valid,
    twilio_json_valid,
    twilio_signature,
    twilio_signing_string,
    twilio_valid,
)

FIXTURES = PROVIDER_FIXTURES


def _load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_fixtures_directory_is_found():
    assert (FIXTURES / "twilio_signature_vectors.json").is_file(), FIXTURES


# --- Twilio -------------------------------------------------------------------------------------
# twilio-python tests/unit/test_request_validator.py (commit 306691e7), copied into
# twilio_signature_vectors.json["published_vectors_twilio_python_sdk"].

TWILIO = _load("twilio_signature_vectors.json")
SDK = TWILIO["published_vectors_twilio_python_sdk"]
TOKEN = SDK["auth_token"]
URL = SDK["url"]
PARAMS = SDK["params"]


def test_twilio_sdk_vector_signing_string_and_signature():
    assert twilio_signing_string(URL, PARAMS) == SDK["signing_string"]
    assert twilio_signature(TOKEN, URL, PARAMS) == SDK["expected_signature"]
    assert twilio_valid(TOKEN, URL, PARAMS, SDK["expected_signature"])


def test_twilio_params_as_pairs_verify_like_a_dict():
    pairs = list(reversed(list(PARAMS.items())))
    assert twilio_valid(TOKEN, URL, pairs, SDK["expected_signature"])


def test_twilio_docs_worked_example():
    # Twilio's "Webhooks security" example (the value other public test suites assert), computed
    # by the fixture's author with twilio-python's algorithm.
    example = TWILIO["twilio_docs_worked_example"]
    assert twilio_valid(example["auth_token"], example["url"], example["params"], example["expected_signature"])


@pytest.mark.parametrize("variant", SDK["port_variants"], ids=lambda v: v["url"].split("/myapp")[0])
def test_twilio_port_variants(variant):
    # twilio-python test_validation_{removes,adds}_port_on_{https,http}.
    assert twilio_valid(TOKEN, variant["url"], PARAMS, variant["valid_signature"])


def test_twilio_signature_without_port_verifies_on_url_with_default_port():
    # The reverse of test_validation_adds_port_on_https: signed without the port, received with it.
    url = URL.replace(".com/", ".com:443/")
    assert twilio_valid(TOKEN, url, PARAMS, SDK["expected_signature"])


def test_twilio_port_variants_are_only_removal_and_default_port():
    signed_with_443 = "kvajT1Ptam85bY51eRf/AJRuM3w="  # https://mycompany.com:443/... (SDK comment)
    signed_http_80 = "0ZXoZLH/DfblKGATFgpif+LLRf4="  # http://mycompany.com:80/...
    signed_http_1234 = "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="  # http://mycompany.com:1234/...
    url_1234 = URL.replace(".com/", ".com:1234/")
    assert not twilio_valid(TOKEN, url_1234, PARAMS, signed_with_443)  # :1234 is never swapped for :443
    assert not twilio_valid(TOKEN, URL, PARAMS, signed_http_80)  # the scheme is signed
    assert not twilio_valid(TOKEN, url_1234, PARAMS, signed_http_1234)
    assert not twilio_valid(TOKEN, URL.replace("/myapp.php", "/other.php"), PARAMS, SDK["expected_signature"])


DUPLICATES = SDK["duplicate_params"]
DUPLICATE_PAIRS = [tuple(pair) for pair in DUPLICATES["params_multidict"]]


def test_twilio_duplicate_params_sort_all_values():
    # twilio-python test_compute_signature_duplicate_multi_dict / _query_dict.
    assert twilio_signing_string(DUPLICATES["url"], DUPLICATE_PAIRS) == DUPLICATES["signing_string"]
    assert twilio_valid(TOKEN, DUPLICATES["url"], DUPLICATE_PAIRS, DUPLICATES["expected_signature"])


@pytest.mark.parametrize(
    "params",
    [
        QueryDict(DUPLICATES["form_body"]),
        parse_qsl(DUPLICATES["form_body"], keep_blank_values=True),
        {"Sid": "CA123", "SidAccount": "AC123", "Digits": ["1234", "5678"]},
        list(reversed(DUPLICATE_PAIRS)),
        [*DUPLICATE_PAIRS, ("Digits", "1234")],  # an identical pair counts once, as in twilio-python
    ],
    ids=["querydict", "parse_qsl", "dict_of_lists", "reversed", "repeated_pair"],
)
def test_twilio_duplicate_params_shapes(params):
    assert twilio_valid(TOKEN, DUPLICATES["url"], params, DUPLICATES["expected_signature"])


def test_twilio_repeated_name_values_sorted_as_strings():
    values = [str(n) for n in range(30, 0, -1)]
    expected = "https://h/" + "".join("MediaUrl" + value for value in sorted(values))  # "1", "10", "11", ...
    assert twilio_signing_string("https://h/", [("MediaUrl", value) for value in values]) == expected


@pytest.mark.parametrize(
    "params",
    [
        QueryDict(DUPLICATES["form_body"]).dict(),  # last value only, as QueryDict.items() gives
        [pair for pair in DUPLICATE_PAIRS if pair != ("Digits", "5678")],
        [*DUPLICATE_PAIRS, ("Digits", "9999")],
    ],
    ids=["last_value_only", "one_value_dropped", "value_added"],
)
def test_twilio_duplicate_params_all_values_are_signed(params):
    assert not twilio_valid(TOKEN, DUPLICATES["url"], params, DUPLICATES["expected_signature"])


@pytest.mark.parametrize("case", TWILIO["negative_cases"], ids=lambda c: c["desc"])
def test_twilio_negative_vectors(case):
    assert case["valid"] is False
    assert not twilio_valid(case["auth_token"], case["url"], case["params"], case["signature"])


@pytest.mark.parametrize("signature", [None, "", SDK["expected_signature"][:-2], "é" * 28])
def test_twilio_missing_or_malformed_header(signature):
    assert not twilio_valid(TOKEN, URL, PARAMS, signature)


def test_twilio_empty_token_or_bad_url():
    assert not twilio_valid("", URL, PARAMS, twilio_signature("", URL, PARAMS))
    assert not twilio_valid(TOKEN, "https://mycompany.com:https/x", PARAMS, SDK["expected_signature"])
    assert not twilio_valid(TOKEN, "https://mycompany.com:99999/x", PARAMS, SDK["expected_signature"])


@pytest.mark.parametrize("vector", TWILIO["computed_vectors_over_fixtures"], ids=lambda v: v["fixture_file"])
def test_twilio_real_callbacks(vector):
    # Bodies: FarmRadioHangar/open-interactivity-engine (voice) and nyaruka/courier (SMS) callbacks;
    # signatures computed with twilio-python's compute_signature (twilio_signature_vectors.json).
    body = (FIXTURES / vector["fixture_file"]).read_bytes().decode("ascii")
    params = parse_qsl(body, keep_blank_values=True)
    assert twilio_valid(vector["auth_token"], vector["url"], params, vector["x_twilio_signature"])
    assert not twilio_valid(vector["auth_token"], vector["url"], params[1:], vector["x_twilio_signature"])


def test_twilio_blank_values_are_signed():
    vector = TWILIO["computed_vectors_over_fixtures"][0]  # the voice callback has ToZip= and friends
    body = (FIXTURES / vector["fixture_file"]).read_bytes().decode("ascii")
    assert "ToZip=&" in body
    assert not twilio_valid(vector["auth_token"], vector["url"], parse_qsl(body), vector["x_twilio_signature"])


JSON_BODY = SDK["json_body_variant"]


def test_twilio_json_body():
    # twilio-python test_compute_hash_unicode and test_validation_of_body_succeeds.
    body = JSON_BODY["body"].encode("utf-8")
    assert hashlib.sha256(body).hexdigest() == JSON_BODY["bodySHA256"]
    assert twilio_json_valid(TOKEN, JSON_BODY["url"], body, JSON_BODY["expected_signature"])


def test_twilio_json_body_port_variant():
    url = JSON_BODY["url"].replace(".com/", ".com:443/")
    assert twilio_json_valid(TOKEN, url, JSON_BODY["body"].encode("utf-8"), JSON_BODY["expected_signature"])


def test_twilio_json_body_changed_byte():
    body = JSON_BODY["body"].encode("utf-8").replace(b"true", b"trUe")
    assert not twilio_json_valid(TOKEN, JSON_BODY["url"], body, JSON_BODY["expected_signature"])


def test_twilio_json_body_hash_must_match_even_when_url_is_signed():
    other = b'{"property": "other"}'
    signature = twilio_signature(TOKEN, JSON_BODY["url"], {})  # a correctly signed URL ...
    assert twilio_json_valid(TOKEN, JSON_BODY["url"], JSON_BODY["body"].encode("utf-8"), signature)
    assert not twilio_json_valid(TOKEN, JSON_BODY["url"], other, signature)  # ... for another body


def test_twilio_json_body_needs_body_hash_and_signature():
    body = JSON_BODY["body"].encode("utf-8")
    assert not twilio_json_valid(TOKEN, URL, body, twilio_signature(TOKEN, URL, {}))  # no bodySHA256
    assert not twilio_json_valid(TOKEN, JSON_BODY["url"], body, None)
    assert not twilio_json_valid("54321", JSON_BODY["url"], body, JSON_BODY["expected_signature"])


# --- Meta (WhatsApp Cloud API) ------------------------------------------------------------------

WHATSAPP = _load("whatsapp_signature_vectors.json")
# github/docs content/webhooks/using-webhooks/validating-webhook-deliveries.md: GitHub's
# X-Hub-Signature-256 is the same "sha256=" + hex HMAC-SHA256 scheme as Meta's.
GITHUB = WHATSAPP["vector_github_docs_same_scheme"]
GITHUB_BODY = GITHUB["payload"].encode("utf-8")


def test_meta_published_vector():
    assert meta_valid(GITHUB["secret"], GITHUB_BODY, GITHUB["x_hub_signature_256"])


def test_meta_changed_body_byte():
    assert not meta_valid(GITHUB["secret"], GITHUB_BODY[:-1] + b"?", GITHUB["x_hub_signature_256"])


def test_meta_wrong_secret():
    assert not meta_valid("It's a Secret to Everybody!", GITHUB_BODY, GITHUB["x_hub_signature_256"])


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        GITHUB["x_hub_signature_256"].removeprefix("sha256="),  # bare hex
        "sha1=" + GITHUB["x_hub_signature_256"].removeprefix("sha256="),
        "sha256=",
        GITHUB["x_hub_signature_256"][:-1],
    ],
    ids=["none", "empty", "bare_hex", "sha1_prefix", "prefix_only", "truncated"],
)
def test_meta_missing_or_malformed_header(header):
    assert not meta_valid(GITHUB["secret"], GITHUB_BODY, header)


def test_meta_empty_secret_never_verifies():
    header = "sha256=" + hmac.new(b"", GITHUB_BODY, hashlib.sha256).hexdigest()
    assert not meta_valid("", GITHUB_BODY, header)


@pytest.mark.parametrize("case", WHATSAPP["negative_cases"], ids=lambda c: c["desc"])
def test_meta_negative_vectors(case):
    # A david-lev/pywa text-message update, signed with a secret other than the one given.
    assert case["valid"] is False
    assert not meta_valid(case["app_secret"], case["raw_body"].encode("utf-8"), case["x_hub_signature_256"])


def test_meta_signs_raw_bytes_not_parsed_json():
    # Meta's messages-webhook reference example (whatsapp_inbound_text_metadoc.json), as received.
    raw = (FIXTURES / "whatsapp_inbound_text_metadoc.json").read_bytes()
    header = "sha256=" + hmac.new(b"app-secret", raw, hashlib.sha256).hexdigest()
    reserialised = json.dumps(json.loads(raw)).encode("utf-8")
    assert reserialised != raw
    assert meta_valid("app-secret", raw, header)
    assert not meta_valid("app-secret", reserialised, header)


HANDSHAKE = {"hub.mode": "subscribe", "hub.verify_token": "s3cret-token", "hub.challenge": "1158201444"}


def test_meta_challenge_accepted():
    assert meta_challenge(HANDSHAKE, "s3cret-token") == "1158201444"
    query = QueryDict("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=s3cret-token")
    assert meta_challenge(query, "s3cret-token") == "1158201444"


@pytest.mark.parametrize(
    "params, verify_token",
    [
        (HANDSHAKE, "other-token"),
        ({**HANDSHAKE, "hub.verify_token": "s3cret-tokeN"}, "s3cret-token"),
        ({**HANDSHAKE, "hub.mode": "unsubscribe"}, "s3cret-token"),
        ({k: v for k, v in HANDSHAKE.items() if k != "hub.mode"}, "s3cret-token"),
        ({k: v for k, v in HANDSHAKE.items() if k != "hub.verify_token"}, "s3cret-token"),
        ({k: v for k, v in HANDSHAKE.items() if k != "hub.challenge"}, "s3cret-token"),
        ({**HANDSHAKE, "hub.verify_token": ""}, ""),  # an unconfigured token matches nothing
    ],
    ids=["wrong_token", "token_case", "wrong_mode", "no_mode", "no_token", "no_challenge", "empty_token"],
)
def test_meta_challenge_refused(params, verify_token):
    assert meta_challenge(params, verify_token) is None


# --- SendGrid -----------------------------------------------------------------------------------
# sendgrid/sendgrid-nodejs packages/eventwebhook/src/eventwebhook.spec.js (and older versions of
# the same test in sendgrid-python test/test_eventwebhook.py), in sendgrid_signature_vectors.json.

SENDGRID = _load("sendgrid_signature_vectors.json")
SG = SENDGRID["vectors"][0]  # the multi-event batch with CRLFs
SG_BODY = SG["payload"].encode("utf-8")


@pytest.mark.parametrize("vector", SENDGRID["vectors"], ids=lambda v: v["name"])
def test_sendgrid_published_vectors(vector):
    body = vector["payload"].encode("utf-8")
    assert body == base64.b64decode(vector["payload_base64"])
    assert sendgrid_valid(vector["public_key"], body, vector["signature"], vector["timestamp"])


@pytest.mark.parametrize("case", SENDGRID["negative_cases"], ids=lambda c: c["desc"])
def test_sendgrid_negative_vectors(case):
    assert case["valid"] is False
    assert not sendgrid_valid(case["public_key"], case["payload"].encode("utf-8"), case["signature"], case["timestamp"])


def test_sendgrid_changed_body_byte():
    changed = SG_BODY.replace(b"invalid@gmail.com", b"invalid@gmail.con", 1)
    assert not sendgrid_valid(SG["public_key"], changed, SG["signature"], SG["timestamp"])


def test_sendgrid_crlf_are_signed():
    assert SG_BODY.endswith(b"}]\r\n")
    assert not sendgrid_valid(SG["public_key"], SG_BODY.rstrip(b"\r\n"), SG["signature"], SG["timestamp"])
    assert not sendgrid_valid(SG["public_key"], SG_BODY.replace(b"\r\n", b"\n"), SG["signature"], SG["timestamp"])


def test_sendgrid_timestamp_is_signed():
    later = str(int(SG["timestamp"]) + 1)
    assert not sendgrid_valid(SG["public_key"], SG_BODY, SG["signature"], later)


def test_sendgrid_wrong_key():
    other = SENDGRID["vectors"][1]["public_key"]
    assert not sendgrid_valid(other, SG_BODY, SG["signature"], SG["timestamp"])


def test_sendgrid_key_in_pem_armor_and_lines():
    lines = "\n".join(SG["public_key"][i : i + 64] for i in range(0, len(SG["public_key"]), 64))
    pem = f"-----BEGIN PUBLIC KEY-----\n{lines}\n-----END PUBLIC KEY-----\n"
    assert sendgrid_valid(pem, SG_BODY, SG["signature"], SG["timestamp"])


@pytest.mark.parametrize(
    "signature, timestamp", [(None, SG["timestamp"]), (SG["signature"], None), ("", ""), (None, None)]
)
def test_sendgrid_missing_headers(signature, timestamp):
    assert not sendgrid_valid(SG["public_key"], SG_BODY, signature, timestamp)


def _spki_b64(private_key):
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


@pytest.mark.parametrize(
    "public_key",
    [
        "",
        "not base64 at all!",
        SG["public_key"][:-12],  # truncated DER
        base64.b64encode(b"\x30\x03\x02\x01\x01").decode("ascii"),  # DER, but not a key
        _spki_b64(ec.generate_private_key(ec.SECP384R1())),  # EC, but not P-256
        _spki_b64(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    ],
    ids=["empty", "not_base64", "truncated", "not_a_key", "p384", "rsa"],
)
def test_sendgrid_malformed_key(public_key):
    assert not sendgrid_valid(public_key, SG_BODY, SG["signature"], SG["timestamp"])


@pytest.mark.parametrize(
    "signature",
    [
        "not base64!",
        SG["signature"][:-8],  # truncated DER
        base64.b64encode(b"\x00" * 70).decode("ascii"),  # base64, but not DER
        base64.b64encode(b"\x30\x06\x02\x01\x00\x02\x01\x00").decode("ascii"),  # r = s = 0
        SENDGRID["vectors"][1]["signature"],  # well formed, for another message and key
    ],
    ids=["not_base64", "truncated", "not_der", "zero", "other_signature"],
)
def test_sendgrid_malformed_signature(signature):
    assert not sendgrid_valid(SG["public_key"], SG_BODY, signature, SG["timestamp"])


def test_sendgrid_refuses_a_valid_signature_from_another_curve():
    private_key = ec.generate_private_key(ec.SECP384R1())
    signature = base64.b64encode(private_key.sign(b"1700000000" + SG_BODY, ec.ECDSA(hashes.SHA256())))
    assert not sendgrid_valid(_spki_b64(private_key), SG_BODY, signature.decode("ascii"), "1700000000")


def test_sendgrid_signature_made_with_our_own_key():
    # The scheme end to end with a fresh P-256 key: the message is timestamp + body.
    private_key = ec.generate_private_key(ec.SECP256R1())
    signature = base64.b64encode(private_key.sign(b"1700000000" + SG_BODY, ec.ECDSA(hashes.SHA256())))
    assert sendgrid_valid(_spki_b64(private_key), SG_BODY, signature.decode("ascii"), "1700000000")
    assert not sendgrid_valid(_spki_b64(private_key), SG_BODY, signature.decode("ascii"), "1700000001")


# --- Mailgun ------------------------------------------------------------------------------------
# django-anymail tests/test_mailgun_webhooks.py event-data, signed as its mailgun_sign_payload()
# signs, with TEST_WEBHOOK_SIGNING_KEY (mailgun_events.json).

MAILGUN_KEY = "TEST_WEBHOOK_SIGNING_KEY"
MAILGUN = _load("mailgun_events.json")
BLOCK = MAILGUN[0]["payload"]["signature"]
BLOCK_TIME = float(BLOCK["timestamp"])


def _mailgun(block=BLOCK, key=MAILGUN_KEY, **kwargs):
    if "now" not in kwargs:
        kwargs["now"] = float(block["timestamp"])
    return mailgun_valid(key, block["timestamp"], block["token"], block["signature"], **kwargs)


@pytest.mark.parametrize("event", MAILGUN, ids=lambda e: e["anymail_test"])
def test_mailgun_anymail_events(event):
    block = event["payload"]["signature"]
    assert mailgun_signature(MAILGUN_KEY, block["timestamp"], block["token"]) == block["signature"]
    assert _mailgun(block)


def test_mailgun_wrong_key():
    assert not _mailgun(key="TEST_WEBHOOK_SIGNING_KEY2")
    assert not _mailgun(key="")


@pytest.mark.parametrize("field", ["timestamp", "token", "signature"])
def test_mailgun_changed_field(field):
    value = BLOCK[field]
    changed = {**BLOCK, field: value[:-1] + ("1" if value[-1] != "1" else "2")}
    assert not _mailgun(changed, now=BLOCK_TIME)


def test_mailgun_empty_key_never_verifies():
    signed = {**BLOCK, "signature": mailgun_signature("", BLOCK["timestamp"], BLOCK["token"])}
    assert not _mailgun(signed, key="")


def test_mailgun_signature_of_another_event():
    other = MAILGUN[1]["payload"]["signature"]
    assert not _mailgun({**BLOCK, "signature": other["signature"]})


@pytest.mark.parametrize("offset, valid", [(0, True), (300, True), (-300, True), (301, False), (-301, False)])
def test_mailgun_timestamp_window(offset, valid):
    # now - timestamp = offset: positive is a stale delivery, negative one from the future.
    assert _mailgun(now=BLOCK_TIME + offset) is valid


def test_mailgun_max_age():
    assert _mailgun(now=BLOCK_TIME + 3600, max_age=3600)
    assert not _mailgun(now=BLOCK_TIME + 60, max_age=30)


def test_mailgun_default_clock_rejects_the_2018_vector():
    block = BLOCK
    assert not mailgun_valid(MAILGUN_KEY, block["timestamp"], block["token"], block["signature"])


@pytest.mark.parametrize("timestamp", ["", "abc", "1e9", " 1534110422", "nan", "-1534110422"])
def test_mailgun_malformed_timestamp(timestamp):
    signed = {**BLOCK, "timestamp": timestamp, "signature": mailgun_signature(MAILGUN_KEY, timestamp, BLOCK["token"])}
    assert not _mailgun(signed, now=BLOCK_TIME)


@pytest.mark.parametrize("field", ["token", "signature"])
def test_mailgun_missing_field(field):
    assert not _mailgun({**BLOCK, field: ""}, now=BLOCK_TIME)
    assert not _mailgun({**BLOCK, field: None}, now=BLOCK_TIME)


def test_mailgun_token_key():
    key = mailgun_token_key(BLOCK["timestamp"], BLOCK["token"])
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == mailgun_token_key(BLOCK["timestamp"], BLOCK["token"])
    assert key != mailgun_token_key(BLOCK["timestamp"], BLOCK["token"][:-1] + "0")
    assert key != mailgun_token_key(str(int(BLOCK["timestamp"]) + 1), BLOCK["token"])
