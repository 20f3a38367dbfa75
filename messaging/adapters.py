"""Provider adapters: one outbound message out over the provider's real HTTP API, one outcome back.

Pure I/O: an adapter reads no model and holds no database lock (the caller has committed before it
calls, ADR 0033). It answers :class:`Accepted` with the provider's id for the message, or raises:

- :class:`Retry`: the provider did not take the message and asks us to come back (HTTP 429 or
  5xx, a throttling error code) or could not be reached at all (DNS, refused connection, a
  connect timeout): nothing was sent, so sending again is safe;
- :class:`Refused`: the provider answered that it will never take this message (a 4xx: bad
  number, template unknown, the 24-hour window closed); its code and message are kept;
- :class:`Uncertain`: the request may have reached the provider but no answer came back (a read
  timeout, a dropped connection after the request was written). Sending again could send twice,
  so the caller does not.

Meta Graph ``POST /{version}/{phone_number_id}/messages`` (Bearer token; errors as
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``) and Twilio
``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (HTTP basic auth with the account SID
and auth token, a form body; errors as ``{"code", "message", "more_info", "status"}``), as their
API references and the twilio-python and pywa clients send them. The base URLs are settings, so
tests point them at a fake provider on loopback.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass

import httpx
from django.conf import settings

log = logging.getLogger(__name__)

# Meta's throttling and transient error codes (Graph API and WhatsApp Cloud API error references):
# API too many calls / temporarily unavailable / rate limits, and 131000 "something went wrong",
# 131016 "service unavailable". Anything else in a 4xx is the message's own fault.
META_RETRY_CODES = frozenset({1, 2, 4, 17, 341, 613, 80007, 130429, 131000, 131016, 131056})
# Twilio: 20429 too many requests, 20500/20503 internal error / service unavailable.
TWILIO_RETRY_CODES = frozenset({20429, 20500, 20503})


@dataclass(frozen=True)
class Accepted:
    external_id: str
    status: str = "queued"  # what the provider said it did; "sent" only where nothing else will tell


class SendError(Exception):
    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class Retry(SendError):
    pass


class Refused(SendError):
    pass


class Uncertain(SendError):
    pass


@dataclass(frozen=True)
class Outgoing:
    """What an adapter needs of one message (no model: adapters do no database work)."""

    ref: str  # our idempotency key, echoed back by the provider where it can
    to: str  # E.164
    body: str
    template: dict | None  # WhatsApp: {"name", "language"}
    status_callback: str  # Twilio: the URL its status callbacks go to ("" for none)


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(settings.MESSAGING_SEND_TIMEOUT, connect=settings.MESSAGING_SEND_CONNECT_TIMEOUT)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def _post(url: str, **kwargs) -> httpx.Response:
    """POST, turning the transport's failures into Retry (nothing sent) or Uncertain (maybe sent)."""
    try:
        return httpx.post(url, timeout=_timeout(), **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise Retry(f"{type(exc).__name__}: {exc}") from exc
    except httpx.TransportError as exc:  # read/write timeout, connection dropped mid-exchange
        raise Uncertain(f"{type(exc).__name__}: {exc}") from exc


def _json(response: httpx.Response) -> dict:
    try:
        document = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return document if isinstance(document, dict) else {}


def _failure(response: httpx.Response, code, message, retry_codes: frozenset) -> SendError:
    """Retry for throttling and the provider's own failures (429, 5xx, its transient codes), else Refused."""
    text = f"HTTP {response.status_code}: {message or response.text[:200]}"
    code_text = str(code or response.status_code)
    if response.status_code == 429 or response.status_code >= 500 or code in retry_codes:
        return Retry(text, code=code_text, retry_after=_retry_after(response))
    return Refused(text, code=code_text)


class MetaGraphAdapter:
    provider = "whatsapp"

    def send(self, account, message: Outgoing) -> Accepted:
        token = account.secrets.get("access_token")
        if not token:
            raise Refused("The WhatsApp account has no access token: add one to send messages.", code="no_token")
        graph = f"{settings.WHATSAPP_GRAPH_URL.rstrip('/')}/{settings.WHATSAPP_GRAPH_VERSION}"
        url = f"{graph}/{account.phone_number_id}/messages"
        document = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.to.lstrip("+"),
            # Echoed in every status webhook of this message: how a status finds its message even
            # when the worker died before it could store the wamid.
            "biz_opaque_callback_data": message.ref,
        }
        if message.template:
            document["type"] = "template"
            document["template"] = {
                "name": message.template["name"],
                "language": {"code": message.template["language"]},
            }
        else:
            document["type"] = "text"
            document["text"] = {"preview_url": False, "body": message.body}
        response = _post(url, json=document, headers={"Authorization": f"Bearer {token}"})
        body = _json(response)
        if response.status_code == 200:
            try:
                return Accepted(str(body["messages"][0]["id"]))
            except (KeyError, IndexError, TypeError) as exc:
                raise Uncertain(f"HTTP 200 without a message id: {response.text[:200]}") from exc
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        raise _failure(response, error.get("code"), error.get("message"), META_RETRY_CODES)


class TwilioAdapter:
    provider = "twilio"

    def send(self, account, message: Outgoing) -> Accepted:
        token = account.secrets.get("auth_token")
        if not account.from_number:
            raise Refused("The Twilio account has no sender number: add one to send messages.", code="no_sender")
        url = f"{settings.TWILIO_API_URL.rstrip('/')}/2010-04-01/Accounts/{account.account_sid}/Messages.json"
        form = {"To": message.to, "From": account.from_number, "Body": message.body}
        if message.status_callback:
            form["StatusCallback"] = message.status_callback
        response = _post(url, data=form, auth=(account.account_sid, token))
        body = _json(response)
        if response.status_code in (200, 201):
            if not body.get("sid"):
                raise Uncertain(f"HTTP {response.status_code} without a sid: {response.text[:200]}")
            return Accepted(str(body["sid"]))
        raise _failure(response, body.get("code"), body.get("message"), TWILIO_RETRY_CODES)


class ConsoleAdapter:
    """Development and the demo: the message is written to the log and counts as sent."""

    provider = "console"

    def send(self, account, message: Outgoing) -> Accepted:
        log.warning("console adapter: %s to %s: %s", account.provider, message.to, message.body or message.template)
        return Accepted(f"console-{uuid.uuid4().hex}", status="sent")


ADAPTERS = {"whatsapp": MetaGraphAdapter(), "twilio": TwilioAdapter(), "console": ConsoleAdapter()}


def adapter_for(provider: str):
    """The provider's adapter, or the console one where ``MESSAGING_OUTBOUND`` says so."""
    if settings.MESSAGING_OUTBOUND == "console":
        return ADAPTERS["console"]
    return ADAPTERS[provider]
