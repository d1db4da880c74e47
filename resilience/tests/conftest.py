"""Real dependencies the degraded-mode tests can take away: an S3-compatible server (moto's
server mode on loopback) and a Redis server of the test's own, both on free ports."""

import shutil
import socket
import subprocess
import time
import uuid

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _fresh_health_report():
    from resilience.health import forget_cached_report

    forget_cached_report()
    yield
    forget_cached_report()


@pytest.fixture(scope="session")
def moto_server():
    """moto's S3 server on a free loopback port, for the whole session (it starts in ~1 s)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_storages(endpoint: str, bucket: str) -> dict:
    """settings.STORAGES as rndcards/settings.py builds it for AWS_STORAGE_BUCKET_NAME."""
    from botocore.config import Config
    from django.conf import settings

    return {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": endpoint,
                "region_name": "eu-central-1",
                "access_key": "testing",
                "secret_key": "testing-secret",
                "client_config": Config(
                    connect_timeout=1,
                    read_timeout=2,
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    signature_version="s3v4",
                    s3={"addressing_style": "path"},
                ),
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
            },
        },
    }


@pytest.fixture
def s3(moto_server, settings):
    """default_storage on a fresh bucket of the moto server; .client reads the bucket."""
    import boto3

    bucket = f"rndcards-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing-secret",
    )
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    settings.STORAGES = s3_storages(moto_server, bucket)

    class S3:
        endpoint = moto_server
        name = bucket

        def keys(self) -> list[str]:
            return [item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])]

        def point_at(self, endpoint: str) -> None:
            settings.STORAGES = s3_storages(endpoint, bucket)

    S3.client = client
    return S3()


class RedisServer:
    """A redis-server process of the test's own: stop() and start() it at will."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(200):
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.025)
        pytest.fail("the test's redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_settings(redis_server, settings):
    """Point the cache, breakers and generation slots at the test's Redis server."""
    settings.REDIS_URL = redis_server.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_server.url,
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    settings.DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    from cards import tasks

    # The generation slots' backend is chosen once per process (settings do not change
    # in production): choose again for this server, and again after the test.
    tasks._limiter_backend.cache_clear()
    yield redis_server
    tasks._limiter_backend.cache_clear()
