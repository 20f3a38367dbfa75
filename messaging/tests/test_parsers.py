"""Webhook payload parsers against real provider payloads; no database needed.

The payloads are read in place from the shared fixtures directory (never copied); each test names
where its payload comes from. Synthetic payloads, where a fixture has no example, follow the
shapes of the same sources.
"""

import json
import logging
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import pytest

from conftest import PROVIDER_FIXTURES
from messaging import parsers
from messaging.parsers import (
    CALL_STATUSES,
    EMAIL_STATUSES,
    MESSAGE_STATUSES,
    STATUS_RANK,
    TERMINAL_STATUSES,
    ChannelEvent,
    ParseError,
    advances,
    device_of,
    parse_mailgun,
    parse_sendgrid,
    parse_twilio_sms,
    parse_twilio_voice,
    parse_whatsapp,
    sendgrid_x_message_id,
)

FIXTURES = PROVIDER_FIXTURES


def _text(name):
    return (FIXTURES / name).read_text(encoding="utf-8")


def _load(name):
    return json.loads(_text(name))


def _form(name):
    return parse_qsl(_text(name), keep_blank_values=True)


REFERENCE = _load("provider_reference.json")  # each enum names its source inside the file


def test_fixtures_directory_is_found():
    assert (FIXTURES / "provider_reference.json").is_file(), FIXTURES


def _check_event(event: ChannelEvent):
    """What holds for every event any parser returns."""
    assert event.provider in ("twilio", "whatsapp", "sendgrid", "mailgun")
    assert event.channel in ("sms", "whatsapp", "call", "email")
    assert event.kind in ("message", "status", "call", "email_event")
    assert event.idempotency_key and event.idempotency_key == event.idempotency_key.strip()
    assert event.occurred_at is None or event.occurred_at.utcoffset().total_seconds() == 0
    assert event.direction in ("inbound", "outbound", "")
    assert isinstance(event.media, tuple)
    if event.kind == "call":
        assert event.status in CALL_STATUSES
    elif event.kind == "email_event":
        assert event.status in EMAIL_STATUSES
        assert set(event.email) >= {
            "url",
            "user_agent",
            "ip",
            "bounce_type",
            "reason",
            "machine_open",
            "campaign",
            "device",
            "tags",
            "custom_args",
            "message_id",
        }
        assert isinstance(event.email["machine_open"], bool)
    else:
        assert event.status in MESSAGE_STATUSES
        assert (event.kind == "message") == (event.status == "received")


# --- Twilio voice ------------------------------------------------------------------------------
# twilio_voice_*.txt: real callbacks quoted in FarmRadioHangar/open-interactivity-engine
# src/twilio/controllers/twilio_controller.cpp (VERBATIM).


def test_twilio_voice_completed_fixture():
    [event] = parse_twilio_voice(_form("twilio_voice_status_completed.txt"))
    _check_event(event)
    assert event.provider == "twilio" and event.channel == "call" and event.kind == "call"
    assert event.external_id == "CAd7fe2ad60939a04e564c0e4e3302ff5b"
    assert event.idempotency_key == "CAd7fe2ad60939a04e564c0e4e3302ff5b:completed"
    assert event.status == "completed"
    assert event.direction == "inbound"
    assert event.from_address == "+256784224203"
    assert event.to_address == "+13163336936"
    # Timestamp=Fri, 02 Nov 2018 10:52:29 +0000; CallDuration is seconds (Duration=1 is minutes).
    assert event.occurred_at == datetime(2018, 11, 2, 10, 52, 29, tzinfo=UTC)
    assert event.duration_seconds == 9
    assert event.answered_by == "" and event.recording_url == ""
    assert event.raw["CallbackSource"] == "call-progress-events"
    assert event.raw["ToZip"] == ""  # blank values kept


def test_twilio_voice_ringing_fixture_has_no_time():
    [event] = parse_twilio_voice(_form("twilio_voice_inbound_ringing.txt"))
    _check_event(event)
    assert event.idempotency_key == "CAd7fe2ad60939a04e564c0e4e3302ff5b:ringing"
    assert event.status == "ringing"
    assert event.occurred_at is None
    assert event.duration_seconds is None
    assert event.raw["CallerCountry"] == "UG"


def test_twilio_voice_accepts_raw_body_bytes_and_mapping():
    text = _text("twilio_voice_status_completed.txt")
    expected = parse_twilio_voice(parse_qsl(text, keep_blank_values=True))
    assert parse_twilio_voice(text) == expected
    assert parse_twilio_voice(text.encode()) == expected
    assert parse_twilio_voice(dict(parse_qsl(text, keep_blank_values=True))) == expected


def test_twilio_voice_first_value_of_a_repeated_name_wins():
    [event] = parse_twilio_voice([("CallSid", "CA1"), ("CallStatus", "busy"), ("CallStatus", "completed")])
    assert event.status == "busy" and event.idempotency_key == "CA1:busy"


def test_twilio_voice_answered_by_recording_and_errors():
    # Parameter names from provider_reference.json twilio.voice_other_documented_params.
    form = {
        "CallSid": "CA2",
        "CallStatus": "completed",
        "Direction": "outbound-api",
        "AnsweredBy": "machine_end_beep",
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "CallDuration": "42",
        "Timestamp": "Tue, 03 Dec 2024 09:00:00 -0000",
    }
    [event] = parse_twilio_voice(form)
    assert event.direction == "outbound"
    assert event.answered_by == "machine_end_beep"
    assert event.recording_url.endswith("/Recordings/RE1")
    assert event.duration_seconds == 42
    assert event.occurred_at == datetime(2024, 12, 3, 9, 0, tzinfo=UTC)  # "-0000" is read as UTC


def test_twilio_voice_time_in_another_zone_is_converted_to_utc():
    [event] = parse_twilio_voice(
        {"CallSid": "CA3", "CallStatus": "ringing", "Timestamp": "Fri, 02 Nov 2018 13:52:29 +0300"}
    )
    assert event.occurred_at == datetime(2018, 11, 2, 10, 52, 29, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC


@pytest.mark.parametrize("status", REFERENCE["twilio"]["call_status_values"]["values"] + ["initiated", "answered"])
def test_twilio_every_documented_call_status_is_handled(status):
    # twilio-python CallInstance.Status, plus the initiated/answered status-callback events (its note).
    [event] = parse_twilio_voice({"CallSid": "CA9", "CallStatus": status})
    _check_event(event)
    assert event.idempotency_key == f"CA9:{status}"
    assert event.status == ("in-progress" if status == "answered" else status)


@pytest.mark.parametrize("direction", REFERENCE["twilio"]["call_direction_values"]["values"])
def test_twilio_every_documented_call_direction_is_mapped(direction):
    [event] = parse_twilio_voice({"CallSid": "CA9", "CallStatus": "ringing", "Direction": direction})
    inbound = direction in ("inbound", "trunking-originating")
    assert event.direction == ("inbound" if inbound else "outbound")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"CallStatus": "completed"}, "CallSid is missing"),
        ({"CallSid": "  ", "CallStatus": "completed"}, "CallSid is missing"),
        ({"CallSid": "CA1"}, "CallStatus is missing"),
        ({"CallSid": "CA1", "CallStatus": "completed", "Timestamp": "yesterday"}, "not an RFC 2822 date"),
        ({"CallSid": "CA1", "CallStatus": "completed", "CallDuration": "9.5"}, "CallDuration must be a whole number"),
        ([("CallSid",)], "name/value pairs"),
        (42, "name/value pairs"),
        (b"CallSid=CA1&CallStatus=\xff", "not UTF-8"),
    ],
)
def test_twilio_voice_malformed_input_raises_a_clear_parse_error(form, message):
    with pytest.raises(ParseError, match=message) as caught:
        parse_twilio_voice(form)
    assert str(caught.value).startswith("Twilio voice callback")


