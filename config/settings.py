"""Resee settings: every value comes from the environment (see README, Configuration)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from config.env import (
    cache_config,
    database_config,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_str,
    redis_url_of_test_worker,
)

BASE_DIR = Path(__file__).resolve().parent.parent
TESTING = "pytest" in sys.modules or env_bool("RESEE_TESTING", False)

DEBUG = env_bool("DEBUG", False)
_DEV_SECRET = "insecure-dev-secret-key-change-me-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET if (DEBUG or TESTING) else "")
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")
FRONTEND_URL = env_str("FRONTEND_URL", SITE_URL).rstrip("/")

INSTALLED_APPS = [
    "modules.identity.apps.ReseeAdminConfig",  # django.contrib.admin, its login throttled
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "django.contrib.postgres",
    "ninja",
    "ninja_jwt",
    "ninja_jwt.token_blacklist",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    # Apps listed first win a management command's name: ops' ``qcluster`` (a bounded stop) comes
    # before Django-Q2's own.
    "modules.identity",
    "modules.learning",
    "modules.ai",
    "modules.insights",
    "modules.ops",
    "modules.portability",
    "django_q",
]
SITE_ID = 1

MIDDLEWARE = [
    "config.middleware.AccessLogMiddleware",  # outermost: its line times and ids everything below
    "config.middleware.DatabaseScopeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # the admin's and the API docs' static files, from STATIC_ROOT (collectstatic; the image runs it)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "modules.ops.middleware.RequestMetricsMiddleware",
    "config.middleware.ApiErrorBodyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.CommonMiddleware",  # Django's, with 308 for a missing trailing slash
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- Database -------------------------------------------------------------------------------
# Tests run against the real local servers unless told otherwise (never an embedded stand-in).
_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/resee"
_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"
# The Django-Q2 cluster forks its processes (sentinel, pusher, monitor, workers). A psycopg pool
# inherited across fork hands the same sockets to several processes, which corrupts the protocol
# ("Failed to pull task from broker", lost tasks): the cluster never uses the pool. Each of its
# processes opens and keeps its own connection (django-q2 closes connections before every fork).
WORKER_PROCESS = sys.argv[1:2] == ["qcluster"]
_DB_POOL = env_bool("DATABASE_POOL", True) and not WORKER_PROCESS
_DB_OPTIONS = {
    "pool_max": env_int("DATABASE_POOL_MAX", 10),
    "pool": _DB_POOL,
    "conn_max_age": env_int("DATABASE_CONN_MAX_AGE", 60),
    # how long a request waits for a connection while PostgreSQL is unreachable, then answers 503
    "pool_timeout": env_float("DATABASE_POOL_TIMEOUT", 3.0),
    "connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 5),
}
DATABASES = {
    "default": database_config(
        env_str("DATABASE_URL", _TEST_DATABASE_URL if TESTING else ""),
        sqlite_path=str(BASE_DIR / "db.sqlite3"),
        **_DB_OPTIONS,
    ),
}
_replica_url = env_str("DATABASE_REPLICA_URL")
if _replica_url:
    DATABASES["replica"] = database_config(_replica_url, sqlite_path="", **_DB_OPTIONS)
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["config.db_router.LagAwareReplicaRouter"]  # lag-tolerant reads only
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (Redis when REDIS_URL is set, else local memory) -----------------------------------
REDIS_URL = env_str("REDIS_URL", _TEST_REDIS_URL if TESTING else "")
if "pytest" in sys.modules and REDIS_URL:  # under pytest -n N, each worker its own Redis database
    REDIS_URL = redis_url_of_test_worker(REDIS_URL, env_str("PYTEST_XDIST_WORKER"))
CACHES = {"default": cache_config(REDIS_URL)}

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "identity.User"
# Only Django's ModelBackend: allauth's login flows are not routed, and a second backend would hash a
# wrong password twice (slower failed logins, and a timing difference between failure kinds).
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
PASSWORD_RESET_TIMEOUT = 3600  # seconds: reset tokens live one hour
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Hashing cost is irrelevant to what the tests check; production keeps PBKDF2's default.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

NINJA_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=60),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=7),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY", SECRET_KEY),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "LEEWAY": 0,
}

GOOGLE_CLIENT_ID = env_str("GOOGLE_CLIENT_ID")  # comma-separated when web and mobile apps differ
GOOGLE_JWKS_URL = env_str("GOOGLE_JWKS_URL", "https://www.googleapis.com/oauth2/v3/certs")
GOOGLE_HTTP_TIMEOUT = env_float("GOOGLE_HTTP_TIMEOUT", 5.0)
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
SOCIALACCOUNT_PROVIDERS = {
    "google": {
        "APPS": [{"client_id": GOOGLE_CLIENT_ID, "secret": "", "key": ""}] if GOOGLE_CLIENT_ID else []
    },
}

# --- Throttles ------------------------------------------------------------------------------
THROTTLES_ENABLED = env_bool("THROTTLES_ENABLED", True)
AUTH_THROTTLE_RATE = env_str("AUTH_THROTTLE_RATE", "100/hour")
# Wrong passwords per account (login, admin login, password change, account deletion), whatever the
# address; past it the account's password checks answer 429 until the window ends.
LOGIN_FAILURE_RATE = env_str("LOGIN_FAILURE_RATE", "10/15m")
MONITORING_HEALTH_THROTTLE_RATE = env_str("MONITORING_HEALTH_THROTTLE_RATE", "1000/hour")
NUM_PROXIES = env_int("NUM_PROXIES", 0)

# --- Background work (Django-Q2) --------------------------------------------------------------
Q_BROKER = env_str("Q_BROKER", "orm").lower()
Q_CLUSTER: dict = {
    "name": "resee",
    "workers": env_int("Q_WORKERS", 2),
    "recycle": 500,
    "timeout": env_int("Q_TIMEOUT", 120),  # seconds a task may run
    "retry": env_int("Q_RETRY", 180),  # must exceed timeout, or a slow task runs twice
    "max_attempts": env_int("Q_MAX_ATTEMPTS", 3),
    "catch_up": False,  # a worker that was down does not replay every missed minute
    "save_limit": 1000,
    "ack_failures": True,
    "label": "Django Q2",
    "sync": env_bool("Q_SYNC", TESTING),  # tests run tasks inline
    "poll": 1,
}
Q_STOP_GRACE_SECONDS = env_float("Q_STOP_GRACE_SECONDS", 12.0)  # then busy workers are killed
if Q_BROKER == "redis" and REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Email ----------------------------------------------------------------------------------
# The default logs that a message was not sent, never its body (one-time links): docs/ops.md.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "modules.identity.email_backends.ConsoleEmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Resee <no-reply@resee.local>")
AWS_SES_REGION = env_str("AWS_SES_REGION", env_str("AWS_REGION", "us-east-1"))
AWS_SES_CONFIGURATION_SET = env_str("AWS_SES_CONFIGURATION_SET")
# django-ses (EMAIL_BACKEND=django_ses.SESBackend) reads AWS_SES_CONFIGURATION_SET as it is, and these:
AWS_SES_REGION_NAME = AWS_SES_REGION
USE_SES_V2 = True
# No in-process rate limiting: it calls SES GetAccount and sleeps in a worker; the outbox retries a
# throttled send instead.
AWS_SES_AUTO_THROTTLE = None
EMAIL_MAX_ATTEMPTS = env_int("EMAIL_MAX_ATTEMPTS", 5)  # outbox: tries per email before it is marked failed
EMAIL_RETRY_BACKOFF_SECONDS = env_int("EMAIL_RETRY_BACKOFF_SECONDS", 60)  # x4 per further attempt
ADMIN_EMAILS = env_list("ADMIN_EMAILS", [])

# --- AI -------------------------------------------------------------------------------------
ANTHROPIC_API_KEY = env_str("ANTHROPIC_API_KEY")
AI_PROVIDER = env_str("AI_PROVIDER", "claude" if ANTHROPIC_API_KEY else "local").lower()
# claude-sonnet-4-5 reaches end-of-life on 2026-11-30 (anthropic SDK deprecation table).
ANTHROPIC_MODEL = env_str("ANTHROPIC_MODEL", "claude-sonnet-4-6")
AI_REQUEST_TIMEOUT = env_float("AI_REQUEST_TIMEOUT", 60.0)
AI_MAX_RETRIES = env_int("AI_MAX_RETRIES", 3)
# Dotted path of a callable returning an httpx2.Client for the Anthropic SDK (a proxy; tests: a mock transport).
AI_HTTP_CLIENT_FACTORY = env_str("AI_HTTP_CLIENT_FACTORY")
AI_JOB_STALE_MINUTES = env_int("AI_JOB_STALE_MINUTES", 30)  # a queued/running job older than this is failed
# A generation job's task works this long, then queues the job's continuation (modules/ai/services/jobs.py).
AI_JOB_SLICE_SECONDS = env_float("AI_JOB_SLICE_SECONDS", max(1.0, Q_CLUSTER["timeout"] / 2))
# The web server's own limit on a request (docker/entrypoint.sh passes it to gunicorn, whose arbiter
# kills a worker still busy after it: the client gets a bare 500 page), and the part of it a Claude call
# made while the user waits may take, retries included (generate, evaluate, analyze; docs/ai.md).
GUNICORN_TIMEOUT = env_float("GUNICORN_TIMEOUT", 30.0)
AI_SYNC_TIMEOUT_SECONDS = env_float("AI_SYNC_TIMEOUT_SECONDS", round(GUNICORN_TIMEOUT * 0.8, 1))

# --- Ops ------------------------------------------------------------------------------------
SLACK_WEBHOOK_URL = env_str("SLACK_WEBHOOK_URL")
SLACK_WEBHOOK_ALLOWED_HOSTS = env_list("SLACK_WEBHOOK_ALLOWED_HOSTS", ["hooks.slack.com"])
METRICS_BEARER_TOKEN = env_str("METRICS_BEARER_TOKEN")
REQUEST_METRICS_ENABLED = env_bool("REQUEST_METRICS_ENABLED", True)
# The compiled-query shortcut of the hot reads (modules/common/compiled.py); 0 runs them through the ORM.
COMPILED_QUERIES = env_bool("COMPILED_QUERIES", True)
# Plan the hot statements once per connection (modules/common/compiled.py, docs/benchmarks.md): the
# compiled reads and the review's write are prepared, and prepared statements and the triggers' SQL
# keep one generic plan (plan_cache_mode, a startup option). 0 for a pooler that cannot keep prepared
# statements or refuses startup options (PgBouncer < 1.21 in transaction mode).
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
if DATABASE_PREPARED_STATEMENTS:
    for _database in DATABASES.values():
        if _database["ENGINE"] == "django.db.backends.postgresql":
            _options = _database["OPTIONS"]
            _options.setdefault("prepare_threshold", 2**31 - 1)  # compiled.PREPARE_THRESHOLD
            if "plan_cache_mode" not in _options.get("options", ""):
                _options["options"] = (
                    f"{_options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
                )
# Seconds a cached today's queue / content list may serve (invalidated by every write; 0 = off).
LEARNING_READ_CACHE_SECONDS = env_int("LEARNING_READ_CACHE_SECONDS", 30)
# Off only for a local webhook server (the system tests'); production webhooks are HTTPS.
SLACK_WEBHOOK_REQUIRE_HTTPS = env_bool("SLACK_WEBHOOK_REQUIRE_HTTPS", True)
SLACK_TIMEOUT_SECONDS = env_float("SLACK_TIMEOUT_SECONDS", 5.0)
ALERT_NOTIFY_MAX_ATTEMPTS = env_int("ALERT_NOTIFY_MAX_ATTEMPTS", 10)  # deliveries (sweeps) before giving up
METRICS_RETENTION_DAYS = env_int("METRICS_RETENTION_DAYS", 30)
OPS_DISK_PATH = env_str("OPS_DISK_PATH", "/")
SENTRY_DSN = env_str("SENTRY_DSN")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production")
SENTRY_TRACES_SAMPLE_RATE = env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0)
SENTRY_SEND_PII = env_bool("SENTRY_SEND_PII", False)

# --- Data export and import (docs/portability.md) ----------------------------------------------
# Web and worker must share these directories (one volume) when they run in separate containers.
PORTABILITY_EXPORT_DIR = Path(env_str("PORTABILITY_EXPORT_DIR", str(BASE_DIR / "var" / "exports")))
PORTABILITY_UPLOAD_DIR = Path(env_str("PORTABILITY_UPLOAD_DIR", str(BASE_DIR / "var" / "imports")))
# holds a million-review learner's JSON export (366 MB; docs/benchmarks.md, "Portability at scale")
PORTABILITY_MAX_UPLOAD_BYTES = env_int("PORTABILITY_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
PORTABILITY_MAX_EXPANDED_BYTES = env_int("PORTABILITY_MAX_EXPANDED_BYTES", 1024 * 1024 * 1024)  # zip contents
PORTABILITY_MAX_COMPRESSION_RATIO = env_int("PORTABILITY_MAX_COMPRESSION_RATIO", 100)  # per zip member
PORTABILITY_EXPORT_KEEP_HOURS = env_int("PORTABILITY_EXPORT_KEEP_HOURS", 24)  # then the file is pruned
PORTABILITY_LINK_SECONDS = env_int("PORTABILITY_LINK_SECONDS", 600)  # a download link's lifetime
# how many exports, and how many imports, one learner may have queued or running at once
PORTABILITY_MAX_ACTIVE_JOBS = env_int("PORTABILITY_MAX_ACTIVE_JOBS", 2)

# --- i18n / time ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"  # cron schedules are read in it; users' local days come from user.timezone
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_str("STATIC_ROOT", str(BASE_DIR / "var" / "static"))
# Served by the application itself (WhiteNoise), so the production topology (gunicorn alone, no proxy
# serving files) has the admin's CSS and JavaScript and the Swagger UI; with DEBUG on, from the apps.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Security defaults when DEBUG is off -------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG and not TESTING:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # One year, the value browsers' preload lists and scanners expect: production already redirects to
    # HTTPS and sends secure cookies only. A first HTTPS rollout on a domain may stage it (300, then a
    # week, then this; 0 sends no header): README, "Configuration".
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)  # opt-in: browsers' lists are slow to leave
    SECURE_REFERRER_POLICY = "same-origin"
    SECURE_REDIRECT_EXEMPT = [r"^api/(v1/)?health/"]  # both prefixes (docs/api.md)

# --- Logging: structured (one JSON object a line) to stdout -------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "filters": {"request_id": {"()": "config.logging.RequestIdFilter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own handlers (a plain-text console with DEBUG on, runserver's request lines) are
        # replaced: every record goes through the root's JSON formatter, which redacts secrets.
        "django": {"level": "INFO", "handlers": []},
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING", "propagate": True},
        "django-q": {"level": env_str("Q_LOG_LEVEL", "INFO")},
    },
}

if SENTRY_DSN:
    from config.observability import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=SENTRY_ENVIRONMENT,
        traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
        user_info=SENTRY_SEND_PII,
    )

# --- Ninja ------------------------------------------------------------------------------------
NINJA_PAGINATION_PER_PAGE = 20
NINJA_PAGINATION_MAX_LIMIT = 100
NINJA_MAX_PER_PAGE_SIZE = 100
