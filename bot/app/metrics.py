"""Counters the server exposes at ``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

# Upper bounds (seconds) of the processing-latency histogram buckets.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """Process-wide counts; label values come from a small closed set, so cardinality is bounded."""

    def __init__(self) -> None:
        self.deliveries: Counter[tuple[str, str]] = Counter()
        self.findings: Counter[str] = Counter()
        self.github_calls: Counter[tuple[str, str]] = Counter()
        self.latency_buckets: list[int] = [0] * len(LATENCY_BUCKETS)
        self.latency_count = 0
        self.latency_sum = 0.0
        self.queue_depth: Callable[[], int] = lambda: 0

    def delivery(self, event: str, outcome: str) -> None:
        self.deliveries[(event, outcome)] += 1

    def finding(self, rule_id: str) -> None:
        self.findings[rule_id] += 1

    def github_call(self, method: str, status: int | str) -> None:
        self.github_calls[(method, str(status))] += 1

    def processed(self, seconds: float) -> None:
        self.latency_count += 1
        self.latency_sum += seconds
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_buckets[index] += 1

    def render(self) -> str:
        lines = [
            "# HELP wheelwatch_deliveries_total Webhook deliveries by event and outcome.",
            "# TYPE wheelwatch_deliveries_total counter",
        ]
        for (event, outcome), count in sorted(self.deliveries.items()):
            lines.append(
                f'wheelwatch_deliveries_total{{event="{_label(event)}",'
                f'outcome="{outcome}"}} {count}'
            )
        lines += [
            "# HELP wheelwatch_findings_total Findings reported, by rule.",
            "# TYPE wheelwatch_findings_total counter",
        ]
        for rule_id, count in sorted(self.findings.items()):
            lines.append(f'wheelwatch_findings_total{{rule="{rule_id}"}} {count}')
        lines += [
            "# HELP wheelwatch_github_requests_total GitHub API responses by method and status.",
            "# TYPE wheelwatch_github_requests_total counter",
        ]
        for (method, status), count in sorted(self.github_calls.items()):
            lines.append(
                f'wheelwatch_github_requests_total{{method="{method}",status="{status}"}} {count}'
            )
        lines += [
            "# HELP wheelwatch_queue_depth Deliveries accepted and waiting for a worker.",
            "# TYPE wheelwatch_queue_depth gauge",
            f"wheelwatch_queue_depth {self.queue_depth()}",
            "# HELP wheelwatch_processing_seconds Time from acceptance to the end of processing.",
            "# TYPE wheelwatch_processing_seconds histogram",
        ]
        for bound, count in zip(LATENCY_BUCKETS, self.latency_buckets, strict=True):
            lines.append(f'wheelwatch_processing_seconds_bucket{{le="{bound}"}} {count}')
        lines += [
            f'wheelwatch_processing_seconds_bucket{{le="+Inf"}} {self.latency_count}',
            f"wheelwatch_processing_seconds_sum {self.latency_sum:.6f}",
            f"wheelwatch_processing_seconds_count {self.latency_count}",
        ]
        return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    """Event names come from a header: keep label values to a safe alphabet."""
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in value)[:64]
