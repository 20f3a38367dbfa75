import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Each test creates a few users; PBKDF2 would spend most of this package's run time hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