def test_twilio_voice_unknown_status_is_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="messaging.parsers"):
        assert parse_twilio_voice({"CallSid": "CA1", "CallStatus": "teleported"}) == []
    assert "teleported" in caplog.text


# --- Twilio messaging --------------------------------------------------------------------------
# twilio_sms_*.txt: nyaruka/courier handlers/twiml/handlers_test.go (VERBATIM, "acctid" is its
# placeholder AccountSid); twilio_whatsapp_*.txt: BotBuilderCommunity/botbuilder-community-js,
# the Twilio WhatsApp adapter tests (VERBATIM).


def test_twilio_sms_inbound_with_media_fixture():
    [event] = parse_twilio_sms(_form("twilio_sms_inbound_media.txt"))
    _check_event(event)
    assert event.kind == "message" and event.channel == "sms" and event.direction == "inbound"
    assert event.external_id == "SMe287d7109a5a925f182f0e07fe5b223b"
    assert event.idempotency_key == "SMe287d7109a5a925f182f0e07fe5b223b:received"
    assert event.status == "received"
    assert event.body == "Msg"
    assert event.from_address == "+14133881111" and event.to_address == "+12028831111"
    assert event.media == ({"url": "cat.jpg", "content_type": ""}, {"url": "dog.jpg", "content_type": ""})
    assert event.message_type == "media"  # no MediaContentTypeN in this payload
    assert event.occurred_at is None
    assert event.raw["FromCity"] == "CHICOPEE"


@pytest.mark.parametrize(
    ("name", "sid", "status", "error_code"),
    [
        ("twilio_sms_status_delivered_minimal.txt", "SMe287d7109a5a925f182f0e07fe5b223b", "delivered", ""),
        ("twilio_sms_status_read_minimal.txt", "SMe287d7109a5a925f182f0e07fe5b223b", "read", ""),
        ("twilio_sms_status_failed_21610.txt", "SMe287d7109a5a925f182f0e07fe5b223b", "failed", "21610"),
        ("twilio_sms_status_sent.txt", "SM0b6e2697aae04182a9f5b5c7a8994c7f", "sent", ""),
    ],
)
def test_twilio_sms_status_fixtures(name, sid, status, error_code):
    [event] = parse_twilio_sms(_form(name))
    _check_event(event)
    assert event.kind == "status" and event.channel == "sms" and event.direction == "outbound"
    assert event.external_id == sid
    assert event.idempotency_key == f"{sid}:{status}"
    assert event.status == status
    assert event.error_code == error_code
    assert event.body == "" and event.media == ()


def test_twilio_sms_status_sent_fixture_addresses():
    [event] = parse_twilio_sms(_form("twilio_sms_status_sent.txt"))
    assert event.from_address == "+14133881111"
    assert event.to_address == "2021"  # a short code, as given
    assert event.raw["MessagingServiceSid"] == "MGdb23ec0f89ee2632e46e91d8128f5e2b"


def test_twilio_whatsapp_inbound_fixture():
    [event] = parse_twilio_sms(_form("twilio_whatsapp_inbound_text.txt"))
    _check_event(event)
    assert event.channel == "whatsapp" and event.kind == "message"
    assert event.idempotency_key == "SM892512e202b34d4109b10a3893fa9640:received"
    assert event.body == "test" and event.message_type == "text"
    assert event.from_address == "+31612345678"  # the "whatsapp:" prefix goes to the channel
    assert event.to_address == "+14123456789"
    assert event.raw["From"] == "whatsapp:+31612345678"


@pytest.mark.parametrize(
    ("name", "sid", "status"),
    [
        ("twilio_whatsapp_status_sent.txt", "SM0cec4ed334e74bcbb64eb8b6684e9654", "sent"),
        ("twilio_whatsapp_status_delivered.txt", "SMdf55df64a2ff4920bb0748193cfbb640", "delivered"),
    ],
)
def test_twilio_whatsapp_status_fixtures(name, sid, status):
    [event] = parse_twilio_sms(_form(name))
    _check_event(event)
    assert event.channel == "whatsapp" and event.kind == "status"
    assert event.idempotency_key == f"{sid}:{status}"
    assert event.status == status
    assert event.from_address == "+14123456789" and event.to_address == "+31612345678"


def test_twilio_whatsapp_channel_prefix_alone_makes_the_channel():
    [event] = parse_twilio_sms({"MessageSid": "SM1", "MessageStatus": "read", "ChannelPrefix": "whatsapp"})
    assert event.channel == "whatsapp"


def test_twilio_sms_media_content_types_and_message_type():
    form = {
        "MessageSid": "MM1",
        "SmsStatus": "received",
        "Body": "",
        "NumMedia": "2",
        "MediaUrl0": "https://api.twilio.com/m0",
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": "https://api.twilio.com/m1",
        "MediaContentType1": "application/pdf",
    }
    [event] = parse_twilio_sms(form)
    assert event.message_type == "image"
    assert event.media == (
        {"url": "https://api.twilio.com/m0", "content_type": "image/jpeg"},
        {"url": "https://api.twilio.com/m1", "content_type": "application/pdf"},
    )


def test_twilio_whatsapp_button_reply_location_and_profile():
    button = {
        "MessageSid": "SM2",
        "SmsStatus": "received",
        "From": "whatsapp:+31612345678",
        "To": "whatsapp:+14123456789",
        "Body": "Yes",
        "ButtonText": "Yes",
        "ButtonPayload": "confirm-42",
        "ProfileName": "Client Name",
        "OriginalRepliedMessageSid": "SM1",
    }
    [event] = parse_twilio_sms(button)
    assert event.message_type == "button"
    assert event.body == "Yes" and event.reply_payload == "confirm-42"
    assert event.contact_name == "Client Name" and event.reply_to == "SM1"
    [event] = parse_twilio_sms({**button, "MessageType": "Interactive"})
    assert event.message_type == "interactive"  # Twilio's own MessageType wins
    [event] = parse_twilio_sms({"MessageSid": "SM3", "SmsStatus": "received", "Latitude": "1.5", "Longitude": "2"})
    assert event.message_type == "location"


