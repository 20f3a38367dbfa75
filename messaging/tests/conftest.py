import socket

import pytest

from messaging.webhooks import accounts_forget
from traf3li.celery import app


@pytest.fixture(autouse=True)
def _fresh_account_cache():
    """Each test's accounts roll back with it: the webhooks' per-process cache must not outlive them."""
    accounts_forget()
    yield
    accounts_forget()


@pytest.fixture(autouse=True)
def _fresh_match_memo():
    """Matching remembers who an address is for a moment; a test's records roll back with it."""
    from messaging.matching import counterpart_forget

    counterpart_forget()
    yield
    counterpart_forget()


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


@pytest.fixture
def redis_down():
    """The app's broker URL on a dead port, with fresh pools; the live ones come back afterwards."""
    saved = app.conf.broker_url, app._pool, app.amqp._producer_pool
    app.conf.broker_url = f"redis://127.0.0.1:{dead_port()}/0"
    app._pool = app.amqp._producer_pool = None  # both were made for the live broker
    yield
    if app._pool is not None:
        app._pool.force_close_all()
    app.conf.broker_url = saved[0]
    app._pool, app.amqp._producer_pool = saved[1], saved[2]
