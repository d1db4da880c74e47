"""One settings module for every environment.

Every value comes from the environment and has an embedded default, so that a fresh
checkout runs with no configuration (SQLite, local files, in-process worker, offline AI).
Production sets DATABASE_URL, REDIS_URL and friends; see README.md.
"""

import os
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
    "django_dramatiq",
    "batches",
    "cards",
    "resilience",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "rndcards.middleware.HtmxLoginRequiredMiddleware",
    "rndcards.middleware.MethodNotAllowedPageMiddleware",
]

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
]
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

# --- auth, i18n -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
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

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION and env_bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # The SDKs' HTTP client logs every request at INFO: noise in workers and commands.
    "loggers": {"dramatiq": {"level": "WARNING"}, "httpx2": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

# --- health and degraded mode (health branch) --------------------------------------------
# Seconds the health report is reused by the banner and /health/detailed (each check is
# bounded by RNDCARDS_HEALTH_TIMEOUT, the whole report by a little more).
RNDCARDS_HEALTH_CACHE_SECONDS = env_int("RNDCARDS_HEALTH_CACHE_SECONDS", 5, minimum=0)
RNDCARDS_HEALTH_TIMEOUT = env_int("RNDCARDS_HEALTH_TIMEOUT", 3, minimum=1)
if RNDCARDS_HEALTH_TIMEOUT > 4:
    raise ImproperlyConfigured("RNDCARDS_HEALTH_TIMEOUT must be at most 4 s: /health answers within 5 s.")
# --- end health ---------------------------------------------------------------------------
