"""Logs: every line about a delivery names it, refused signatures are logged, JSON on demand."""

from __future__ import annotations

import json
import logging

import pytest
from app_fixtures import Bot
from fake_github import REPO, FakeGitHub, pull_request_payload

from bot.app.log_format import DELIVERY, DeliveryField, JsonLines


@pytest.fixture
def delivery_field(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.handler.addFilter(DeliveryField())
    caplog.set_level(logging.INFO)
    return caplog


async def test_github_retries_are_logged_with_the_delivery_they_serve(
    bot: Bot, github: FakeGitHub, delivery_field: pytest.LogCaptureFixture
) -> None:
    github.add_pull(REPO, 2, [])
    github.fail("GET", r"/pulls/2/files", 502)

    await bot.deliver("pull_request", pull_request_payload(), delivery_id="d-42")
    await bot.settle()

    retries = [r for r in delivery_field.records if "retrying" in r.getMessage()]
    assert retries, delivery_field.text
    assert {getattr(r, "delivery", None) for r in retries} == {"d-42"}


async def test_refused_signature_is_logged(
    bot: Bot, delivery_field: pytest.LogCaptureFixture
) -> None:
    response = await bot.deliver("ping", {"zen": "x"}, delivery_id="d-7", secret="wrong")

    assert response.status == 401
    [line] = [r.getMessage() for r in delivery_field.records if "SECRET" in r.getMessage()]
    assert "'d-7'" in line


def test_json_lines_hold_the_delivery_and_the_message() -> None:
    record = logging.LogRecord("bot.app", logging.WARNING, __file__, 1, "a %s", ("b",), None)
    token = DELIVERY.set("d-1")
    try:
        DeliveryField().filter(record)
    finally:
        DELIVERY.reset(token)

    entry = json.loads(JsonLines().format(record))

    assert (entry["delivery"], entry["message"], entry["level"]) == ("d-1", "a b", "WARNING")
