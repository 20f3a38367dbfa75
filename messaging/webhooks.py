"""The providers' webhooks on a firm's host (``/hooks/…``): verify, store, answer; process later.

Each view checks the provider's signature on the exact bytes received, with the firm's active
account for that provider (accounts live in the firm's schema: another firm's secret can't
verify here). A bad or missing signature is 403 and only counted (``RejectedDelivery``). A
verified delivery is committed (``delivery_accept``) before the 2xx, and a replay of it is a 200
that stores nothing. Malformed bodies are 400, also storing nothing.
"""

import time
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from messaging import parsers, services, signatures
from messaging.choices import Endpoint, Provider
from messaging.models import ChannelAccount
from traf3li.api.parsers import TooDeep, loads_bounded
from traf3li.core.proxies import public_url

# The headers a delivery keeps: what verified it and what processing may need, nothing else.
KEPT_HEADERS = (
    "Content-Type",
    "User-Agent",
    "X-Twilio-Signature",
    "I-Twilio-Idempotency-Token",
    "X-Hub-Signature-256",
    "X-Twilio-Email-Event-Webhook-Signature",
    "X-Twilio-Email-Event-Webhook-Timestamp",
)


def _refuse(provider: str, reason: str, status: int = 403) -> JsonResponse:
    services.delivery_refused(provider=provider, reason=reason)
    return JsonResponse({"detail": f"Refused: {reason.replace('_', ' ')}."}, status=status)


def _bad(detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=400)


def _read(request) -> bytes | None:
    try:
        return request.body
    except RequestDataTooBig:
        return None


def _too_large() -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return JsonResponse({"detail": f"Request body is too large (at most {limit} bytes)."}, status=413)


def _headers(request) -> dict:
    return {name: request.headers[name] for name in KEPT_HEADERS if name in request.headers}


# A firm's active accounts, per process, for a few seconds: a burst of deliveries reads them once,
# not once per request. A change (a new secret, a deactivation) applies within ACCOUNTS_TTL.
ACCOUNTS_TTL = 5.0


class _Account:
    """An active account with its secrets decrypted once; the model for what is stored."""

    def __init__(self, model: ChannelAccount):
        self.model, self.secrets = model, model.secrets
        self.account_sid, self.phone_number_id = model.account_sid, model.phone_number_id


_accounts: dict[tuple[str, str], tuple[float, list[_Account]]] = {}


def _active(provider: str) -> list[_Account]:
    key, now = (connection.schema_name, provider), time.monotonic()
    cached = _accounts.get(key)
    if cached is None or now - cached[0] > ACCOUNTS_TTL:
        models = ChannelAccount.objects.filter(provider=provider, is_active=True).order_by("pk")
        cached = _accounts[key] = (now, [_Account(model) for model in models])
    return cached[1]


def accounts_forget() -> None:
    """Drop the cached accounts (tests, and a change that must apply at once in this process)."""
    _accounts.clear()


def _json_or_400(body: bytes):
    """The body's JSON, or the 400 that says why it isn't any (the API's depth limit applies)."""
    try:
        return loads_bounded(body)
    except TooDeep:
        return _bad("The body is nested too deeply.")
    except ValueError:  # UnicodeDecodeError included
        return _bad("The body is not JSON.")


def _store(request, provider: str, endpoint: str, account, body: bytes) -> JsonResponse:
    """Commit the verified delivery (a replay stores nothing) and say so."""
    _, created = services.delivery_accept(
        provider=provider, endpoint=endpoint, account=account.model, headers=_headers(request), body=body
    )
    return _accepted(created)


def _accepted(created: bool) -> JsonResponse:
    return JsonResponse({"accepted": True, "duplicate": not created})


# --- Twilio ---------------------------------------------------------------------------------------


def _twilio(request, endpoint: str):
    body = _read(request)
    if body is None:
        return _too_large()
    accounts = _active(Provider.TWILIO)
    if not accounts:
        return _refuse(Provider.TWILIO, "no_account", status=404)
    account = accounts[0]
    try:
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        params = None
    signature = request.headers.get("X-Twilio-Signature")
    secret = account.secrets.get("auth_token", "")
    if params is None or not signatures.twilio_valid(secret, public_url(request), params, signature):
        return _refuse(Provider.TWILIO, "bad_signature")
    fields = dict(params)
    if account.account_sid and fields.get("AccountSid") not in (None, account.account_sid):
        return _refuse(Provider.TWILIO, "other_account")
    voice = endpoint == Endpoint.TWILIO_VOICE
    sid = fields.get("CallSid") if voice else fields.get("MessageSid") or fields.get("SmsSid")
    if not sid:
        return _bad("The callback names no CallSid or MessageSid.")
    delivery_key = request.headers.get("I-Twilio-Idempotency-Token") or None
    services.delivery_accept(
        provider=Provider.TWILIO,
        endpoint=endpoint,
        account=account.model,
        headers=_headers(request),
        body=body,
        dedup_key=f"token:{delivery_key}" if delivery_key else None,
    )
    # TwiML: an empty response tells Twilio there is nothing to say or send back.
    return HttpResponse('<?xml version="1.0" encoding="UTF-8"?><Response/>', content_type="text/xml")


