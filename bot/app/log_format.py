"""How the server and the workers write their logs: each line about a delivery names it.

:data:`DELIVERY` holds the id of the delivery the running task serves (set for the whole of
its processing, retries and GitHub calls included); :class:`DeliveryField` copies it onto
every record as ``delivery`` (``-`` outside a delivery). A line about a delivery that the
logging task does not serve (the request handler replacing a waiting one, the drain naming
those it did not start) names it with ``extra=about(delivery_id)``. ``WHEELWATCH_LOG_FORMAT=json``
writes one JSON object per line instead of text, for log pipelines.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

DELIVERY: ContextVar[str] = ContextVar("wheelwatch_delivery", default="-")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(delivery)s]: %(message)s"


def about(delivery_id: str) -> dict[str, str]:
    """``extra`` for a line about a delivery other than the one the logging task serves."""
    return {"delivery": delivery_id}


class DeliveryField(logging.Filter):
    """Adds ``record.delivery``: the delivery the line names (:func:`about`), else the one
    the logging task is serving."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "delivery"):
            record.delivery = DELIVERY.get()
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, delivery, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "delivery": getattr(record, "delivery", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def formatter(log_format: str) -> logging.Formatter:
    return JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
