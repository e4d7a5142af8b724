"""Jobs for a ProcessPool's analysis processes (importable by name, as the pool requires)."""

from __future__ import annotations

import os
import signal
import socket


def announce_then_block() -> None:
    """Print this process's id, then wait for a signal that is not ignored (SIGKILL)."""
    print(os.getpid(), flush=True)
    signal.pause()


def announce_on_socket_then_block(path: str) -> None:
    """Send this process's id to the Unix socket at ``path`` (the test learns that the job
    has started), then wait for a signal that is not ignored (SIGKILL)."""
    with socket.socket(socket.AF_UNIX) as announced:
        announced.connect(path)
        announced.sendall(f"{os.getpid()}\n".encode())
        signal.pause()


def kill_own_process() -> None:
    """End this process as the out-of-memory killer would, in the middle of the job."""
    os.kill(os.getpid(), signal.SIGKILL)
