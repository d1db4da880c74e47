"""One settings module for every environment.

Every value comes from the environment and has an embedded default, so that a fresh
checkout runs with no configuration (SQLite, local files, in-process worker, offline AI).
Production sets DATABASE_URL, REDIS_URL and friends; see README.md.
"""

import datetime
import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    """Read NAME, or the contents of the file named by NAME_FILE (for secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = env(name, "1" if default else "0").strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env(name, str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
# The embedded default (no DATABASE_URL) is a developer's or a single consultant's
# machine; production is anything with an explicit database.
PRODUCTION = bool(env("DATABASE_URL"))

SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DATABASE_URL is set.")
    # Embedded default: a key kept beside the SQLite file, so sessions survive restarts.
    _key_file = BASE_DIR / "var" / "secret_key"
    if not _key_file.exists():
        from django.core.management.utils import get_random_secret_key

        _key_file.parent.mkdir(parents=True, exist_ok=True)
        _key_file.write_text(get_random_secret_key(), encoding="utf-8")
    SECRET_KEY = _key_file.read_text(encoding="utf-8").strip()

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    # auth/security headers (accounts): login lockout, CSP, CORS for /api/
    "axes",
    "csp",
    "corsheaders",
    "django_dramatiq",
    "batches",
    "cards",
    "resilience",
    # ---- firms: firms, memberships, batch sharing; the audit log ----
    "accounts",
    "audit",
]

MIDDLEWARE = [
    # ops: outermost, so every response (redirects and errors too) is timed and carries the id.
    "rndcards.logs.RequestIdMiddleware",
    "rndcards.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # auth/security headers (accounts): CSP on every response (error pages too), CORS
    # answered before anything else can respond.
    "csp.middleware.CSPMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # --- ratelimit: 100 requests/min per user (rndcards/ratelimit.py); needs request.user ---
    "rndcards.ratelimit.RateLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "rndcards.middleware.HtmxLoginRequiredMiddleware",
    "rndcards.middleware.MethodNotAllowedPageMiddleware",
    # ---- firms: the client address for audit records written by services ----
    "audit.context.AuditContextMiddleware",
    # auth/security headers (accounts): last, as django-axes requires.
    "axes.middleware.AxesMiddleware",
]

# models.W040: SQLite ignores an index's INCLUDE columns. The covering index of the
# dashboard's counts (batches.Project, project_batch_counts) is a PostgreSQL optimisation;
# on the embedded default it is a plain index, which is all SQLite needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

ROOT_URLCONF = "rndcards.urls"
WSGI_APPLICATION = "rndcards.wsgi.application"
ASGI_APPLICATION = "rndcards.asgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------
if PRODUCTION:
    DATABASES = {
        "default": dj_database_url.parse(
            env("DATABASE_URL"),
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # No JIT compilation: every page's queries are small, but the planner's cost estimate
        # of the dashboard's counts over thousands of projects passes jit_above_cost, and
        # compiling took 26 ms of a 28 ms query (bench/bench_pages.py). `?options=` in
        # DATABASE_URL still adds server settings of its own.
        _options = DATABASES["default"].setdefault("OPTIONS", {})
        _options["options"] = " ".join(filter(None, ["-c jit=off", _options.get("options", "")]))
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("SQLITE_PATH", str(BASE_DIR / "var" / "db.sqlite3")),
            "OPTIONS": {
                # The in-process worker writes from other threads while requests are
                # served: WAL and immediate transactions avoid "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # A file, not the in-memory default: worker threads (and a worker process in
            # the broker tests) must see the test data with real locking.
            # One file per test process, so parallel runs do not share it.
            "TEST": {"NAME": env("SQLITE_TEST_PATH", str(BASE_DIR / "var" / f"test-db-{os.getpid()}.sqlite3"))},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache --------------------------------------------------------------------
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                # Redis down is degraded mode, not an outage: cache misses instead of errors.
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- background jobs ------------------------------------------------------------
# "stub" means the embedded mode: messages stay in this process and an in-process
# worker (rndcards.worker) runs them. Otherwise a redis:// or amqp:// URL.
DRAMATIQ_BROKER_URL = env("DRAMATIQ_BROKER_URL", REDIS_URL or "stub")
_DRAMATIQ_MIDDLEWARE = [
    # The actor reads its message id to recognise its own redelivery (cards.tasks).
    "dramatiq.middleware.CurrentMessage",
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Retries",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    "rndcards.worker.PrefetchPerThread",
    # Worker processes import the model SDKs and build their clients at boot, not on the first card.
    "rndcards.worker.PreloadProviders",
    # ops: the request id of whoever queued a job is on the job's log lines.
    "rndcards.logs.RequestIdDramatiqMiddleware",
]
# ops: worker processes serve their metrics (dramatiq_* and rndcards_generation_*) on
# dramatiq_prom_host:dramatiq_prom_port (0.0.0.0:9191), unprotected: internal network only.
# Set PROMETHEUS_MULTIPROC_DIR to the same directory as dramatiq_prom_db (deploy/compose.yaml).
if env_bool("DRAMATIQ_PROMETHEUS", False):
    _DRAMATIQ_MIDDLEWARE.append("dramatiq.middleware.prometheus.Prometheus")
if DRAMATIQ_BROKER_URL == "stub":
    DRAMATIQ_BROKER = {"BROKER": "dramatiq.brokers.stub.StubBroker", "OPTIONS": {}, "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE}
elif DRAMATIQ_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        "OPTIONS": {
            "url": DRAMATIQ_BROKER_URL,
            "namespace": env("DRAMATIQ_NAMESPACE", "rndcards"),
            # A worker killed mid-job: its messages go back to the queue once its heartbeat
            # is 15 s old and another worker runs maintenance (5 % of fetches instead of
            # 0.1 %), so the job runs again well within 30 s.
            "heartbeat_timeout": env_int("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", 15_000, minimum=1000),
            "maintenance_chance": env_int("DRAMATIQ_MAINTENANCE_CHANCE", 50_000, minimum=1),
        },
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE,
    }
elif DRAMATIQ_BROKER_URL.startswith(("amqp://", "amqps://")):
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.rabbitmq.RabbitmqBroker",
        "OPTIONS": {"url": DRAMATIQ_BROKER_URL},
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE,
    }
else:
    raise ImproperlyConfigured(
        f"DRAMATIQ_BROKER_URL must be 'stub', redis://… or amqp://…, got {DRAMATIQ_BROKER_URL!r}"
    )
if DRAMATIQ_BROKER_URL != "stub" and not REDIS_URL:
    # Workers in several processes share the per-user generation limit and the providers'
    # circuit breakers through Redis; without it each process would keep its own.
    raise ImproperlyConfigured(
        "REDIS_URL must be set when DRAMATIQ_BROKER_URL points at a broker: the per-user generation "
        "limit and the circuit breakers are shared between worker processes through Redis."
    )
# An idle worker looks for new messages at most this often (Dramatiq's default is 1 s):
# the hand-over of a freed generation slot waits for it. `rundramatiq` execs its worker
# processes with this environment, where Dramatiq reads it as `dramatiq_worker_timeout`.
os.environ.setdefault("dramatiq_worker_timeout", str(env_int("DRAMATIQ_WORKER_TIMEOUT_MS", 100, minimum=10)))
DRAMATIQ_TASKS_DATABASE = "default"
DRAMATIQ_AUTODISCOVER_MODULES = ["tasks"]
# The embedded worker starts lazily in whichever process enqueues (web server,
# make_cards). Tests turn it off and drive a worker themselves.
RNDCARDS_EMBEDDED_WORKER = env_bool("RNDCARDS_EMBEDDED_WORKER", DRAMATIQ_BROKER_URL == "stub")
RNDCARDS_WORKER_THREADS = env_int("RNDCARDS_WORKER_THREADS", 4, minimum=1)
# Prefix of the keys this deployment keeps in Redis (breakers, per-user slots), so that
# two installations or test runs sharing one Redis database never share state.
RNDCARDS_REDIS_PREFIX = env("RNDCARDS_REDIS_PREFIX", env("DRAMATIQ_NAMESPACE", "rndcards"))
# At most this many generations of one user run at once across all workers; the rest
# wait in the queue (Dramatiq's ConcurrentRateLimiter, on Redis when REDIS_URL is set).
RNDCARDS_USER_CONCURRENCY = env_int("RNDCARDS_USER_CONCURRENCY", 5, minimum=1)
# Wall-clock limit of one generation job; past it the project is generation_timeout.
RNDCARDS_JOB_TIME_LIMIT = env_int("RNDCARDS_JOB_TIME_LIMIT", 15 * 60, minimum=1)

# --- files --------------------------------------------------------------------
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic's target, needed in production only (WhiteNoise warns about a missing one).
STATIC_ROOT = env("STATIC_ROOT") or (str(BASE_DIR / "var" / "static") if PRODUCTION else None)
# WhiteNoise serves static files in every mode; without collectstatic (embedded
# default) it reads them straight from the apps and static/.
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# --- S3 storage (health branch) ------------------------------------------------------
# With AWS_STORAGE_BUCKET_NAME set, stored files (uploaded workbooks) go to S3 or any
# S3-compatible server (AWS_S3_ENDPOINT_URL) through django-storages. Objects are private
# (no ACL, signed URLs only) under generated names, and the client gives up fast: a dead
# store must turn an upload into a clear message within seconds, not hang a web worker.
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
AWS_S3_CONNECT_TIMEOUT = env_int("AWS_S3_CONNECT_TIMEOUT", 3, minimum=1)
AWS_S3_READ_TIMEOUT = env_int("AWS_S3_READ_TIMEOUT", 10, minimum=1)
AWS_S3_MAX_ATTEMPTS = env_int("AWS_S3_MAX_ATTEMPTS", 2, minimum=1)
if AWS_STORAGE_BUCKET_NAME:
    from botocore.config import Config as _BotoConfig

    _addressing_style = env("AWS_S3_ADDRESSING_STYLE") or None
    if _addressing_style not in {None, "auto", "virtual", "path"}:
        raise ImproperlyConfigured("AWS_S3_ADDRESSING_STYLE must be auto, virtual or path.")
    _endpoint = env("AWS_S3_ENDPOINT_URL") or None
    if _endpoint and not _endpoint.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"AWS_S3_ENDPOINT_URL must be an http(s):// URL, got {_endpoint!r}")
    AWS_S3_CLIENT_CONFIG = _BotoConfig(
        connect_timeout=AWS_S3_CONNECT_TIMEOUT,
        read_timeout=AWS_S3_READ_TIMEOUT,
        retries={"total_max_attempts": AWS_S3_MAX_ATTEMPTS, "mode": "standard"},
        signature_version="s3v4",
        s3={"addressing_style": _addressing_style} if _addressing_style else None,
    )
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": _endpoint,
            "region_name": env("AWS_S3_REGION_NAME") or None,
            # None: boto3's own chain (environment, instance role) finds the credentials.
            "access_key": env("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env("AWS_SECRET_ACCESS_KEY") or None,
            "client_config": AWS_S3_CLIENT_CONFIG,
            "default_acl": None,  # the bucket's policy decides; never public-read
            "querystring_auth": True,  # any URL handed out is signed and expires
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 300, minimum=1),
            "file_overwrite": False,
        },
    }
# --- end S3 storage ---------------------------------------------------------------------
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- product limits -------------------------------------------------------------
RNDCARDS_MAX_PROJECTS = env_int("RNDCARDS_MAX_PROJECTS", 20, minimum=1)
RNDCARDS_MAX_UPLOAD_BYTES = env_int("RNDCARDS_MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1024)
# --- upload hardening (uploads branch) ----------------------------------------------
# Zip-bomb limits on the uploaded workbook's zip directory, checked before openpyxl opens it
# (batches.excel.ArchiveLimits). The upload view also refuses a request whose Content-Length is
# over RNDCARDS_MAX_UPLOAD_BYTES before reading it (batches.uploadhandlers).
RNDCARDS_UPLOAD_MAX_UNCOMPRESSED_BYTES = env_int(
    "RNDCARDS_UPLOAD_MAX_UNCOMPRESSED_BYTES", 100 * 1024 * 1024, minimum=1024 * 1024
)
RNDCARDS_UPLOAD_MAX_ZIP_MEMBERS = env_int("RNDCARDS_UPLOAD_MAX_ZIP_MEMBERS", 1000, minimum=20)
RNDCARDS_UPLOAD_MAX_COMPRESSION_RATIO = env_int("RNDCARDS_UPLOAD_MAX_COMPRESSION_RATIO", 100, minimum=10)
# --- end upload hardening ----------------------------------------------------------

# --- AI providers ----------------------------------------------------------------
ANTHROPIC_API_KEY = env("ANTHROPIC_API_KEY")
ANTHROPIC_BASE_URL = env("ANTHROPIC_BASE_URL") or None
ANTHROPIC_MODEL = env("ANTHROPIC_MODEL", "claude-sonnet-5-5")
OPENAI_API_KEY = env("OPENAI_API_KEY")
OPENAI_BASE_URL = env("OPENAI_BASE_URL") or None
OPENAI_MODEL = env("OPENAI_MODEL", "gpt-5.5")
AI_REQUEST_TIMEOUT = env_int("AI_REQUEST_TIMEOUT", 180, minimum=1)
# Answers are streamed: the longest silence between two streamed events.
AI_IDLE_TIMEOUT = env_int("AI_IDLE_TIMEOUT", min(60, AI_REQUEST_TIMEOUT), minimum=1)
if AI_IDLE_TIMEOUT > AI_REQUEST_TIMEOUT:
    raise ImproperlyConfigured("AI_IDLE_TIMEOUT cannot be longer than AI_REQUEST_TIMEOUT.")
if AI_REQUEST_TIMEOUT >= RNDCARDS_JOB_TIME_LIMIT:
    raise ImproperlyConfigured("AI_REQUEST_TIMEOUT must be shorter than RNDCARDS_JOB_TIME_LIMIT.")
# Claude through AWS Bedrock (the SDK's AnthropicBedrock client) instead of the Anthropic API.
RNDCARDS_ANTHROPIC_BEDROCK = env_bool("RNDCARDS_ANTHROPIC_BEDROCK", False)
AWS_REGION = env("AWS_REGION")
AWS_BEARER_TOKEN_BEDROCK = env("AWS_BEARER_TOKEN_BEDROCK")
ANTHROPIC_BEDROCK_BASE_URL = env("ANTHROPIC_BEDROCK_BASE_URL")
AI_MAX_OUTPUT_TOKENS = env_int("AI_MAX_OUTPUT_TOKENS", 8000, minimum=256)
# Resilience (resilience/): waits between attempts of one provider call (attempts =
# waits + 1, at most 3), the time budget of those attempts, and the circuit breakers.
try:
    RNDCARDS_RETRY_DELAYS = tuple(float(x) for x in env_list("RNDCARDS_RETRY_DELAYS", "1,4"))
except ValueError:
    raise ImproperlyConfigured("RNDCARDS_RETRY_DELAYS must be seconds separated by commas, e.g. 1,4") from None
if len(RNDCARDS_RETRY_DELAYS) > 2 or any(not 0 <= d <= 60 for d in RNDCARDS_RETRY_DELAYS):
    raise ImproperlyConfigured("RNDCARDS_RETRY_DELAYS allows at most two waits of 0–60 s (three attempts).")
RNDCARDS_RETRY_MAX_TIME = env_int("RNDCARDS_RETRY_MAX_TIME", 30, minimum=0)
RNDCARDS_BREAKER_FAIL_MAX = env_int("RNDCARDS_BREAKER_FAIL_MAX", 3, minimum=1)
RNDCARDS_BREAKER_RESET_TIMEOUT = env_int("RNDCARDS_BREAKER_RESET_TIMEOUT", 60, minimum=1)


# Estimated cost shown to admins and on the batch page: USD per million tokens,
# "input,cached input,output" per provider.
def _prices(name: str, default: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(x) for x in env_list(name, default))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ImproperlyConfigured(f"{name} must be three numbers: input,cached input,output (USD per 1M tokens).")
    return values


AI_PRICES = {
    "anthropic": _prices("ANTHROPIC_PRICES", "3,0.3,15"),
    "openai": _prices("OPENAI_PRICES", "1.25,0.125,10"),
    "offline": (0.0, 0.0, 0.0),
}
# Empty means automatic: anthropic if its key is set, else openai, else offline.
RNDCARDS_DEFAULT_PROVIDER = env("RNDCARDS_DEFAULT_PROVIDER")
if RNDCARDS_DEFAULT_PROVIDER not in {"", "offline", "anthropic", "openai"}:
    raise ImproperlyConfigured("RNDCARDS_DEFAULT_PROVIDER must be offline, anthropic or openai.")

# --- rate limits (rndcards/ratelimit.py) ------------------------------------------------
# Requests per user (or client address) in any RNDCARDS_RATE_LIMIT_WINDOW seconds, a true
# rolling window; 0 turns the limit off. Shared through Redis when it is configured,
# otherwise counted per process.
RNDCARDS_RATE_LIMIT = env_int("RNDCARDS_RATE_LIMIT", 100, minimum=0)
RNDCARDS_RATE_LIMIT_WINDOW = env_int("RNDCARDS_RATE_LIMIT_WINDOW", 60, minimum=1)
RNDCARDS_RATE_LIMIT_REDIS_URL = env("RNDCARDS_RATE_LIMIT_REDIS_URL", REDIS_URL)
# A dead Redis must not add seconds to every request: a short timeout, then requests pass
# unlimited and Redis is tried again only after the back-off.
RNDCARDS_RATE_LIMIT_REDIS_TIMEOUT_MS = env_int("RNDCARDS_RATE_LIMIT_REDIS_TIMEOUT_MS", 500, minimum=10)
RNDCARDS_RATE_LIMIT_BACKOFF = env_int("RNDCARDS_RATE_LIMIT_BACKOFF", 5, minimum=1)
# Load balancers and monitoring are never limited.
RNDCARDS_RATE_LIMIT_EXEMPT = ("/health", "/api/health", "/static/", "/metrics")


def _trusted_proxies(name: str) -> int | tuple[str, ...]:
    """A number of proxy hops, or proxy addresses/networks separated by commas."""
    import ipaddress

    raw = env(name).strip()
    if not raw:
        return 0
    if raw.isdigit():
        return int(raw)
    proxies = tuple(item.strip() for item in raw.split(",") if item.strip())
    for item in proxies:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must be a number of proxy hops or IP addresses/networks separated by commas, got {item!r}"
            ) from None
    return proxies


# The proxies in front of the app (a number of hops, or their addresses): X-Forwarded-For is
# believed only as far as they wrote it (the client address for the limits, /metrics and the
# audit log), and X-Request-ID only from them. Empty: neither is ever read.
RNDCARDS_TRUSTED_PROXIES = _trusted_proxies("RNDCARDS_TRUSTED_PROXIES")


def _rate(name: str, default: str) -> str:
    import re

    raw = env(name, default).strip()
    if not re.fullmatch(r"[1-9][0-9]*/[0-9]*[smhd]", raw):
        raise ImproperlyConfigured(f"{name} must look like 10/m (count/s, m, h, d, or e.g. 10/5m), got {raw!r}")
    return raw


# Stricter limits (django-ratelimit, fixed windows in the cache): login POSTs per client
# address and per username, batch uploads per user.
RNDCARDS_LOGIN_RATE = _rate("RNDCARDS_LOGIN_RATE", "10/m")
RNDCARDS_UPLOAD_RATE = _rate("RNDCARDS_UPLOAD_RATE", "10/m")
# Redis down: django-ratelimit lets the request through instead of refusing it.
RATELIMIT_FAIL_OPEN = True

# --- auth, i18n -------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Polish only for now: without LocaleMiddleware a browser asking for English still gets
# one language throughout (English needs a message catalogue first).
LANGUAGE_CODE = "pl"
LANGUAGES = [("pl", _("Polski")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Warsaw"
USE_I18N = True
USE_TZ = True

# (sessions, cookies and security headers: see the auth/security headers block below)


# --- operations: logs, request ids, metrics (deploy/README.md) ---------------------------
def _networks(name: str, default: str) -> list:
    import ipaddress

    try:
        return [ipaddress.ip_network(item, strict=False) for item in env_list(name, default)]
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{name} must list IP addresses or networks (CIDR), comma-separated: {exc}"
        ) from None


# json: one JSON object per line (python-json-logger), for a log collector; plain: for people.
LOG_FORMAT = env("LOG_FORMAT", "json" if PRODUCTION else "plain").strip().lower()
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, got {LOG_FORMAT!r}")
# /metrics answers these client addresses, or anyone with the bearer token; others get 404.
RNDCARDS_METRICS_ALLOWED_IPS = _networks("RNDCARDS_METRICS_ALLOWED_IPS", "127.0.0.1,::1")
RNDCARDS_METRICS_TOKEN = env("RNDCARDS_METRICS_TOKEN")
if RNDCARDS_METRICS_TOKEN and len(RNDCARDS_METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("RNDCARDS_METRICS_TOKEN must be at least 16 characters long.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "rndcards.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "rndcards.logs.JsonLogFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # The SDKs' HTTP client logs every request at INFO: noise in workers and commands.
    "loggers": {"dramatiq": {"level": "WARNING"}, "httpx2": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

# --- notifications (smoke branch) --------------------------------------------------
# The address consultants open the app at: links in e-mails are absolute (an e-mail has no
# request to take the host from). The e-mail transport itself is EMAIL_BACKEND (accounts).
RNDCARDS_SITE_URL = env("RNDCARDS_SITE_URL", "http://127.0.0.1:8000").strip().rstrip("/")
if not re.fullmatch(r"https?://[^\s/?#@]+(/[^\s?#]*)?", RNDCARDS_SITE_URL):
    raise ImproperlyConfigured(
        f"RNDCARDS_SITE_URL must be an http:// or https:// address such as https://karty.example.pl, "
        f"got {RNDCARDS_SITE_URL!r}"
    )
# --- JSON API (/api/): Django REST framework, JWT, OpenAPI ---------------------------
INSTALLED_APPS += [
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]
REST_FRAMEWORK = {
    # JWT first: its WWW-Authenticate header makes "not logged in" a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rndcards.jwt.PasswordBoundJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: the browsable API's pages carry inline scripts; /api/docs/ is the browsable UI.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rndcards.api.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rndcards.api.Pagination",
    "PAGE_SIZE": 20,
    "EXCEPTION_HANDLER": "rndcards.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": datetime.timedelta(hours=env_int("RNDCARDS_JWT_ACCESS_HOURS", 24, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": datetime.timedelta(days=env_int("RNDCARDS_JWT_REFRESH_DAYS", 7, minimum=1)),
    # Each refresh returns a new refresh token and blacklists the one used: a stolen refresh
    # token works once at most, and its reuse shows up as a 401 for one of the two holders.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "RnD Cards API",
    "DESCRIPTION": "Karty projektów B+R: partie (import arkusza .xlsx), generowanie kart, edycja sekcji, eksport. "
    "Uwierzytelnianie: token JWT (POST /api/auth/token/) albo sesja przeglądarki (z nagłówkiem X-CSRFToken). "
    'Każdy błąd ma postać {"error": {"code", "message", "fields"?}}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/",
    # Swagger UI from drf-spectacular-sidecar's static files: nothing from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "displayOperationId": True},
    "ENUM_NAME_OVERRIDES": {
        "BatchStatusEnum": "batches.models.Batch.Status",
        "ProjectStatusEnum": "batches.models.Project.Status",
        "ReviewStatusEnum": "batches.models.Project.Review",
        "SectionOriginEnum": "cards.models.Section.Origin",
        "RegenStateEnum": "cards.models.Section.RegenState",
    },
}

# =====================================================================================
# --- auth/security headers (accounts) ------------------------------------------------
# Password policy, e-mail, login lockout, sessions and cookies, HTTPS, CSP, CORS.
# `manage.py check --deploy --fail-level WARNING` is clean with the production defaults
# (rndcards/tests/test_headers.py runs it).
# =====================================================================================
from datetime import timedelta  # noqa: E402
from email.utils import parseaddr  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import django  # noqa: E402
from csp.constants import NONCE, NONE, SELF  # noqa: E402

# Passwords: at least 8 characters, one uppercase letter, one digit (the original design),
# not common, not all digits, not like the user's name; at most 128 characters. Every
# message is Polish (Django's own through its pl catalogue, ours in rndcards/passwords.py).
RNDCARDS_PASSWORD_MIN_LENGTH = env_int("RNDCARDS_PASSWORD_MIN_LENGTH", 8, minimum=8)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": RNDCARDS_PASSWORD_MIN_LENGTH},
    },
    {"NAME": "rndcards.passwords.MaximumLengthValidator", "OPTIONS": {"max_length": 128}},
    {"NAME": "rndcards.passwords.UppercaseValidator"},
    {"NAME": "rndcards.passwords.DigitValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A password-reset link works once, for 3 days at most (Django's default).
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600, minimum=300)

# E-mail (password reset, notifications): console (default: printed to the log), SMTP
# or Amazon SES (django-ses, API v2; credentials from the usual AWS chain: IAM role,
# AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY).
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "RnD Cards <noreply@localhost>")
if "@" not in parseaddr(DEFAULT_FROM_EMAIL)[1] or "\n" in DEFAULT_FROM_EMAIL or "\r" in DEFAULT_FROM_EMAIL:
    raise ImproperlyConfigured(
        f"DEFAULT_FROM_EMAIL must be an e-mail address, e.g. 'RnD Cards <karty@example.com>', got {DEFAULT_FROM_EMAIL!r}"
    )
SERVER_EMAIL = env("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
EMAIL_SUBJECT_PREFIX = "[RnD Cards] "
RNDCARDS_EMAIL_BACKEND = env("EMAIL_BACKEND", "console").strip().lower()
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
if RNDCARDS_EMAIL_BACKEND == "console":
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
elif RNDCARDS_EMAIL_BACKEND == "smtp":
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = env("EMAIL_HOST").strip()
    if not EMAIL_HOST:
        raise ImproperlyConfigured("EMAIL_HOST must be set when EMAIL_BACKEND=smtp.")
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    if EMAIL_PORT > 65535:
        raise ImproperlyConfigured(f"EMAIL_PORT must be a port number (1–65535), got {EMAIL_PORT}")
    EMAIL_HOST_USER = env("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
    if EMAIL_USE_TLS and EMAIL_USE_SSL:
        raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on (STARTTLS or implicit TLS).")
elif RNDCARDS_EMAIL_BACKEND == "ses":
    EMAIL_BACKEND = "django_ses.SESBackend"
    USE_SES_V2 = True
    AWS_SES_REGION_NAME = env("AWS_SES_REGION_NAME", AWS_REGION).strip()
    if not AWS_SES_REGION_NAME:
        raise ImproperlyConfigured("AWS_SES_REGION_NAME (or AWS_REGION) must be set when EMAIL_BACKEND=ses.")
    AWS_SES_REGION_ENDPOINT_URL = env("AWS_SES_ENDPOINT_URL") or None
    AWS_SES_CONFIGURATION_SET = env("AWS_SES_CONFIGURATION_SET") or None
else:
    raise ImproperlyConfigured(f"EMAIL_BACKEND must be console, smtp or ses, got {RNDCARDS_EMAIL_BACKEND!r}")

# Login lockout (django-axes): 5 failed logins for one user name from one address lock
# that pair for 15 min; a failure while locked starts the 15 min again. Admins unlock in
# Django admin („Próby dostępu”: delete the entry) or with `manage.py axes_reset_username`.
AUTHENTICATION_BACKENDS = [
    # Needs the request: authenticate(request, …). Tests log in with force_login().
    "axes.backends.AxesStandaloneBackend",
    # A NUL in the user name is a failed login (PostgreSQL would raise in ModelBackend).
    "rndcards.auth.RefuseUnstorableUsernameBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("RNDCARDS_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("RNDCARDS_LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "rndcards.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "rndcards.lockout.client_ip"
AXES_USERNAME_CALLABLE = "rndcards.lockout.client_username"
AXES_HTTP_RESPONSE_CODE = 429
# The login form sends the password; never keep it (or the CSRF token) in the attempts.
AXES_SENSITIVE_PARAMETERS = ["password", "csrfmiddlewaretoken", "new_password1", "new_password2", "old_password"]
AXES_VERBOSE = False
# Every login would log "Deleted 0 failed login attempts" at INFO; lockouts are warnings.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}

# Sessions: 24 h from login, cookies out of JavaScript's reach, sent only over HTTPS in
# production.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 24 * 3600, minimum=300)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION and env_bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# HTTPS. Behind a TLS-terminating proxy set DJANGO_SECURE_PROXY_SSL_HEADER (e.g.
# X-Forwarded-Proto) — only if the proxy always sets or strips that header.
SECURE_SSL_REDIRECT = PRODUCTION and env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# Load balancers probe /health (and /api/health…) over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^(api/)?health(/|$)"]
_proxy_header = env("DJANGO_SECURE_PROXY_SSL_HEADER").strip()
if _proxy_header:
    _name, _, _value = _proxy_header.partition(":")
    _name, _value = _name.strip(), (_value.strip() or "https")
    if not _name or not all(c.isalnum() or c == "-" for c in _name):
        raise ImproperlyConfigured(
            f"DJANGO_SECURE_PROXY_SSL_HEADER must be a header name, e.g. X-Forwarded-Proto, got {_proxy_header!r}"
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.upper().replace("-", "_"), _value)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"


def _inline_style_hashes(*templates: Path) -> list[str]:
    """CSP hashes of the <style> blocks of the self-contained error pages (400, 500).

    Django renders them with no context, often when static files are broken, so they
    carry their styles inline; a hash allows exactly those blocks and nothing else.
    (Django admin's change list has one fixed block too, for a list without actions.)
    """
    import base64
    import hashlib
    import re

    hashes = []
    for template in templates:
        text = template.read_text(encoding="utf-8")
        for block in re.findall(r"<style>(.*?)</style>", text, flags=re.S):
            digest = base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode("ascii")
            hashes.append(f"'sha256-{digest}'")
    return sorted(set(hashes))


# Content-Security-Policy (django-csp): no inline scripts at all; inline styles only for
# the error pages' hashed blocks and, per response, the nonce Trix puts on the <style>
# elements it creates (templates/cards/project_detail.html hands it the nonce).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [
            SELF,
            NONCE,
            *_inline_style_hashes(
                BASE_DIR / "templates" / "400.html",
                BASE_DIR / "templates" / "500.html",
                Path(django.__file__).parent / "contrib/admin/templates/admin/change_list.html",
            ),
        ],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# CORS (django-cors-headers): only the JSON API, only for the origins listed (none by
# default), no cookies (the API authenticates with a bearer token).
CORS_ALLOWED_ORIGINS = env_list("RNDCARDS_CORS_ALLOWED_ORIGINS")
for _origin in CORS_ALLOWED_ORIGINS:
    _parts = urlsplit(_origin)
    if (
        _parts.scheme not in {"http", "https"}
        or not _parts.hostname
        or _parts.path
        or _parts.query
        or _origin.endswith("/")
    ):
        raise ImproperlyConfigured(
            f"RNDCARDS_CORS_ALLOWED_ORIGINS must list origins like https://app.example.com (no path, no *), got {_origin!r}"
        )
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_CREDENTIALS = False
CORS_PREFLIGHT_MAX_AGE = 3600
# =====================================================================================
# --- end of auth/security headers (accounts) ------------------------------------------
# --- health and degraded mode (health branch) --------------------------------------------
# Seconds the health report is reused by the banner and /health/detailed (each check is
# bounded by RNDCARDS_HEALTH_TIMEOUT, the whole report by a little more).
RNDCARDS_HEALTH_CACHE_SECONDS = env_int("RNDCARDS_HEALTH_CACHE_SECONDS", 5, minimum=0)
RNDCARDS_HEALTH_TIMEOUT = env_int("RNDCARDS_HEALTH_TIMEOUT", 3, minimum=1)
if RNDCARDS_HEALTH_TIMEOUT > 4:
    raise ImproperlyConfigured("RNDCARDS_HEALTH_TIMEOUT must be at most 4 s: /health answers within 5 s.")
# --- end health ---------------------------------------------------------------------------