def test_twilio_sms_body_without_status_is_inbound():
    [event] = parse_twilio_sms({"SmsSid": "SM4", "Body": "hello"})
    assert event.kind == "message" and event.external_id == "SM4" and event.body == "hello"


@pytest.mark.parametrize("status", REFERENCE["twilio"]["message_status_values"]["values"])
def test_twilio_every_documented_message_status_is_handled(status):
    # twilio-python MessageInstance.Status.
    [event] = parse_twilio_sms({"MessageSid": "SM9", "MessageStatus": status})
    _check_event(event)
    if status in ("received", "receiving"):
        assert event.kind == "message" and event.idempotency_key == "SM9:received"
    else:
        assert event.kind == "status" and event.idempotency_key == f"SM9:{status}"
        expected = {
            "accepted": "queued",
            "scheduled": "queued",
            "sending": "queued",
            "partially_delivered": "delivered",
        }.get(status, status)
        assert event.status == expected


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"MessageStatus": "sent"}, "MessageSid \\(or SmsSid\\) is missing"),
        ({"MessageSid": "SM1"}, "MessageStatus is missing"),
        ({"MessageSid": "SM1", "SmsStatus": "received", "NumMedia": "two"}, "NumMedia must be a whole number"),
        ("not a form at all", "MessageSid \\(or SmsSid\\) is missing"),
    ],
)
def test_twilio_sms_malformed_input_raises_a_clear_parse_error(form, message):
    with pytest.raises(ParseError, match=message) as caught:
        parse_twilio_sms(form)
    assert str(caught.value).startswith("Twilio messaging webhook")


def test_twilio_sms_unknown_status_is_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="messaging.parsers"):
        assert parse_twilio_sms({"MessageSid": "SM1", "MessageStatus": "evaporated"}) == []
    assert "evaporated" in caplog.text


# --- WhatsApp Cloud API ------------------------------------------------------------------------
# whatsapp_inbound_*.json, whatsapp_status_*.json: david-lev/pywa tests/data/updates/*.json
# (EXTRACTED); whatsapp_inbound_text_metadoc.json: Meta's messages-webhook reference example.


def test_whatsapp_text_fixture_meta_reference_example():
    [event] = parse_whatsapp(_load("whatsapp_inbound_text_metadoc.json"))
    _check_event(event)
    assert event.provider == "whatsapp" and event.channel == "whatsapp" and event.kind == "message"
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert event.external_id == wamid and event.idempotency_key == f"{wamid}:received"
    assert event.body == "Does it come in another color?" and event.message_type == "text"
    assert event.from_address == "16505551234" and event.to_address == "15550783881"
    assert event.contact_name == "Sheena Nelson"
    assert event.occurred_at == datetime.fromtimestamp(1749416383, UTC)
    assert event.raw["phone_number_id"] == "106540352242922"
    assert event.raw["waba_id"] == "102290129340398"
    assert event.raw["text"] == {"body": "Does it come in another color?"}


def test_whatsapp_image_fixture():
    [event] = parse_whatsapp(_load("whatsapp_inbound_image.json"))
    _check_event(event)
    assert event.message_type == "image" and event.body == ""
    assert event.media == ({"id": "65463453", "content_type": "image/jpeg", "sha256": "4654+8g="},)
    assert event.occurred_at == datetime.fromtimestamp(1697043379, UTC)
    assert event.raw["phone_number_id"] == "1122334455667"
    assert event.contact_name == "Test Name"


def test_whatsapp_document_fixture():
    [event] = parse_whatsapp(_load("whatsapp_inbound_document.json"))
    assert event.message_type == "document" and event.body == "caption"
    [media] = event.media
    assert media["id"] == "1234567890987654321"
    assert media["content_type"] == "application/pdf" and media["filename"] == "filename.pdf"
    assert event.reply_to == ""  # forwarded, not a reply
    assert event.raw["context"] == {"forwarded": True}


@pytest.mark.parametrize(
    ("name", "wamid"),
    [
        ("whatsapp_inbound_interactive_button_reply.json", "wamid.xyzxyz"),
        ("whatsapp_inbound_interactive_list_reply.json", "wamid.zyzxyz"),
    ],
)
def test_whatsapp_interactive_reply_fixtures(name, wamid):
    [event] = parse_whatsapp(_load(name))
    _check_event(event)
    assert event.external_id == wamid
    assert event.message_type == "interactive"
    assert event.body == "title" and event.reply_payload == "callback_data"
    assert event.reply_to == "wamid.xyzxyz"


def test_whatsapp_template_quick_reply_button_fixture():
    [event] = parse_whatsapp(_load("whatsapp_inbound_template_quick_reply_button.json"))
    assert event.idempotency_key == "wamid.xsidjw:received"
    assert event.message_type == "button"
    assert event.body == "title" and event.reply_payload == "callback_data"
    assert event.reply_to == "wamid.xyzxyz=="
    assert event.occurred_at == datetime.fromtimestamp(1698269027, UTC)


@pytest.mark.parametrize(
    ("name", "status"), [("whatsapp_status_sent.json", "sent"), ("whatsapp_status_delivered.json", "delivered")]
)
def test_whatsapp_status_fixtures(name, status):
    [event] = parse_whatsapp(_load(name))
    _check_event(event)
    assert event.kind == "status" and event.direction == "outbound"
    assert event.external_id == "wamid.xyzxyz" and event.idempotency_key == f"wamid.xyzxyz:{status}"
    assert event.status == status
    assert event.to_address == "972987654321" and event.from_address == "972123456789"
    assert event.occurred_at == datetime.fromtimestamp(1698266945, UTC)
    assert event.raw["phone_number_id"] == "1122334455667"
    assert event.raw["pricing"]["category"] == "service"
    assert event.error_code == ""


def test_whatsapp_failed_status_fixture_carries_the_error():
    [event] = parse_whatsapp(_load("whatsapp_status_failed.json"))
    assert event.status == "failed" and event.idempotency_key == "wamid.xyzxyz:failed"
    assert event.error_code == "130472"
    assert event.error_message.startswith("User's number is part of an experiment")
    assert "Failed to send message" in event.error_message  # error_data.details
    assert event.occurred_at == datetime.fromtimestamp(1689380458, UTC)


def _whatsapp(messages=(), statuses=(), **value):
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "PN1"},
                            "contacts": [{"profile": {"name": "Client"}, "wa_id": "972500000000"}],
                            **({"messages": list(messages)} if messages else {}),
                            **({"statuses": list(statuses)} if statuses else {}),
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def _message(msg_type, content, **extra):
    return {
        "from": "972500000000",
        "id": f"wamid.{msg_type}",
        "timestamp": "1700000000",
        "type": msg_type,
        **content,
        **extra,
    }


