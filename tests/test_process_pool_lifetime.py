"""The server owns its analysis processes' lives: signals meant for the group do not end
them (test_app_shutdown.py), and they do not outlive the server however it ends."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from processes import ended

TESTS = str(Path(__file__).parent)


async def python(code: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        env={**os.environ, "PYTHONPATH": TESTS},
        stdout=asyncio.subprocess.PIPE,
    )


async def test_an_analysis_process_ends_when_its_server_is_killed_mid_job() -> None:
    server = await python(
        "import asyncio, pool_jobs; from bot.app.process_pool import ProcessPool\n"
        "asyncio.run(ProcessPool(1).run(pool_jobs.announce_then_block))"
    )
    assert server.stdout is not None
    analysis = int(await asyncio.wait_for(server.stdout.readline(), 20))
    try:
        server.kill()  # SIGKILL: the server cleans nothing up
        # Not server.wait(): it also waits for the server's stdout, which the job holds.
        assert await ended(server.pid, 10)

        assert await ended(analysis, 10)
    finally:
        if not await ended(analysis, 0):
            os.kill(analysis, signal.SIGKILL)
        await server.wait()


async def test_a_server_that_never_closes_its_pool_still_exits() -> None:
    server = await python(
        "import asyncio, os; from bot.app.process_pool import ProcessPool\n"
        "print(asyncio.run(ProcessPool(1).run(os.getpid)), flush=True)"
    )
    assert server.stdout is not None
    analysis = int(await asyncio.wait_for(server.stdout.readline(), 20))
    try:
        assert await asyncio.wait_for(server.wait(), 20) == 0
        assert await ended(analysis, 10)
    finally:
        if not await ended(analysis, 0):
            os.kill(analysis, signal.SIGKILL)
