"""Which Pythons a job row installs, and where: setup-python, setup-uv, deadsnakes, uv."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, replace
from datetime import date

from bot.engine.actions import CHECKOUT, DEADSNAKES, NOX, SETUP_PYTHON, SETUP_UV
from bot.engine.document import YMap, YScalar
from bot.engine.expressions import Evaluator, Value, render
from bot.engine.versions import (
    Candidate,
    Installer,
    Kind,
    ReleaseTable,
    classify,
    python_image_tag,
)
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
    # The Python is then ``python`` on PATH, so a step can hash its ``python -VV``.
    on_path: bool = False


@dataclass
class Fetched:
    """What earlier steps of a row left on disk for later ones."""

    # What ``.python-version`` holds, which uv commands without a request read.
    pin: str | None = None
    # The ref of CPython source fetched and not built yet ("main" for the default branch).
    cpython: str | None = None
    # The deadsnakes nightly PPA is among apt's sources.
    nightly_ppa: bool = False

    def after(self, step: Step, evaluator: Evaluator, install: Install | None) -> None:
        """Record what ``step`` (which installed ``install``) fetched."""
        if step.uses is not None and step.uses.name == CHECKOUT:
            self.cpython = checkout_source(step, evaluator) or self.cpython
        if not step.run or not any(word in step.run for word in _FETCH_WORDS):
            return
        script = _rendered(step.run, evaluator) or step.run
        self.pin = python_version_pin(script) or self.pin
        if install is not None and install.installer == "build":
            self.cpython = None
        else:
            self.cpython = cpython_source(script) or self.cpython
        self.nightly_ppa = self.nightly_ppa or _NIGHTLY_PPA in script


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
    step: Step, evaluator: Evaluator, resolution: Resolution, fetched: Fetched | None = None
) -> Install | None:
    """The Pythons this step installs: a setup step, uv fetching one, a CPython built from
    source or installed from a nightly PPA. ``fetched`` is what earlier steps left."""
    fetched = fetched or Fetched()

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
            on_path=True,
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
        return Install(
            step, "deadsnakes", candidates([requested], "deadsnakes", False), on_path=True
        )
    if uses is not None and uses.name == SETUP_UV:
        requested = _rendered(_input_text(step, "python-version"), evaluator)
        if not requested:
            return None
        return Install(step, "uv", candidates([requested], "uv", True))
    if uses is not None and uses.name == CHECKOUT:
        return None
    run = step.run
    if not run:
        return None
    may_build = fetched.cpython or fetched.nightly_ppa or any(w in run for w in _BUILD_WORDS)
    if not may_build and "uv" not in run:
        return None
    script = _rendered(run, evaluator) or run
    if may_build:
        built = _built(script, fetched, evaluator, resolution)
        if built is not None:
            return Install(step, "build", built[0], on_path=built[1])
    if "uv" in run:
        requests = uv_python_requests(script)
        if not requests and _UV_COMMAND.search(" " + script):
            # A uv command with no --python of its own takes UV_PYTHON from the environment,
            # else the .python-version file (one this step or an earlier one wrote).
            env = evaluator.contexts.get("env")
            default = env.get("UV_PYTHON") if isinstance(env, dict) else None
            if not (isinstance(default, str) and default.strip()):
                default = python_version_pin(script) or fetched.pin
            requests = [default] if isinstance(default, str) and default.strip() else []
        if requests:
            return Install(step, "uv", candidates(requests, "uv", True))
    return None


def checkout_source(step: Step, evaluator: Evaluator) -> str | None:
    """The ref of CPython's source an ``actions/checkout`` step fetches, if it does."""
    repository = _rendered(_input_text(step, "repository"), evaluator) or ""
    if repository.strip().lower() != "python/cpython":
        return None
    return (_rendered(_input_text(step, "ref"), evaluator) or "").strip() or "main"


_FETCH = re.compile(r"\b(git\s+clone|curl|wget|gh\s+repo\s+clone)\b")
_CPYTHON_REPO = re.compile(
    r"python/cpython(?:\.git)?(?:/archive/(?:refs/(?:heads|tags)/)?([\w.-]+?)\.(?:tar\.gz|zip))?"
)
_BRANCH = re.compile(r"(?:\s-b\s+|--branch[=\s]+)([\w./-]+)")
_TARBALL = re.compile(r"python\.org/ftp/python/[\d.]+/Python-([\w.]+?)\.(?:tgz|tar\.xz|tar\.gz)")