# One example of each type in provider_reference.json whatsapp_cloud_api.inbound_message_types_in_fixtures,
# in the shapes pywa reads (pywa/types/message.py, others.py, media.py).
WHATSAPP_TYPES = {
    "text": (_message("text", {"text": {"body": "hi"}}), "hi", ()),
    "image": (
        _message("image", {"image": {"id": "M1", "mime_type": "image/png", "caption": "look"}}),
        "look",
        ({"id": "M1", "content_type": "image/png"},),
    ),
    "video": (
        _message("video", {"video": {"id": "M2", "mime_type": "video/mp4"}}),
        "",
        ({"id": "M2", "content_type": "video/mp4"},),
    ),
    "document": (
        _message("document", {"document": {"id": "M3", "mime_type": "application/pdf", "filename": "a.pdf"}}),
        "",
        ({"id": "M3", "content_type": "application/pdf", "filename": "a.pdf"},),
    ),
    "audio": (
        _message("audio", {"audio": {"id": "M4", "mime_type": "audio/ogg; codecs=opus", "voice": True}}),
        "",
        ({"id": "M4", "content_type": "audio/ogg; codecs=opus", "voice": True},),
    ),
    "sticker": (
        _message("sticker", {"sticker": {"id": "M5", "mime_type": "image/webp", "animated": False}}),
        "",
        ({"id": "M5", "content_type": "image/webp", "animated": False},),
    ),
    "reaction": (_message("reaction", {"reaction": {"message_id": "wamid.OUT", "emoji": "👍"}}), "👍", ()),
    "location": (
        _message(
            "location", {"location": {"latitude": 32.1, "longitude": 34.8, "name": "Office", "address": "1 Main St"}}
        ),
        "Office, 1 Main St",
        (),
    ),
    "contacts": (
        _message("contacts", {"contacts": [{"name": {"formatted_name": "Jane Roe"}, "phones": [{"phone": "+1555"}]}]}),
        "Jane Roe",
        (),
    ),
    "interactive": (
        _message(
            "interactive", {"interactive": {"type": "list_reply", "list_reply": {"id": "opt-2", "title": "Tuesday"}}}
        ),
        "Tuesday",
        (),
    ),
    "button": (_message("button", {"button": {"payload": "yes-1", "text": "Yes"}}), "Yes", ()),
    "order": (
        _message(
            "order",
            {
                "order": {
                    "catalog_id": "C1",
                    "text": "please",
                    "product_items": [{"product_retailer_id": "S1", "quantity": 1, "item_price": 9, "currency": "USD"}],
                }
            },
        ),
        "please",
        (),
    ),
    "unsupported": (
        _message(
            "unsupported",
            {
                "errors": [
                    {
                        "code": 131051,
                        "title": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."},
                    }
                ]
            },
        ),
        "",
        (),
    ),
}


def test_whatsapp_type_examples_cover_the_reference_list():
    documented = {entry.split()[0] for entry in REFERENCE["whatsapp_cloud_api"]["inbound_message_types_in_fixtures"]}
    assert documented == set(WHATSAPP_TYPES)


@pytest.mark.parametrize("msg_type", sorted(WHATSAPP_TYPES))
def test_whatsapp_every_documented_message_type_is_handled(msg_type):
    message, body, media = WHATSAPP_TYPES[msg_type]
    [event] = parse_whatsapp(_whatsapp([message]))
    _check_event(event)
    assert event.message_type == msg_type
    assert event.body == body
    assert event.media == media
    assert event.idempotency_key == f"wamid.{msg_type}:received"
    assert event.contact_name == "Client"
    assert event.raw["phone_number_id"] == "PN1" and event.raw["waba_id"] == "WABA1"


def test_whatsapp_type_specific_fields():
    [reaction] = parse_whatsapp(_whatsapp([WHATSAPP_TYPES["reaction"][0]]))
    assert reaction.reply_to == "wamid.OUT"
    [listed] = parse_whatsapp(_whatsapp([WHATSAPP_TYPES["interactive"][0]]))
    assert listed.reply_payload == "opt-2"
    [button] = parse_whatsapp(_whatsapp([WHATSAPP_TYPES["button"][0]]))
    assert button.reply_payload == "yes-1"
    [unsupported] = parse_whatsapp(_whatsapp([WHATSAPP_TYPES["unsupported"][0]]))
    assert unsupported.error_code == "131051"
    assert unsupported.error_message == "Message type unknown: Message type is currently not supported."
    flow = _message(
        "interactive",
        {
            "interactive": {
                "type": "nfm_reply",
                "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"a": 1}'},
            }
        },
    )
    [flow_event] = parse_whatsapp(_whatsapp([flow]))
    assert flow_event.body == "Sent" and flow_event.reply_payload == '{"a": 1}'
    [plain_location] = parse_whatsapp(
        _whatsapp([_message("location", {"location": {"latitude": 1.5, "longitude": 2.5}})])
    )
    assert plain_location.body == "1.5,2.5"


def test_whatsapp_unknown_message_type_is_kept_not_dropped():
    [event] = parse_whatsapp(_whatsapp([_message("hologram", {"hologram": {"body": "beam me"}})]))
    assert event.kind == "message" and event.message_type == "hologram" and event.body == "beam me"


@pytest.mark.parametrize("status", REFERENCE["whatsapp_cloud_api"]["status_values"]["values"] + ["played"])
def test_whatsapp_every_documented_status_is_handled(status):
    # Meta's status webhook reference triggers and pywa's MessageStatusType; "played" from also_seen.
    statuses = [{"id": "wamid.OUT", "status": status, "timestamp": "1700000001", "recipient_id": "972500000000"}]
    [event] = parse_whatsapp(_whatsapp(statuses=statuses))
    _check_event(event)
    assert event.idempotency_key == f"wamid.OUT:{status}"
    assert event.status == ("read" if status == "played" else status)
    assert event.to_address == "972500000000" and event.from_address == "15550001111"


def test_whatsapp_legacy_deleted_status_is_ignored_silently(caplog):
    statuses = [{"id": "wamid.OUT", "status": "deleted", "timestamp": "1700000001", "recipient_id": "1"}]
    with caplog.at_level(logging.WARNING, logger="messaging.parsers"):
        assert parse_whatsapp(_whatsapp(statuses=statuses)) == []
    assert caplog.text == ""


