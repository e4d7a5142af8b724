"""The suite's own TLS redis-server (``redis_fixtures.start_tls_redis``): it picks a free port
and then starts on it, and another process can take the port in between."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from redis_fixtures import free_ports, start_tls_redis


@contextmanager
def taken_port() -> Iterator[int]:
    """A port that another process is listening on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_tls_redis_starts_on_another_port_when_its_first_is_taken(tmp_path: Path) -> None:
    with taken_port() as busy:
        process, server = start_tls_redis(tmp_path, itertools.chain([busy], free_ports()))
        try:
            client = redis.Redis.from_url(f"{server.url}?ssl_cert_reqs=none")
            answered = client.ping()
            client.close()
        finally:
            process.terminate()
            process.wait(10)

    assert answered
    assert server.url != f"rediss://127.0.0.1:{busy}"


def test_tls_redis_start_tries_again_and_gives_up_after_a_bounded_number_of_taken_ports(
    tmp_path: Path,
) -> None:
    tried: list[int] = []

    def all_taken(port: int) -> Iterator[int]:
        for _ in itertools.count():
            tried.append(port)
            yield port

    with taken_port() as busy, pytest.raises(pytest.fail.Exception, match="could not bind"):
        start_tls_redis(tmp_path, all_taken(busy))

    assert len(tried) > 1  # it tried again; that it gave up at all bounds the tries
