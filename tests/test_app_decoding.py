"""What the acknowledgement reads of a body (``decode_routing``) agrees with the full decode
(``decode_delivery``) on everything the acknowledgement decides: refused or not, well formed
or not, routed or not, and the delivery's subject."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fake_github import WEBHOOKS, pull_request_payload
from gidgethub import sansio
from test_app_hostile import mutations

from bot.app.decoding import Refused, decode_delivery, decode_routing
from bot.app.processing import ROUTER, well_formed
from bot.app.server import subject_of


def headers(event: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "d-1",
    }


def decided(decode: Any, event: str, body: bytes) -> tuple[object, ...]:
    """What the acknowledgement makes of the body when decoded by ``decode``."""
    try:
        parsed: sansio.Event = decode(headers(event), body)
    except Refused as refused:
        return ("refused", refused.status)
    if not well_formed(parsed):
        return ("malformed",)
    handlers = ROUTER.fetch(parsed)
    return ("routed" if handlers else "ignored", tuple(handlers), subject_of(parsed))


def example_bodies() -> list[tuple[str, str, bytes]]:
    index = json.loads((WEBHOOKS / "index.json").read_text())
    return [
        (entry["file"], entry["x_github_event"], (WEBHOOKS / entry["file"]).read_bytes())
        for entry in index["files"]
    ]


def odd_bodies() -> list[tuple[str, str, bytes]]:
    pull = json.dumps(pull_request_payload())
    cases = {
        "not json": b"not json",
        "null": b"null",
        "array": b"[]",
        "nan": pull.replace('"number": 2', '"number": NaN').encode(),
        "invalid utf-8 in a field not read": pull.replace('"title": "', '"title": "\xff').encode(
            "latin-1"
        ),
        "deep in a field not read": pull[:-1].encode()
        + b', "x": '
        + b"[" * 5000
        + b"]" * 5000
        + b"}",
        "1,023 deep": pull[:-1].encode() + b', "x": ' + b"[" * 1022 + b"]" * 1022 + b"}",
        "trailing bytes": pull.encode() + b" x",
        "repository a string": json.dumps({**pull_request_payload(), "repository": "o/r"}).encode(),
        "number a string": pull.replace('"number": 2', '"number": "2"').encode(),
        "number beyond 64 bits": pull.replace('"number": 2', f'"number": {2**64 + 1}').encode(),
        "action twice": pull.replace(
            '"action": "opened"', '"action": "closed", "action": "opened"'
        ).encode(),
        "no repository": json.dumps(
            {k: v for k, v in pull_request_payload().items() if k != "repository"}
        ).encode(),
    }
    return [(name, "pull_request", body) for name, body in cases.items()]


def mutated_bodies() -> list[tuple[str, str, bytes]]:
    return [
        (label, "pull_request", json.dumps(data).encode())
        for label, data in mutations(pull_request_payload())
    ]


@pytest.mark.parametrize(
    ("name", "event", "body"),
    [*example_bodies(), *odd_bodies(), *mutated_bodies()],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_acknowledgement_decides_the_same_on_the_routing_fields_as_on_the_whole_body(
    name: str, event: str, body: bytes
) -> None:
    assert decided(decode_routing, event, body) == decided(decode_delivery, event, body)


def test_routing_event_holds_only_the_fields_the_acknowledgement_reads() -> None:
    body = json.dumps(pull_request_payload()).encode()

    event = decode_routing(headers("pull_request"), body)

    assert event.data == {
        "action": "opened",
        "repository": {"full_name": pull_request_payload()["repository"]["full_name"]},
        "pull_request": {"number": 2},
    }


def test_an_integer_beyond_64_bits_is_read_as_the_nearest_float() -> None:
    # orjson's reading (3.9 to 3.13 alike), which the acknowledgement's partial read follows.
    body = json.dumps(pull_request_payload(number=2**64 + 1)).encode()

    event = decode_delivery(headers("pull_request"), body)

    assert event.data["pull_request"]["number"] == float(2**64)
    assert subject_of(decode_routing(headers("pull_request"), body)) == subject_of(event)
