"""Logging filters that keep what strangers can make the server log short and bounded.

* :class:`OneLineClientErrors`: aiohttp logs a request it cannot parse (an oversized header,
  a broken request line) with a full traceback at ERROR. That is the client's fault, not the
  server's: one line, at INFO, without the traceback.
* :class:`RepeatedLines`: a burst of identical events (1,050 half-sent requests wrote 47,486
  identical lines, 22 MB, in 20 s) is logged a few times per interval, then summed up.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp.http_exceptions import HttpProcessingError


class OneLineClientErrors(logging.Filter):
    """Rewrites aiohttp's traceback for a request it refused with a 4xx into one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            reason = " ".join(str(exc.message).split())[:120]
            record.msg = "refused a malformed request from %s with %d: %s"
            record.args = (remote, exc.code, reason)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


class RepeatedLines(logging.Filter):
    """Lets ``burst`` records of one kind (logger, level, message template) through per
    ``interval`` seconds; the first one after a quiet spell says how many were dropped."""

    def __init__(
        self,
        *,
        burst: int = 5,
        interval: float = 10.0,
        kinds: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst, self.interval, self.kinds, self.clock = burst, interval, kinds, clock
        # kind -> [window start, records let through in it, records dropped since]
        self._windows: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        window = self._windows.get(kind)
        if window is None:
            window = self._windows[kind] = [now, 0, 0]
            if len(self._windows) > self.kinds:
                self._windows.popitem(last=False)
        elif now - window[0] >= self.interval:
            window[0], window[1] = now, 0
        self._windows.move_to_end(kind)
        if window[1] >= self.burst:
            window[2] += 1
            return False
        window[1] += 1
        if window[2]:
            record.msg = f"{record.msg} (and {int(window[2])} more like it, not logged)"
            window[2] = 0
        return True