def test_whatsapp_unknown_status_is_skipped_with_a_warning_and_the_rest_kept(caplog):
    statuses = [
        {"id": "wamid.A", "status": "teleported", "timestamp": "1700000001", "recipient_id": "1"},
        {"id": "wamid.A", "status": "delivered", "timestamp": "1700000002", "recipient_id": "1"},
    ]
    with caplog.at_level(logging.WARNING, logger="messaging.parsers"):
        events = parse_whatsapp(_whatsapp(statuses=statuses))
    assert [e.status for e in events] == ["delivered"]
    assert "teleported" in caplog.text


def test_whatsapp_error_at_value_level_is_used_when_the_status_has_none():
    # pywa reads value.errors before the status's own errors.
    statuses = [{"id": "wamid.A", "status": "failed", "timestamp": "1700000001", "recipient_id": "1"}]
    [event] = parse_whatsapp(_whatsapp(statuses=statuses, errors=[{"code": 131000, "title": "Something went wrong"}]))
    assert event.error_code == "131000" and event.error_message == "Something went wrong"


def test_whatsapp_a_batch_keeps_order_and_unique_keys():
    messages = [WHATSAPP_TYPES["text"][0], WHATSAPP_TYPES["image"][0]]
    statuses = [
        {"id": "wamid.OUT", "status": s, "timestamp": "1700000001", "recipient_id": "1"}
        for s in ("sent", "delivered", "read")
    ]
    events = parse_whatsapp(_whatsapp(messages, statuses))
    assert [e.kind for e in events] == ["message", "message", "status", "status", "status"]
    assert len({e.idempotency_key for e in events}) == 5


def test_whatsapp_changes_other_than_messages_are_skipped():
    payload = _whatsapp([WHATSAPP_TYPES["text"][0]])
    payload["entry"][0]["changes"].append({"field": "message_template_status_update", "value": {"event": "APPROVED"}})
    assert len(parse_whatsapp(payload)) == 1
    assert parse_whatsapp({"object": "whatsapp_business_account", "entry": []}) == []


def test_whatsapp_accepts_the_raw_body():
    body = (FIXTURES / "whatsapp_status_failed.json").read_bytes()
    assert parse_whatsapp(body) == parse_whatsapp(_load("whatsapp_status_failed.json"))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "WhatsApp webhook body is not valid JSON"),
        (b"\xff\xfe", "WhatsApp webhook body is not UTF-8"),
        ([], "body must be a JSON object, got an array"),
        ({"object": "page", "entry": []}, "object must be 'whatsapp_business_account', got 'page'"),
        ({"object": "whatsapp_business_account"}, "entry is missing"),
        ({"object": "whatsapp_business_account", "entry": {}}, "entry must be an array"),
        ({"object": "whatsapp_business_account", "entry": [{"changes": "x"}]}, r"entry\[0\].changes must be an array"),
        (_whatsapp([{"type": "text", "text": {"body": "x"}}]), r"messages\[0\].id is missing"),
        (_whatsapp([{"id": "wamid.A", "text": {"body": "x"}}]), r"messages\[0\].type is missing"),
        (_whatsapp([_message("text", {"text": {"body": "x"}}, timestamp="soon")]), "timestamp must be UNIX seconds"),
        (_whatsapp(statuses=[{"id": "wamid.A", "timestamp": "1"}]), r"statuses\[0\].status is missing"),
        (_whatsapp(statuses=[{"status": "read", "timestamp": "1"}]), r"statuses\[0\].id is missing"),
    ],
)
def test_whatsapp_malformed_input_raises_a_clear_parse_error(payload, message):
    with pytest.raises(ParseError, match=message):
        parse_whatsapp(payload)


# --- SendGrid ----------------------------------------------------------------------------------
# sendgrid_events.json, sendgrid_events_docs_per_event.json: sendgrid/docs event.md (VERBATIM /
# EXTRACTED); sendgrid_events_anymail_tests.json: django-anymail tests/test_sendgrid_webhooks.py.

SENDGRID_DOCS_EVENTS = [
    "processed",
    "deferred",
    "delivered",
    "open",
    "click",
    "bounce",
    "dropped",
    "spamreport",
    "unsubscribe",
    "group_unsubscribe",
    "group_resubscribe",
]


def test_sendgrid_docs_batch_fixture():
    events = parse_sendgrid((FIXTURES / "sendgrid_events.json").read_bytes())
    for event in events:
        _check_event(event)
        assert event.provider == "sendgrid" and event.channel == "email" and event.kind == "email_event"
        assert event.to_address == "example@test.com"
        assert event.occurred_at == datetime(2017, 12, 15, 0, 59, 29, tzinfo=UTC)  # 1513299569
        assert event.external_id == "sg_message_id"  # the docs' placeholder
        assert event.email["tags"] == ["cat facts"]
        assert event.email["message_id"] == "14c5d75ce93.dfd.64b469@ismtpd-555"
    assert [e.status for e in events] == SENDGRID_DOCS_EVENTS
    # Every event says "sg_event_id": "sg_event_id"; the event name keeps their keys apart.
    assert [e.idempotency_key for e in events] == [f"sg_event_id:{name}" for name in SENDGRID_DOCS_EVENTS]
    by_status = {e.status: e for e in events}
    assert by_status["deferred"].email["reason"] == "400 try again later"
    assert by_status["deferred"].error_message == "400 try again later"
    assert by_status["delivered"].email["reason"] == "250 OK" and by_status["delivered"].error_message == ""
    assert by_status["bounce"].error_code == "5.0.0"
    assert by_status["bounce"].error_message == "500 unknown recipient"
    assert by_status["dropped"].email["reason"] == "Bounced Address"
    assert by_status["click"].email["url"] == "http://www.sendgrid.com/"
    assert by_status["open"].email["ip"] == "255.255.255.255"
    assert by_status["open"].email["user_agent"].startswith("Mozilla/4.0 (compatible; MSIE 6.1; Windows XP")
    assert by_status["open"].email["device"] == "desktop"
    assert by_status["open"].email["machine_open"] is False
    assert by_status["group_unsubscribe"].email["asm_group_id"] == 10


@pytest.mark.parametrize("item", _load("sendgrid_events_docs_per_event.json"), ids=lambda item: item["doc_anchor"])
def test_sendgrid_docs_per_event_fixture(item):
    [event] = parse_sendgrid(json.dumps(item["payload"]).encode())
    _check_event(event)
    [raw] = item["payload"]
    assert event.status == raw["event"]
    assert event.idempotency_key == f"{raw['sg_event_id']}:{raw['event']}"
    assert event.external_id == raw["sg_message_id"]
    assert event.email["x_message_id"] == "14c5d75ce93.dfd.64b469"
    if item["doc_anchor"] in ("bounce", "blocked"):
        assert event.email["bounce_type"] == item["doc_anchor"]
    assert event.raw == raw


def _anymail_sendgrid(test_name):
    [item] = [i for i in _load("sendgrid_events_anymail_tests.json") if i["anymail_test"] == test_name]
    return item["raw_events"]


