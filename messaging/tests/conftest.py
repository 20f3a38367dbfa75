import pytest

from messaging.webhooks import accounts_forget


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
