"""The release table is data: shipped, overridden by config, refreshed from a manifest."""

from __future__ import annotations

from datetime import date

from support import TODAY, analyse, rule_ids

from bot.engine import Config
from bot.engine.versions import ReleaseTable

DEV_316 = """\
on: push
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/setup-python@v6
        with:
          python-version: "3.16-dev"
      - uses: actions/cache@v5
        with:
          path: ~/.cache/pip
          key: pip-${{ hashFiles('r.txt') }}
"""


def test_shipped_table_knows_every_minor_since_3_0() -> None:
    table = ReleaseTable.shipped()
    assert all(f"3.{minor}" in table.finals for minor in range(16))
    assert table.is_final("3.15", date(2026, 10, 1))
    assert not table.is_final("3.15", date(2026, 9, 30))


def test_a_minor_newer_than_the_table_is_not_released() -> None:
    assert not ReleaseTable.shipped().is_final("3.17", TODAY)


def test_manifest_with_a_stable_x_y_0_marks_the_minor_final() -> None:
    manifest: list[dict[str, object]] = [
        {"version": "3.16.0-rc.1", "stable": False},
        {"version": "3.16.0", "stable": True},
    ]
    table = ReleaseTable.shipped().with_manifest(manifest, today=date(2027, 10, 6))
    assert table.is_final("3.16", date(2027, 10, 6))


def test_manifest_with_only_prereleases_changes_nothing() -> None:
    manifest: list[dict[str, object]] = [{"version": "3.16.0-alpha.2", "stable": False}]
    table = ReleaseTable.shipped().with_manifest(manifest, today=TODAY)
    assert not table.is_final("3.16", TODAY)


def test_refreshed_table_passed_to_analyse_clears_the_finding() -> None:
    refreshed = ReleaseTable.shipped().with_manifest(
        [{"version": "3.16.0", "stable": True}], today=TODAY
    )
    assert rule_ids(DEV_316) == ["WW001"]
    assert analyse(DEV_316, as_of=TODAY, releases=refreshed).findings == ()


def test_config_override_applies_on_top_of_a_refreshed_table() -> None:
    refreshed = ReleaseTable.shipped().with_manifest(
        [{"version": "3.16.0", "stable": True}], today=TODAY
    )
    config = Config(released={"3.16": None})
    analysis = analyse(DEV_316, as_of=TODAY, releases=refreshed, config=config)
    assert [f.rule_id for f in analysis.findings] == ["WW001"]


def test_a_planned_final_date_counts_once_it_has_passed() -> None:
    table = ReleaseTable.shipped()
    assert not table.is_final("3.16", date(2027, 10, 4))
    assert table.is_final("3.16", date(2027, 10, 5))


def test_config_false_keeps_a_minor_unreleased_past_its_planned_date() -> None:
    table = ReleaseTable.shipped().overridden({"3.16": None})
    assert not table.is_final("3.16", date(2028, 1, 1))
