"""Jobs for a ProcessPool in a subprocess (importable by name, as the pool requires)."""

from __future__ import annotations

import os
import signal


def announce_then_block() -> None:
    """Print this process's id, then wait for a signal that is not ignored (SIGKILL)."""
    print(os.getpid(), flush=True)
    signal.pause()
