"""A real Redis server for the Redis mode's tests, one per test session, on a Unix socket.

Debian's ``redis-server`` (or ``valkey-server``). Without one the tests are skipped, except
in CI (``CI=true``), where a missing server fails the run: ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator

import pytest
import redis

NO_PERSISTENCE = ("--save", "", "--appendonly", "no", "--dir")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    executable = shutil.which("redis-server") or shutil.which("valkey-server")
    if executable is None:
        message = "redis-server is not installed (apt-get install -y redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    directory = tmp_path_factory.mktemp("redis")
    socket = directory / "redis.sock"
    process = subprocess.Popen(
        # No TCP port (no clash with other test runs), no persistence.
        [executable, "--port", "0", "--unixsocket", str(socket), *NO_PERSISTENCE, str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()

    def read_log() -> None:
        # Drained to the end, so that the server never blocks on a full pipe.
        assert process.stdout is not None
        for line in process.stdout:
            if "ready to accept connections" in line.lower():
                ready.set()

    threading.Thread(target=read_log, daemon=True).start()
    try:
        if not ready.wait(30):
            pytest.fail(f"{executable} did not start")
        yield f"unix://{socket}"
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