def cpython_source(script: str) -> str | None:
    """The ref of CPython source a script clones or downloads (``main`` when it names
    none; a version for a python.org tarball), if it fetches some."""
    found = None
    for line in script.splitlines():
        line = re.sub(r"(^|\s)#.*", "", line)
        if not _FETCH.search(line):
            continue
        tarball = _TARBALL.search(line)
        repo = _CPYTHON_REPO.search(line)
        if tarball:
            found = tarball[1]
        elif repo:
            branch = _BRANCH.search(line)
            found = repo[1] or (branch[1] if branch else "main")
    return found


_BUILD = re.compile(r"(^|[\s;&|(/])(configure|make|build\.bat)(\s|$)", re.M)
_PYENV_INSTALL = re.compile(r"\bpyenv\s+install\s+([^\n;&|#]+)")
_PYENV_SELECTS = re.compile(r"\bpyenv\s+(global|local|shell)\s+\S")
_NIGHTLY_PPA = "ppa:deadsnakes/nightly"
_APT_PYTHON = re.compile(r"\bapt(?:-get)?\s+install\b[^\n;&|]*")


def _built(
    script: str, fetched: Fetched, evaluator: Evaluator, resolution: Resolution
) -> tuple[tuple[Candidate, ...], bool] | None:
    """The Pythons a script builds from source or installs from a nightly PPA, and whether
    ``python`` on PATH is then one of them (pyenv made it the selected version)."""

    def of(request: str, installer: Installer) -> Candidate | None:
        return classify(
            request, installer=installer, as_of=resolution.as_of, releases=resolution.releases
        )

    found: list[Candidate] = []
    on_path = False
    ref = cpython_source(script) or fetched.cpython
    if ref is not None and _BUILD.search(script):
        found.append(_cpython_build(ref, resolution))
    for match in _PYENV_INSTALL.finditer(script):
        for word in match[1].split():
            if word.startswith("-"):
                continue
            # pyenv's X.Y-dev builds the branch head, like a deadsnakes nightly.
            candidate = of(word, "deadsnakes" if word.endswith("-dev") else "setup-python")
            if candidate is not None:
                found.append(candidate)
        env = evaluator.contexts.get("env")
        on_path = bool(_PYENV_SELECTS.search(script)) or (
            isinstance(env, dict) and "PYENV_VERSION" in env
        )
    if fetched.nightly_ppa or _NIGHTLY_PPA in script:
        for match in _APT_PYTHON.finditer(script):
            for minor in re.findall(r"\bpython(\d+\.\d+)\b", match[0]):
                candidate = of(f"{minor}-dev", "deadsnakes")
                if candidate is not None and candidate not in found:
                    found.append(candidate)
    return (tuple(found), on_path) if found else None


def _cpython_build(ref: str, resolution: Resolution) -> Candidate:
    """A CPython built from the source at ``ref``: a branch head changes from run to run."""
    version = ref.removeprefix("v")
    if re.fullmatch(r"\d+\.\d+", version):
        branch = classify(
            f"{version}-dev",
            installer="deadsnakes",
            as_of=resolution.as_of,
            releases=resolution.releases,
        )
        if branch is not None:
            return replace(branch, request=f"CPython {version} branch built in the job")
    if re.fullmatch(r"\d+\.\d+\.\d+\w*", version):
        tagged = classify(
            version, installer="setup-python", as_of=resolution.as_of, releases=resolution.releases
        )
        if tagged is not None:
            return tagged
    if ref in ("main", "master", "HEAD"):
        return Candidate("CPython main built in the job", Kind.PRERELEASE, nightly=True)
    return Candidate(f"CPython {ref} built in the job", Kind.UNKNOWN)


# Words a script must hold to fetch something for later steps, or to build a Python.
_FETCH_WORDS = (".python-version", "pin", "python/cpython", "python.org/ftp", "deadsnakes/nightly")
_BUILD_WORDS = ("pyenv", "python/cpython", "python.org/ftp", "deadsnakes/nightly")

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


__all__ = [
    "Fetched",
    "Install",
    "Resolution",
    "container_install",
    "install_of",
    "python_version_pin",
    "uv_python_requests",
]
