"""Webhook signature verifiers for the messaging providers: pure functions, no models, no I/O.

Every verifier works on exactly what was received (the raw body bytes, the header values as sent),
compares in constant time (``hmac.compare_digest``), and answers ``False`` rather than raising
when an input is missing or malformed. An empty secret never verifies anything: a signature
over an empty key is something anyone can compute.

Twilio (SMS, voice, WhatsApp via Twilio): header ``X-Twilio-Signature``
    ``base64(HMAC-SHA1(auth_token, url + "".join(name + value ...)))`` where the POST parameters
    are taken in sorted name order and, for a repeated name, its distinct values in sorted order.
    The URL is the full URL Twilio requested, query string included, used verbatim. Because
    Twilio's back end is not consistent about ports, a signature is accepted if it matches the
    URL with its port removed (any port, not only 443/80) or with the scheme's default port added
    (``:443`` for https, ``:80`` otherwise). For JSON bodies Twilio appends
    ``bodySHA256=<hex SHA-256 of the body>`` to the URL and signs the URL alone (no parameters);
    the body is then authenticated by that hash. Specified by Twilio's "Webhooks security" page
    and implemented by twilio-python ``twilio/request_validator.py`` (``RequestValidator``),
    which these functions mirror. One deliberate difference: :func:`twilio_json_valid` refuses a
    URL without ``bodySHA256`` (twilio-python would check the URL signature alone and leave the
    body unauthenticated).

Meta (WhatsApp Cloud API): header ``X-Hub-Signature-256``
    ``"sha256=" + hex(HMAC-SHA256(app_secret, raw_body))``, computed over the body bytes before
    any JSON parsing. Specified by Meta's Graph API "Webhooks" documentation ("Validate
    payloads"); the same scheme as GitHub's webhooks. The subscription handshake is a GET with
    ``hub.mode=subscribe``, ``hub.verify_token`` and ``hub.challenge``; the endpoint echoes the
    challenge when the token is ours (:func:`meta_challenge`).

SendGrid (Event Webhook, signed): headers ``X-Twilio-Email-Event-Webhook-Signature`` and
``X-Twilio-Email-Event-Webhook-Timestamp``
    ECDSA over P-256 with SHA-256, of the bytes ``timestamp + raw_body``; the signature header is
    base64 of the DER ``(r, s)`` sequence, and the verification key SendGrid shows is base64 of a
    DER SubjectPublicKeyInfo. Real deliveries end with CRLF and separate batched events with CRLF,
    so only the raw body verifies. Specified by SendGrid's "Getting Started with the Event Webhook
    Security Features" and implemented by sendgrid-python
    ``sendgrid/helpers/eventwebhook/__init__.py`` (``EventWebhook.verify_signature``).

Mailgun (webhooks): a ``signature`` block in the JSON body
    ``{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}`` where
    ``signature = hex(HMAC-SHA256(signing_key, timestamp + token))``. Mailgun's "Securing
    webhooks" documentation also asks receivers to reject stale timestamps and tokens already
    seen. The timestamp check is here (:func:`mailgun_valid`); remembering tokens needs storage,
    so this module only names the key to store (:func:`mailgun_token_key`). django-anymail
    ``anymail/webhooks/mailgun.py`` verifies the same way.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qs, urlparse

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

__all__ = [
    "TwilioParams",
    "mailgun_signature",
    "mailgun_token_key",
    "mailgun_valid",
    "meta_challenge",
    "meta_signature",
    "meta_valid",
    "sendgrid_valid",
    "twilio_json_valid",
    "twilio_signature",
    "twilio_signing_string",
    "twilio_valid",
]

# Parsed form pairs (duplicates kept), a mapping of name to one value or a list of values, or a
# multi-value mapping with ``lists()`` such as Django's ``QueryDict`` (``request.POST``).
TwilioParams = Iterable[tuple[str, str]] | Mapping[str, str | Iterable[str]]


def _same(expected: str, received: str) -> bool:
    """Constant-time equality of two strings (``compare_digest`` refuses non-ASCII ``str``)."""
    return hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8"))


# --- Twilio -------------------------------------------------------------------------------------


def _twilio_pairs(params: TwilioParams) -> Iterable[tuple[str, str]]:
    if hasattr(params, "lists"):  # Django QueryDict / MultiValueDict: items() would drop duplicates
        return ((name, value) for name, values in params.lists() for value in values)
    if isinstance(params, Mapping):
        return (
            (name, value)
            for name, values in params.items()
            for value in ((values,) if isinstance(values, str) else values)
        )
    return params


def twilio_signing_string(url: str, params: TwilioParams) -> str:
    """The string Twilio signs: the URL, then name + value for each distinct pair, sorted."""
    values: dict[str, set[str]] = {}
    for name, value in _twilio_pairs(params):
        values.setdefault(name, set()).add(value)
    return url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def twilio_signature(auth_token: str, url: str, params: TwilioParams) -> str:
    """``X-Twilio-Signature`` for ``url`` exactly as given (no port variants)."""
    message = twilio_signing_string(url, params).encode("utf-8")
    return base64.b64encode(hmac.new(auth_token.encode("utf-8"), message, hashlib.sha1).digest()).decode("ascii")


def _twilio_urls(url: str) -> tuple[str, str] | None:
    """The URL without its port and with the default port, as twilio-python tries; None if bad."""
    try:
        parsed = urlparse(url)
        port = parsed.port  # ValueError on a non-numeric or out-of-range port
    except ValueError:
        return None
    if port is None:
        default = 443 if parsed.scheme == "https" else 80
        return parsed.geturl(), parsed._replace(netloc=f"{parsed.netloc}:{default}").geturl()
    return parsed._replace(netloc=parsed.netloc.rsplit(":", 1)[0]).geturl(), parsed.geturl()


def _twilio_url_signed(auth_token: str, url: str, params: TwilioParams, signature: str | None) -> bool:
    if not auth_token or not isinstance(signature, str) or not signature:
        return False
    urls = _twilio_urls(url)
    if urls is None:
        return False
    pairs = list(_twilio_pairs(params))
    matches = [_same(twilio_signature(auth_token, variant, pairs), signature) for variant in urls]
    return any(matches)  # both computed, so the time taken does not say which variant matched


def twilio_valid(auth_token: str, url: str, params: TwilioParams, signature: str | None) -> bool:
    """Whether ``signature`` (the ``X-Twilio-Signature`` header) signs this form POST.

    ``url`` is the full URL Twilio requested, query string included; ``params`` are the parsed
    form fields with duplicates kept (``parse_qsl(body, keep_blank_values=True)`` or
    ``request.POST``): blank values are signed too.
    """
    return _twilio_url_signed(auth_token, url, params, signature)


def twilio_json_valid(auth_token: str, url: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` signs this JSON POST: the URL signature and its ``bodySHA256``."""
    try:
        claimed = parse_qs(urlparse(url).query).get("bodySHA256")
    except ValueError:
        return False
    if not claimed:
        return False
    body_ok = _same(hashlib.sha256(body).hexdigest(), claimed[0])
    return _twilio_url_signed(auth_token, url, (), signature) and body_ok


