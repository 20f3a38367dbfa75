"""Reads of the firm's users and their API tokens."""

import hmac

from django.db.models import QuerySet

from traf3li.users.models import ApiToken, User, api_token_hash


def api_token_lookup(token: str) -> ApiToken | None:
    """The row of ``token``, with its user, whether or not it still works; None when there is none.

    Found by its non-secret prefix, then told apart by comparing hashes in constant time.
    """
    digest = api_token_hash(token)
    candidates = ApiToken.objects.select_related("user").filter(prefix=token[: ApiToken.PREFIX_LENGTH]).order_by()
    for candidate in candidates:
        if hmac.compare_digest(candidate.token_hash, digest):
            return candidate
    return None


def api_tokens_visible(user: User) -> QuerySet[ApiToken]:
    """The tokens ``user`` may see and revoke: their own, and every user's of the firm for its admins."""
    tokens = ApiToken.objects.all()
    return tokens if user.is_firm_admin else tokens.filter(user=user)
