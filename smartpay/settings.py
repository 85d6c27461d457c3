"""SmartPay settings: everything comes from the environment, with an embedded default.

With no variables set the project runs on one machine with nothing to install:
SQLite, local-memory cache, in-memory channel layer, Celery over a SQLite broker,
files under ``DATA_DIR`` and e-mail printed to the console. Production sets the
usual names (``DATABASE_URL``, ``REDIS_URL``, ``AWS_*``, ``EMAIL_URL`` ...); README
lists every variable.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _embedded_secret_key(data_dir: Path) -> str:
    """A random key kept in the data folder, so the embedded default needs no setup."""
    path = data_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _embedded_secret_key(DATA_DIR)
DEBUG = env.bool("DEBUG", default=False)
# HTTPS=true in production turns on secure cookies, HSTS and the SSL redirect;
# the embedded default serves plain HTTP on localhost.
HTTPS = env.bool("HTTPS", default=False)
if HTTPS and not env.str("SECRET_KEY", default=""):
    raise ImproperlyConfigured("HTTPS=true is production: set SECRET_KEY in the environment.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "smartpay.apps.SmartPayAdminConfig",  # the admin, behind MFA for staff
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "csp",
    "django_prometheus",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.headless",
    "allauth.usersessions",
    "smartpay",
    "notifications",
    "marketplace",
    "escrow",
    "disputes",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "smartpay.request_context.RequestOriginMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "smartpay.throttle.PageWriteThrottleMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last on purpose: WhiteNoise is sync-only, and a sync-only middleware at the
    # bottom runs the whole chain in one thread under ASGI. Anywhere higher,
    # Django hops between event loop and thread around every middleware above
    # it (measured: 7.7 ms -> 3.3 ms per request in-process). Static requests
    # still skip the views; session and auth are lazy and do no work for them.
    "whitenoise.middleware.WhiteNoiseMiddleware",
]

ROOT_URLCONF = "smartpay.urls"
ASGI_APPLICATION = "smartpay.asgi.application"
WSGI_APPLICATION = "smartpay.wsgi.application"

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
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'smartpay.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + immediate transactions let the web process and the Celery worker
    # write to one SQLite file without "database is locked" errors.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ATOMIC_REQUESTS = False  # services own their transactions (STYLE.md)

# --- Cache, channels, Celery: Redis when REDIS_URL is set ------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # channels-redis drops messages past `capacity` (default 100).
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1500, "expiry": 60},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL",
    default=REDIS_URL or f"sqla+sqlite:///{DATA_DIR / 'celery-broker.sqlite3'}",
)
CELERY_RESULT_BACKEND = env.str(
    "CELERY_RESULT_BACKEND",
    default=REDIS_URL or f"db+sqlite:///{DATA_DIR / 'celery-results.sqlite3'}",
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Redis re-delivers tasks whose countdown exceeds the visibility timeout: far
# future work is scheduled with beat, and no task counts down past this.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# --- Storage ---------------------------------------------------------------
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
_default_storage: dict[str, Any]
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "access_key": env.str("AWS_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("AWS_SECRET_ACCESS_KEY", default="") or None,
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="auto"),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- E-mail ----------------------------------------------------------------
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH", str(DATA_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="SmartPay <no-reply@smartpay.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Staff who get operational alerts (chargebacks, reconciliation drift): comma-separated e-mails.
ADMINS = [("", address) for address in env.list("ADMINS", default=[])]

# --- Auth ------------------------------------------------------------------
AUTH_USER_MODEL = "marketplace.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# django-allauth: e-mail is the login; verification is mandatory.
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_SIGNUP_FORM_CLASS = "marketplace.forms.RolesSignupForm"
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_CHANGE_EMAIL = True  # a new address replaces the old only once verified
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
ACCOUNT_CONFIRM_EMAIL_ON_GET = False  # links are confirmed by a POST, not by a mail scanner
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if HTTPS else "http"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[SmartPay] "
# Failed logins per address: 5 in 5 minutes, then 10 an hour — a growing lockout.
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("LOGIN_FAILED_RATE", default="10/m/ip,5/5m/key,10/1h/key"),
    "login": "30/m/ip",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
    "change_password": "5/m/user",
    "reauthenticate": "10/m/user",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "SmartPay"
MFA_RECOVERY_CODE_COUNT = 10
# A code typed as the 30-second step turns over (or with a phone's clock a little off)
# is still accepted: one step either way, as RFC 6238 recommends; a used code is not.
MFA_TOTP_TOLERANCE = 1
# Tracking "last seen" writes a row on every logged-in request (measured: halves the
# throughput of /api/v1/me/); the sessions page shows when each session logged in.
USERSESSIONS_TRACK_ACTIVITY = False
# Third-party apps use the headless API at /_allauth/app/v1/ with a session token.
HEADLESS_ONLY = False
HEADLESS_CLIENTS = ("app", "browser")
HEADLESS_SERVE_SPECIFICATION = True  # /_allauth/openapi.json, shown beside ours in /api/v1/docs/
HEADLESS_SPECIFICATION_TEMPLATE_NAME = (
    None  # its HTML page loads a CDN script; our docs page shows it
)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security --------------------------------------------------------------
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # load balancers probe over HTTP
if env.bool("TRUST_X_FORWARDED_PROTO", default=HTTPS):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        "base-uri": [SELF],
        "object-src": [NONE],
    }
}

# --- API -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # `X-Session-Token` from allauth's headless app API, for third-party apps.
        "allauth.headless.contrib.rest_framework.authentication.XSessionTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "smartpay.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "smartpay.api.exceptions.handle_api_exception",
    "DEFAULT_SCHEMA_CLASS": "smartpay.api.schema.ErrorResponsesSchema",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="120/min"),
        "user": env.str("THROTTLE_USER", default="1200/min"),
        # Scopes for sensitive endpoints: views set `throttle_scope`.
        "auth": env.str("THROTTLE_AUTH", default="10/min"),
        "money": env.str("THROTTLE_MONEY", default="60/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Pages that change something (forms, the admin), per user or per visitor's address;
# the API has the rates above and allauth its own for logins (smartpay.throttle).
PAGE_WRITE_RATE = env.str("THROTTLE_PAGE_WRITE", default="120/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "SmartPay API",
    "DESCRIPTION": (
        'Milestone escrow marketplace. Errors are always `{"code", "detail"}`; '
        "money-moving POSTs accept an `Idempotency-Key` header."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {
        "urls": [
            {"url": "/api/v1/schema/", "name": "SmartPay API v1"},
            {"url": "/_allauth/openapi.json", "name": "Accounts (sign-up, login, MFA)"},
        ],
        "persistAuthorization": True,
    },
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
# Same key + same body returns the stored response; a second request that
# arrives while the first is running waits this long for it to finish.
IDEMPOTENCY_WAIT_SECONDS = env.float("IDEMPOTENCY_WAIT_SECONDS", default=10.0)
# A claim left running longer than this (crashed worker) may be taken over.
IDEMPOTENCY_STALE_SECONDS = env.int("IDEMPOTENCY_STALE_SECONDS", default=120)
IDEMPOTENCY_KEEP_HOURS = env.int("IDEMPOTENCY_KEEP_HOURS", default=24)

# --- Product settings (used by later apps) ---------------------------------
PLATFORM_FEE_BPS = env.int("PLATFORM_FEE_BPS", default=1000)
ESCROW_REVIEW_DAYS = env.int("ESCROW_REVIEW_DAYS", default=14)
DISPUTE_RESPONSE_DAYS = env.int("DISPUTE_RESPONSE_DAYS", default=5)
# Unread chat messages wait this long before a member who is away gets a digest.
CHAT_DIGEST_MINUTES = env.int("CHAT_DIGEST_MINUTES", default=15)
# An arbiter's time to decide an assigned case (overdue after that).
DISPUTE_DECISION_DAYS = env.int("DISPUTE_DECISION_DAYS", default=7)
# A decision executes after this many days unless a party appeals (once) in time.
DISPUTE_APPEAL_DAYS = env.int("DISPUTE_APPEAL_DAYS", default=3)
# Disputed amounts above these (minor units per currency) need a second arbiter
# to confirm the decision. "usd=100000,eth=..."; a currency not listed never does.
DISPUTE_SECOND_ARBITER_ABOVE: dict[str, int] = {
    code.strip().lower(): int(amount)
    for code, amount in (
        item.split("=", 1)
        for item in env.str(
            "DISPUTE_SECOND_ARBITER_ABOVE",
            default="usd=100000,eur=100000,gbp=100000,eth=500000000000000000,usdc=1000000000",
        ).split(",")
        if "=" in item
    )
}
PAYOUT_HOLD_DAYS = env.int("PAYOUT_HOLD_DAYS", default=5)
# Smallest payout, in minor units of the payout's currency (cents).
PAYOUT_MINIMUM = env.int("PAYOUT_MINIMUM", default=1000)
PAYOUT_MAX_ATTEMPTS = env.int("PAYOUT_MAX_ATTEMPTS", default=6)
REFUND_RESPONSE_DAYS = env.int("REFUND_RESPONSE_DAYS", default=7)

# --- Card rail (Stripe; the sandbox provider when no secret key is set) ------------
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
# The sandbox signs its events with this secret when STRIPE_WEBHOOK_SECRET is unset.
STRIPE_WEBHOOK_SECRET = (
    env.str("STRIPE_WEBHOOK_SECRET", default="") or "whsec_sandbox_" + (SECRET_KEY[:24])
)
# Events from connected accounts (account.updated) are signed by the Connect endpoint's secret.
STRIPE_CONNECT_WEBHOOK_SECRET = env.str("STRIPE_CONNECT_WEBHOOK_SECRET", default="")
# Only for pointing the SDK at a Stripe-compatible test server.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_CONNECT_COUNTRY = env.str("STRIPE_CONNECT_COUNTRY", default="US")
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)
# Public base URL for links leaving the site (Stripe onboarding returns, sandbox events).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="smartpay-demo-2026")

# --- Chain (Sign-In with Ethereum now; the chain rail later) ------------------
CHAIN_ID = env.int("CHAIN_ID", default=31337)  # anvil's default chain id
CHAIN_RPC_URL = env.str("CHAIN_RPC_URL", default="")
# Private key that deploys the escrow contract; empty uses the node's unlocked account (anvil).
CHAIN_DEPLOYER_KEY = env.str("CHAIN_DEPLOYER_KEY", default="")
# The platform key that signs arbiter resolutions (never logged). Empty: no chain rail.
CHAIN_ARBITER_KEY = env.str("CHAIN_ARBITER_KEY", default="")
# Where the contract credits platform fees (a cold wallet, not the arbiter key).
CHAIN_TREASURY_ADDRESS = env.str("CHAIN_TREASURY_ADDRESS", default="")
# The USDC token; empty uses the TestToken `chain_deploy --test-token` recorded (dev chains).
CHAIN_USDC_ADDRESS = env.str("CHAIN_USDC_ADDRESS", default="")
# Chain sync reads up to head - CHAIN_CONFIRMATIONS ("finalized" where the node offers it
# and CHAIN_USE_FINALIZED is set); money is credited only there.
CHAIN_CONFIRMATIONS = env.int("CHAIN_CONFIRMATIONS", default=12)
CHAIN_USE_FINALIZED = env.bool("CHAIN_USE_FINALIZED", default=False)
CHAIN_SYNC_BATCH = env.int("CHAIN_SYNC_BATCH", default=2000)  # blocks per eth_getLogs, adapts
CHAIN_SYNC_INTERVAL_SECONDS = env.int("CHAIN_SYNC_INTERVAL_SECONDS", default=5)
CHAIN_RPC_TIMEOUT_SECONDS = env.float("CHAIN_RPC_TIMEOUT_SECONDS", default=10.0)
# The domain SIWE messages must name; empty means the request's (validated) host.
SIWE_DOMAIN = env.str("SIWE_DOMAIN", default="")
SIWE_NONCE_TTL_SECONDS = env.int("SIWE_NONCE_TTL_SECONDS", default=300)

# --- Operations --------------------------------------------------------------------
# Backups (manage.py backup / restore and the nightly task) go to the "backups" storage:
# S3 under BACKUP_LOCATION when a bucket is set, else DATA_DIR/backups.
BACKUP_KEEP_DAILY = env.int("BACKUP_KEEP_DAILY", default=7)
BACKUP_KEEP_WEEKLY = env.int("BACKUP_KEEP_WEEKLY", default=4)
BACKUP_LOCATION = env.str("BACKUP_LOCATION", default="backups")
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["backups"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            **_default_storage["OPTIONS"],
            "bucket_name": env.str("BACKUP_BUCKET", default=AWS_STORAGE_BUCKET_NAME),
            "location": BACKUP_LOCATION,
            "file_overwrite": True,
        },
    }
else:
    STORAGES["backups"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / BACKUP_LOCATION)},
    }
# /metrics answers a bearer token (METRICS_TOKEN) or a client in METRICS_ALLOWED_NETWORKS;
# production (HTTPS=true) allows no network unless told, so anonymous scrapes get 403.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list(
    "METRICS_ALLOWED_NETWORKS", default=[] if HTTPS else ["127.0.0.1/32", "::1/128"]
)
SENTRY_DSN = env.str("SENTRY_DSN", default="")
# "json" (one object per line, with the request id) or "plain" for a terminal.
LOG_FORMAT = env.str("LOG_FORMAT", default="json")

# One console stream for every logger (ours, Django's, Celery's, uvicorn's), each line
# with its request id and origin; see smartpay/logs.py. The worker keeps it too
# (smartpay/celery.py tells Celery not to install its own handlers).
from smartpay.logs import logging_config  # noqa: E402 - beside the setting it builds

LOGGING = logging_config(LOG_FORMAT, env.str("LOG_LEVEL", default="INFO").upper())

# Error reports go to Sentry only when SENTRY_DSN is set; see smartpay/observability.py.
from smartpay.observability import init_sentry  # noqa: E402 - runs only with a DSN

init_sentry(
    SENTRY_DSN,
    environment=env.str("SENTRY_ENVIRONMENT", default="production" if HTTPS else "development"),
)
