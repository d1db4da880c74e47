"""gunicorn configuration of the web processes: `gunicorn -c deploy/gunicorn.conf.py`.

Every value comes from the environment (see deploy/README.md, "gunicorn"). What enforces
the original design's per-request timeouts (30 s default, 5 s health, 15 min long work):

* 30 s for every request: sync workers (one request at a time per process) and
  ``timeout = 30``. A sync worker does not report to the arbiter while it serves a
  request, so one still busy after 30 s is killed (SIGABRT, then SIGKILL) and replaced; the
  client (or the proxy, which answers 502) sees the connection end. ``worker_abort`` below
  logs the id of the request that was cut off. gunicorn's timeout is per worker, not per
  URL, so it cannot be 5 s for one view and 15 min for another.
* 5 s for /health: enforced by whoever asks: the Dockerfile's HEALTHCHECK and compose's
  healthchecks use ``timeout: 5s``, ``check_deployment`` waits 5 s per health request, and a
  load balancer's health check must be set to 5 s too. A slower answer counts as a failure
  there; the worker itself is still bounded by the 30 s above.
* 15 min: no HTTP request is allowed that long. What can take long (generating a card,
  a section) is a Dramatiq job: the request only queues it. The job's own deadline
  (RNDCARDS_JOB_TIME_LIMIT, 900 s, checked before every provider request and retry) marks
  the project ``generation_timeout``; Dramatiq's TimeLimit a minute later is the backstop.

With GUNICORN_THREADS > 1 gunicorn switches to the gthread worker, whose heartbeat comes
from its main thread: the 30 s limit then no longer cuts a request off (a proxy's read
timeout has to). That is why threads default to 1.

This file must not import Django or the app: it runs in the arbiter, before any worker.
"""

import logging
import multiprocessing
import os
import shutil
from pathlib import Path

from gunicorn.glogging import Logger


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise RuntimeError(f"{name} must be at least {minimum}, got {value}")
    return value


wsgi_app = "rndcards.wsgi:application"
bind = [b.strip() for b in os.environ.get("GUNICORN_BIND", "0.0.0.0:8000").split(",") if b.strip()]
# Sync workers: CPU-bound pages (Word export, Excel parsing) scale with processes; the
# default is gunicorn's rule of thumb for 2-4 cores.
workers = _int("GUNICORN_WORKERS", _int("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count() + 1), minimum=1)
threads = _int("GUNICORN_THREADS", 1, minimum=1)
worker_class = "sync" if threads == 1 else "gthread"
# Per request (sync workers, see above); the design's default.
timeout = _int("GUNICORN_TIMEOUT", 30, minimum=1)
# A deploy's SIGTERM lets each worker finish the request in hand (at most `timeout`).
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30, minimum=1)
# Behind a load balancer keep-alive saves connections; it must be shorter than the
# balancer's idle timeout (60 s on AWS ALB) so gunicorn, not the balancer, closes first.
keepalive = _int("GUNICORN_KEEPALIVE", 5, minimum=0)
# A worker is replaced after this many requests (±jitter): a slow leak cannot grow for ever.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1000, minimum=0)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100, minimum=0)
# The heartbeat file lives in memory: on a container's overlay disk a slow write can make
# a healthy worker look silent.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Uploads are checked by Django (RNDCARDS_MAX_UPLOAD_BYTES); these bound the header part.
limit_request_line = 8190
limit_request_fields = 100
# Only a proxy on these addresses may set X-Forwarded-Proto (https detection).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "rndcards-web"

LOG_FORMAT = os.environ.get("LOG_FORMAT", "json").strip().lower()
if LOG_FORMAT not in {"json", "plain"}:
    raise RuntimeError(f"LOG_FORMAT must be json or plain, got {LOG_FORMAT!r}")
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


class JsonAccessLogger(Logger):
    """One JSON object per request on stdout, with the request id the app answered with."""

    def access(self, resp, req, environ, request_time):
        if not self.access_log_enabled:
            return
        headers = dict((name.lower(), value) for name, value in resp.headers)
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        fields = {
            "remote_addr": environ.get("REMOTE_ADDR", ""),
            "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR", ""),
            "method": environ.get("REQUEST_METHOD", ""),
            "path": environ.get("PATH_INFO", ""),
            "query": environ.get("QUERY_STRING", ""),
            "protocol": environ.get("SERVER_PROTOCOL", ""),
            "status": int(status),
            "bytes": getattr(resp, "sent", None) or 0,
            "duration_ms": round(request_time.total_seconds() * 1000, 3),
            "user_agent": environ.get("HTTP_USER_AGENT", ""),
            "referer": environ.get("HTTP_REFERER", ""),
            "request_id": headers.get("x-request-id", ""),
            "pid": os.getpid(),
        }
        try:
            self.access_log.info("request", extra=fields)
        except Exception:
            self.exception("access log failed")


_JSON_FORMATTER = {
    "()": "pythonjsonlogger.json.JsonFormatter",
    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
}

if LOG_FORMAT == "json":
    logger_class = JsonAccessLogger
    # gunicorn's own lines and the access log as JSON on stdout; the app's loggers are set
    # up by Django's LOGGING (LOG_FORMAT) in each worker and write JSON to stderr.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": _JSON_FORMATTER},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "root": {"level": "INFO", "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stdout"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        },
    }
else:
    accesslog = "-"
    access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" %({x-request-id}o)s'


# --- Prometheus multiprocess mode -------------------------------------------------------
# Each worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR; /metrics adds up the
# files of all workers (rndcards/metrics.py). The directory is emptied when the arbiter
# starts (files of an earlier run would be counted again, or clash with a reused pid), and
# a worker that exits has its live gauges (requests in progress) dropped; its counters and
# histograms stay, so totals never go backwards.
MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def on_starting(server):
    if MULTIPROC_DIR:
        path = Path(MULTIPROC_DIR)
        path.mkdir(parents=True, exist_ok=True)
        for item in path.iterdir():
            if item.is_dir():
                shutil.rmtree(item)
            else:
                item.unlink()


def child_exit(server, worker):
    if MULTIPROC_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, MULTIPROC_DIR)


def worker_abort(worker):
    """Runs in a worker the arbiter kills for exceeding `timeout`: say which request it was."""
    try:
        from rndcards.logs import request_id_var

        request_id = request_id_var.get()
    except Exception:
        request_id = ""
    logging.getLogger("gunicorn.error").error(
        "request cut off after %s s (worker %s)",
        timeout,
        worker.pid,
        extra={"request_id": request_id or "-", "timeout_s": timeout},
    )
