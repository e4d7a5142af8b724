"""Processes the tests watch without being their parent: which are alive, and waiting for
one to end (on its pidfd, not by polling)."""

from __future__ import annotations

import asyncio
import os


def processes_of_session(session: int) -> set[int]:
    """Live processes (zombies are dead) whose session is ``session``."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # Fields after the command (which may hold spaces): state, ppid, pgrp, session.
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.add(int(entry))
    return found


async def ended(pid: int, seconds: float) -> bool:
    """Whether process ``pid`` (not necessarily our child) ends within ``seconds``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()
    loop.add_reader(fd, gone.set)  # a pidfd becomes readable when its process ends
    try:
        await asyncio.wait_for(gone.wait(), seconds)
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)
