"""Processing one accepted delivery: its turn, its handler, its outcome.

The same code runs in the embedded server's workers (``bot.app.server``) and in
``wheelwatch worker`` processes (``bot.app.worker``); only the ordering and the commit
claims differ (in memory, or in Redis), behind :class:`~bot.app.delivery.SubjectOrder` and
:class:`~bot.app.delivery.Claims`.
"""

from __future__ import annotations

import asyncio
import logging
import time

import gidgethub
from gidgethub import routing, sansio

from bot.app import fix_action, install, lifecycle, pull_request, push, rerun
from bot.app.analysis_cache import AnalysisCache
from bot.app.config import AppConfig
from bot.app.delivery import (
    ClaimStore,
    DeliveryContext,
    LatestWins,
    LeaseLost,
    SubjectOrder,
    Ticket,
    WriteCheck,
)
from bot.app.github import GitHubApp, GitHubUnavailable, UnexpectedAnswer
from bot.app.log_format import DELIVERY
from bot.app.metrics import Metrics
from bot.app.process_pool import AnalysisProcessDied, Offload, ProcessPool, Superseded
from bot.app.release_tables import ReleaseTables
from bot.app.snapshot import Analyser

log = logging.getLogger(__name__)

ROUTER = routing.Router(
    pull_request.router,
    push.router,
    rerun.router,
    lifecycle.router,
    install.router,
    fix_action.router,
)
# Events handled without an installation token (they make no API call).
TOKENLESS_EVENTS = frozenset({"ping", "installation", "installation_repositories"})
# Label values for metrics: anything else is counted as "other".
KNOWN_EVENTS = frozenset({"pull_request", "push", "check_suite", "check_run", *TOKENLESS_EVENTS})


# Outcomes after which a redelivery of the same delivery id (by hand, from the App's
# settings) is processed, not answered as a duplicate: the delivery did not finish, and
# what failed it may be gone by then (GitHub well again, a permission granted, a bug fixed).
# Only github_unavailable is also run again on its own (bot.app.reruns); a 4xx would fail
# again as it was. A delivery waiting to run again is still pending: a duplicate meanwhile.
FAILED_OUTCOMES = frozenset({"github_error", "github_unavailable", "error"})


async def _not_connected() -> str:
    raise GitHubUnavailable("no GitHub session (the server is not running)")


def passing(exc: gidgethub.HTTPException) -> bool:
    """GitHub failed, or limited the App's rate, rather than refused the request."""
    status = int(exc.status_code)
    return (
        status >= 500
        or status == 429
        or isinstance(exc, gidgethub.RateLimitExceeded)
        or (status == 403 and "rate limit" in str(exc).lower())
    )


def event_label(event: str) -> str:
    return event if event in KNOWN_EVENTS else "other"


def well_formed(event: sansio.Event) -> bool:
    """The payload is an object whose ``action``, if any, is a string: the router looks the
    action up in a dict, and a list or an object there raised TypeError."""
    return isinstance(event.data, dict) and isinstance(event.data.get("action", ""), str)


