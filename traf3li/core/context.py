"""Who is acting, and through which door: request, admin, webhook, task or command.

Services read it from here instead of having it threaded through every call; the audit log
stores it as each event's metadata.
"""

import contextvars
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class ActionContext:
    source: str = "system"  # api | admin | webhook | task | command | system
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    ip: str | None = None
    user_agent: str = ""
    user: object | None = None  # the authenticated user, when there is one
    # The id a client sent (X-Request-ID): kept beside ours, never in its place (anyone can send one).
    client_request_id: str = ""

    def as_metadata(self) -> dict:
        metadata = {"ip": self.ip, "user_agent": self.user_agent, "source": self.source, "request_id": self.request_id}
        if self.client_request_id:
            metadata["client_request_id"] = self.client_request_id
        return metadata


_current: contextvars.ContextVar[ActionContext | None] = contextvars.ContextVar("traf3li_action", default=None)


def current_context() -> ActionContext:
    ctx = _current.get()
    return ctx if ctx is not None else ActionContext()


@contextmanager
def action_context(**kwargs):
    token = _current.set(ActionContext(**kwargs))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def command_context(name: str):
    return action_context(source="command", user_agent=f"manage.py {name}")


def set_context_user(user) -> None:
    """Record the authenticated user once DRF has resolved it (after the middleware ran)."""
    ctx = _current.get()
    if ctx is not None and getattr(user, "is_authenticated", False):
        _current.set(replace(ctx, user=user))
