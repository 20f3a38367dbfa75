import pytest

from messaging.webhooks import accounts_forget


@pytest.fixture(autouse=True)
def _fresh_account_cache():
    """Each test's accounts roll back with it: the webhooks' per-process cache must not outlive them."""
    accounts_forget()
    yield
    accounts_forget()
