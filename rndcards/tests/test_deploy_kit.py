"""deploy/: what can be checked without a Docker engine (none on this machine): the compose
file's structure, the Dockerfile's final stage, the container health checks."""

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final_stage() -> list[str]:
    """Instructions of the Dockerfile's last stage, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return lines[last_from:]


def test_compose_has_the_services_of_a_one_machine_installation(compose):
    assert set(compose["services"]) == {"migrate", "web", "worker", "db", "redis", "minio", "minio-bucket"}
    assert set(compose["volumes"]) == {"pgdata", "redisdata", "miniodata"}


def test_every_long_running_service_has_a_healthcheck_within_5_s(compose):
    for name in ("web", "worker", "db", "redis", "minio"):
        check = compose["services"][name]["healthcheck"]
        assert check["test"], name
        assert check["timeout"] == "5s", name


def test_web_checks_health_and_stops_gracefully(compose):
    web = compose["services"]["web"]

    assert web["command"] == ["gunicorn", "-c", "deploy/gunicorn.conf.py"]
    assert web["healthcheck"]["test"] == ["CMD", "python", "deploy/healthcheck.py", "web"]
    assert web["healthcheck"]["retries"] == 3  # the design's "3 consecutive failed checks"
    assert web["stop_grace_period"] == "35s"  # gunicorn's graceful_timeout (30 s) + margin


def test_migrations_run_once_before_the_web_and_the_worker_start(compose):
    services = compose["services"]

    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert services["migrate"]["depends_on"]["db"] == {"condition": "service_healthy"}


def test_worker_runs_rundramatiq_with_the_same_image_and_settings(compose):
    web, worker = compose["services"]["web"], compose["services"]["worker"]

    assert worker["command"][:3] == ["python", "manage.py", "rundramatiq"]
    assert worker["image"] == web["image"]
    for name in ("DATABASE_URL_FILE", "REDIS_URL", "DJANGO_SECRET_KEY_FILE", "AWS_STORAGE_BUCKET_NAME"):
        assert worker["environment"][name] == web["environment"][name]
    assert worker["environment"]["PROMETHEUS_MULTIPROC_DIR"] == worker["environment"]["dramatiq_prom_db"]


def test_only_the_web_port_is_published_and_secrets_are_files(compose):
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}

    assert published == {"web"}
    env = services["web"]["environment"]
    # No secret in the environment itself: each comes from a mounted file.
    for name in ("DJANGO_SECRET_KEY", "DATABASE_URL", "RNDCARDS_METRICS_TOKEN", "AWS_SECRET_ACCESS_KEY"):
        assert name not in env and env[f"{name}_FILE"].startswith("/run/secrets/")
    assert services["db"]["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    assert "POSTGRES_PASSWORD" not in services["db"]["environment"]
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    assert "secrets/" in (DEPLOY / ".gitignore").read_text()


def test_images_are_pinned_not_latest(compose):
    for name, service in compose["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), name


def test_the_final_image_is_slim_non_root_without_compilers(final_stage):
    assert final_stage[0].startswith("FROM python:3.11-slim")
    text = "\n".join(final_stage)
    for compiler in ("gcc", "build-essential", "g++", "clang", "-dev "):
        assert compiler not in text, compiler
    users = [line.split()[1] for line in final_stage if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert "USER " in text and text.index("USER ") > text.index("collectstatic")


def test_the_final_image_collects_static_files_runs_gunicorn_and_checks_health(final_stage):
    text = "\n".join(final_stage)

    assert re.search(r"RUN .*manage\.py collectstatic --noinput", text)
    assert 'CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py"]' in text
    healthcheck = next(line for line in final_stage if line.startswith("HEALTHCHECK"))
    assert "--timeout=5s" in healthcheck and "--retries=3" in healthcheck and "healthcheck.py" in healthcheck
    # The builder's wheels are bind-mounted for the install only, never copied into a layer.
    assert "--mount=type=bind,from=builder" in text
    assert not any(line.startswith("COPY --from=builder") for line in final_stage)


def test_the_build_context_leaves_out_local_state():
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()

    assert ignore[0 if not ignore[0].startswith("#") else 1] == "**"  # allow-list: nothing unless named
    assert "deploy/secrets/" in ignore
    assert not any(line.lstrip("!").startswith((".venv", "var", ".git")) for line in ignore)


def load_healthcheck():
    spec = importlib.util.spec_from_file_location("deploy_healthcheck", DEPLOY / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        ("cards.example.com,127.0.0.1", "cards.example.com"),
        (".example.com", "example.com"),
        ("*", "localhost"),
        ("", "localhost"),
    ],
)
def test_the_web_health_check_sends_a_host_django_serves(monkeypatch, allowed, host):
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", allowed)

    assert load_healthcheck().host_header() == host


def test_the_web_health_check_passes_on_a_live_app_and_fails_on_a_dead_port(live_server, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "localhost")
    check = load_healthcheck()

    assert check.check_web(f"{live_server.url}/health") is True
    assert check.check_web("http://127.0.0.1:9/health") is False


def test_the_worker_health_check_looks_for_a_dramatiq_process(tmp_path):
    check = load_healthcheck()
    (tmp_path / "self").mkdir()
    (tmp_path / "17").mkdir()
    (tmp_path / "17" / "cmdline").write_bytes(b"/usr/local/bin/python\0/usr/local/bin/gunicorn\0")

    assert check.dramatiq_running(str(tmp_path)) is False
    (tmp_path / "18").mkdir()
    (tmp_path / "18" / "cmdline").write_bytes(
        b"/usr/local/bin/python3.11\0/usr/local/bin/dramatiq\0django_dramatiq.setup\0"
    )
    assert check.dramatiq_running(str(tmp_path)) is True
