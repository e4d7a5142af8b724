"""arq's job payloads as JSON data, never pickle.

arq pickles a job's function name, arguments and result by default, so anyone who can write
to Redis could make every worker run code of their choosing by planting a job. The web
processes and the workers give arq these two functions instead (``job_serializer`` and
``job_deserializer``): a payload is a JSON object (orjson), and one that is not, pickled or
otherwise, is refused before arq looks into it. The job's arguments are strings only; the
delivery's body, bytes, is kept under its own key (``bot.app.queue_redis.body_key``).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

log = logging.getLogger(__name__)


class NotJobData(ValueError):
    pass


def dumps(data: dict[str, Any]) -> bytes:
    """A job (or, for arq's bookkeeping, a failed job's result) as JSON."""
    return orjson.dumps(data, default=_exception_text)


def loads(payload: bytes) -> dict[str, Any]:
    """The job in ``payload``; raises ``NotJobData`` (arq then drops the job unrun)."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        # arq names the job on the next line ("deserializing job <id> failed").
        log.error(
            "refused a job: its payload is not a JSON object (%d bytes, starting %r); "
            "jobs are data, a pickled one is never unpickled",
            len(payload),
            payload[:2],
        )
        raise NotJobData("job payload is not a JSON object")
    return data


def _exception_text(value: object) -> str:
    # arq serialises the exception a failed job ended with; its text is enough for a log.
    if isinstance(value, BaseException):
        return repr(value)
    raise TypeError(f"{type(value).__name__} is not job data")
