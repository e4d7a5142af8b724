"""What the server and the workers count, exposed at ``GET /metrics`` through prometheus_client.

Each :class:`Metrics` has its own registry (a process holds one; tests hold many). Label values
come from small closed sets (event names outside the App's are counted as ``other``,
outcomes and rule ids are the App's own), so cardinality is bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Upper bounds (seconds) of the processing-latency histogram buckets.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._deliveries = Counter(
            "wheelwatch_deliveries",
            "Webhook deliveries by event and outcome.",
            ["event", "outcome"],
            registry=self.registry,
        )
        self._findings = Counter(
            "wheelwatch_findings", "Findings reported, by rule.", ["rule"], registry=self.registry
        )
        self._github = Counter(
            "wheelwatch_github_requests",
            "GitHub API responses by method and status.",
            ["method", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "wheelwatch_processing_seconds",
            "Time from acceptance to the end of processing.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._queue_depth = Gauge(
            "wheelwatch_queue_depth",
            "Deliveries accepted and waiting for a worker.",
            registry=self.registry,
        )
        self._job_age = Gauge(
            "wheelwatch_job_age_seconds",
            "How long the oldest delivery waiting for a worker has waited.",
            registry=self.registry,
        )
        # Each acknowledgement counts one or two deliveries: ``labels()`` validates and locks
        # on every call (~3 µs), the child it returns is kept here. Bounded by the label sets.
        self._delivery_counters: dict[tuple[str, str], Counter] = {}
        self._connections_closed = Counter(
            "wheelwatch_connections_closed",
            "Connections the server closed to bound them: header_timeout, idle (kept alive, "
            "nothing sent), evicted or refused (past WHEELWATCH_MAX_CONNECTIONS).",
            ["reason"],
            registry=self.registry,
        )
        self._open_connections = Gauge(
            "wheelwatch_open_connections",
            "Client connections open now (at most WHEELWATCH_MAX_CONNECTIONS).",
            registry=self.registry,
        )

    def delivery(self, event: str, outcome: str) -> None:
        key = (event, outcome)
        counter = self._delivery_counters.get(key)
        if counter is None:
            counter = self._delivery_counters[key] = self._deliveries.labels(event, outcome)
        counter.inc()

    def finding(self, rule_id: str) -> None:
        self._findings.labels(rule_id).inc()

    def github_call(self, method: str, status: int | str) -> None:
        self._github.labels(method, str(status)).inc()

    def processed(self, seconds: float) -> None:
        self._latency.observe(seconds)

    def queue(self, depth: int, oldest_age: float) -> None:
        """The queue as it is now (read before each exposition: Redis has it in the other mode)."""
        self._queue_depth.set(depth)
        self._job_age.set(oldest_age)

    def connection_closed(self, reason: str) -> None:
        self._connections_closed.labels(reason).inc()

    def open_connections(self, count: Callable[[], int]) -> None:
        """Read ``count()`` at each exposition."""
        self._open_connections.set_function(count)

    def render(self) -> bytes:
        return prometheus_client.generate_latest(self.registry)

    @property
    def deliveries(self) -> DeliveryCounts:
        """Deliveries counted so far, by (event, outcome): a live view, 0 for none."""
        return DeliveryCounts(self.registry)

    @property
    def latency_count(self) -> int:
        """Deliveries whose processing time was observed."""
        for metric in self._latency.collect():
            for sample in metric.samples:
                if sample.name.endswith("_count"):
                    return int(sample.value)
        return 0


class DeliveryCounts(Mapping[tuple[str, str], int]):
    """``wheelwatch_deliveries_total`` read from the registry, like a ``collections.Counter``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def __getitem__(self, key: tuple[str, str]) -> int:
        event, outcome = key
        labels = {"event": event, "outcome": outcome}
        return int(self._registry.get_sample_value("wheelwatch_deliveries_total", labels) or 0)

    def __contains__(self, key: object) -> bool:
        return key in set(self._keys())

    def _keys(self) -> Iterator[tuple[str, str]]:
        for metric in self._registry.collect():
            for sample in metric.samples:
                if sample.name == "wheelwatch_deliveries_total":
                    yield (sample.labels["event"], sample.labels["outcome"])

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return self._keys()

    def __len__(self) -> int:
        return sum(1 for _ in self._keys())
