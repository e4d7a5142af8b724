"""Which Python builds a version request selects, as of a date (caching-facts §3.2, §7)."""

from __future__ import annotations

from datetime import date

import pytest
from support import TODAY, rule_ids

from bot.engine.versions import Candidate, Installer, Kind, ReleaseTable, classify, describe

RELEASES = ReleaseTable.shipped()


def classified(
    request: str,
    *,
    installer: Installer = "setup-python",
    as_of: date = TODAY,
    allow_prereleases: bool = False,
) -> Candidate | None:
    return classify(
        request,
        installer=installer,
        as_of=as_of,
        releases=RELEASES,
        allow_prereleases=allow_prereleases,
    )


def kind(request: str, **options: object) -> Kind | None:
    candidate = classified(request, **options)  # type: ignore[arg-type]
    return None if candidate is None else candidate.kind


def test_shipped_table_has_3_15_final_on_2026_10_01_and_3_16_unreleased() -> None:
    assert RELEASES.finals["3.15"] == date(2026, 10, 1)
    assert RELEASES.finals["3.16"] is None
    assert RELEASES.is_final("3.15", TODAY)
    assert not RELEASES.is_final("3.15", date(2026, 9, 30))
    assert not RELEASES.is_final("3.16", TODAY)


def test_shipped_table_covers_every_minor_from_3_0() -> None:
    assert {f"3.{minor}" for minor in range(17)} <= set(RELEASES.finals)


def test_minor_newer_than_the_table_is_not_final() -> None:
    assert not RELEASES.is_final("3.17", TODAY)


def test_bare_minor_without_allow_prereleases_selects_no_prerelease() -> None:
    assert classified("3.16") is None


def test_bare_minor_with_allow_prereleases_selects_the_alpha() -> None:
    assert kind("3.16", allow_prereleases=True) is Kind.PRERELEASE


def test_bare_minor_with_allow_prereleases_is_stable_once_final() -> None:
    assert kind("3.15", allow_prereleases=True) is Kind.STABLE


def test_bare_minor_was_a_prerelease_before_its_final_release() -> None:
    assert kind("3.15", allow_prereleases=True, as_of=date(2026, 9, 1)) is Kind.PRERELEASE


def test_dev_suffix_selects_a_prerelease_before_final() -> None:
    assert kind("3.16-dev") is Kind.PRERELEASE


def test_dev_suffix_resolves_to_stable_once_final() -> None:
    assert kind("3.15-dev", as_of=date(2026, 9, 30)) is Kind.PRERELEASE
    assert kind("3.15-dev", as_of=date(2026, 10, 1)) is Kind.STABLE


def test_3_x_never_selects_a_prerelease() -> None:
    assert kind("3.x") is Kind.STABLE
    assert kind("3.x", allow_prereleases=True) is Kind.STABLE


@pytest.mark.parametrize("request_", [">=3.9 <3.17", ">=3.13", "~3.16", "3.16.x", "3"])
def test_ranges_without_a_prerelease_comparator_are_stable(request_: str) -> None:
    assert kind(request_) is Kind.STABLE


@pytest.mark.parametrize("request_", ["3.16.0-alpha.2", "3.13.0-beta.4", "3.15.0-rc.1"])
def test_exact_semver_prerelease_pin_selects_exactly_that_build(request_: str) -> None:
    candidate = classified(request_)
    assert candidate is not None
    assert candidate.kind is Kind.PRERELEASE
    assert candidate.exact


def test_hyphen_range_with_a_prerelease_bound_selects_a_prerelease() -> None:
    assert kind("3.16.0-alpha - 3.16.0") is Kind.PRERELEASE


def test_exact_final_version_is_stable_and_exact() -> None:
    candidate = classified("3.14.2")
    assert candidate is not None
    assert (candidate.kind, candidate.exact) == (Kind.STABLE, True)


def test_free_threaded_minor_is_a_prerelease_exactly_when_its_minor_is() -> None:
    assert kind("3.16t", allow_prereleases=True) is Kind.PRERELEASE
    assert kind("3.15t", allow_prereleases=True) is Kind.STABLE
    assert kind("3.16t-dev") is Kind.PRERELEASE


def test_pypy_nightly_is_a_nightly_prerelease() -> None:
    candidate = classified("pypy3.11-nightly")
    assert candidate is not None
    assert (candidate.kind, candidate.nightly) == (Kind.PRERELEASE, True)


def test_pypy_release_is_stable() -> None:
    assert kind("pypy3.10") is Kind.STABLE
    assert kind("pypy-3.10-v7.3.x") is Kind.STABLE