# --- Meta (WhatsApp Cloud API) ------------------------------------------------------------------

_META_PREFIX = "sha256="


def meta_signature(app_secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256`` for ``body``: ``sha256=`` and the lowercase hex HMAC-SHA256."""
    return _META_PREFIX + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def meta_valid(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether the ``X-Hub-Signature-256`` header signs the raw ``body`` with ``app_secret``."""
    if not app_secret or not isinstance(header, str) or not header.startswith(_META_PREFIX):
        return False
    return _same(meta_signature(app_secret, body), header)


def meta_challenge(params: Mapping[str, str], verify_token: str) -> str | None:
    """The ``hub.challenge`` to echo for a subscription handshake whose token is ours, else None.

    ``params`` are the GET query parameters. Send the result back as ``text/plain`` with status
    200; on None answer 403.
    """
    if not verify_token or params.get("hub.mode") != "subscribe":
        return None
    token, challenge = params.get("hub.verify_token"), params.get("hub.challenge")
    if not isinstance(token, str) or not isinstance(challenge, str):
        return None
    return challenge if _same(verify_token, token) else None


# --- SendGrid -----------------------------------------------------------------------------------

_PEM_ARMOR = re.compile(r"-----(BEGIN|END) PUBLIC KEY-----")


@functools.lru_cache(maxsize=32)
def _sendgrid_key(public_key_b64: str) -> ec.EllipticCurvePublicKey | None:
    """The P-256 key from SendGrid's base64 DER (PEM armor tolerated), or None if it is not one."""
    der_b64 = "".join(_PEM_ARMOR.sub("", public_key_b64).split())
    try:
        key = load_der_public_key(base64.b64decode(der_b64, validate=True))
    except (binascii.Error, ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    return key


def sendgrid_valid(public_key_b64: str, body: bytes, signature_b64: str | None, timestamp: str | None) -> bool:
    """Whether the Event Webhook signature and timestamp headers sign the raw ``body``."""
    if not isinstance(public_key_b64, str) or not isinstance(signature_b64, str) or not isinstance(timestamp, str):
        return False
    if not signature_b64 or not timestamp:
        return False
    key = _sendgrid_key(public_key_b64)
    if key is None:
        return False
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, timestamp.encode("utf-8") + bytes(body), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


# --- Mailgun ------------------------------------------------------------------------------------

_MAILGUN_TIMESTAMP = re.compile(r"[0-9]{1,12}(?:\.[0-9]+)?")


def mailgun_signature(signing_key: str, timestamp: str, token: str) -> str:
    """Mailgun's signature: lowercase hex HMAC-SHA256 of ``timestamp + token``."""
    message = (timestamp + token).encode("utf-8")
    return hmac.new(signing_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _fresh(timestamp: str, now: float | None, max_age: int) -> bool:
    if not _MAILGUN_TIMESTAMP.fullmatch(timestamp):
        return False
    age = (time.time() if now is None else now) - float(timestamp)
    return -max_age <= age <= max_age


def mailgun_valid(
    signing_key: str,
    timestamp: str,
    token: str,
    signature: str,
    *,
    now: float | None = None,
    max_age: int = 300,
) -> bool:
    """Whether the body's ``signature`` block is signed with ``signing_key`` and is recent.

    A timestamp more than ``max_age`` seconds before or after ``now`` (default: the clock) is
    rejected. This does not detect a replayed token: see :func:`mailgun_token_key`.
    """
    fields = (timestamp, token, signature)
    if not signing_key or not all(isinstance(field, str) and field for field in fields):
        return False
    if not _fresh(timestamp, now, max_age):
        return False
    return _same(mailgun_signature(signing_key, timestamp, token), signature)


def mailgun_token_key(timestamp: str, token: str) -> str:
    """The replay key of a Mailgun delivery: 64 hex characters, for a unique column.

    Only after :func:`mailgun_valid` accepted the block, insert this key; if it is already
    stored, the delivery is a replay and must be refused. A key may be deleted once the clock
    passes ``timestamp + max_age``, because :func:`mailgun_valid` rejects that timestamp anyway.
    """
    return hashlib.sha256(f"{timestamp}:{token}".encode()).hexdigest()