@csrf_exempt
@require_http_methods(["POST"])
def twilio_voice(request):
    return _twilio(request, Endpoint.TWILIO_VOICE)


@csrf_exempt
@require_http_methods(["POST"])
def twilio_sms(request):
    return _twilio(request, Endpoint.TWILIO_SMS)


# --- WhatsApp (Meta Cloud API) --------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp(request):
    accounts = _active(Provider.WHATSAPP)
    if request.method == "GET":
        # The verification handshake: echo hub.challenge when hub.verify_token is one of ours.
        for account in accounts:
            challenge = signatures.meta_challenge(request.GET, account.secrets.get("verify_token", ""))
            if challenge is not None:
                return HttpResponse(challenge, content_type="text/plain")
        return _refuse(Provider.WHATSAPP, "bad_verify_token")
    body = _read(request)
    if body is None:
        return _too_large()
    header = request.headers.get("X-Hub-Signature-256")
    # One Meta app (one app secret) may serve several numbers: the account is the one whose secret
    # signed the body, and then whose phone number id the payload names.
    signed = [a for a in accounts if signatures.meta_valid(a.secrets.get("app_secret", ""), body, header)]
    if not signed:
        return _refuse(Provider.WHATSAPP, "bad_signature")
    payload = _json_or_400(body)
    if isinstance(payload, JsonResponse):
        return payload
    try:
        numbers = parsers.whatsapp_phone_number_ids(payload)
    except parsers.ParseError as exc:
        return _bad(str(exc))
    account = next((a for a in signed if a.phone_number_id in numbers), None)
    if account is None:
        return _refuse(Provider.WHATSAPP, "other_number")
    return _store(request, Provider.WHATSAPP, Endpoint.WHATSAPP, account, body)


# --- SendGrid -------------------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["POST"])
def sendgrid(request):
    body = _read(request)
    if body is None:
        return _too_large()
    accounts = _active(Provider.SENDGRID)
    if not accounts:
        return _refuse(Provider.SENDGRID, "no_account", status=404)
    account = accounts[0]
    valid = signatures.sendgrid_valid(
        account.secrets.get("public_key", ""),
        body,
        request.headers.get("X-Twilio-Email-Event-Webhook-Signature"),
        request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp"),
    )
    if not valid:
        return _refuse(Provider.SENDGRID, "bad_signature")
    events = _json_or_400(body)
    if isinstance(events, JsonResponse):
        return events
    if not isinstance(events, list) or not all(isinstance(event, dict) for event in events):
        return _bad("The Event Webhook's body must be a JSON array of event objects.")
    return _store(request, Provider.SENDGRID, Endpoint.SENDGRID, account, body)


# --- Mailgun --------------------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["POST"])
def mailgun(request):
    body = _read(request)
    if body is None:
        return _too_large()
    accounts = _active(Provider.MAILGUN)
    if not accounts:
        return _refuse(Provider.MAILGUN, "no_account", status=404)
    account = accounts[0]
    try:  # parsed before it is verified: Mailgun's signature is inside the body (depth-limited)
        payload = loads_bounded(body)
        block = payload["signature"]
        timestamp, token, signature = str(block["timestamp"]), str(block["token"]), str(block["signature"])
    except (ValueError, TypeError, KeyError):  # ValueError: not JSON, or nested too deeply
        return _refuse(Provider.MAILGUN, "bad_signature")
    if not signatures.mailgun_valid(account.secrets.get("signing_key", ""), timestamp, token, signature):
        return _refuse(Provider.MAILGUN, "bad_signature")  # wrong, or older than 5 minutes
    if not isinstance(payload.get("event-data"), dict):
        return _bad("The body has no 'event-data' object.")
    # The signature covers the timestamp and token, not the body: a token is good for one body.
    delivery, created = services.delivery_accept(
        provider=Provider.MAILGUN,
        endpoint=Endpoint.MAILGUN,
        account=account.model,
        headers=_headers(request),
        body=body,
        dedup_key=f"token:{signatures.mailgun_token_key(timestamp, token)}",
    )
    if not created and delivery is not None and delivery.body_digest != services.body_digest(body):
        return _refuse(Provider.MAILGUN, "token_replayed")
    return _accepted(created)