def test_sendgrid_anymail_processed_custom_args_and_categories():
    [event] = parse_sendgrid(_anymail_sendgrid("test_processed_event"))
    assert event.idempotency_key == "ZyjAM5rnQmuI1KFInHQ3Nw:processed"
    assert event.external_id == "wrfRRvF7Q0GgwUo2CvDmEA.filter0425p1mdw1.13037.57168B4A1D.0"
    assert event.email["x_message_id"] == "wrfRRvF7Q0GgwUo2CvDmEA"
    assert event.email["message_id"] == "wrfRRvF7Q0GgwUo2CvDmEA@ismtpd0006p1sjc2.sendgrid.net"
    assert event.email["tags"] == ["tag1", "tag2"]
    # Custom args are merged into the event; anymail_id is Anymail's own custom arg.
    assert event.email["custom_args"] == {
        "anymail_id": "3c2f4df8-c6dd-4cd2-9b91-6582b81a0349",
        "custom1": "value1",
        "custom2": "value2",
    }
    assert event.email["campaign"] is None
    assert event.occurred_at == datetime.fromtimestamp(1461095246, UTC)


def test_sendgrid_anymail_delivered_ip_is_not_the_readers():
    [event] = parse_sendgrid(_anymail_sendgrid("test_delivered_event"))
    assert event.status == "delivered"
    assert event.email["ip"] == ""  # 167.89.17.173 is SendGrid's sending IP
    assert event.raw["ip"] == "167.89.17.173"
    assert event.email["reason"].startswith("250 2.0.0 OK")


def test_sendgrid_anymail_bounce_and_drops():
    [bounce] = parse_sendgrid(_anymail_sendgrid("test_bounce_event"))
    assert bounce.status == "bounce" and bounce.email["bounce_type"] == "bounce"
    assert bounce.error_code == "5.1.1"
    assert bounce.error_message == "550 5.1.1 The email account that you tried to reach does not exist."
    assert bounce.to_address == "noreply@example.com"
    [invalid] = parse_sendgrid(_anymail_sendgrid("test_dropped_invalid_event"))
    assert invalid.status == "dropped" and invalid.email["reason"] == "Invalid"
    assert invalid.to_address == "invalid@invalid"
    assert invalid.external_id == "filter0093p1las1.9128.5717FB8127.0"
    assert invalid.email["x_message_id"] == ""  # dropped before SendGrid gave it a message id
    [unsubscribed] = parse_sendgrid(_anymail_sendgrid("test_dropped_unsubscribed_event"))
    assert unsubscribed.email["reason"] == "Unsubscribed Address"


def test_sendgrid_anymail_deferred_open_click():
    [deferred] = parse_sendgrid(_anymail_sendgrid("test_deferred_event"))
    assert deferred.status == "deferred" and deferred.raw["attempt"] == "1"
    assert "IPs were throttled" in deferred.error_message
    [opened] = parse_sendgrid(_anymail_sendgrid("test_open_event"))
    assert opened.email["ip"] == "66.102.6.229"
    assert opened.email["user_agent"] == "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0"
    assert opened.email["message_id"] == ""  # open events carry no smtp-id
    [clicked] = parse_sendgrid(_anymail_sendgrid("test_click_event"))
    assert clicked.email["url"] == "http://www.example.com"
    assert clicked.email["device"] == "desktop"
    assert clicked.raw["url_offset"] == {"index": 0, "type": "html"}
    assert clicked.email["custom_args"] == {"anymail_id": "75de5af9-a090-4325-87f9-8c599ad66f60"}


def test_sendgrid_signed_batch_with_crlfs_parses():
    # sendgrid-nodejs eventwebhook.spec.js: the raw body, CRLFs between events and at the end.
    [vector] = [
        v
        for v in _load("sendgrid_signature_vectors.json")["vectors"]
        if v["name"] == "multi_event_processed_bounce_blocked"
    ]
    events = parse_sendgrid(vector["payload"].encode())
    assert [e.status for e in events] == ["processed", "bounce"]
    assert events[1].email["bounce_type"] == "blocked"
    assert events[1].error_code == "5.2.2"
    assert events[0].email["x_message_id"] == "qNwBLgPQQjW6DJvKQwSAbw"  # before ".filterdrecv-..."


def test_sendgrid_machine_open_campaign_and_categories():
    event = {
        "email": "Reader@Example.COM",
        "event": "open",
        "sg_event_id": "e1",
        "sg_message_id": "m1.filter0001",
        "timestamp": 1700000000,
        "sg_machine_open": True,
        "useragent": "Mozilla/5.0",
        "marketing_campaign_id": 123,
        "marketing_campaign_name": "Autumn newsletter",
        "category": "newsletter",
    }
    [parsed] = parse_sendgrid([event])
    assert parsed.email["machine_open"] is True  # Apple Mail Privacy Protection's prefetch
    assert parsed.email["campaign"] == "Autumn newsletter"
    assert parsed.email["tags"] == ["newsletter"]
    assert parsed.email["custom_args"] == {}
    assert parsed.to_address == "reader@example.com"
    [unnamed] = parse_sendgrid([{**event, "marketing_campaign_name": "", "sg_machine_open": "false"}])
    assert unnamed.email["campaign"] == 123 and unnamed.email["machine_open"] is False


def test_sendgrid_event_values_match_the_reference():
    # sendgrid/docs event.md, via provider_reference.json.
    assert set(REFERENCE["sendgrid"]["event_values"]) == set(SENDGRID_DOCS_EVENTS)
    batch = [
        {"event": name, "sg_event_id": f"id-{name}", "timestamp": 1} for name in REFERENCE["sendgrid"]["event_values"]
    ]
    assert [e.status for e in parse_sendgrid(batch)] == REFERENCE["sendgrid"]["event_values"]
    for bounce_type in REFERENCE["sendgrid"]["bounce_type_values"]:
        [event] = parse_sendgrid([{"event": "bounce", "sg_event_id": "b", "type": bounce_type}])
        assert event.email["bounce_type"] == bounce_type


def test_sendgrid_unknown_event_is_skipped_and_the_batch_kept(caplog):
    batch = [
        {"event": "delivered", "sg_event_id": "a"},
        {"event": "teleported", "sg_event_id": "b"},
        {"event": "open", "sg_event_id": "c"},
    ]
    with caplog.at_level(logging.WARNING, logger="messaging.parsers"):
        events = parse_sendgrid(json.dumps(batch).encode())
    assert [e.idempotency_key for e in events] == ["a:delivered", "c:open"]
    assert "teleported" in caplog.text
    assert parse_sendgrid(b"[]") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"event": "processed", "sg_event_id": "x"}', "must be a JSON array of events, got an object"),
        (b'"events"', "must be a JSON array of events, got a string"),
        (b"[{", "SendGrid Event Webhook body is not valid JSON"),
        (b"", "SendGrid Event Webhook body is not valid JSON"),
        (b"\xff", "not UTF-8"),
        (b"[" * 100_000, "nested too deeply"),
        (b'[{"event": "open", "sg_event_id": "a"}, 7]', "event #1 must be an object, got int"),
        (b'[{"sg_event_id": "a"}]', "event #0: event is missing"),
        (b'[{"event": "open"}]', r"event #0 \(open\): sg_event_id is missing"),
        (b'[{"event": "open", "sg_event_id": "a", "timestamp": "noon"}]', "timestamp must be UNIX seconds"),
    ],
)
def test_sendgrid_malformed_input_raises_a_clear_parse_error(body, message):
    with pytest.raises(ParseError, match=message):
        parse_sendgrid(body)


