"""One fake GitHub for every test: a real aiohttp server on loopback.

It routes the REST endpoints the App calls, records each call, answers with bodies built
from GitHub's own examples in ``../shared/fixtures/github-rest-subset.json``, and validates
every request body against that file's schemas (OpenAPI 3.0 ``nullable`` rewritten to JSON
Schema ``null`` types). It also behaves like GitHub where the App depends on it: review
anchors must lie in a diff hunk (else the whole review is refused with 422), tokens expire,
an installation token must accompany every repository call, the App JWT is verified,
ETags answer 304.

Faults are scripted: ``fail(...)`` answers the next matching calls with an error (or any
status, headers and body: a ``str`` body is sent as HTML),
``stall(...)`` never answers them (the client times out), ``hold(...)`` keeps them
waiting until the returned event is set. These are answered *before* the call takes effect,
as a gateway in front of GitHub would. ``lose(...)`` is the other half: the next matching
calls take effect, then their answer is lost (``LOST_ANSWERS``: the connection is reset, a
502 comes back, or no answer comes until the client times out), so a client cannot tell
whether its write happened. For soaks and benchmarks, ``latency`` delays every answer and
``chaos`` (a :class:`Chaos`) fails a random share of calls: 502s, stalls (the client times
out) and secondary rate limits (403 with ``retry-after``) before the call, and, with
``lost_writes``, writes whose answer is lost after they took effect.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import hashlib
import itertools
import json
import random
import re
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import jwt
import orjson
from aiohttp import web
from fake_git import MODE_FILE, Entry, GitStore

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REST: dict[str, Any] = json.loads((SHARED / "fixtures" / "github-rest-subset.json").read_text())
APP_SLUG = "wheelwatch"
BOT_USER = {"login": f"{APP_SLUG}[bot]", "id": 9999, "type": "Bot"}
# How ``lose`` drops an answer after the call took effect.
LOST_ANSWERS = ("reset", "502", "stall")

# -- what GitHub sends: signed deliveries built from its published payloads ---------------

SECRET = "test-webhook-secret"
APP_ID = "4242"
WEBHOOKS = SHARED / "fixtures" / "webhooks"
REPO = "Codertocat/Hello-World"


def app_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair in PEM: the App signs its JWT with the private half, this fake
    verifies it with the public half."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


HEAD_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"

UNSAFE_WORKFLOW = textwrap.dedent(
    """\
    name: CI
    on: [push, pull_request]
    jobs:
      test:
        runs-on: ubuntu-latest
        strategy:
          matrix:
            python-version: ["3.14", "3.16-dev"]
        steps:
          - uses: actions/checkout@v5
          - uses: actions/setup-python@v6
            with:
              python-version: ${{ matrix.python-version }}
          - uses: actions/cache@v5
            with:
              path: ~/.cache/pip
              key: UNSAFE_KEY
          - run: pip install -r requirements.txt
    """
).replace(
    "UNSAFE_KEY",
    "${{ runner.os }}-pip-${{ matrix.python-version }}-${{ hashFiles('requirements.txt') }}",
)

SAFE_WORKFLOW = textwrap.dedent(
    """\
    name: CI
    on: [push, pull_request]
    jobs:
      test:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v5
          - uses: actions/setup-python@v6
            with:
              python-version: "3.13"
              cache: pip
          - run: pip install -r requirements.txt
    """
)


def webhook(name: str) -> dict[str, Any]:
    """A payload from ../shared/fixtures/webhooks (a fresh copy)."""
    data: dict[str, Any] = json.loads((WEBHOOKS / f"{name}.json").read_text())
    return copy.deepcopy(data)


def pull_request_payload(
    action: str = "opened",
    *,
    number: int = 2,
    head_sha: str = HEAD_SHA,
    head_repo: str | None = None,
) -> dict[str, Any]:
    """``pull_request.opened.2`` (it has an installation), adjusted."""
    data = webhook("pull_request.opened.2")
    data["action"] = action
    data["number"] = number
    data["pull_request"]["number"] = number
    data["pull_request"]["head"]["sha"] = head_sha
    if head_repo is not None:
        data["pull_request"]["head"]["repo"]["full_name"] = head_repo
    return data


def added_patch(text: str) -> str:
    """The patch GitHub shows for a new file."""
    lines = text.splitlines()
    return f"@@ -0,0 +1,{len(lines)} @@\n" + "\n".join("+" + line for line in lines)


def hunk_patch(text: str, first: int, last: int) -> str:
    """A patch whose one hunk shows lines first..last of the new file (the middle one added)."""
    lines = text.splitlines()[first - 1 : last]
    middle = len(lines) // 2
    body = [("+" if i == middle else " ") + line for i, line in enumerate(lines)]
    return f"@@ -{first},{len(lines) - 1} +{first},{len(lines)} @@\n" + "\n".join(body)


def json_schema(schema: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: ``nullable: true`` becomes a ``null`` type."""
    if isinstance(schema, list):
        return [json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: json_schema(value) for key, value in schema.items() if key != "nullable"}
    if schema.get("nullable"):
        kind = result.get("type")
        if isinstance(kind, str):
            result["type"] = [kind, "null"]
        if "enum" in result and None not in result["enum"]:
            result["enum"] = [*result["enum"], None]
    return result


