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


async def python(code: str) -> tuple[asyncio.subprocess.Process, int]:
    """``code`` in a subprocess, and the first line it (or a process it starts) prints.

    Its stdout is a plain pipe, not asyncio's: the worker processes inherit it, and asyncio
    would tie the subprocess's end to theirs."""
    read, write = os.pipe()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env={**os.environ, "PYTHONPATH": TESTS}, stdout=write
    )
    os.close(write)
    with open(read) as output:
        line = await asyncio.wait_for(asyncio.to_thread(output.readline), 20)
    return process, int(line)


async def test_an_analysis_process_ends_when_its_server_is_killed_mid_job() -> None:
    server, analysis = await python(
        "import asyncio, pool_jobs; from bot.app.process_pool import ProcessPool\n"
        "asyncio.run(ProcessPool(1).run(pool_jobs.announce_then_block))"
    )
    try:
        server.kill()  # SIGKILL: the server cleans nothing up
        assert await asyncio.wait_for(server.wait(), 10) == -signal.SIGKILL

        assert await ended(analysis, 10)
    finally:
        if not await ended(analysis, 0):
            os.kill(analysis, signal.SIGKILL)


async def test_a_server_that_never_closes_its_pool_still_exits() -> None:
    server, analysis = await python(
        "import asyncio, os; from bot.app.process_pool import ProcessPool\n"
        # Held to the end, as a server's pool is: its pipes stay open through exit.
        "pool = ProcessPool(1); print(asyncio.run(pool.run(os.getpid)), flush=True)"
    )
    try:
        assert await asyncio.wait_for(server.wait(), 20) == 0
        assert await ended(analysis, 10)
    finally:
        if not await ended(analysis, 0):
            os.kill(analysis, signal.SIGKILL)
