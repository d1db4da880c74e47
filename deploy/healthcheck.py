"""Container health checks (the slim image has no curl): `python deploy/healthcheck.py web|worker`.

web: GET http://127.0.0.1:$PORT/health with the first DJANGO_ALLOWED_HOSTS entry as Host
(Django refuses a Host it does not serve), within 5 s — the design's health limit.
worker: a Dramatiq process runs in this container and the broker answers a PING.
Exit 0 healthy, 1 not (Docker counts 3 in a row as unhealthy).
"""

import os
import sys
import urllib.request

TIMEOUT_S = 5


def host_header() -> str:
    hosts = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = hosts[0] if hosts else "localhost"
    if host == "*":
        return "localhost"
    return host.lstrip(".")  # ".example.com" allows example.com and its subdomains


def check_web(url: str | None = None) -> bool:
    url = url or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health"
    request = urllib.request.Request(url, headers={"Host": host_header()})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status == 200
    except OSError as exc:
        print(f"health check failed: {exc}", file=sys.stderr)
        return False


def dramatiq_running(proc: str = "/proc") -> bool:
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(os.path.basename(arg) == b"dramatiq" for arg in argv[:2]):
            return True
    return False


def check_worker() -> bool:
    if not dramatiq_running():
        print("no dramatiq process", file=sys.stderr)
        return False
    url = os.environ.get("DRAMATIQ_BROKER_URL") or os.environ.get("REDIS_URL", "")
    if url.startswith(("redis://", "rediss://")):
        import redis

        try:
            redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S).ping()
        except redis.RedisError as exc:
            print(f"broker unreachable: {exc}", file=sys.stderr)
            return False
    return True


def main(argv: list[str]) -> int:
    kind = argv[0] if argv else "web"
    if kind == "web":
        return 0 if check_web() else 1
    if kind == "worker":
        return 0 if check_worker() else 1
    print("usage: healthcheck.py web|worker", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
