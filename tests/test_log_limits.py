"""Logging filters: what a flood of identical events leaves in the log."""

from __future__ import annotations

import logging

from bot.app.log_limits import RepeatedLines


def record(
    msg: str = "Error handling request from %s", name: str = "aiohttp.server"
) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("1.2.3.4",), None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_identical_lines_beyond_the_burst_are_dropped_within_an_interval() -> None:
    limit = RepeatedLines(burst=3, interval=10.0, clock=Clock())

    passed = [limit.filter(record()) for _ in range(1000)]

    assert passed.count(True) == 3


def test_first_line_after_the_interval_says_how_many_were_dropped() -> None:
    clock = Clock()
    limit = RepeatedLines(burst=1, interval=10.0, clock=clock)
    for _ in range(50):
        limit.filter(record())
    clock.now = 10.0

    later = record()
    assert limit.filter(later)
    assert "49 more like it" in later.getMessage()


def test_different_messages_have_their_own_allowance() -> None:
    limit = RepeatedLines(burst=1, interval=10.0, clock=Clock())

    assert limit.filter(record("one %s"))
    assert limit.filter(record("two %s"))
    assert not limit.filter(record("one %s"))


def test_kinds_remembered_are_bounded() -> None:
    limit = RepeatedLines(burst=1, interval=10.0, kinds=10, clock=Clock())

    for n in range(1000):
        limit.filter(record(f"line {n} %s"))

    assert len(limit._windows) == 10
