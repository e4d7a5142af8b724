"""A real Redis server for the Redis mode's tests, one per test session, on a Unix socket.

Debian's ``redis-server`` (or ``valkey-server``). Without one the tests are skipped, except
in CI (``CI=true``), where a missing server fails the run: ``.ci/run`` installs it.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

NO_PERSISTENCE = ("--save", "", "--appendonly", "no", "--dir")


def _executable() -> str:
    executable = shutil.which("redis-server") or shutil.which("valkey-server")
    if executable is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return executable


# Lines of a server's log kept to say why it did not start (it is drained to the end).
LOG_LINES_KEPT = 50
# Ports tried for the TLS server before its start fails: each is taken only by a race.
BIND_TRIES = 5


def _launch(command: list[str]) -> tuple[subprocess.Popen[str] | None, list[str]]:
    """Starts a server and waits for its "ready" line: the running server, or None and the
    first lines of its log if it exited before. Fails the test if neither comes."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log: list[str] = []
    ready, decided = threading.Event(), threading.Event()

    def read_log() -> None:
        # Drained to the end, so that the server never blocks on a full pipe.
        assert process.stdout is not None
        for line in process.stdout:
            if len(log) < LOG_LINES_KEPT:
                log.append(line)
            if "ready to accept connections" in line.lower():
                ready.set()
                decided.set()
        decided.set()  # its output ended: it has exited

    threading.Thread(target=read_log, daemon=True).start()
    if not decided.wait(30):
        process.kill()
        process.wait(10)
        pytest.fail(f"{command[0]} did not start")
    if ready.is_set():
        return process, log
    process.wait(10)
    return None, log


def _start(command: list[str]) -> subprocess.Popen[str]:
    """Starts a server and waits for its "ready" line; fails the test if it never comes."""
    process, log = _launch(command)
    if process is None:
        pytest.fail(f"{command[0]} exited before it was ready:\n{''.join(log)}")
    return process


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    executable = _executable()
    directory = tmp_path_factory.mktemp("redis")
    unix_socket = directory / "redis.sock"
    # No TCP port (no clash with other test runs), no persistence.
    process = _start(
        [
            executable,
            "--port",
            "0",
            "--unixsocket",
            str(unix_socket),
            *NO_PERSISTENCE,
            str(directory),
        ]
    )
    try:
        yield f"unix://{unix_socket}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The session's server, emptied for each test."""
    client = redis.Redis(unix_socket_path=redis_server.removeprefix("unix://"))
    client.flushall()
    client.close()
    yield redis_server


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 signed by its own key, as Heroku Redis presents
    one: no client trusts it unless told to. Returns (certificate, key) files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wheelwatch test redis")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_file = directory / "redis.crt"
    key_file = directory / "redis.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_file, key_file


@dataclass(frozen=True)
class TlsRedis:
    """A redis-server that speaks only TLS, with a self-signed certificate."""

    url: str  # rediss://127.0.0.1:<port>, no query
    certificate: Path  # the server's certificate, which is its own CA


def free_ports() -> Iterator[int]:
    """Ports that were free when probed. Another process could take one before
    redis-server binds it."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port: int = probe.getsockname()[1]
        yield port


def start_tls_redis(
    directory: Path, ports: Iterator[int] | None = None
) -> tuple[subprocess.Popen[str], TlsRedis]:
    """A redis-server speaking only TLS on a port from ``ports`` (by default free ones), with
    a self-signed certificate written to ``directory``."""
    executable = _executable()
    certificate, key = self_signed_certificate(directory)
    tried: list[int] = []
    for port in itertools.islice(free_ports() if ports is None else ports, BIND_TRIES):
        process, log = _launch(
            [
                executable,
                "--port", "0",
                "--tls-port", str(port),
                "--bind", "127.0.0.1",
                "--tls-cert-file", str(certificate),
                "--tls-key-file", str(key),
                "--tls-ca-cert-file", str(certificate),
                "--tls-auth-clients", "no",
                *NO_PERSISTENCE, str(directory),
            ]
        )  # fmt: skip
        if process is not None:
            return process, TlsRedis(f"rediss://127.0.0.1:{port}", certificate)
        if not any("address already in use" in line.lower() for line in log):
            # Not the race this loop is for: fail loudly, with what the server said.
            pytest.fail(f"{executable} exited before it was ready:\n{''.join(log)}")
        tried.append(port)  # another process took the port after it was probed
    pytest.fail(f"{executable} could not bind any of ports {tried}: each was in use")


@pytest.fixture(scope="session")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    process, server = start_tls_redis(tmp_path_factory.mktemp("redis-tls"))
    try:
        yield server
    finally:
        process.terminate()
        process.wait(10)
