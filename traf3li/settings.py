"""Settings: everything comes from environment variables with working defaults."""

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    options = {}
    # pgserver (embedded fallback) hands out a unix-socket URL: postgresql://user@/db?host=/path
    for part in parsed.query.split("&") if parsed.query else []:
        key, _, value = part.partition("=")
        options[key] = unquote(value)
    return {
        "ENGINE": "traf3li.core.postgresql",  # django-tenants' backend plus commit-time work (ADR 0030)
        "NAME": unquote(parsed.path.lstrip("/")) or "traf3li",
        "USER": unquote(parsed.username or "postgres"),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": options.pop("host", None) or parsed.hostname or "127.0.0.1",
        "PORT": str(parsed.port or 5432),
        "CONN_MAX_AGE": int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        "CONN_HEALTH_CHECKS": True,
        # An unreachable host must fail fast (a health check, a request), not hang for minutes.
        "OPTIONS": {
            "connect_timeout": int(os.environ.get("DB_CONNECT_TIMEOUT", "5")),
            # Lets ``connection.prepared_cursor()`` prepare its statements (ADR 0070); the ORM's
            # client-side-bound statements are never prepared. 0 off, for a pooler that can't keep
            # prepared statements per client (PgBouncer in transaction mode before 1.21).
            "prepare_threshold": 1 if env_bool("DB_PREPARED_STATEMENTS", True) else None,
        },
        "TEST": {"NAME": os.environ.get("TRAF3LI_TEST_DB", "test_traf3li")},
    }


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:  # a public default would sign every session and token with a key anyone can read
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off the product needs its own: set SECRET_KEY to a long random "
            "value, e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    SECRET_KEY = "dev-only-insecure-secret-key-change-me-0123456789abcdef"  # DEBUG on: development only
BASE_DOMAIN = os.environ.get("BASE_DOMAIN", "localhost")
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()] or [
    BASE_DOMAIN,
    f".{BASE_DOMAIN}",
    "127.0.0.1",
    "testserver",
]

