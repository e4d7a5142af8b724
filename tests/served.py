"""``wheelwatch serve`` in a subprocess (``run_serve``, the real entry point), for the tests
that need the process as deployed: its signal handling, its listening socket, its limits."""

from __future__ import annotations

import asyncio
import os
import resource
import socket
import sys
from dataclasses import dataclass

from fake_github import APP_ID, SECRET, FakeGitHub
from support import TODAY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """``wheelwatch serve`` in a subprocess, and what it has logged so far."""

    process: asyncio.subprocess.Process
    url: str
    port: int
    log: bytes = b""

    async def read_log_until(self, text: bytes) -> None:
        assert self.process.stderr is not None
        while text not in self.log:
            line = await asyncio.wait_for(self.process.stderr.readline(), 20)
            assert line, self.log.decode()
            self.log += line

    async def exit(self) -> int:
        assert self.process.stderr is not None
        self.log += await asyncio.wait_for(self.process.stderr.read(), 20)
        return await asyncio.wait_for(self.process.wait(), 20)


async def serve(
    github: FakeGitHub,
    private_key: str,
    *,
    fd_limit: int | None = None,
    new_session: bool = False,
    **env: str,
) -> Served:
    """Start ``wheelwatch serve`` on a free port; ``fd_limit`` lowers its RLIMIT_NOFILE;
    ``new_session`` makes it lead a process group of its own (its id is the server's pid)."""
    port = free_port()
    environment = {
        **os.environ,
        "GITHUB_APP_ID": APP_ID,
        "GITHUB_PRIVATE_KEY": private_key.replace("\n", "\\n"),
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": github.url,  # type: ignore[attr-defined]
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
        # The day the tests are written for, as the in-process App's (app_fixtures.py).
        "WHEELWATCH_AS_OF": TODAY.isoformat(),
        **env,
    }
    code = (
        "import argparse, sys; from bot.app.commands import run_serve; "
        "sys.exit(run_serve(argparse.Namespace()))"
    )

    def limit_descriptors() -> None:
        if fd_limit is not None:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, hard))

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env=environment,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=limit_descriptors,
        start_new_session=new_session,
    )
    served = Served(process, f"http://127.0.0.1:{port}", port)
    await served.read_log_until(b"Running on")
    return served
