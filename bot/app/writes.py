"""Writes to GitHub that must take effect once, although their answer can be lost.

A POST or PATCH whose answer never came (the connection dropped, a 502, a timeout) may have
been applied by GitHub or not; the transport does not repeat it, it raises ``AnswerLost``.
:func:`write_once` then looks for what the write would have produced (a review's markers,
a check run's ``external_id``, its annotation count) and sends it again only if nothing is
there: a blind retry posted two reviews, left a second check run ``in_progress``, and
stored a batch of annotations twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.app.github import AnswerLost

log = logging.getLogger(__name__)

T = TypeVar("T")

# Sends of one write, each after a look that found it had not taken effect.
WRITE_ATTEMPTS = 4


async def write_once(
    write: Callable[[], Awaitable[T]],
    find: Callable[[], Awaitable[T | None]],
    *,
    what: str,
) -> T:
    """``write()``; if its answer is lost, ``find()`` what it produced, else write again.

    ``find`` returns ``None`` when the write did not take effect. Raises ``AnswerLost``
    when the last attempt's answer is lost too and nothing is found.
    """
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            return await write()
        except AnswerLost as exc:
            found = await find()
            if found is not None:
                log.info("%s: the answer was lost (%s) but the write took effect", what, exc)
                return found
            if attempt == WRITE_ATTEMPTS:
                raise
            log.warning("%s: the answer was lost (%s) and nothing took effect; again", what, exc)
    raise AssertionError("unreachable")  # pragma: no cover