DATABASES = {
    "default": database_from_url(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/traf3li"))
}
# The role that owns the tables, when the product's own role (DATABASE_URL) is a lesser one (ADR
# 0062): firm creation and partition upkeep run their DDL through this alias
# (``traf3li.core.db.owner_alias``). Migrations are run as the owner by pointing DATABASE_URL at it.
if os.environ.get("DATABASE_OWNER_URL") and os.environ["DATABASE_OWNER_URL"] != os.environ.get("DATABASE_URL"):
    DATABASES["owner"] = {**database_from_url(os.environ["DATABASE_OWNER_URL"]), "CONN_MAX_AGE": 0}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# Proxies whose X-Forwarded-For/-Proto/-Host are believed (addresses or networks, comma-separated):
# the client's address in the audit log and the public URL Twilio signed (traf3li/core/proxies.py).
TRUSTED_PROXIES = [value.strip() for value in os.environ.get("TRUSTED_PROXIES", "").split(",") if value.strip()]

# Fernet keys for channel secrets, comma-separated, newest first: the first encrypts, all decrypt,
# so a key is rotated by putting a new one in front (then ``manage.py rotate_channel_secrets``).
# Without any, one is derived from SECRET_KEY.
CHANNEL_SECRET_KEYS = [value.strip() for value in os.environ.get("CHANNEL_SECRET_KEYS", "").split(",") if value.strip()]

# Outbound WhatsApp and SMS (messaging.outbound): "provider" speaks to Meta's Graph API and Twilio's
# REST API; "console" only logs (development, the demo). The base URLs are settings so that tests
# point them at a fake provider on loopback.
MESSAGING_OUTBOUND = os.environ.get("MESSAGING_OUTBOUND", "provider")
WHATSAPP_GRAPH_URL = os.environ.get("WHATSAPP_GRAPH_URL", "https://graph.facebook.com")
WHATSAPP_GRAPH_VERSION = os.environ.get("WHATSAPP_GRAPH_VERSION", "v21.0")
TWILIO_API_URL = os.environ.get("TWILIO_API_URL", "https://api.twilio.com")
MESSAGING_SEND_TIMEOUT = 15.0  # seconds for the provider's answer
MESSAGING_SEND_CONNECT_TIMEOUT = 5.0
MESSAGING_SEND_BACKOFF = (30.0, 3600.0)  # first retry after ~30 s, doubling, at most an hour apart
MESSAGING_SEND_MAX_ATTEMPTS = 6  # about 30 minutes of retries in all, then the message fails
# A send that started this long ago and recorded no outcome lost its worker: outcome unknown.
MESSAGING_SENDING_STALE_SECONDS = 600
# The scheme of the firm's public URLs (Twilio's status callback names the firm's host).
PUBLIC_URL_SCHEME = os.environ.get("PUBLIC_URL_SCHEME", "https")

# Served over HTTPS (TLS here, or at a proxy listed in TRUSTED_PROXIES): HSTS for the platform and
# every firm's subdomain, secure cookies, and plain HTTP redirected (the load balancer's /healthz aside).
TLS = env_bool("TLS", False)
if TLS:
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
# Preloading is a promise to browsers' built-in lists that is slow to take back: each deployment opts
# in (SECURE_HSTS_PRELOAD=true) once its domain is ready, so check --deploy does not ask for it.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- tenancy -------------------------------------------------------------------------------
# The public schema holds firms, their domains, platform admins and the beat schedule. Every
# firm's schema holds its own users, tokens, sessions and all business data (ADR 0001).
SHARED_APPS = [
    "django_tenants",
    "traf3li.firms",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "traf3li.users",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files: the docs need no CDN
    "pgtrigger",
    "traf3li.core",
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "traf3li.users",
    "django.contrib.sessions",
    "django.contrib.admin",
    "traf3li.crm",
    "audit",
    "timeline",
    "timeline.activities",
    "timeline.events",
    "billing",
    "messaging",
    "privacy",
]
INSTALLED_APPS = list(SHARED_APPS) + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "firms.Firm"
TENANT_DOMAIN_MODEL = "firms.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "traf3li.urls_public"
ROOT_URLCONF = "traf3li.urls_tenant"
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
# SET search_path only when the schema changes, not before every statement: the backend forgets
# the cached path on ROLLBACK, ROLLBACK TO SAVEPOINT and close, the cases where PostgreSQL drops it.
TENANT_LIMIT_SET_CALLS = True
# host -> firm, remembered per process (traf3li.core.tenant_cache): another process's change of a
# firm or domain is seen within TENANT_CACHE_CHECK_SECONDS (a version in Redis), and with Redis down
# an entry is looked up again after TENANT_CACHE_MAX_AGE_SECONDS. 0 turns the cache off.
TENANT_CACHE_CHECK_SECONDS = 1.0
TENANT_CACHE_MAX_AGE_SECONDS = float(os.environ.get("TENANT_CACHE_MAX_AGE_SECONDS", "30"))
# API token -> user, remembered the same way (traf3li.api.authentication); 0 turns it off.
TOKEN_CACHE_MAX_AGE_SECONDS = float(os.environ.get("TOKEN_CACHE_MAX_AGE_SECONDS", "30"))
# API tokens (ADR 0036): stored hashed, each works this many days after POST /api/v1/auth/token/
# issued it (then log in again), and its "last used" is written at most this often.
API_TOKEN_EXPIRY_DAYS = float(os.environ.get("API_TOKEN_EXPIRY_DAYS", "30"))
# A token that stopped working (expired or revoked) is listed this long, then its row is deleted.
API_TOKEN_KEEP_DAYS = float(os.environ.get("API_TOKEN_KEEP_DAYS", "90"))
API_TOKEN_LAST_USED_EVERY_SECONDS = float(os.environ.get("API_TOKEN_LAST_USED_EVERY_SECONDS", "300"))

MIDDLEWARE = [
    # /healthz answers on any host (a load balancer checks the IP) and before anything that queries
    # the database, so a database that is down is a JSON 503, not the tenant lookup's HTML 500.
    "traf3li.core.middleware.HealthCheckMiddleware",
    "traf3li.core.middleware.TrustedProxySchemeMiddleware",  # https behind a trusted TLS proxy, before redirects
    "django.middleware.security.SecurityMiddleware",
    # Static files before the tenant lookup: no query per asset, and they load on every host.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "traf3li.api.middleware.ApiJsonErrorsMiddleware",  # outside the tenant lookup: its 404 is JSON too
    "traf3li.api.middleware.DocsCorsMiddleware",  # the platform's docs may "Try it out" on a firm's host
    "traf3li.core.middleware.CachedTenantMiddleware",  # django-tenants' host lookup, remembered (ADR 0034)
    "traf3li.core.middleware.FirmTimezoneMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language (cookie, Accept-Language); UserLanguageMiddleware below may override it.
    "traf3li.core.middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "traf3li.core.middleware.UserLanguageMiddleware",  # needs request.user: the user's, else the firm's language
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "traf3li.core.middleware.RequestContextMiddleware",
]
# What the providers' webhooks (/hooks/) run through, as gunicorn serves them (traf3li.core.handlers):
# their firm and the audit's action context; no session, user, CSRF or language.
HOOKS_MIDDLEWARE = [
    "traf3li.core.middleware.TrustedProxySchemeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "traf3li.core.middleware.CachedTenantMiddleware",
    "traf3li.core.middleware.RequestContextMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "traf3li.wsgi.application"
AUTH_USER_MODEL = "users.User"
# Failed logins per firm and username, and per client address, within a window (traf3li.core.throttle).
LOGIN_THROTTLE = {"window": 900, "per_username": 5, "per_ip": 30}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# Each language named in itself, so a user finds theirs whatever language the page is in.
LANGUAGES = [("en", "English"), ("ar", "العربية")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_FIRM_TIMEZONE = "Asia/Riyadh"
PHONE_DEFAULT_REGION = "SA"

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# WhiteNoise serves STATIC_ROOT (filled by ``collectstatic``) under gunicorn too. Without DEBUG the
# files are hashed (cached forever) and pre-compressed; with DEBUG the plain storage lets tests and
# runserver work without a collectstatic (WhiteNoise then finds files through the finders).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Follow the DEBUG of the environment, not of the test runner (which turns it off): a checkout
# without collectstatic serves the apps' files as they are, and edits show up without a restart.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Files the product writes that no one may fetch without a check of its own: never under STATIC_ROOT
# (WhiteNoise serves that) and never a MEDIA_ROOT served by a web server. Each firm's files sit in a
# directory named after its schema.
PRIVATE_ROOT = Path(os.environ.get("PRIVATE_ROOT", BASE_DIR / "private"))
# Privacy exports (ADR 0067): a subject whose 360° view holds more entries than this is exported by a
# task (202, a status URL) instead of in the request; its file and download link expire after a day.
PRIVACY_EXPORT_ROOT = PRIVATE_ROOT / "privacy-exports"
PRIVACY_EXPORT_INLINE_MAX_ENTRIES = int(os.environ.get("PRIVACY_EXPORT_INLINE_MAX_ENTRIES", "2000"))
PRIVACY_EXPORT_EXPIRY_SECONDS = int(os.environ.get("PRIVACY_EXPORT_EXPIRY_SECONDS", str(24 * 3600)))

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Without this, two firms share one cache namespace (docs/stack-notes.md trap 11).
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    }
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# Seconds per blocking SMTP operation: without it a hung mail server hangs the reminder worker forever.
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Traf3li <no-reply@traf3li.local>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "traf3li.api.authentication.TokenAuthentication",  # speaks the token user's language
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "traf3li.api.parsers.JSONParser",  # DRF's, with a nesting limit
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "traf3li.api.pagination.KeysetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "traf3li.api.schema.AutoSchema",  # declares each operation's 4xx answers
    "EXCEPTION_HANDLER": "traf3li.api.exceptions.exception_handler",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Traf3li Timeline API",
    "DESCRIPTION": (
        "One 360° view of each client, case and lead. Reach a firm at `<slug>.<BASE_DOMAIN>`. "
        "To try it out, type the firm's slug in the server's {firm} field and Authorize with "
        "`Token <key>` (POST /api/v1/auth/token/ on that firm's host gives one)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files (WhiteNoise), never a CDN.
    # ReDoc (/api/redoc/) uses templates/drf_spectacular/redoc.html: system fonts, and no logo
    # fetched from the internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    # Tags start collapsed: past about 127 operations, Swagger UI (5.x) shows only the first tag
    # when it is asked to expand them all, and says nothing.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "docExpansion": "none"},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # servers: http://{firm}.<BASE_DOMAIN>:<port>, so "Try it out" reaches a firm's API.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "traf3li.api.schema.add_firm_servers",
    ],
    "ENUM_NAME_OVERRIDES": {
        # "kind" and "source" mean different things on clients, leads and timeline entries.
        "EntryKindEnum": "timeline.choices.EntryKind",
        "EntrySourceEnum": "timeline.choices.EntrySource",
        # Every "status" field of its own name: cases, leads, events, attendees, emails, invoices, installments.
        "CaseStatusEnum": "traf3li.crm.choices.CaseStatus",
        "LeadStatusEnum": "traf3li.crm.choices.LeadStatus",
        "EventStatusEnum": "timeline.events.choices.EventStatus",
        "AttendeeStatusEnum": "timeline.events.choices.AttendeeStatus",
        "EmailStatusEnum": "messaging.choices.EmailStatus",
        "InvoiceStatusEnum": "billing.choices.InvoiceStatus",
        "InstallmentStatusEnum": "billing.choices.InstallmentStatus",
        "PrivacyJobStatusEnum": "privacy.export.STATUSES",  # a queued export's or erasure's state
    },
}

# --- Celery ------------------------------------------------------------------------------------
# kombu spells a unix-socket Redis (the embedded fallback) redis+socket://
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL.replace("unix://", "redis+socket://", 1))
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True  # a crashed worker's task is redelivered, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BEAT_SCHEDULER = "tenant_schemas_celery.scheduler.TenantAwarePersistentScheduler"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