_VALIDATORS: dict[str, jsonschema.Draft4Validator] = {}


def request_errors(operation: str, body: Any) -> list[str]:
    spec = REST[operation]
    if spec["request"] is None:
        return [] if body is None else [f"{operation} takes no body"]
    if body is None:
        return [f"{operation} needs a body"] if spec.get("request_required") else []
    if operation not in _VALIDATORS:
        _VALIDATORS[operation] = jsonschema.Draft4Validator(json_schema(spec["request"]))
    return [
        f"{operation}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _VALIDATORS[operation].iter_errors(body)
    ]


def example(operation: str, status: str, name: str | None = None) -> Any:
    """A fresh copy of GitHub's example answer (callers change it)."""
    # Parsed from its JSON each time: copy.deepcopy of these nested examples was a fifth of
    # the fake's CPU in bench/redis_scale.py, where the fake shares two cores with the App.
    return orjson.loads(_example_json(operation, status, name))


@functools.cache
def _example_json(operation: str, status: str, name: str | None) -> bytes:
    examples = REST[operation]["response_examples"][status]
    return orjson.dumps(examples[name] if name else next(iter(examples.values())))


@dataclass
class Call:
    operation: str
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 0


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int | None  # None: stall, never answer
    headers: dict[str, str]
    body: Any
    times: int
    after: int = 0  # matching calls let through first


