"""A verified body as a gidgethub event: in full, or only the fields an acknowledgement reads.

Acknowledging a delivery needs four things of its body: that it is a JSON object, its
``action`` (the router's only key), what it is about (``subject_of``: the repository's name, the
pull request's number, the pushed or checked commit) and nothing else. :func:`decode_routing`
reads those with msgspec, which skips the rest of a 28 kB pull request without building it;
:func:`decode_delivery` builds it all (orjson), for the handlers.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import msgspec
import orjson
from gidgethub import sansio


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def decode_delivery(headers: Mapping[str, str], body: bytes) -> sansio.Event:
    """The event in a body whose signature was verified; raises Refused."""
    media_type = headers.get("Content-Type", "").partition(";")[0].strip().lower()
    try:
        if media_type == "application/json":
            data = _strict_json(body)
        elif media_type == "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=True)
            data = _strict_json(form["payload"][0])
        else:
            raise Refused(400, "expected a JSON body")
    except (ValueError, KeyError, RecursionError):
        # RecursionError: a signed body nested a few thousand levels deep answered 500.
        raise Refused(400, "expected a JSON body") from None
    return _event(headers, data)


def _event(headers: Mapping[str, str], data: Any) -> sansio.Event:
    event = headers.get("X-GitHub-Event")
    delivery_id = headers.get("X-GitHub-Delivery")
    if event is None or delivery_id is None:
        missing = "X-GitHub-Event" if event is None else "X-GitHub-Delivery"
        raise Refused(400, f"missing header {missing!r}")
    return sansio.Event(data, event=event, delivery_id=delivery_id)


def _strict_json(text: str | bytes) -> object:
    """JSON as GitHub writes it, parsed by orjson: ~3x faster than ``json.loads`` on a 28 kB
    delivery (bench/README.md), and strict where the standard module is lenient: ``NaN`` and
    ``Infinity`` (an infinite pull request number raised OverflowError, 500), numbers beyond
    a double (``1e400``), invalid UTF-8 and nesting past 1,024 levels raise
    ``JSONDecodeError``. An integer beyond 64 bits is read as the nearest float."""
    return orjson.loads(text)


# The fields the router and ``subject_of`` read, each left UNSET when the body has none, so
# that the event built from them holds exactly the keys the full body has.
class _Repository(msgspec.Struct):
    full_name: Any = msgspec.UNSET


class _PullRequest(msgspec.Struct):
    number: Any = msgspec.UNSET

    def __post_init__(self) -> None:
        # msgspec reads it exactly, orjson as the nearest float: the full decode says which
        # pull request it is, as the handlers will read it.
        if isinstance(self.number, int) and not -(2**63) <= self.number < 2**64:
            raise ValueError("an integer beyond 64 bits")


class _Commit(msgspec.Struct):
    head_sha: Any = msgspec.UNSET


class _Routing(msgspec.Struct):
    action: Any = msgspec.UNSET
    repository: _Repository | msgspec.UnsetType = msgspec.UNSET
    pull_request: _PullRequest | msgspec.UnsetType = msgspec.UNSET
    after: Any = msgspec.UNSET
    check_suite: _Commit | msgspec.UnsetType = msgspec.UNSET
    check_run: _Commit | msgspec.UnsetType = msgspec.UNSET


_ROUTING = msgspec.json.Decoder(_Routing)


def decode_routing(headers: Mapping[str, str], body: bytes) -> sansio.Event:
    """The event with only the fields routing and ``subject_of`` read; raises Refused.

    Whatever ``decode_delivery`` refuses, this refuses alike, with one exception: a number
    too large for a float (``1e400``) in a field not read here is accepted (msgspec reads it
    as infinity, orjson refuses it); its full decode, when it is processed, then fails and it
    is counted ``malformed``. Bodies whose fields here are not what GitHub sends (an array,
    a ``repository`` that is a string, a pull request number beyond 64 bits) and everything
    msgspec refuses are decoded in full, so that the answer is ``decode_delivery``'s.
    """
    media_type = headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if media_type == "application/json":
        try:
            body.decode("utf-8")  # orjson refuses invalid UTF-8 anywhere; msgspec only where read
            routing = _ROUTING.decode(body)
        except (ValueError, msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            pass
        else:
            return _event(headers, msgspec.to_builtins(routing))
    return decode_delivery(headers, body)
