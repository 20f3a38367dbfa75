"""Webhook payload parsers: one received delivery in, a list of normalized :class:`ChannelEvent` out.

Pure functions: no database, no models, no I/O. Each parser takes the delivery as received (a
form body, a JSON document, or the raw bytes of either) and answers the events it holds, in the
order the provider listed them. A delivery that is not what the provider sends raises
:class:`ParseError`, whose message says what is wrong and is fit for a 400 response.

Decisions
---------
Unknown types are skipped, not errors.
    A well-formed delivery whose event type or status value this module does not know (a new
    SendGrid event, a Mailgun event such as ``list_member_uploaded``, a WhatsApp status other than
    the documented ones, a Twilio status added later) yields no event for that item, and a warning
    is logged on ``messaging.parsers``. The delivery itself is stored before it is parsed, so
    nothing is lost; refusing it would make the provider retry a batch that can never succeed
    (and SendGrid batches many events, most of them known). Only a *missing* type field, a
    missing id, or a wrong shape is a :class:`ParseError`.
    Exception: a WhatsApp *message* of an unknown ``type`` is kept (``message_type`` is the type
    as sent, ``body`` the ``body``/``text``/``caption`` found under it, if any): it is something a
    client wrote, and dropping it would hide it from the timeline.
    Values that are documented but carry nothing for a timeline are *ignored* silently: the
    legacy On-Premises WhatsApp status ``deleted``.

Idempotency keys are unique per provider and stable across redeliveries.
    Twilio voice ``<CallSid>:<CallStatus>``; Twilio messages ``<MessageSid>:received`` (inbound)
    and ``<MessageSid>:<MessageStatus>`` (status); WhatsApp ``<wamid>:received`` and
    ``<wamid>:<status>``; SendGrid ``<sg_event_id>:<event>``; Mailgun ``<event-data id>:<event>``.
    The status or event in each key is the provider's own value, lower-cased, before
    normalization. The ``:<event>`` suffix on the email keys is redundant for real payloads
    (SendGrid's ``sg_event_id`` and Mailgun's ``id`` are per event already) but keeps placeholder
    payloads, such as SendGrid's documentation example whose events all say
    ``"sg_event_id": "sg_event_id"``, from collapsing into one event. A Mailgun event-data without
    an ``id`` (django-anymail's trimmed test payloads have none) is keyed by
    ``sha256:<hex of its canonical JSON>:<event>``, which a redelivery reproduces.

Addresses.
    Phone numbers are kept as given (the caller normalizes to E.164), except that Twilio's
    ``whatsapp:`` channel prefix is removed: it is what makes the channel ``"whatsapp"``, and the
    raw value stays in ``raw``. WhatsApp Cloud API numbers are digits without ``+``, as sent.
    Email addresses are lower-cased; a header such as ``Name <a@b.c>`` gives ``a@b.c``.

Statuses are normalized (the provider's value stays in ``raw``):
    messages: ``queued`` (Twilio accepted, scheduled, queued, sending), ``sent``, ``delivered``
    (Twilio partially_delivered too), ``read`` (WhatsApp ``played``, a voice note played, too),
    ``failed``, ``undelivered``, ``canceled``; inbound messages have ``received``.
    calls: ``queued``, ``initiated``, ``ringing``, ``in-progress`` (the ``answered`` event too),
    ``completed``, ``busy``, ``no-answer``, ``failed``, ``canceled``.
    email: SendGrid's event names (``processed``, ``dropped``, ``delivered``, ``deferred``,
    ``bounce``, ``open``, ``click``, ``spamreport``, ``unsubscribe``, ``group_unsubscribe``,
    ``group_resubscribe``) plus ``stored``; Mailgun's are mapped onto them as django-anymail maps
    both to one vocabulary: accepted -> processed, rejected -> dropped, opened -> open,
    clicked -> click, unsubscribed -> unsubscribe, complained -> spamreport, failed with severity
    ``permanent`` -> bounce and ``temporary`` -> deferred (it will be retried). The severity is
    kept as ``email["bounce_type"]``; for SendGrid that is the bounce ``type`` (bounce|blocked).

Status order (:func:`advances`): ``queued < sent < delivered < read``; ``failed``,
``undelivered`` and ``canceled`` are terminal errors.
    A failure advances a message that was not yet delivered (queued or sent). A failure after
    ``delivered`` or ``read`` does not lower it (the caller records it in the history only); a
    second failure does not replace the first. Proof of arrival wins over a failure report:
    ``delivered`` or ``read`` after a failure advances it (receipts arrive out of order), while a
    late ``queued`` or ``sent`` does not. Nothing advances to an unknown status; any known status
    advances from none (``""``).

Sources mirrored: django-anymail ``anymail/webhooks/sendgrid.py`` and ``anymail/webhooks/mailgun.py``
(event mapping, custom-args recovery, message-id handling, the recipient of a rejected event),
david-lev/pywa ``pywa/types/message.py``, ``others.py`` and ``message_status.py`` (WhatsApp
message types, context, errors at value or item level), Twilio's voice and messaging webhook
parameters as twilio-python's ``CallInstance`` / ``MessageInstance`` enumerate their values.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime
from urllib.parse import parse_qsl

from traf3li.api.parsers import TooDeep, loads_bounded

__all__ = [
    "CALL_STATUSES",
    "EMAIL_STATUSES",
    "MESSAGE_STATUSES",
    "STATUS_RANK",
    "TERMINAL_STATUSES",
    "ChannelEvent",
    "ParseError",
    "advances",
    "device_of",
    "parse_mailgun",
    "parse_sendgrid",
    "parse_twilio_sms",
    "parse_twilio_voice",
    "parse_whatsapp",
    "sendgrid_x_message_id",
]

log = logging.getLogger(__name__)


class ParseError(ValueError):
    """The delivery is not what the provider sends; the message says why (it becomes a 400)."""


@dataclass(frozen=True)
class ChannelEvent:
    """One normalized event. Frozen; not hashable (``media``, ``email`` and ``raw`` hold dicts)."""

    provider: str  # "twilio" | "whatsapp" | "sendgrid" | "mailgun"
    channel: str  # "sms" | "whatsapp" | "call" | "email"
    kind: str  # "message" | "status" | "call" | "email_event"
    idempotency_key: str  # unique per provider for this event (see the module docstring)
    external_id: str  # MessageSid, CallSid, wamid..., sg_message_id, Mailgun Message-Id (no <>)
    occurred_at: datetime | None  # UTC, when the payload carries a time
    direction: str = ""  # "inbound" | "outbound" | ""
    status: str = ""  # normalized (module docstring); inbound messages: "received"
    from_address: str = ""
    to_address: str = ""
    body: str = ""
    message_type: str = ""  # text|image|video|audio|document|sticker|interactive|button|location|...
    media: tuple = ()  # dicts: {"url"|"id", "content_type", "filename"?, "sha256"?, "voice"?}
    error_code: str = ""
    error_message: str = ""
    duration_seconds: int | None = None  # calls: CallDuration
    answered_by: str = ""  # Twilio AnsweredBy
    recording_url: str = ""
    # Email events: url, user_agent, ip, bounce_type, reason, machine_open, campaign, device, tags,
    # custom_args, message_id (every key present); SendGrid adds x_message_id and asm_group_id.
    email: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)  # the provider's own fields for this event, as parsed
    # Additions to the brief's shape, all from the payloads:
    contact_name: str = ""  # WhatsApp contacts[].profile.name, Twilio ProfileName
    reply_to: str = ""  # the message this one answers or reacts to (WhatsApp context.id, Twilio)
    reply_payload: str = ""  # button/list reply id, template quick-reply payload (the callback data)


# --- Statuses ----------------------------------------------------------------------------------

STATUS_RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3}
TERMINAL_STATUSES = frozenset({"failed", "undelivered", "canceled"})
MESSAGE_STATUSES = frozenset(STATUS_RANK) | TERMINAL_STATUSES | {"received"}
CALL_STATUSES = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"}
)
EMAIL_STATUSES = frozenset(
    {
        "processed",
        "dropped",
        "delivered",
        "deferred",
        "bounce",
        "open",
        "click",
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
        "group_resubscribe",
        "stored",
    }
)


def advances(current: str, new: str) -> bool:
    """Whether a message whose status is ``current`` should take ``new`` (both normalized).

    See the module docstring for the order; every status still belongs in the history.
    """
    if new == current:
        return False
    if new in STATUS_RANK:
        if current in STATUS_RANK:
            return STATUS_RANK[new] > STATUS_RANK[current]
        if current in TERMINAL_STATUSES:
            return STATUS_RANK[new] >= STATUS_RANK["delivered"]
        return True  # from none (or an unknown value) to a known status
    if new in TERMINAL_STATUSES:
        if current in STATUS_RANK:
            return STATUS_RANK[current] < STATUS_RANK["delivered"]
        return current not in TERMINAL_STATUSES
    return False


# --- Shared helpers ----------------------------------------------------------------------------


def whatsapp_phone_number_ids(payload) -> set[str]:
    """The business numbers (``metadata.phone_number_id``) a Cloud API notification is for.

    Raises ``ParseError`` when it isn't a ``whatsapp_business_account`` notification; parts of
    another shape are passed over (``parse_whatsapp`` names them when the delivery is processed)."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise ParseError("Not a WhatsApp Business Account notification (object must be 'whatsapp_business_account').")
    numbers = set()
    for entry in payload.get("entry") if isinstance(payload.get("entry"), list) else []:
        for change in entry.get("changes") or [] if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            metadata = value.get("metadata") if isinstance(value, dict) else None
            if isinstance(metadata, dict) and metadata.get("phone_number_id"):
                numbers.add(str(metadata["phone_number_id"]))
    return numbers