def test_sendgrid_x_message_id():
    assert sendgrid_x_message_id("14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0") == "14c5d75ce93.dfd.64b469"
    assert sendgrid_x_message_id("abc.recvd-5c4f4c6bb-x.0") == "abc"
    assert sendgrid_x_message_id("filter0093p1las1.9128.5717FB8127.0") == ""
    assert sendgrid_x_message_id("plain") == "plain"


# --- Mailgun -----------------------------------------------------------------------------------
# mailgun_events.json: django-anymail tests/test_mailgun_webhooks.py event-data (EXTRACTED).


def _anymail_mailgun(test_name):
    [item] = [i for i in _load("mailgun_events.json") if i["anymail_test"] == test_name]
    return item["payload"]


@pytest.mark.parametrize("item", _load("mailgun_events.json"), ids=lambda item: item["anymail_test"])
def test_mailgun_every_fixture_parses(item):
    [event] = parse_mailgun(item["payload"])
    _check_event(event)
    assert event.provider == "mailgun" and event.channel == "email" and event.direction == "outbound"
    data = item["payload"]["event-data"]
    assert event.raw == data
    assert event.occurred_at == datetime.fromtimestamp(data["timestamp"], UTC)
    assert event.idempotency_key.endswith(f":{data['event']}")
    assert parse_mailgun(json.dumps(item["payload"]).encode()) == [event]  # the raw body parses alike


def test_mailgun_failed_permanent_is_a_bounce():
    [event] = parse_mailgun(_anymail_mailgun("test_failed_permanent_event"))
    assert event.status == "bounce" and event.email["bounce_type"] == "permanent"
    assert event.external_id == "20180812214658.1.0DF563D0B3597700@example.org"
    assert event.to_address == "invalid@example.com"
    assert event.error_code == "550"
    assert event.error_message.startswith("5.1.1 The email account that you tried to reach does not exist.")
    assert event.occurred_at == datetime(2018, 8, 12, 21, 47, 2, 389832, tzinfo=UTC)
    assert event.from_address == ""  # "Test Sender " has no address


def test_mailgun_failed_temporary_is_deferred():
    [event] = parse_mailgun(_anymail_mailgun("test_failed_temporary_event"))
    assert event.status == "deferred" and event.email["bounce_type"] == "temporary"
    assert event.error_code == "498" and event.error_message == "No MX for nomx.example.com"
    assert event.to_address == "undeliverable@nomx.example.com"


def test_mailgun_complained_and_unsubscribed_use_the_event_id():
    [complained] = parse_mailgun(_anymail_mailgun("test_complained_event"))
    assert complained.status == "spamreport"
    assert complained.idempotency_key == "ncV2XwymRUKbPek_MIM-Gw:complained"
    assert complained.external_id == "20130718032413.263EE2E0926@example.org"
    assert complained.from_address == "sender@example.org"
    assert complained.to_address == "recipient@example.com"
    [unsubscribed] = parse_mailgun(_anymail_mailgun("test_unsubscribed_event"))
    assert unsubscribed.status == "unsubscribe"
    assert unsubscribed.idempotency_key == "W3X4JOhFT-OZidZGKKr9iA:unsubscribed"
    assert unsubscribed.external_id == "20130822232216.13966.79700@samples.mailgun.org"


def test_mailgun_opened_tags_variables_client():
    [event] = parse_mailgun(_anymail_mailgun("test_opened_event"))
    assert event.status == "open"
    assert event.email["tags"] == ["welcome", "variation-A"]
    assert event.email["custom_args"] == {"cohort": "2018-08-B", "user_id": "123456"}
    assert event.email["ip"] == "888.222.444.111"
    assert event.email["user_agent"] == "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_6)..."
    assert event.email["device"] == "desktop"  # client-info.device-type
    assert event.external_id == "20180812213139.1.BC6694A917BB7E6A@example.org"


def test_mailgun_clicked_without_message_headers():
    [event] = parse_mailgun(_anymail_mailgun("test_clicked_event"))
    assert event.status == "click" and event.email["url"] == "https://example.com/test"
    assert event.external_id == ""  # anymail's trimmed payload has no message block


def test_mailgun_rejected_takes_the_recipient_from_the_to_header():
    [event] = parse_mailgun(_anymail_mailgun("test_rejected_event"))
    assert event.status == "dropped"
    assert event.to_address == "recipient@example.org"
    assert event.from_address == "test@sandbox55887.mailgun.org"
    assert event.error_message == "Sandbox subdomains are for test purposes only."


def test_mailgun_key_without_id_is_a_stable_digest():
    payload = _anymail_mailgun("test_opened_event")
    [first] = parse_mailgun(payload)
    [again] = parse_mailgun(json.loads(json.dumps(payload, sort_keys=False)))
    assert first.idempotency_key == again.idempotency_key
    assert first.idempotency_key.startswith("sha256:") and first.idempotency_key.endswith(":opened")
    changed = json.loads(json.dumps(payload))
    changed["event-data"]["timestamp"] += 1
    assert parse_mailgun(changed)[0].idempotency_key != first.idempotency_key
    keys = {parse_mailgun(item["payload"])[0].idempotency_key for item in _load("mailgun_events.json")}
    assert len(keys) == len(_load("mailgun_events.json"))


MAILGUN_NORMALIZED = {
    "accepted": "processed",
    "rejected": "dropped",
    "delivered": "delivered",
    "failed": "bounce",
    "opened": "open",
    "clicked": "click",
    "unsubscribed": "unsubscribe",
    "complained": "spamreport",
    "stored": "stored",
}


@pytest.mark.parametrize("name", REFERENCE["mailgun"]["event_values"])
def test_mailgun_every_documented_event_is_handled(name):
    # django-anymail's event map and Mailgun's webhook payload docs, via provider_reference.json.
    payload = {"event-data": {"event": name, "id": f"id-{name}", "timestamp": 1700000000.5, "recipient": "R@X.com"}}
    [event] = parse_mailgun(payload)
    _check_event(event)
    assert event.status == MAILGUN_NORMALIZED[name]
    assert event.idempotency_key == f"id-{name}:{name}"
    assert event.to_address == "r@x.com"
    assert event.occurred_at == datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)


