"""The environment of a process the product starts for itself (a benchmark's gunicorn, a browser
test's server): the parent's, with its SECRET_KEY passed on explicitly.

With ``DEBUG`` off the settings refuse to start without ``SECRET_KEY``; a child run with ``DEBUG``
off by a developer's process gets the same key, so what one signs or encrypts (sessions, channel
secrets) the other reads.
"""

import os

from django.conf import settings


def child_env(**overrides: str) -> dict[str, str]:
    return {**os.environ, "SECRET_KEY": settings.SECRET_KEY, **overrides}
