"""Running a delivery again that GitHub was too flaky to finish.

GitHub does not redeliver a delivery it got a 2xx for (redelivery is by hand, or by an App's
own API calls), so a delivery whose GitHub calls kept failing after the client's retries
would leave its pull request unchecked for good. Such a delivery (outcome
``github_unavailable``: unreachable, 5xx, rate limited, a write's answer lost and not found)
is run again after each of ``AppConfig.rerun_delays`` in turn, then given up. A 4xx other
than a rate limit, a malformed payload, a superseded delivery are final: running them again
would change nothing.

Running the whole delivery again is safe: every write finds what an earlier run posted
(``bot.app.writes``; the check run's ``external_id`` is the delivery id, which keeps its
commit's claim), and a re-run of a delivery superseded meanwhile finds itself not current
and posts nothing.
"""

from __future__ import annotations

import logging

from bot.app.config import AppConfig
from bot.app.metrics import Metrics

log = logging.getLogger(__name__)

# The outcome of a run that may succeed later (bot.app.processing).
TRANSIENT_OUTCOME = "github_unavailable"


def next_delay(config: AppConfig, outcome: str, runs: int) -> float | None:
    """Seconds to wait before running the delivery again after its ``runs``-th run ended
    with ``outcome``; None when it is not to be run again."""
    if outcome != TRANSIENT_OUTCOME:
        return None
    delays = config.rerun_delays
    return delays[runs - 1] if runs <= len(delays) else None


def scheduled(metrics: Metrics, event: str, delivery_id: str, runs: int, delay: float) -> None:
    metrics.delivery(event, "rerun")
    log.warning(
        "delivery %s: run %d failed on GitHub; running it again in %.0fs",
        delivery_id,
        runs,
        delay,
    )


def given_up(metrics: Metrics, event: str, delivery_id: str, runs: int) -> None:
    metrics.delivery(event, "given_up")
    log.error(
        "delivery %s: given up after %d runs failed on GitHub; redeliver it from the App's"
        " settings once GitHub is well",
        delivery_id,
        runs,
    )
