"""check_deployment against a local server serving crafted metrics (and against the app)."""

import http.server
import io
import threading

import pytest
from django.core.management import CommandError, call_command

from rndcards import deployment

BOUNDS = ("0.1", "0.5", "1.0", "2.0", "3.0", "30.0", "+Inf")


def metrics_text(*, ok: int, errors: int = 0, buckets: dict[str, int] | None = None, route: str = "/health") -> str:
    """App-shaped exposition text: `ok` 200s and `errors` 500s; cumulative latency buckets."""
    total = ok + errors
    buckets = buckets or {"0.1": total}
    lines = [
        "# HELP rndcards_http_responses_total Responses.",
        "# TYPE rndcards_http_responses_total counter",
        f'rndcards_http_responses_total{{method="GET",route="{route}",status="200"}} {ok}',
        f'rndcards_http_responses_total{{method="GET",route="{route}",status="500"}} {errors}',
        "# HELP rndcards_http_request_duration_seconds Latency.",
        "# TYPE rndcards_http_request_duration_seconds histogram",
    ]
    running = 0
    for bound in BOUNDS:
        running = max(running, buckets.get(bound, running))
        value = total if bound == "+Inf" else running
        lines.append(
            f'rndcards_http_request_duration_seconds_bucket{{le="{bound}",method="GET",route="{route}"}} {value}'
        )
    lines.append(f'rndcards_http_request_duration_seconds_count{{method="GET",route="{route}"}} {total}')
    return "\n".join(lines) + "\n"