@dataclass
class _Loss:
    method: str
    pattern: re.Pattern[str]
    how: str  # one of LOST_ANSWERS
    times: int
    # Set each time a matching call has been applied and its answer is about to be lost.
    applied: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Chaos:
    """Random faults: each call draws once; rates are shares of all calls (seeded, repeatable)."""

    server_errors: float = 0.0  # 502 Bad Gateway
    timeouts: float = 0.0  # a stall: no answer, so only the client's timeout ends the call
    rate_limits: float = 0.0  # 403 secondary rate limit with ``retry-after``
    retry_after: str = "1"
    # None: a stall never answers, so it cannot race the client's timeout (the tests). The
    # bench's fake, a process of its own, answers 504 after this many seconds instead.
    stall_seconds: float | None = None
    # Share of writes (POST, PATCH; tokens aside) applied whose answer is then lost, each
    # in one of the LOST_ANSWERS ways; drawn separately from the faults above.
    lost_writes: float = 0.0
    seed: int = 0
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._loss_random = random.Random(self.seed + 1)

    def draw_loss(self) -> str | None:
        if self._loss_random.random() >= self.lost_writes:
            return None
        how = self._loss_random.choice(LOST_ANSWERS)
        self.injected[f"lost-{how}"] += 1
        return how

    def draw(self) -> str | None:
        roll = self._random.random()
        for kind, rate in (
            ("502", self.server_errors),
            ("timeout", self.timeouts),
            ("403", self.rate_limits),
        ):
            if roll < rate:
                self.injected[kind] += 1
                return kind
            roll -= rate
        return None

    async def answer(self, kind: str) -> web.Response:
        if kind == "502":
            return web.json_response({"message": "Server Error"}, status=502)
        if kind == "timeout":
            if self.stall_seconds is None:
                await asyncio.Event().wait()  # never answers, as stall() and lose("stall")
            else:
                await asyncio.sleep(self.stall_seconds)
            return web.json_response({"message": "fake stall"}, status=504)
        return web.json_response(
            {
                "message": "You have exceeded a secondary rate limit. Please wait a few "
                "minutes before you try again.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            },
            status=403,
            headers={"retry-after": self.retry_after},
        )


@dataclass
class PullRequest:
    files: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CheckRun:
    id: int
    repo: str
    request: dict[str, Any]
    updates: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    status: str = "queued"
    conclusion: str | None = None
    output: dict[str, Any] = field(default_factory=dict)

    def as_json(self, app_id: str) -> dict[str, Any]:
        """The check run as GitHub shows it (``output.annotations_count`` included)."""
        data = example("GET /repos/{owner}/{repo}/check-runs/{check_run_id}", "200")
        data.update(
            id=self.id,
            head_sha=self.request["head_sha"],
            name=self.request["name"],
            external_id=self.request.get("external_id", ""),
            status=self.status,
            conclusion=self.conclusion,
        )
        data["output"] = {
            **data["output"],
            **self.output,
            "annotations_count": len(self.annotations),
        }
        data["app"] = {**data["app"], "id": int(app_id), "slug": APP_SLUG}
        return data


class FakeGitHub:
    def __init__(self, *, app_id: str, public_key: str) -> None:
        self.app_id = app_id
        self.public_key = public_key
        self.calls: list[Call] = []
        self.errors: list[str] = []
        self.contents: dict[tuple[str, str, str], str] = {}  # (repo, ref, path) -> text
        self.pulls: dict[tuple[str, int], PullRequest] = {}
        self.check_runs: dict[int, CheckRun] = {}
        self.git = GitStore()
        # Pull requests as the pulls API lists them (the fix pull request), by (repo, number).
        self.pull_requests: dict[tuple[str, int], dict[str, Any]] = {}
        self._pull_numbers = itertools.count(100)
        self.tokens: dict[str, datetime] = {}
        self.token_lifetime = timedelta(hours=1)
        self._refused_mints = 0  # tokens still to be issued already revoked
        self.page_size = 100
        self._faults: list[_Fault] = []
        self._holds: list[tuple[re.Pattern[str], asyncio.Event, asyncio.Event]] = []
        self._losses: list[_Loss] = []
        self.lost: list[Call] = []  # calls that took effect and whose answer was lost
        self.latency = 0.0  # seconds added before every answer
        # Manifest codes GitHub would redirect with, each to the manifest that was confirmed.
        self.manifest_codes: dict[str, dict[str, Any]] = {}
        self.private_key = ""  # what a manifest conversion hands out (set by the fixture)
        self.chaos: Chaos | None = None
        self._ids = itertools.count(1000)
        self.app = web.Application(middlewares=[self._record])
        self._routes()

    # -- set-up helpers ------------------------------------------------------------------

    def add_file(self, repo: str, ref: str, path: str, text: str) -> None:
        self.contents[(repo, ref, path)] = text

    def add_pull(self, repo: str, number: int, files: list[dict[str, Any]]) -> PullRequest:
        pull = self.pulls.setdefault((repo, number), PullRequest())
        pull.files = [self._pull_file(file) for file in files]
        return pull

    def fail(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
        after: int = 0,
    ) -> None:
        """Answer the ``times`` matching calls that come after the next ``after`` ones."""
        message = {"message": f"fake {status}"} if body is None else body
        self._faults.append(
            _Fault(method, re.compile(path_pattern), status, headers or {}, message, times, after)
        )

    def stall(self, method: str, path_pattern: str, *, times: int = 1) -> None:
        self._faults.append(_Fault(method, re.compile(path_pattern), None, {}, None, times))

    def refuse_tokens(self, *, next_mints: int = 0) -> None:
        """Revoke every installation token issued so far, and issue the next ``next_mints``
        already revoked (GitHub refusing an installation's tokens for a while)."""
        self.tokens.clear()
        self._refused_mints = next_mints

    def lose(
        self, method: str, path_pattern: str, how: str = "reset", *, times: int = 1
    ) -> asyncio.Event:
        """Apply the next ``times`` matching calls, then lose each answer ``how``: "reset"
        closes the connection, "502" answers Bad Gateway, "stall" never answers. The event
        returned is set once such a call has been applied."""
        if how not in LOST_ANSWERS:
            raise ValueError(f"how must be one of {LOST_ANSWERS}")
        loss = _Loss(method, re.compile(path_pattern), how, times)
        self._losses.append(loss)
        return loss.applied

    def hold(self, path_pattern: str) -> tuple[asyncio.Event, asyncio.Event]:
        """Calls matching the pattern wait for ``release``; ``arrived`` is set when one does."""
        arrived, release = asyncio.Event(), asyncio.Event()
        self._holds.append((re.compile(path_pattern), arrived, release))
        return arrived, release

    # -- what tests read -----------------------------------------------------------------

    def count(self) -> Counter[str]:
        return Counter(call.operation for call in self.calls)

    def reviews(self, repo: str, number: int) -> list[dict[str, Any]]:
        return self.pulls[(repo, number)].reviews if (repo, number) in self.pulls else []

    # -- plumbing --------------------------------------------------------------------------

    @staticmethod
    def _pull_file(file: dict[str, Any]) -> dict[str, Any]:
        item = example("GET /repos/{owner}/{repo}/pulls/{pull_number}/files", "200")[0]
        item.update(file)
        if "patch" in file and file["patch"] is None:
            del item["patch"]
        return item

    def _routes(self) -> None:
        repo = "/repos/{owner}/{repo}"
        add = self.app.router.add_route
        add("POST", "/app/installations/{installation_id}/access_tokens", self._access_token)
        add("POST", "/app-manifests/{code}/conversions", self._manifest_conversion)
        add("GET", repo + "/pulls/{pull_number}/files", self._pull_files)
        add("GET", repo + "/pulls/{pull_number}/comments", self._pull_comments)
        add("GET", repo + "/pulls/{pull_number}/reviews", self._pull_reviews)
        add("POST", repo + "/pulls/{pull_number}/reviews", self._create_review)
        add("GET", repo + "/contents/{path:.+}", self._get_content)
        add("POST", repo + "/check-runs", self._create_check_run)
        add("PATCH", repo + "/check-runs/{check_run_id}", self._update_check_run)
        add("GET", repo + "/check-runs/{check_run_id}", self._get_check_run)
        add("GET", repo + "/commits/{ref}/check-runs", self._commit_check_runs)
        add("GET", "/app", self._get_app)
        add("GET", repo, self._get_repository)
        add("GET", repo + "/branches/{branch:.+}", self._get_branch)
        add("GET", repo + "/git/trees/{tree_sha:.+}", self._get_tree)
        add("GET", repo + "/git/blobs/{file_sha}", self._get_blob)
        add("POST", repo + "/git/blobs", self._create_blob)
        add("POST", repo + "/git/trees", self._create_tree)
        add("POST", repo + "/git/commits", self._create_commit)
        add("GET", repo + "/git/commits/{commit_sha:.+}", self._get_commit)
        add("GET", repo + "/git/ref/{ref:.+}", self._get_ref)
        add("POST", repo + "/git/refs", self._create_ref)
        add("PATCH", repo + "/git/refs/{ref:.+}", self._update_ref)
        add("GET", repo + "/pulls", self._list_pulls)
        add("POST", repo + "/pulls", self._create_pull)
        add("PATCH", repo + "/pulls/{pull_number}", self._update_pull)

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        route = request.match_info.route.resource
        template = route.canonical if route is not None else request.path
        template = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", template)
        operation = f"{request.method} {template}"
        raw = await request.read()
        body = json.loads(raw) if raw else None
        call = Call(operation, request.method, request.path, dict(request.query), body)
        self.calls.append(call)
        response = await self._respond(request, handler, call)
        call.status = response.status
        return response

    async def _respond(self, request: web.Request, handler: Any, call: Call) -> web.StreamResponse:
        for pattern, arrived, release in self._holds:
            if pattern.search(request.path):
                arrived.set()
                await release.wait()
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.chaos is not None:
            kind = self.chaos.draw()
            if kind is not None:
                return await self.chaos.answer(kind)
        for fault in self._faults:
            if (
                fault.times
                and fault.method == request.method
                and fault.pattern.search(request.path)
            ):
                if fault.after:
                    fault.after -= 1
                    continue
                fault.times -= 1
                if fault.status is None:
                    await asyncio.Event().wait()  # never answers; the client times out
                if isinstance(fault.body, str):  # a page from a proxy or a login wall
                    return web.Response(
                        text=fault.body,
                        status=fault.status,
                        headers=fault.headers,
                        content_type="text/html",
                    )
                return web.json_response(fault.body, status=fault.status, headers=fault.headers)
        if call.operation not in REST:
            self.errors.append(f"unexpected call {call.operation}")
            return web.json_response({"message": "Not Found"}, status=404)
        errors = request_errors(call.operation, call.body)
        if errors:
            self.errors.extend(errors)
            return web.json_response({"message": "Invalid request", "errors": errors}, status=422)
        if call.operation == "GET /app":
            if not self._app_jwt(request):
                return web.json_response(
                    {"message": "A JSON web token could not be decoded"}, status=401
                )
        elif (
            "access_tokens" not in request.path
            and call.operation != "POST /app-manifests/{code}/conversions"  # the code is the key
            and not self._authorized(request)
        ):
            return web.json_response({"message": "Bad credentials"}, status=401)
        response: web.StreamResponse = await handler(request)
        how = self._loss(request)
        if how is not None:
            call.status = response.status  # it took effect
            self.lost.append(call)
            return await self._lose(request, how)
        return response

    def _loss(self, request: web.Request) -> str | None:
        for loss in self._losses:
            if loss.times and loss.method == request.method and loss.pattern.search(request.path):
                loss.times -= 1
                loss.applied.set()
                return loss.how
        if (
            self.chaos is not None
            and request.method in ("POST", "PATCH")
            and "access_tokens" not in request.path
        ):
            return self.chaos.draw_loss()
        return None

    async def _lose(self, request: web.Request, how: str) -> web.StreamResponse:
        if how == "502":
            return web.json_response({"message": "Bad Gateway"}, status=502)
        if how == "stall":
            await asyncio.Event().wait()  # never answers; the client times out
        assert request.transport is not None
        request.transport.abort()  # the client sees the connection drop
        return web.Response(status=500)  # never sent

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("token "):
            self.errors.append(f"{request.method} {request.path} without an installation token")
            return False
        expires = self.tokens.get(header.removeprefix("token "))
        return expires is not None and expires > datetime.now(UTC)

    def _etagged(self, request: web.Request, data: Any) -> web.Response:
        tag = '"' + hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest() + '"'
        if request.headers.get("If-None-Match") == tag:
            return web.Response(status=304, headers={"ETag": tag})
        return web.json_response(data, headers={"ETag": tag})

    # -- endpoints -------------------------------------------------------------------------

    async def _manifest_conversion(self, request: web.Request) -> web.Response:
        """Each code in ``manifest_codes`` converts once, into an App with this fake's key."""
        manifest = self.manifest_codes.pop(request.match_info["code"], None)
        if manifest is None:
            return web.json_response({"message": "Not Found"}, status=404)
        data = example("POST /app-manifests/{code}/conversions", "201")
        data.update(
            id=int(self.app_id),
            name=manifest.get("name", data["name"]),
            pem=self.private_key,
            webhook_secret=SECRET,
        )
        return web.json_response(data, status=201)

    def _app_jwt(self, request: web.Request) -> bool:
        """The request carries a JWT signed with the App's key, for the App's id."""
        header = request.headers.get("Authorization", "")
        try:
            claims = jwt.decode(
                header.partition(" ")[2] if header.lower().startswith("bearer ") else "",
                self.public_key,
                algorithms=["RS256"],
            )
        except jwt.PyJWTError as exc:
            self.errors.append(f"bad app JWT: {exc}")
            return False
        return str(claims.get("iss")) == self.app_id

    async def _get_app(self, request: web.Request) -> web.Response:
        data = example("GET /app", "200")
        data.update(id=int(self.app_id), slug=APP_SLUG, name="wheelwatch")
        return web.json_response(data)

    async def _access_token(self, request: web.Request) -> web.Response:
        if not self._app_jwt(request):
            return web.json_response(
                {"message": "A JSON web token could not be decoded"}, status=401
            )
        token = f"ghs_fake{next(self._ids)}"
        expires = datetime.now(UTC) + self.token_lifetime
        if self._refused_mints:
            self._refused_mints -= 1
        else:
            self.tokens[token] = expires
        data = example("POST /app/installations/{installation_id}/access_tokens", "201")
        data.update(token=token, expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return web.json_response(data, status=201)

    def _pull(self, request: web.Request) -> PullRequest | None:
        info = request.match_info
        return self.pulls.get((f"{info['owner']}/{info['repo']}", int(info["pull_number"])))

    def _paged(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        per_page = min(int(request.query.get("per_page", "30")), self.page_size)
        page = int(request.query.get("page", "1"))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            url = request.url.update_query(page=str(page + 1))
            headers["Link"] = f'<{url}>; rel="next"'
        return web.json_response(chunk, headers=headers)

    async def _pull_files(self, request: web.Request) -> web.Response:
        pull = self._pull(request)
        if pull is None:
            return web.json_response({"message": "Not Found"}, status=404)
        return self._paged(request, pull.files)

    async def _pull_comments(self, request: web.Request) -> web.Response:
        pull = self._pull(request)
        return self._paged(request, pull.comments if pull else [])

    async def _pull_reviews(self, request: web.Request) -> web.Response:
        pull = self._pull(request)
        return self._paged(request, pull.reviews if pull else [])

    async def _create_review(self, request: web.Request) -> web.Response:
        info = request.match_info
        repo, number = f"{info['owner']}/{info['repo']}", int(info["pull_number"])
        pull = self.pulls.setdefault((repo, number), PullRequest())
        body = await request.json()
        hunks = {file["filename"]: _hunks(file.get("patch")) for file in pull.files}
        for comment in body.get("comments", []):
            problem = _anchor_problem(comment, hunks.get(comment["path"], []))
            if problem:
                return web.json_response(
                    {"message": "Unprocessable Entity", "errors": [problem]}, status=422
                )
        if body.get("event") == "COMMENT" and not body.get("body"):
            return web.json_response({"message": "body is required for COMMENT"}, status=422)
        review = example("POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews", "200")
        review.update(
            id=next(self._ids),
            body=body.get("body", ""),
            user=dict(BOT_USER),
            commit_id=body.get("commit_id"),
            state="COMMENTED",
        )
        review["_comments"] = body.get("comments", [])
        pull.reviews.append(review)
        for comment in body.get("comments", []):
            pull.comments.append(
                {
                    "id": next(self._ids),
                    "user": dict(BOT_USER),
                    "pull_request_review_id": review["id"],
                    **comment,
                }
            )
        return web.json_response({k: v for k, v in review.items() if k != "_comments"})

    async def _get_content(self, request: web.Request) -> web.Response:
        info = request.match_info
        repo, path = f"{info['owner']}/{info['repo']}", info["path"]
        ref = request.query.get("ref", "HEAD")
        text = self.contents.get((repo, ref, path))
        if text is None:
            return web.json_response({"message": "Not Found"}, status=404)
        raw = text.encode("utf-8", "surrogateescape")
        data = example(
            "GET /repos/{owner}/{repo}/contents/{path}", "200", "response-if-content-is-a-file"
        )
        data.update(
            name=path.rsplit("/", 1)[-1],
            path=path,
            size=len(raw),
            sha=hashlib.sha1(raw).hexdigest(),
            encoding="base64",
            content=base64.encodebytes(raw).decode(),
        )
        if len(raw) > 1024 * 1024:
            data.update(encoding="none", content="")
        return self._etagged(request, data)

    async def _create_check_run(self, request: web.Request) -> web.Response:
        info = request.match_info
        body = await request.json()
        run = CheckRun(next(self._ids), f"{info['owner']}/{info['repo']}", body)
        run.status = body.get("status", "queued")
        self.check_runs[run.id] = run
        return web.json_response(run.as_json(self.app_id), status=201)

    async def _update_check_run(self, request: web.Request) -> web.Response:
        run = self.check_runs.get(int(request.match_info["check_run_id"]))
        if run is None:
            return web.json_response({"message": "Not Found"}, status=404)
        body = await request.json()
        run.updates.append(body)
        output = body.get("output") or {}
        run.annotations.extend(output.get("annotations", []))
        run.output.update({k: v for k, v in output.items() if k != "annotations"})
        run.status = body.get("status", run.status)
        run.conclusion = body.get("conclusion", run.conclusion)
        return web.json_response(run.as_json(self.app_id))

    async def _get_check_run(self, request: web.Request) -> web.Response:
        run = self.check_runs.get(int(request.match_info["check_run_id"]))
        if run is None:
            return web.json_response({"message": "Not Found"}, status=404)
        return self._etagged(request, run.as_json(self.app_id))

    async def _commit_check_runs(self, request: web.Request) -> web.Response:
        info, query = request.match_info, request.query
        repo = f"{info['owner']}/{info['repo']}"
        runs = [
            run.as_json(self.app_id)
            for run in self.check_runs.values()
            if run.repo == repo
            and run.request["head_sha"] == info["ref"]
            and query.get("check_name", run.request["name"]) == run.request["name"]
            and query.get("app_id", self.app_id) == self.app_id
        ]
        per_page = min(int(query.get("per_page", "30")), self.page_size)
        page = int(query.get("page", "1"))
        chunk = runs[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(runs):
            headers["Link"] = f'<{request.url.update_query(page=str(page + 1))}>; rel="next"'
        data = {"total_count": len(runs), "check_runs": chunk}
        return web.json_response(data, headers=headers)

    # -- the Git data API, the repository and its pull requests ----------------------------------

    @staticmethod
    def _repo(request: web.Request) -> str:
        return f"{request.match_info['owner']}/{request.match_info['repo']}"

    @staticmethod
    def _not_found() -> web.Response:
        return web.json_response({"message": "Not Found"}, status=404)

    async def _get_repository(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        branch = self.git.default_branches.get(repo)
        if branch is None:
            return self._not_found()
        data = example("GET /repos/{owner}/{repo}", "200")
        data.update(full_name=repo, name=repo.split("/")[1], default_branch=branch)
        return web.json_response(data)

    async def _get_branch(self, request: web.Request) -> web.Response:
        repo, branch = self._repo(request), request.match_info["branch"]
        head = self.git.branch_head(repo, branch)
        if head is None:
            return self._not_found()
        data = example("GET /repos/{owner}/{repo}/branches/{branch}", "200")
        data["name"] = branch
        data["commit"]["sha"] = head
        data["commit"]["commit"]["tree"]["sha"] = self.git.commits[head].tree
        return web.json_response(data)

    def _tree_from_contents(self, repo: str, ref: str) -> str | None:
        """Files added with ``add_file`` at ``ref`` form that commit's tree; any other commit
        SHA asked about is a commit without files."""
        entries = {
            path: Entry(MODE_FILE, self.git.add_blob(text.encode("utf-8", "surrogateescape")))
            for (owner, at, path), text in self.contents.items()
            if owner == repo and at == ref
        }
        if not entries and not re.fullmatch("[0-9a-f]{40}", ref):
            return None
        return self.git.add_tree(entries)

    async def _get_tree(self, request: web.Request) -> web.Response:
        repo, name = self._repo(request), request.match_info["tree_sha"]
        tree = self.git.resolve_tree(repo, name) or self._tree_from_contents(repo, name)
        if tree is None:
            return self._not_found()
        if "recursive" not in request.query:
            self.errors.append("the App must read the tree recursively, in one call")
        data = {
            "sha": tree,
            "url": f"{request.url}",
            "tree": self.git.tree_listing(tree),
            "truncated": False,
        }
        return self._etagged(request, data)

    async def _get_blob(self, request: web.Request) -> web.Response:
        sha = request.match_info["file_sha"]
        raw = self.git.blobs.get(sha)
        if raw is None:
            return self._not_found()
        data = example("GET /repos/{owner}/{repo}/git/blobs/{file_sha}", "200")
        data.update(
            sha=sha, size=len(raw), encoding="base64", content=base64.encodebytes(raw).decode()
        )
        return web.json_response(data)

    async def _create_blob(self, request: web.Request) -> web.Response:
        body = await request.json()
        raw = (
            base64.b64decode(body["content"])
            if body.get("encoding") == "base64"
            else body["content"].encode()
        )
        sha = self.git.add_blob(raw)
        return web.json_response({"sha": sha, "url": f"{request.url}/{sha}"}, status=201)

    async def _create_tree(self, request: web.Request) -> web.Response:
        body = await request.json()
        entries: dict[str, Entry] = {}
        if "base_tree" in body:
            if body["base_tree"] not in self.git.trees:
                return web.json_response({"message": "base_tree not found"}, status=422)
            entries = dict(self.git.trees[body["base_tree"]])
        for item in body["tree"]:
            if "content" in item:
                entries[item["path"]] = Entry(
                    item["mode"], self.git.add_blob(item["content"].encode())
                )
            elif item.get("sha") is None:
                entries.pop(item["path"], None)
            elif item["sha"] not in self.git.blobs:
                return web.json_response({"message": "tree.sha not found"}, status=422)
            else:
                entries[item["path"]] = Entry(item["mode"], item["sha"])
        sha = self.git.add_tree(entries)
        data = {"sha": sha, "url": f"{request.url}/{sha}", "tree": self.git.tree_listing(sha)}
        return web.json_response(data, status=201)

    def _commit_data(self, request: web.Request, sha: str) -> dict[str, Any]:
        commit = self.git.commits[sha]
        data = example("GET /repos/{owner}/{repo}/git/commits/{commit_sha}", "200")
        data.update(sha=sha, message=commit.message, author=commit.author, committer=commit.author)
        data["tree"] = {"sha": commit.tree, "url": f"{request.url}"}
        data["parents"] = [{"sha": p, "url": "", "html_url": ""} for p in commit.parents]
        return data

    async def _create_commit(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body["tree"] not in self.git.trees or any(
            parent not in self.git.commits for parent in body.get("parents", [])
        ):
            return web.json_response({"message": "tree or parent not found"}, status=422)
        author = {
            "name": BOT_USER["login"],
            "email": "bot@example.com",
            "date": "2026-12-03T00:00:00Z",
        }
        commit = self.git.add_commit(body["tree"], body.get("parents", []), body["message"], author)
        return web.json_response(self._commit_data(request, commit.sha), status=201)

    async def _get_commit(self, request: web.Request) -> web.Response:
        sha = request.match_info["commit_sha"]
        if sha not in self.git.commits:
            return self._not_found()
        return web.json_response(self._commit_data(request, sha))

    def _ref_data(self, repo: str, ref: str, sha: str) -> dict[str, Any]:
        return {
            "ref": ref,
            "node_id": "REF",
            "url": f"{self.url}/repos/{repo}/git/{ref}",  # type: ignore[attr-defined]
            "object": {"type": "commit", "sha": sha, "url": ""},
        }

    async def _get_ref(self, request: web.Request) -> web.Response:
        repo, ref = self._repo(request), "refs/" + request.match_info["ref"]
        sha = self.git.refs.get((repo, ref))
        if sha is None:
            return self._not_found()
        return web.json_response(self._ref_data(repo, ref, sha))

    async def _create_ref(self, request: web.Request) -> web.Response:
        repo, body = self._repo(request), await request.json()
        if (repo, body["ref"]) in self.git.refs:
            return web.json_response({"message": "Reference already exists"}, status=422)
        if body["sha"] not in self.git.commits:
            return web.json_response({"message": "Object does not exist"}, status=422)
        self.git.refs[(repo, body["ref"])] = body["sha"]
        return web.json_response(self._ref_data(repo, body["ref"], body["sha"]), status=201)

    async def _update_ref(self, request: web.Request) -> web.Response:
        repo, ref = self._repo(request), "refs/" + request.match_info["ref"]
        body = await request.json()
        current = self.git.refs.get((repo, ref))
        if current is None:
            return web.json_response({"message": "Reference does not exist"}, status=422)
        if not body.get("force") and not self.git.is_ancestor(current, body["sha"]):
            return web.json_response({"message": "Update is not a fast forward"}, status=422)
        self.git.refs[(repo, ref)] = body["sha"]
        return web.json_response(self._ref_data(repo, ref, body["sha"]))

    def open_pulls(self, repo: str) -> list[dict[str, Any]]:
        return [
            pull
            for (owner, _), pull in self.pull_requests.items()
            if owner == repo and pull["state"] == "open"
        ]

    async def _list_pulls(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        state, head = request.query.get("state", "open"), request.query.get("head")
        pulls = [
            pull
            for (owner, _), pull in self.pull_requests.items()
            if owner == repo
            and state in ("all", pull["state"])
            and (head is None or head == f"{pull['head']['user']['login']}:{pull['head']['ref']}")
        ]
        return self._paged(request, pulls)

    async def _create_pull(self, request: web.Request) -> web.Response:
        repo, body = self._repo(request), await request.json()
        owner = repo.split("/")[0]
        if self.git.branch_head(repo, body["head"]) is None:
            return web.json_response({"message": "head branch does not exist"}, status=422)
        if any(p["head"]["ref"] == body["head"] for p in self.open_pulls(repo)):
            return web.json_response(
                {"message": f"A pull request already exists for {owner}:{body['head']}."},
                status=422,
            )
        number = next(self._pull_numbers)
        pull = example("POST /repos/{owner}/{repo}/pulls", "201")
        pull.update(number=number, state="open", title=body["title"], body=body.get("body"))
        pull["user"] = dict(BOT_USER)
        pull["head"].update(ref=body["head"], user={**pull["head"]["user"], "login": owner})
        pull["base"]["ref"] = body["base"]
        self.pull_requests[(repo, number)] = pull
        return web.json_response(pull, status=201)

    async def _update_pull(self, request: web.Request) -> web.Response:
        repo, number = self._repo(request), int(request.match_info["pull_number"])
        pull = self.pull_requests.get((repo, number))
        if pull is None:
            return self._not_found()
        body = await request.json()
        pull.update({k: v for k, v in body.items() if k in ("title", "body", "state")})
        return web.json_response(pull)


_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


def _hunks(patch: str | None) -> list[range]:
    """Independent of the App's parser on purpose: the RIGHT-side lines of each hunk."""
    result = []
    for match in _HUNK.finditer(patch or ""):
        start, count = int(match.group(1)), int(match.group(2) or 1)
        result.append(range(start, start + count))
    return result


def _anchor_problem(comment: dict[str, Any], hunks: list[range]) -> str | None:
    line = comment.get("line")
    if line is None or comment.get("side", "RIGHT") != "RIGHT":
        return "fake GitHub only accepts line/side RIGHT anchors"
    start = comment.get("start_line", line)
    if start == line and "start_line" in comment:
        return "start line must precede the end line"
    if start > line:
        return "start line must precede the end line"
    for hunk in hunks:
        if line in hunk:
            if start in hunk:
                return None
            return "Pull request review thread start line must be part of the same hunk as the line"
    return "Pull request review thread line must be part of the diff"
