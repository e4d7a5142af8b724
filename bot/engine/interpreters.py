"""Which Pythons a job row installs, and where: setup-python, setup-uv, deadsnakes, uv."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import date

from bot.engine.actions import DEADSNAKES, NOX, SETUP_PYTHON, SETUP_UV
from bot.engine.document import YMap, YScalar
from bot.engine.expressions import UNKNOWN, Evaluator, Value, render
from bot.engine.versions import Candidate, Installer, ReleaseTable, classify, python_image_tag
from bot.engine.workflow import Job, Step


@dataclass(frozen=True)
class Install:
    """Pythons made available by one step."""

    step: Step
    installer: Installer
    candidates: tuple[Candidate, ...]
    # setup-python: the ``python-version`` input as written, to trace it into cache keys.
    request_text: str = ""
    # setup-python exports ``pythonLocation`` unless ``update-environment: false``.
    sets_python_location: bool = False


@dataclass(frozen=True)
class Resolution:
    as_of: date
    releases: ReleaseTable
    # What callers pass to a reusable workflow or composite action; empty: unknown.
    inputs: tuple[dict[str, Value], ...] = ()


def _rendered(text: str | None, evaluator: Evaluator) -> str | None:
    if text is None:
        return None
    value = render(text, evaluator)
    return value if isinstance(value, str) else text


def install_of(
    step: Step, evaluator: Evaluator, resolution: Resolution, pinned: str | None = None
) -> Install | None:
    """The Pythons this step installs, if it is a setup step or runs uv to get one.

    ``pinned`` is what an earlier step of the job wrote to ``.python-version``."""

    def candidates(requests: list[str], installer: Installer, allow: bool) -> tuple[Candidate, ...]:
        found = (
            classify(
                request,
                installer=installer,
                as_of=resolution.as_of,
                releases=resolution.releases,
                allow_prereleases=allow,
            )
            for request in requests
        )
        return tuple(candidate for candidate in found if candidate is not None)

    uses = step.uses
    if uses is not None and uses.name == SETUP_PYTHON:
        node = step.input("python-version")
        requested = _rendered(node.text if node else None, evaluator)
        allow = _rendered(_input_text(step, "allow-prereleases"), evaluator) or ""
        update = _rendered(_input_text(step, "update-environment"), evaluator) or "true"
        if requested is None:
            if step.input("python-version-file") is not None:
                requests = ["${{ python-version-file }}"]
            else:
                return None  # the runner's default, stable Python
        else:
            requests = [line.strip() for line in requested.splitlines() if line.strip()]
        return Install(
            step,
            "setup-python",
            candidates(requests, "setup-python", allow.strip().lower() == "true"),
            request_text=node.value if node else "",
            sets_python_location=update.strip().lower() != "false",
        )
    if uses is not None and uses.name == NOX:
        requested = _rendered(_input_text(step, "python-versions"), evaluator)
        if not requested:
            return None  # the action's defaults: final versions when it was released
        requests = [part.strip() for part in requested.split(",") if part.strip()]
        # Its setup-python step has no id the workflow can read, but it exports pythonLocation.
        return Install(
            step,
            "nox",
            candidates(requests, "setup-python", True),
            sets_python_location=True,
        )
    if uses is not None and uses.name == DEADSNAKES:
        requested = _rendered(_input_text(step, "python-version"), evaluator)
        if not requested:
            return None
        return Install(step, "deadsnakes", candidates([requested], "deadsnakes", False))
    if uses is not None and uses.name == SETUP_UV:
        requested = _rendered(_input_text(step, "python-version"), evaluator)
        if not requested:
            return None
        return Install(step, "uv", candidates([requested], "uv", True))
    run = step.run
    if run and "uv" in run:
        script = _rendered(run, evaluator) or run
        requests = uv_python_requests(script)
        if not requests and _UV_COMMAND.search(" " + script):
            # A uv command with no --python of its own takes UV_PYTHON from the environment,
            # else the .python-version file (one this step or an earlier one wrote).
            env = evaluator.contexts.get("env")
            default = env.get("UV_PYTHON") if isinstance(env, dict) else None
            if not (isinstance(default, str) and default.strip()):
                default = python_version_pin(script) or pinned
            requests = [default] if isinstance(default, str) and default.strip() else []
        if requests:
            return Install(step, "uv", candidates(requests, "uv", True))
    return None


_PIN = re.compile(
    r"""\buv\s+python\s+pin\s+(?:--?[\w-]+\s+)*["']?([^\s"';&|]+)"""
    r"""|\b(?:echo|printf)\s+(?:-[a-z]+\s+)?["']?([^\s"'>;&|]+)["']?\s*>\s*["']?\.python-version\b"""
)


def python_version_pin(script: str) -> str | None:
    """The version a script writes to ``.python-version`` (``uv python pin 3.16``,
    ``echo 3.16-dev > .python-version``), which later uv commands request; the last wins."""
    found = None
    for match in _PIN.finditer(script):
        found = match[1] or match[2]
    return found


def container_install(job: Job, evaluator: Evaluator, resolution: Resolution) -> Install | None:
    """The Python of an official ``python:`` container image the job runs in."""
    container = job.node.get("container")
    image_node = container.scalar("image") if isinstance(container, YMap) else container
    if not isinstance(image_node, YScalar):
        return None
    image = _rendered(image_node.text, evaluator)
    tag = python_image_tag(image) if image else None
    if tag is None:
        return None
    candidate = classify(
        tag, installer="docker", as_of=resolution.as_of, releases=resolution.releases
    )
    if candidate is None:
        return None
    # The container exists before the first step runs.
    return Install(Step(-1, job.node, None), "docker", (candidate,))


def _input_text(step: Step, name: str) -> str | None:
    node = step.input(name)
    return node.text if node is not None else None


_UV_COMMAND = re.compile(r"(?:^|[\s;&|(])uvx?\s")


def uv_python_requests(script: str) -> list[str]:
    """Python requests in uv command lines: ``uv python install 3.16``, ``--python 3.16``."""
    requests: list[str] = []
    for raw in script.replace("\\\n", " ").splitlines():
        line = raw.split("#", 1)[0]
        if not _UV_COMMAND.search(" " + line):
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        for position, word in enumerate(words):
            following = words[position + 1] if position + 1 < len(words) else ""
            if word in ("--python", "-p") and following:
                requests.append(following)
            elif word.startswith(("--python=", "-p=")):
                requests.append(word.split("=", 1)[1])
            elif word == "install" and position > 0 and words[position - 1] == "python":
                requests.extend(w for w in words[position + 1 :] if not w.startswith("-"))
    return [request for request in requests if request and not request.startswith("$")]


def env_value(name: str, scopes: list[dict[str, str]]) -> str | None:
    for scope in reversed(scopes):
        if name in scope:
            return scope[name]
    return None


__all__ = [
    "UNKNOWN",
    "Install",
    "Resolution",
    "env_value",
    "install_of",
    "python_version_pin",
    "uv_python_requests",
]