class Crafted(http.server.ThreadingHTTPServer):
    """Serves the next of `pages` on /metrics each time (the last one repeats) and the next
    of `health` statuses on /health."""

    def __init__(self, pages: list[str], health: list[int] | None = None, metrics_status: int = 200):
        self.pages, self.health, self.metrics_status = list(pages), list(health or [200]), metrics_status
        self.seen_auth: list[str] = []
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        server: Crafted = self.server
        if self.path == "/metrics":
            server.seen_auth.append(self.headers.get("Authorization", ""))
            body = (server.pages.pop(0) if len(server.pages) > 1 else server.pages[0]).encode()
            status = server.metrics_status
        else:
            status = server.health.pop(0) if len(server.health) > 1 else server.health[0]
            body = b'{"status": "healthy"}'
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    servers = []

    def start(pages, health=None, metrics_status=200) -> Crafted:
        server = Crafted(pages, health, metrics_status)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def run(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("check_deployment", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_a_healthy_rollout_passes_and_prints_each_figure_with_its_threshold(serve):
    server = serve([metrics_text(ok=100), metrics_text(ok=1100, errors=2)])

    code, out, err = run(
        "--metrics-url",
        f"{server.url}/metrics",
        "--window",
        "0.2s",
        "--health-url",
        f"{server.url}/health",
        "--health-interval",
        "50ms",
    )

    assert code == 0, err
    assert "Żądania w oknie: 1002" in out
    assert "odsetek błędów 5xx: 0.20 % (próg: > 1 %)" in out
    assert "p99 czasu odpowiedzi: 99 ms (próg: > 2000 ms)" in out
    assert "odpowiedzi 5xx w oknie: 2 (próg: > 10)" in out
    assert "nieudane sprawdzenia /health z rzędu: 0" in out and "(próg: 3 z rzędu)" in out
    assert "Wdrożenie w normie" in out


def test_an_error_rate_over_1_percent_fails(serve):
    server = serve([metrics_text(ok=0), metrics_text(ok=490, errors=10)])

    code, out, err = run("--metrics-url", f"{server.url}/metrics", "--window", "0.1s")

    assert code == 1
    assert "PRZEKROCZONY odsetek błędów 5xx: 2.00 %" in out
    assert "OK           odpowiedzi 5xx w oknie: 10" in out  # 10 is not more than 10
    assert "Wycofaj" in err


def test_more_than_ten_5xx_fail_even_at_a_low_rate(serve):
    server = serve([metrics_text(ok=0), metrics_text(ok=20_000, errors=11)])

    code, out, _ = run("--metrics-url", f"{server.url}/metrics", "--window", "0.1s")

    assert code == 1
    assert "OK           odsetek błędów 5xx: 0.05 %" in out
    assert "PRZEKROCZONY odpowiedzi 5xx w oknie: 11" in out


def test_a_p99_over_2000_ms_fails(serve):
    # 1000 requests: 980 under 0.1 s, 20 between 2 and 3 s → p99 at 2.5 s.
    slow = {"0.1": 980, "0.5": 980, "1.0": 980, "2.0": 980, "3.0": 1000}
    server = serve([metrics_text(ok=0), metrics_text(ok=1000, buckets=slow)])

    code, out, _ = run("--metrics-url", f"{server.url}/metrics", "--window", "0.1s")

    assert code == 1
    assert "PRZEKROCZONY p99 czasu odpowiedzi: 2500 ms" in out


def test_requests_from_before_the_window_do_not_count(serve):
    # A bad past (all slow, many errors) and a clean window.
    past = metrics_text(ok=100, errors=500, buckets={"+Inf": 600, "0.1": 0})
    now = metrics_text(ok=1100, errors=500, buckets={"0.1": 1000, "+Inf": 1600})
    server = serve([past, now])

    code, out, err = run("--metrics-url", f"{server.url}/metrics", "--window", "0.1s")

    assert code == 0, out + err
    assert "Żądania w oknie: 1000" in out


def test_a_restarted_worker_resets_counters_and_its_new_counts_are_the_window(serve):
    server = serve([metrics_text(ok=5000, errors=3), metrics_text(ok=40, errors=2)])

    code, out, _ = run("--metrics-url", f"{server.url}/metrics", "--window", "0.1s")

    assert "Żądania w oknie: 42" in out
    assert code == 1  # 2 of 42 is 4.8 %


def test_three_failed_health_checks_in_a_row_fail(serve):
    server = serve([metrics_text(ok=10)], health=[200, 503, 503, 503, 200])

    code, out, _ = run(
        "--metrics-url",
        f"{server.url}/metrics",
        "--window",
        "0.4s",
        "--health-url",
        f"{server.url}/health",
        "--health-interval",
        "20ms",
    )

    assert code == 1
    assert "PRZEKROCZONY nieudane sprawdzenia /health z rzędu: 3" in out
    assert "status 503" in out


def test_failed_health_checks_that_are_not_consecutive_pass(serve):
    server = serve([metrics_text(ok=10)], health=[503, 503, 200, 503, 503, 200])

    code, out, _ = run(
        "--metrics-url",
        f"{server.url}/metrics",
        "--window",
        "0.4s",
        "--health-url",
        f"{server.url}/health",
        "--health-interval",
        "20ms",
    )

    assert code == 0, out
    assert "nieudane sprawdzenia /health z rzędu: 2" in out


def test_an_unreachable_health_url_counts_as_failed_checks(serve):
    server = serve([metrics_text(ok=10)])

    code, out, _ = run(
        "--metrics-url",
        f"{server.url}/metrics",
        "--window",
        "0.3s",
        "--health-url",
        "http://127.0.0.1:9/health",
        "--health-interval",
        "20ms",
    )

    assert code == 1
    assert "PRZEKROCZONY nieudane sprawdzenia /health" in out


def test_no_traffic_in_the_window_passes_and_says_so(serve):
    server = serve([metrics_text(ok=10)])

    code, out, _ = run("--metrics-url", f"{server.url}/metrics", "--window", "0.1s")

    assert code == 0
    assert "brak żądań w oknie" in out


def test_an_unreachable_metrics_url_is_a_clear_failure():
    code, out, err = run("--metrics-url", "http://127.0.0.1:9/metrics", "--window", "0.1s")

    assert code == 2
    assert "Nie można ocenić wdrożenia" in err and "127.0.0.1:9" in err
    assert "bez metryk wdrożenie uznaje się za nieudane" in err


def test_a_404_from_metrics_hints_at_the_protection(serve):
    server = serve(["nope"], metrics_status=404)

    code, _, err = run("--metrics-url", f"{server.url}/metrics", "--window", "0.1s")

    assert code == 2
    assert "RNDCARDS_METRICS_ALLOWED_IPS" in err


@pytest.mark.parametrize(
    "page",
    [
        "<html><body>Zaloguj się</body></html>",  # a login page, not metrics
        "# TYPE other_metric counter\nother_metric_total 5\n",  # someone else's exporter
        'rndcards_http_responses_total{status="200" 5\n',  # broken syntax
        "rndcards_http_responses_total NaN\n",
        "",
    ],
)
def test_a_page_that_is_not_the_apps_metrics_is_a_clear_failure(serve, page):
    server = serve([page])

    code, _, err = run("--metrics-url", f"{server.url}/metrics", "--window", "0.1s")

    assert code == 2
    assert "Nie można ocenić wdrożenia" in err


@pytest.mark.parametrize(
    "args", [("--window", "five minutes"), ("--window", "0s"), ("--window=-1m",), ("--health-interval", "x")]
)
def test_a_malformed_duration_is_refused(args):
    with pytest.raises(CommandError, match="podaj czas|dłuższe od zera"):
        call_command("check_deployment", "--metrics-url", "http://127.0.0.1:9/metrics", *args)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://x/metrics", "127.0.0.1:8000/metrics"])
def test_only_http_urls_are_read(url):
    with pytest.raises(CommandError, match="http://"):
        call_command("check_deployment", "--metrics-url", url, "--window", "0.1s")


def test_the_token_is_sent_as_a_bearer(serve, tmp_path):
    token = tmp_path / "token"
    token.write_text("secret-token-0123456789\n", encoding="utf-8")
    server = serve([metrics_text(ok=1)])

    run("--metrics-url", f"{server.url}/metrics", "--window", "0.1s", "--token-file", str(token))

    assert server.seen_auth == ["Bearer secret-token-0123456789"] * 2


def test_against_the_app_itself(live_server, client):
    """The app's real exposition text is what the command reads."""
    code, out, err = run(
        "--metrics-url",
        f"{live_server.url}/metrics",
        "--window",
        "0.1s",
        "--health-url",
        f"{live_server.url}/health",
        "--health-interval",
        "30ms",
    )

    assert code == 0, out + err
    # The command's own health checks are the window's traffic.
    assert "Żądania w oknie: 0" not in out


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("2s", 2), ("500ms", 0.5), ("90", 90), ("1.5h", 5400)])
def test_parse_duration(text, seconds):
    assert deployment.parse_duration(text) == seconds


def test_quantile_interpolates_inside_the_bucket_and_saturates_at_inf():
    inf = float("inf")
    assert deployment.quantile(0.5, {1.0: 50, 2.0: 100, inf: 100}) == (1.0, False)
    assert deployment.quantile(0.99, {1.0: 0, 2.0: 100, inf: 100}) == (pytest.approx(1.99), False)
    assert deployment.quantile(0.99, {1.0: 50, 30.0: 90, inf: 100}) == (30.0, True)
    assert deployment.quantile(0.99, {1.0: 0, inf: 0}) == (None, False)