@pytest.mark.parametrize("severity", REFERENCE["mailgun"]["failed_severity_values"])
def test_mailgun_every_failure_severity_is_handled(severity):
    [event] = parse_mailgun({"event-data": {"event": "failed", "id": "f", "severity": severity}})
    assert event.email["bounce_type"] == severity
    assert event.status == ("bounce" if severity == "permanent" else "deferred")


def test_mailgun_message_id_loses_its_angle_brackets():
    data = {"event": "delivered", "id": "d", "message": {"headers": {"message-id": "<abc@mg.example.org>"}}}
    [event] = parse_mailgun({"event-data": data})
    assert event.external_id == "abc@mg.example.org" == event.email["message_id"]


def test_mailgun_unknown_event_is_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="messaging.parsers"):
        assert parse_mailgun({"event-data": {"event": "list_member_uploaded", "id": "x"}}) == []
    assert "list_member_uploaded" in caplog.text


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"nope", "Mailgun webhook body is not valid JSON"),
        (b"[]", "body must be a JSON object, got an array"),
        ({"signature": {}}, "'event-data' object is missing"),
        ({"event": "delivered", "token": "t"}, "legacy form webhooks are not supported"),
        ({"event-data": []}, "'event-data' object is missing"),
        ({"event-data": {"id": "x"}}, "event-data.event is missing"),
        ({"event-data": {"event": "opened", "timestamp": "later"}}, "event-data.timestamp must be UNIX seconds"),
        ({"event-data": {"event": "opened", "id": ["x"]}}, "event-data.id must be a string"),
    ],
)
def test_mailgun_malformed_input_raises_a_clear_parse_error(payload, message):
    with pytest.raises(ParseError, match=message):
        parse_mailgun(payload)


# --- Keys across every fixture -----------------------------------------------------------------


def _all_fixture_events():
    for path in sorted(FIXTURES.glob("twilio_*.txt")):
        parse = parse_twilio_voice if "voice" in path.name else parse_twilio_sms
        yield from parse(_form(path.name))
    for path in sorted(FIXTURES.glob("whatsapp_*.json")):
        if "signature" not in path.name:
            yield from parse_whatsapp(_load(path.name))
    yield from parse_sendgrid((FIXTURES / "sendgrid_events.json").read_bytes())
    for item in _load("sendgrid_events_docs_per_event.json"):
        yield from parse_sendgrid(item["payload"])
    for item in _load("sendgrid_events_anymail_tests.json"):
        yield from parse_sendgrid(item["raw_events"])
    for item in _load("mailgun_events.json"):
        yield from parse_mailgun(item["payload"])


def test_every_fixture_yields_valid_events():
    events = list(_all_fixture_events())
    assert len(events) == 10 + 9 + 11 + 12 + 10 + 7
    for event in events:
        _check_event(event)


def test_a_key_names_exactly_one_event_across_all_fixtures():
    """Same key -> same event. The fixtures reuse ids across files (pywa's "wamid.xyzxyz", the
    SendGrid docs' ids for bounce and blocked, anymail's ids for two delivered events), so where a
    key repeats, the event it names must be the same one: same id, same status."""
    seen = {}
    for event in _all_fixture_events():
        identity = (event.provider, event.kind, event.external_id, event.raw.get("MessageStatus") or event.status)
        key = (event.provider, event.idempotency_key)
        assert seen.setdefault(key, identity) == identity, key
    assert len(seen) >= 40


# --- Status order ------------------------------------------------------------------------------

ORDER = ["", "queued", "sent", "delivered", "read", "failed", "undelivered", "canceled", "bogus"]
# Row: the current status; column: the new one (same order). 1 = advances.
ADVANCES = """
        ""  que sen del rea fai und can bog
""      0   1   1   1   1   1   1   1   0
queued  0   0   1   1   1   1   1   1   0
sent    0   0   0   1   1   1   1   1   0
deliv   0   0   0   0   1   0   0   0   0
read    0   0   0   0   0   0   0   0   0
failed  0   0   0   1   1   0   0   0   0
undel   0   0   0   1   1   0   0   0   0
cancel  0   0   0   1   1   0   0   0   0
bogus   0   1   1   1   1   1   1   1   0
"""


def _matrix():
    rows = [line.split()[1:] for line in ADVANCES.strip().splitlines()[1:]]
    return {
        (current, new): flag == "1"
        for current, row in zip(ORDER, rows, strict=True)
        for new, flag in zip(ORDER, row, strict=True)
    }


@pytest.mark.parametrize(("current", "new"), [(c, n) for c in ORDER for n in ORDER])
def test_advances_every_pair(current, new):
    assert advances(current, new) is _matrix()[(current, new)]


def test_status_rank_and_terminals():
    assert STATUS_RANK == {"queued": 0, "sent": 1, "delivered": 2, "read": 3}
    assert TERMINAL_STATUSES == {"failed", "undelivered", "canceled"}
    assert set(ORDER) >= set(STATUS_RANK) | TERMINAL_STATUSES


# --- Devices -----------------------------------------------------------------------------------

_WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0"
USER_AGENTS = {
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148": "mobile",
    "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148": "tablet",
    f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {_WEBKIT} Mobile Safari/537.36": "mobile",
    f"Mozilla/5.0 (Linux; Android 13; SM-X700) {_WEBKIT} Safari/537.36": "tablet",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)": "bot",
    # The SendGrid docs' and anymail's open/click user agents (fixtures above):
    "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322; .NET CLR 2.0.50727)": "desktop",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_4) AppleWebKit/537.36": "desktop",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0": "desktop",
    # Gmail's image proxy (seen in real SendGrid open events):
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)": "proxy",
    "curl/8.4.0": "",
    "": "",
}


@pytest.mark.parametrize(("user_agent", "device"), USER_AGENTS.items())
def test_device_of_with_the_user_agents_package(user_agent, device):
    pytest.importorskip("user_agents")
    assert device_of(user_agent) == device


@pytest.mark.parametrize(("user_agent", "device"), USER_AGENTS.items())
def test_device_of_without_the_user_agents_package(monkeypatch, user_agent, device):
    monkeypatch.setattr(parsers, "_user_agents", lambda: None)
    assert device_of(user_agent) == device


def test_device_of_tolerates_non_strings():
    assert device_of(None) == ""


def test_parse_errors_echo_received_values_shortened():
    with pytest.raises(ParseError) as caught:
        parse_whatsapp({"object": "x" * 500, "entry": []})
    assert len(str(caught.value)) < 150 and str(caught.value).endswith("...")


def test_parse_error_is_a_value_error():
    assert issubclass(ParseError, ValueError)
    with pytest.raises(ValueError, match="CallSid"):
        parse_twilio_voice(urlencode({"CallStatus": "completed"}))