class Processor:
    """Runs deliveries through the router, one at a time per subject, latest wins."""

    def __init__(
        self, config: AppConfig, metrics: Metrics, order: SubjectOrder, commits: ClaimStore
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.order = order
        self.commits = commits
        self.github: GitHubApp | None = None
        # Blob texts and analyses, by content; in this process (see analysis_cache.py).
        self.analyser = Analyser(
            AnalysisCache.in_memory(config.analysis_cache_bytes),
            today=config.today,
            releases=ReleaseTables(refresh=config.release_manifest),
        )
        # Where analyses run (worker processes); None runs them in this process.
        self.pool: ProcessPool | None = None

    async def process(
        self,
        event: sansio.Event,
        ticket: Ticket,
        received: float,
        *,
        attempt: int = 1,
        before_write: WriteCheck | None = None,
    ) -> str:
        """Process the delivery; counts and returns its outcome. Never raises but to cancel.

        ``before_write`` is awaited before each write to GitHub (a Redis worker's check that
        it still holds the delivery's job)."""
        # Every line logged while this task serves the delivery names it (bot.app.log_format).
        DELIVERY.set(event.delivery_id)
        outcome = "processed"
        try:
            async with self.order.turn(ticket):
                if not await self.order.is_current(ticket):
                    outcome = "superseded"
                    return outcome
                outcome = await self._dispatch(event, ticket, attempt, before_write)
        except asyncio.CancelledError:
            # The shutdown's drain ended first: not processed, and the log says which.
            outcome = "cut_off"
            log.warning(
                "delivery %s: cut off by the shutdown before it finished; GitHub can redeliver it",
                event.delivery_id,
            )
            raise
        except LeaseLost:
            # Another worker took the job over while this one stalled: it does the work.
            outcome = "lease_lost"
            log.warning(
                "delivery %s: another worker has taken the job over (this one's lease lapsed);"
                " stopped before writing to GitHub",
                event.delivery_id,
            )
        except Superseded:
            # A newer delivery about the same subject arrived mid-analysis: it does the work.
            outcome = "superseded"
            log.info("delivery %s: analysis stopped for a newer delivery", event.delivery_id)
        except AnalysisProcessDied as exc:
            # Its two processes' ends are logged already (bot.app.process_pool): no traceback.
            outcome = "error"
            log.error("delivery %s: failed: %s", event.delivery_id, exc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            outcome = "malformed"
            log.warning("delivery %s: payload not understood (%r); skipped", event.delivery_id, exc)
        except gidgethub.HTTPException as exc:
            # A 5xx or a rate limit the client's retries did not outlast may pass: the
            # caller runs the delivery again (bot.app.reruns); any other answer is final.
            outcome = "github_unavailable" if passing(exc) else "github_error"
            log.warning(
                "delivery %s: GitHub answered %s (%s)%s",
                event.delivery_id,
                int(exc.status_code),
                exc,
                "" if outcome == "github_unavailable" else "; dropped",
            )
        except GitHubUnavailable as exc:
            outcome = "github_unavailable"
            log.warning("delivery %s: %s", event.delivery_id, exc)
        except UnexpectedAnswer as exc:
            outcome = "github_error"
            log.warning("delivery %s: %s; dropped", event.delivery_id, exc)
        except Exception:
            outcome = "error"
            log.exception("delivery %s: failed", event.delivery_id)
        finally:
            self.metrics.delivery(event_label(event.event), outcome)
            self.metrics.processed(time.monotonic() - received)
        return outcome

    async def _dispatch(
        self, event: sansio.Event, ticket: Ticket, attempt: int, before_write: WriteCheck | None
    ) -> str:
        order = self.order
        # A newer delivery about the same pull request reads its state again and does this
        # one's work: it stops this one's analysis (in one process, where it can be told at
        # once). Deliveries about a commit are not stopped: the commit's claim makes the
        # newer one skip it, and stopping the older would leave the commit unchecked.
        superseded = (
            (lambda: order.superseded(ticket))
            if isinstance(order, LatestWins) and event.event == "pull_request"
            else None
        )
        context = DeliveryContext(
            delivery_id=event.delivery_id,
            ticket=ticket,
            order=self.order,
            commits=self.commits.for_delivery(event.delivery_id),
            metrics=self.metrics,
            app_id=self.config.app_id,
            bot_login=self.github.bot_login if self.github is not None else _not_connected,
            attempt=attempt,
            analyser=self.analyser,
            offload=Offload(self.pool, self.config.analysis_seconds, superseded),
        )
        installation = (event.data.get("installation") or {}).get("id")
        gh = None
        if installation is not None and self.github is not None:
            gh = self.github.installation(
                int(installation), delivery_id=event.delivery_id, before_write=before_write
            )
        elif event.event not in TOKENLESS_EVENTS:
            log.warning(
                "delivery %s: %s without an installation; skipped", event.delivery_id, event.event
            )
            return "skipped"
        await ROUTER.dispatch(event, gh, context=context)
        return "processed"
