"""Channel secrets at rest: Fernet (AES-128-CBC with HMAC-SHA256), keys from settings, rotatable.

``CHANNEL_SECRET_KEYS`` lists Fernet keys, newest first. MultiFernet encrypts with the first and
decrypts with any, so a new key goes in front, ``rotate_channel_secrets`` re-encrypts every
account with it, and the old key can then be dropped. Without keys, one is derived from
``SECRET_KEY`` (a development default: set real keys in production).
"""

import base64
import hashlib
import hmac
import json

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


def _fernet() -> MultiFernet:
    keys = list(settings.CHANNEL_SECRET_KEYS)
    if not keys:
        derived = hashlib.sha256(f"traf3li.channel-secrets:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def encrypt(values: dict) -> str:
    return _fernet().encrypt(json.dumps(values, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict:
    if not token:
        return {}
    return json.loads(_fernet().decrypt(token.encode()))


def rotate(token: str) -> str:
    """The same secrets, encrypted with the newest key."""
    return _fernet().rotate(token.encode()).decode() if token else token


def fingerprint(values: dict) -> str:
    """A keyed digest of the secrets: the audit log shows that they changed, never what they are."""
    key = hashlib.sha256(f"traf3li.channel-fingerprint:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, json.dumps(values, sort_keys=True).encode(), hashlib.sha256).hexdigest()