def test_pypy_release_candidate_is_a_prerelease() -> None:
    assert kind("pypy3.7-v7.3.3rc1") is Kind.PRERELEASE


def test_graalpy_release_is_stable() -> None:
    assert kind("graalpy-24.1") is Kind.STABLE


def test_uv_selects_a_prerelease_for_a_bare_unreleased_minor() -> None:
    assert kind("3.16", installer="uv") is Kind.PRERELEASE


@pytest.mark.parametrize("request_", ["cpython-3.16", "python3.16", "3.16+freethreaded"])
def test_uv_request_spellings_are_understood(request_: str) -> None:
    assert kind(request_, installer="uv") is Kind.PRERELEASE


def test_deadsnakes_dev_is_a_nightly_until_final() -> None:
    candidate = classified("3.16-dev", installer="deadsnakes")
    assert candidate is not None
    assert (candidate.kind, candidate.nightly) == (Kind.PRERELEASE, True)
    assert kind("3.15-dev", installer="deadsnakes") is Kind.STABLE


def test_python_version_file_is_unknown_not_prerelease() -> None:
    assert kind("${{ python-version-file }}") is Kind.UNKNOWN


def test_empty_request_selects_nothing() -> None:
    assert classified("  ") is None


def test_released_override_makes_a_minor_final() -> None:
    overridden = RELEASES.overridden({"3.16": date(2026, 11, 1)})
    candidate = classify("3.16-dev", installer="setup-python", as_of=TODAY, releases=overridden)
    assert candidate is not None
    assert candidate.kind is Kind.STABLE


def test_released_override_false_makes_a_minor_unreleased() -> None:
    overridden = RELEASES.overridden({"3.15": None})
    assert not overridden.is_final("3.15", TODAY)


def test_manifest_with_a_stable_x_y_0_marks_the_minor_final() -> None:
    manifest: list[dict[str, object]] = [
        {"version": "3.16.0-rc.1", "stable": False},
        {"version": "3.16.0", "stable": True},
    ]
    assert RELEASES.with_manifest(manifest, TODAY).is_final("3.16", TODAY)


def test_manifest_with_only_prereleases_leaves_the_minor_unreleased() -> None:
    manifest: list[dict[str, object]] = [{"version": "3.16.0-alpha.2", "stable": False}]
    assert not RELEASES.with_manifest(manifest, TODAY).is_final("3.16", TODAY)


def test_description_names_the_expected_final_date() -> None:
    candidate = classified("3.16-dev")
    assert candidate is not None
    assert describe(candidate, RELEASES, TODAY) == (
        "3.16-dev (pre-release builds until 3.16.0 final, expected 2027-10-05)"
    )


# --- through analyse: a job that cannot run a pre-release is never flagged ---------------

ALLOW = "\n              allow-prereleases: true"

UNVERSIONED_PIP_CACHE = """\
    on: push
    jobs:
      test:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/setup-python@v6
            with:
              python-version: "{version}"{extra}
          - uses: actions/cache@v5
            with:
              path: ~/.cache/pip
              key: pip-${{{{ hashFiles('requirements.txt') }}}}
    """


@pytest.mark.parametrize(
    ("version", "extra"),
    [
        ("3.14", ""),
        ("3.15", ""),
        ("3.15-dev", ""),
        ("3.16", ""),
        ("3.x", ALLOW),
        ("3.15", ALLOW),
        ("pypy3.10", ""),
    ],
)
def test_job_that_cannot_run_a_prerelease_is_not_flagged(version: str, extra: str) -> None:
    assert rule_ids(UNVERSIONED_PIP_CACHE.format(version=version, extra=extra)) == []


@pytest.mark.parametrize(
    ("version", "extra"),
    [
        ("3.16-dev", ""),
        ("3.16", ALLOW),
        ("3.16.0-alpha.2", ""),
        ("3.16t-dev", ""),
    ],
)
def test_job_that_can_run_a_prerelease_with_an_unversioned_key_is_flagged(
    version: str, extra: str
) -> None:
    assert rule_ids(UNVERSIONED_PIP_CACHE.format(version=version, extra=extra)) == ["WW001"]


def test_the_same_workflow_was_unsafe_before_the_minor_went_final() -> None:
    text = UNVERSIONED_PIP_CACHE.format(version="3.15-dev", extra="")
    assert rule_ids(text, as_of=date(2026, 8, 4)) == ["WW001"]
    assert rule_ids(text, as_of=date(2026, 10, 1)) == []