def load_json(data, provider: str):
    """``data`` as parsed JSON: bytes and str are decoded (under the API's depth limit), anything
    else is taken as parsed. Raises ``ParseError`` with a message fit for a 400."""
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"{provider} body is not UTF-8: {exc}") from None
    if isinstance(data, str):
        try:
            return loads_bounded(data)
        except TooDeep:
            raise ParseError(f"{provider} body is nested too deeply") from None
        except ValueError as exc:
            raise ParseError(f"{provider} body is not valid JSON: {exc}") from None
    return data


def _show(value, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: error messages echo what was received."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind_of(value) -> str:
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), type(value).__name__)


def _form(form, provider: str) -> dict[str, str]:
    """A Twilio form as a dict, first value of each name; accepts pairs, a mapping or the raw body."""
    if isinstance(form, bytes | bytearray | memoryview):
        try:
            form = bytes(form).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError(f"{provider} form body is not UTF-8: {exc}") from None
    if isinstance(form, str):
        form = parse_qsl(form, keep_blank_values=True)
    elif isinstance(form, Mapping):
        form = form.items()
    if not isinstance(form, Iterable):
        raise ParseError(f"{provider} form must be name/value pairs, got {_kind_of(form)}")
    params: dict[str, str] = {}
    for pair in form:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ParseError(f"{provider} form must be name/value pairs, got {_show(pair)}")
        name, value = pair
        if isinstance(value, list | tuple):  # a multi-value mapping such as QueryDict.lists()
            value = value[0] if value else ""
        params.setdefault(str(name), "" if value is None else str(value))
    return params


def _epoch(value, what: str) -> datetime | None:
    """UNIX seconds (int, float or numeric string) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ParseError(f"{what} must be UNIX seconds, got {_show(value)}")
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise ParseError(f"{what} must be UNIX seconds, got {_show(value)}") from None


def _required(value, what: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ParseError(f"{what} is missing")
    if not isinstance(value, str | int):
        raise ParseError(f"{what} must be a string, got {_kind_of(value)}")
    return str(value).strip()


def _email_address(value) -> str:
    """The address of an email header value, lower-cased; "" when it holds none."""
    if not isinstance(value, str) or not value.strip():
        return ""
    for _name, address in getaddresses([value]):
        if "@" in address:
            return address.strip().lower()
    return ""


def _strip_brackets(message_id) -> str:
    if not isinstance(message_id, str):
        return ""
    message_id = message_id.strip()
    if message_id.startswith("<") and message_id.endswith(">"):
        message_id = message_id[1:-1].strip()
    return message_id


def _skip(provider: str, what: str, value) -> None:
    log.warning("%s: skipped an event of unknown %s %s", provider, what, _show(value))


# --- Devices -----------------------------------------------------------------------------------

# Mail clients' image proxies fetch the open pixel with a fixed, fake user agent.
_PROXIES = ("GoogleImageProxy", "YahooMailProxy")
_BOT = re.compile(r"bot\b|spider|crawl|slurp|preview", re.IGNORECASE)
_TABLET = re.compile(r"iPad|Tablet|PlayBook|Kindle|Silk|Android(?!.*Mobile)", re.IGNORECASE)
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Android|Windows Phone|BlackBerry|Opera Mini", re.IGNORECASE)
_DESKTOP = re.compile(r"Windows|Macintosh|Mac OS X|X11|Linux|CrOS", re.IGNORECASE)


@functools.cache
def _user_agents():
    try:
        import user_agents
    except ImportError:
        return None
    return user_agents


def _device_heuristic(user_agent: str) -> str:
    if _BOT.search(user_agent):
        return "bot"
    if _TABLET.search(user_agent):
        return "tablet"
    if _MOBILE.search(user_agent):
        return "mobile"
    if _DESKTOP.search(user_agent):
        return "desktop"
    return ""


def device_of(user_agent: str) -> str:
    """``"mobile"``, ``"tablet"``, ``"desktop"``, ``"bot"``, ``"proxy"`` or ``""`` (unknown).

    Uses the ``user-agents`` package when it is installed and has an answer, otherwise a small
    pattern match. ``"proxy"`` is a mail provider's image proxy (Gmail's, Yahoo's): the open was
    real but says nothing about the reader's device.
    """
    if not isinstance(user_agent, str) or not user_agent.strip():
        return ""
    if any(proxy in user_agent for proxy in _PROXIES):
        return "proxy"
    module = _user_agents()
    if module is not None:
        parsed = module.parse(user_agent)
        if parsed.is_bot:
            return "bot"
        if parsed.is_tablet:
            return "tablet"
        if parsed.is_mobile:
            return "mobile"
        if parsed.is_pc:
            return "desktop"
    return _device_heuristic(user_agent)


# --- Twilio ------------------------------------------------------------------------------------

_TWILIO_CALL_STATUS = {
    "queued": "queued",
    "initiated": "initiated",
    "ringing": "ringing",
    "in-progress": "in-progress",
    "answered": "in-progress",
    "completed": "completed",
    "busy": "busy",
    "no-answer": "no-answer",
    "failed": "failed",
    "canceled": "canceled",
}
_TWILIO_CALL_DIRECTION = {
    "inbound": "inbound",
    "trunking-originating": "inbound",  # from the PSTN into the trunk
    "outbound-api": "outbound",
    "outbound-dial": "outbound",
    "trunking-terminating": "outbound",  # from the trunk out to the PSTN
}
_TWILIO_MESSAGE_STATUS = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "partially_delivered": "delivered",
    "read": "read",
    "failed": "failed",
    "undelivered": "undelivered",
    "canceled": "canceled",
}
_TWILIO_INBOUND = frozenset({"received", "receiving"})
_WHATSAPP_PREFIX = "whatsapp:"
_MEDIA_URL = re.compile(r"MediaUrl(\d+)")


def _int_param(params: dict, name: str, provider: str) -> int | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ParseError(f"{provider} {name} must be a whole number of seconds, got {_show(value)}")
    return int(value)


def parse_twilio_voice(form) -> list[ChannelEvent]:
    """A Twilio voice status callback (or the incoming-call webhook): one ``call`` event.

    ``form`` is the parsed body (``parse_qsl(body, keep_blank_values=True)``), a mapping, or the
    raw body. The first value of a repeated name is used.
    """
    provider = "Twilio voice callback"
    params = _form(form, provider)
    call_sid = _required(params.get("CallSid"), f"{provider}: CallSid")
    raw_status = _required(params.get("CallStatus"), f"{provider}: CallStatus").lower()
    status = _TWILIO_CALL_STATUS.get(raw_status)
    if status is None:
        _skip("twilio", "CallStatus", raw_status)
        return []
    occurred_at = None
    if params.get("Timestamp", "").strip():
        try:
            occurred_at = parsedate_to_datetime(params["Timestamp"])
        except (TypeError, ValueError):
            raise ParseError(f"{provider}: Timestamp is not an RFC 2822 date: {_show(params['Timestamp'])}") from None
        if occurred_at.tzinfo is None:  # "-0000": UTC, with no claim about the local zone
            occurred_at = occurred_at.replace(tzinfo=UTC)
        occurred_at = occurred_at.astimezone(UTC)
    return [
        ChannelEvent(
            provider="twilio",
            channel="call",
            kind="call",
            idempotency_key=f"{call_sid}:{raw_status}",
            external_id=call_sid,
            occurred_at=occurred_at,
            direction=_TWILIO_CALL_DIRECTION.get(params.get("Direction", "").strip().lower(), ""),
            status=status,
            from_address=params.get("From", "").strip(),
            to_address=params.get("To", "").strip(),
            error_code=params.get("ErrorCode", "").strip(),
            error_message=params.get("ErrorMessage", "").strip(),
            duration_seconds=_int_param(params, "CallDuration", provider),
            answered_by=params.get("AnsweredBy", "").strip(),
            recording_url=params.get("RecordingUrl", "").strip(),
            raw=params,
        )
    ]


def _twilio_address(value: str) -> tuple[str, bool]:
    value = value.strip()
    if value.lower().startswith(_WHATSAPP_PREFIX):
        return value[len(_WHATSAPP_PREFIX) :].strip(), True
    return value, False


def _twilio_media(params: dict, provider: str) -> tuple:
    count = params.get("NumMedia", "").strip()
    if count and not count.isdigit():
        raise ParseError(f"{provider}: NumMedia must be a whole number, got {_show(count)}")
    indexes = sorted(int(m.group(1)) for name in params if (m := _MEDIA_URL.fullmatch(name)))
    media = []
    for index in indexes:
        url = params[f"MediaUrl{index}"].strip()
        if url:
            media.append({"url": url, "content_type": params.get(f"MediaContentType{index}", "").strip()})
    return tuple(media)


def _twilio_message_type(params: dict, media: tuple) -> str:
    if params.get("MessageType", "").strip():  # sent on WhatsApp messages: text, image, button, ...
        return params["MessageType"].strip().lower()
    if params.get("ButtonPayload", "").strip():
        return "button"
    if params.get("Latitude", "").strip() and params.get("Longitude", "").strip():
        return "location"
    if media:
        content_type = media[0]["content_type"].lower()
        kind = content_type.split("/", 1)[0]
        if kind in ("image", "video", "audio"):
            return kind
        return "document" if content_type else "media"
    return "text"


def parse_twilio_sms(form) -> list[ChannelEvent]:
    """A Twilio messaging webhook: an inbound SMS/MMS/WhatsApp message or a status callback.

    A form whose status (``MessageStatus``, else ``SmsStatus``) is ``received`` (or
    ``receiving``), or that has no status but a ``Body``, is an inbound ``message``; any other
    status makes a ``status`` event of an outbound message. ``whatsapp:`` on From/To (or
    ``ChannelPrefix=whatsapp``) makes the channel ``"whatsapp"``.
    """
    provider = "Twilio messaging webhook"
    params = _form(form, provider)
    sid = (params.get("MessageSid") or params.get("SmsSid") or params.get("SmsMessageSid") or "").strip()
    sid = _required(sid, f"{provider}: MessageSid (or SmsSid)")
    raw_status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    from_address, from_whatsapp = _twilio_address(params.get("From", ""))
    to_address, to_whatsapp = _twilio_address(params.get("To", ""))
    whatsapp = from_whatsapp or to_whatsapp or params.get("ChannelPrefix", "").strip().lower() == "whatsapp"
    channel = "whatsapp" if whatsapp else "sms"
    common = {
        "provider": "twilio",
        "channel": channel,
        "external_id": sid,
        "occurred_at": None,  # Twilio's messaging webhooks carry no event time
        "from_address": from_address,
        "to_address": to_address,
        "error_code": params.get("ErrorCode", "").strip(),
        "error_message": params.get("ErrorMessage", "").strip(),
        "raw": params,
    }
    if raw_status in _TWILIO_INBOUND or (not raw_status and "Body" in params):
        media = _twilio_media(params, provider)
        body = params.get("Body", "")
        if not body and params.get("ButtonText"):
            body = params["ButtonText"]
        return [
            ChannelEvent(
                kind="message",
                idempotency_key=f"{sid}:received",
                direction="inbound",
                status="received",
                body=body,
                message_type=_twilio_message_type(params, media),
                media=media,
                contact_name=params.get("ProfileName", "").strip(),
                reply_to=params.get("OriginalRepliedMessageSid", "").strip(),
                reply_payload=params.get("ButtonPayload", "").strip(),
                **common,
            )
        ]
    if not raw_status:
        raise ParseError(f"{provider}: MessageStatus is missing (and there is no Body: not an inbound message)")
    status = _TWILIO_MESSAGE_STATUS.get(raw_status)
    if status is None:
        _skip("twilio", "MessageStatus", raw_status)
        return []
    return [
        ChannelEvent(
            kind="status", idempotency_key=f"{sid}:{raw_status}", direction="outbound", status=status, **common
        )
    ]


# --- WhatsApp (Meta Cloud API) -----------------------------------------------------------------

_WHATSAPP_STATUS = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read", "failed": "failed"}
_WHATSAPP_IGNORED_STATUSES = frozenset({"deleted"})  # legacy On-Premises API only
_WHATSAPP_MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


def _list(value, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError(f"{what} must be an array, got {_kind_of(value)}")
    return value


def _dict(value, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError(f"{what} must be an object, got {_kind_of(value)}")
    return value


def _whatsapp_error(errors) -> tuple[str, str]:
    """(code, message) of the first error of a WhatsApp ``errors`` array."""
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return "", ""
    error = errors[0]
    code = error.get("code")
    message = str(error.get("title") or error.get("message") or "")
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else None
    if details and details != message:
        message = f"{message}: {details}" if message else str(details)
    return ("" if code is None else str(code)), message


def _whatsapp_content(message: dict, msg_type: str) -> dict:
    """body, media, reply_to and reply_payload of one inbound message, by its type (as pywa reads them)."""
    content = message.get(msg_type)
    content = content if isinstance(content, dict) else {}
    out: dict = {"body": "", "media": (), "reply_payload": ""}
    if msg_type == "text":
        out["body"] = str(content.get("body") or "")
    elif msg_type in _WHATSAPP_MEDIA_TYPES:
        item = {"id": str(content.get("id") or ""), "content_type": str(content.get("mime_type") or "")}
        for key in ("url", "filename", "sha256"):
            if content.get(key):
                item[key] = content[key]
        if msg_type == "audio" and "voice" in content:
            item["voice"] = bool(content["voice"])
        if msg_type == "sticker" and "animated" in content:
            item["animated"] = bool(content["animated"])
        out["media"] = (item,)
        out["body"] = str(content.get("caption") or "")
    elif msg_type == "interactive":
        reply_type = content.get("type")
        reply = content.get(reply_type) if isinstance(reply_type, str) else None
        if isinstance(reply, dict):
            if reply_type == "nfm_reply":  # a Flow's completion: its answers are JSON in response_json
                out["body"] = str(reply.get("body") or "")
                out["reply_payload"] = str(reply.get("response_json") or "")
            else:  # button_reply, list_reply
                out["body"] = str(reply.get("title") or "")
                out["reply_payload"] = str(reply.get("id") or "")
    elif msg_type == "button":  # a template's quick-reply button
        out["body"] = str(content.get("text") or "")
        out["reply_payload"] = str(content.get("payload") or "")
    elif msg_type == "reaction":
        out["body"] = str(content.get("emoji") or "")  # "" when a reaction is removed
        out["reply_to"] = str(content.get("message_id") or "")
    elif msg_type == "location":
        text = ", ".join(str(content[key]) for key in ("name", "address") if content.get(key))
        if not text and content.get("latitude") is not None and content.get("longitude") is not None:
            text = f"{content['latitude']},{content['longitude']}"
        out["body"] = text
    elif msg_type == "contacts":
        contacts = message.get("contacts") if isinstance(message.get("contacts"), list) else []
        names = [
            str((c.get("name") or {}).get("formatted_name") or "")
            for c in contacts
            if isinstance(c, dict) and isinstance(c.get("name"), dict)
        ]
        out["body"] = ", ".join(name for name in names if name)
    elif msg_type in ("order", "system"):
        out["body"] = str(content.get("text") or content.get("body") or "")
    else:  # unsupported, request_welcome, or a type added after this was written
        out["body"] = str(content.get("body") or content.get("text") or content.get("caption") or "")
    return out


def parse_whatsapp(payload) -> list[ChannelEvent]:
    """A Meta WhatsApp Cloud API webhook: inbound messages and statuses of outbound ones.

    ``payload`` is the parsed JSON (or its bytes). Changes whose ``field`` is not ``messages``
    (template, account and quality updates) carry no timeline events and are skipped. Every
    event's ``raw`` is the provider's message or status object plus ``phone_number_id``,
    ``display_phone_number`` (from ``metadata``) and ``waba_id`` (the entry's id), which route
    the delivery to its account.
    """
    provider = "WhatsApp webhook"
    payload = load_json(payload, provider)
    if not isinstance(payload, dict):
        raise ParseError(f"{provider} body must be a JSON object, got {_kind_of(payload)}")
    if payload.get("object") != "whatsapp_business_account":
        raise ParseError(f"{provider}: object must be 'whatsapp_business_account', got {_show(payload.get('object'))}")
    if "entry" not in payload:
        raise ParseError(f"{provider}: entry is missing")
    events: list[ChannelEvent] = []
    for e, entry in enumerate(_list(payload["entry"], f"{provider}: entry")):
        entry = _dict(entry, f"{provider}: entry[{e}]")
        for c, change in enumerate(_list(entry.get("changes"), f"{provider}: entry[{e}].changes")):
            where = f"{provider}: entry[{e}].changes[{c}]"
            change = _dict(change, where)
            if change.get("field", "messages") != "messages":
                continue
            value = _dict(change.get("value"), f"{where}.value")
            metadata = _dict(value.get("metadata"), f"{where}.value.metadata")
            routing = {
                "phone_number_id": str(metadata.get("phone_number_id") or ""),
                "display_phone_number": str(metadata.get("display_phone_number") or ""),
                "waba_id": str(entry.get("id") or ""),
            }
            names = {}
            for contact in _list(value.get("contacts"), f"{where}.value.contacts"):
                if isinstance(contact, dict) and isinstance(contact.get("profile"), dict):
                    names[str(contact.get("wa_id") or "")] = str(contact["profile"].get("name") or "")
            for m, message in enumerate(_list(value.get("messages"), f"{where}.value.messages")):
                events.append(_whatsapp_message(message, f"{where}.value.messages[{m}]", value, routing, names))
            for s, status in enumerate(_list(value.get("statuses"), f"{where}.value.statuses")):
                event = _whatsapp_status(status, f"{where}.value.statuses[{s}]", value, routing)
                if event is not None:
                    events.append(event)
    return events


def _whatsapp_message(message, where: str, value: dict, routing: dict, names: dict) -> ChannelEvent:
    message = _dict(message, where)
    wamid = _required(message.get("id"), f"{where}.id")
    msg_type = _required(message.get("type"), f"{where}.type").lower()
    sender = str(message.get("from") or "")
    content = _whatsapp_content(message, msg_type)
    context = message.get("context") if isinstance(message.get("context"), dict) else {}
    error_code, error_message = _whatsapp_error(message.get("errors") or value.get("errors"))
    return ChannelEvent(
        provider="whatsapp",
        channel="whatsapp",
        kind="message",
        idempotency_key=f"{wamid}:received",
        external_id=wamid,
        occurred_at=_epoch(message.get("timestamp"), f"{where}.timestamp"),
        direction="inbound",
        status="received",
        from_address=sender,
        to_address=routing["display_phone_number"],
        body=content["body"],
        message_type=msg_type,
        media=content["media"],
        error_code=error_code,
        error_message=error_message,
        raw={**message, **routing},
        contact_name=names.get(sender) or (next(iter(names.values())) if len(names) == 1 else ""),
        reply_to=content.get("reply_to") or str(context.get("id") or ""),
        reply_payload=content["reply_payload"],
    )


def _whatsapp_status(status, where: str, value: dict, routing: dict) -> ChannelEvent | None:
    status = _dict(status, where)
    wamid = _required(status.get("id"), f"{where}.id")
    raw_status = _required(status.get("status"), f"{where}.status").lower()
    if raw_status in _WHATSAPP_IGNORED_STATUSES:
        return None
    normalized = _WHATSAPP_STATUS.get(raw_status)
    if normalized is None:
        _skip("whatsapp", "status", raw_status)
        return None
    error_code, error_message = _whatsapp_error(status.get("errors") or value.get("errors"))
    return ChannelEvent(
        provider="whatsapp",
        channel="whatsapp",
        kind="status",
        idempotency_key=f"{wamid}:{raw_status}",
        external_id=wamid,
        occurred_at=_epoch(status.get("timestamp"), f"{where}.timestamp"),
        direction="outbound",
        status=normalized,
        from_address=routing["display_phone_number"],
        to_address=str(status.get("recipient_id") or ""),
        error_code=error_code,
        error_message=error_message,
        raw={**status, **routing},
    )


# --- Email -------------------------------------------------------------------------------------

_SENDGRID_EVENTS = EMAIL_STATUSES - {"stored"}  # SendGrid's own names are the normalized ones
_ENGAGEMENT = frozenset({"open", "click", "unsubscribe", "group_unsubscribe", "group_resubscribe", "spamreport"})
_EMAIL_FAILURES = frozenset({"bounce", "dropped", "deferred"})

# Keys SendGrid itself puts in an event (django-anymail's ``sendgrid_event_keys``, plus the
# engagement fields SendGrid added since: machine opens, templates, bounce classification);
# every other key is a custom arg the sender attached.
_SENDGRID_KEYS = frozenset(
    {
        "asm_group_id",
        "attempt",
        "bounce_classification",
        "category",
        "cert_err",
        "email",
        "event",
        "ip",
        "marketing_campaign_id",
        "marketing_campaign_name",
        "marketing_campaign_split_id",
        "marketing_campaign_version",
        "newsletter",
        "nlvx_campaign_id",
        "nlvx_campaign_split_id",
        "nlvx_user_id",
        "pool",
        "post_type",
        "reason",
        "response",
        "send_at",
        "sg_content_type",
        "sg_event_id",
        "sg_machine_open",
        "sg_message_id",
        "sg_template_id",
        "sg_template_name",
        "sg_user_id",
        "smtp-id",
        "status",
        "template",
        "timestamp",
        "tls",
        "type",
        "url",
        "url_offset",
        "useragent",
    }
)


def _email_dict(**values) -> dict:
    base = {
        "url": "",
        "user_agent": "",
        "ip": "",
        "bounce_type": "",
        "reason": "",
        "machine_open": False,
        "campaign": None,
        "device": "",
        "tags": [],
        "custom_args": {},
        "message_id": "",
    }
    base.update(values)
    return base


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return value is True or value == 1


def sendgrid_x_message_id(sg_message_id: str) -> str:
    """The ``X-Message-Id`` SendGrid answered the send with: ``sg_message_id`` before ``.filter``/``.recvd``.

    ``""`` when the id has no such prefix (SendGrid drops some messages before assigning one:
    ``filter0093p1las1.9128.5717FB8127.0``).
    """
    if not isinstance(sg_message_id, str) or sg_message_id.startswith(("filter", "recvd")):
        return ""
    match = re.search(r"\.(?:filter|recvd)", sg_message_id)
    return sg_message_id[: match.start()] if match else sg_message_id


def parse_sendgrid(body) -> list[ChannelEvent]:
    """A SendGrid Event Webhook POST: a JSON array of events (the bytes as received, or parsed).

    ``external_id`` is ``sg_message_id``; ``email["x_message_id"]`` its part that the send API
    returned as ``X-Message-Id``, and ``email["message_id"]`` the RFC Message-ID (``smtp-id``
    without angle brackets). ``email["tags"]`` are the categories; ``email["custom_args"]``
    every key SendGrid does not define itself (custom args are merged into the event, as
    django-anymail recovers them); ``email["campaign"]`` the Marketing Campaigns name or id when
    the event has one (no fixture does). ``sg_machine_open`` (Apple Mail Privacy Protection's
    prefetch) sets ``email["machine_open"]``.
    """
    provider = "SendGrid Event Webhook"
    events = load_json(body, provider)
    if not isinstance(events, list):
        raise ParseError(f"{provider} body must be a JSON array of events, got {_kind_of(events)}")
    out: list[ChannelEvent] = []
    for i, event in enumerate(events):
        where = f"{provider}: event #{i}"
        if not isinstance(event, dict):
            raise ParseError(f"{where} must be an object, got {_kind_of(event)}")
        raw_event = _required(event.get("event"), f"{where}: event").lower()
        event_id = _required(event.get("sg_event_id"), f"{where} ({raw_event}): sg_event_id")
        if raw_event not in _SENDGRID_EVENTS:
            _skip("sendgrid", "event", raw_event)
            continue
        out.append(_sendgrid_event(event, raw_event, event_id, where))
    return out


def _sendgrid_event(event: dict, name: str, event_id: str, where: str) -> ChannelEvent:
    categories = event.get("category")
    if isinstance(categories, str):
        categories = [categories]
    elif not isinstance(categories, list):
        categories = []
    user_agent = str(event.get("useragent") or "")
    reason = str(event.get("reason") or event.get("response") or "")
    sg_message_id = str(event.get("sg_message_id") or "")
    email = _email_dict(
        url=str(event.get("url") or ""),
        user_agent=user_agent,
        ip=str(event.get("ip") or "") if name in _ENGAGEMENT else "",  # else it is SendGrid's sending IP
        bounce_type=str(event.get("type") or "") if name in ("bounce", "dropped") else "",
        reason=reason,
        machine_open=_truthy(event.get("sg_machine_open")),
        campaign=event.get("marketing_campaign_name") or event.get("marketing_campaign_id") or None,
        device=device_of(user_agent),
        tags=[str(c) for c in categories],
        custom_args={key: value for key, value in event.items() if key not in _SENDGRID_KEYS},
        message_id=_strip_brackets(event.get("smtp-id")),
        x_message_id=sendgrid_x_message_id(sg_message_id),
        asm_group_id=event.get("asm_group_id"),
    )
    if event.get("bounce_classification"):
        email["bounce_classification"] = event["bounce_classification"]
    failure = name in _EMAIL_FAILURES
    return ChannelEvent(
        provider="sendgrid",
        channel="email",
        kind="email_event",
        idempotency_key=f"{event_id}:{name}",
        external_id=sg_message_id,
        occurred_at=_epoch(event.get("timestamp"), f"{where}: timestamp"),
        direction="outbound",
        status=name,
        to_address=_email_address(event.get("email")),
        error_code=str(event.get("status") or "") if failure else "",
        error_message=reason if failure else "",
        email=email,
        raw=event,
    )


_MAILGUN_EVENTS = {
    "accepted": "processed",
    "rejected": "dropped",
    "delivered": "delivered",
    "failed": "bounce",  # "deferred" when severity is temporary
    "opened": "open",
    "clicked": "click",
    "unsubscribed": "unsubscribe",
    "complained": "spamreport",
    "stored": "stored",
}


def parse_mailgun(payload) -> list[ChannelEvent]:
    """A Mailgun webhook ``{"signature": {...}, "event-data": {...}}`` (parsed, or its bytes): one event.

    ``external_id`` is ``message.headers.message-id`` without angle brackets (``""`` when the
    event has none, as django-anymail's trimmed ``clicked`` payload); ``email["custom_args"]`` is
    ``user-variables`` and ``email["tags"]`` is ``tags``. The legacy form-encoded webhooks (before
    2018) are not supported.
    """
    provider = "Mailgun webhook"
    payload = load_json(payload, provider)
    if not isinstance(payload, dict):
        raise ParseError(f"{provider} body must be a JSON object, got {_kind_of(payload)}")
    data = payload.get("event-data")
    if not isinstance(data, dict):
        hint = " (legacy form webhooks are not supported)" if "event" in payload else ""
        raise ParseError(f"{provider}: 'event-data' object is missing{hint}")
    raw_event = _required(data.get("event"), f"{provider}: event-data.event").lower()
    status = _MAILGUN_EVENTS.get(raw_event)
    if status is None:
        _skip("mailgun", "event", raw_event)
        return []
    event_id = data.get("id")
    if event_id is None or event_id == "":
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        event_id = "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    else:
        event_id = _required(event_id, f"{provider}: event-data.id")
    severity = str(data.get("severity") or "").lower()
    if raw_event == "failed" and severity == "temporary":
        status = "deferred"
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    delivery = data.get("delivery-status") if isinstance(data.get("delivery-status"), dict) else {}
    reject = data.get("reject") if isinstance(data.get("reject"), dict) else {}
    client = data.get("client-info") if isinstance(data.get("client-info"), dict) else {}
    user_agent = str(client.get("user-agent") or "")
    reason = str(delivery.get("message") or delivery.get("description") or reject.get("reason") or "")
    failure = status in ("bounce", "deferred", "dropped")
    tags = data.get("tags") if isinstance(data.get("tags"), list) else []
    custom = data.get("user-variables") if isinstance(data.get("user-variables"), dict) else {}
    message_id = _strip_brackets(headers.get("message-id"))
    recipient = _email_address(data.get("recipient")) or _email_address(headers.get("to"))
    code = delivery.get("code")
    return [
        ChannelEvent(
            provider="mailgun",
            channel="email",
            kind="email_event",
            idempotency_key=f"{event_id}:{raw_event}",
            external_id=message_id,
            occurred_at=_epoch(data.get("timestamp"), f"{provider}: event-data.timestamp"),
            direction="outbound",
            status=status,
            from_address=_email_address(headers.get("from")),
            to_address=recipient,
            error_code=("" if code is None else str(code)) if failure else "",
            error_message=reason if failure else "",
            email=_email_dict(
                url=str(data.get("url") or ""),
                user_agent=user_agent,
                ip=str(data.get("ip") or ""),
                bounce_type=severity if raw_event == "failed" else "",
                reason=reason,
                device=str(client.get("device-type") or "") or device_of(user_agent),
                tags=[str(t) for t in tags],
                custom_args=dict(custom),
                message_id=message_id,
            ),
            raw=data,
        )
    ]
