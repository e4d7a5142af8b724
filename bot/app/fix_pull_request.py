"""The fix as a pull request: one commit with every proven fix, on one branch, in one pull
request that is updated rather than duplicated.

The commit is built with the Git data API (blobs, a tree on the checked commit's tree, a
commit whose parent is that commit) and the branch ``wheelwatch/fix-python-caches`` is
created or moved to it; the default branch is never written. The branch is moved only when
its tip is a commit the App made (its message carries :data:`TRAILER`): anyone else's push
to it is left alone and the check run says so. Every write is safe to repeat when its
answer is lost (:func:`bot.app.writes.write_once`): blobs and trees are named by their
content, and the ref and the pull request are looked up before being written again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import gidgethub
from gidgethub.abc import GitHubAPI

from bot.app.process_pool import Offload
from bot.app.snapshot import Snapshot
from bot.app.workflows import Repository
from bot.app.writes import write_once
from bot.engine import RULES_BY_ID, Config, fix_all
from bot.engine.calls import Inputs
from bot.engine.versions import ReleaseTable

log = logging.getLogger(__name__)

FIX_BRANCH = "wheelwatch/fix-python-caches"
FIX_REF = f"refs/heads/{FIX_BRANCH}"
# A line of every commit the App makes on the branch: what tells its own commits from others'.
TRAILER = "Wheelwatch-Fix-For:"
FIX_ACTION = {
    "label": "Fix",
    "description": "Open a pull request with the fixes",
    "identifier": "fix",
}

BLOBS_URL = "/repos/{owner}/{repo}/git/blobs"
TREES_URL = "/repos/{owner}/{repo}/git/trees"
COMMITS_URL = "/repos/{owner}/{repo}/git/commits"
COMMIT_URL = "/repos/{owner}/{repo}/git/commits/{commit_sha}"
REFS_URL = "/repos/{owner}/{repo}/git/refs"
REF_URL = "/repos/{owner}/{repo}/git/refs/{+ref}"
GET_REF_URL = "/repos/{owner}/{repo}/git/ref/{+ref}"
PULLS_URL = "/repos/{owner}/{repo}/pulls"
OPEN_PULLS_URL = "/repos/{owner}/{repo}/pulls{?head,state,per_page}"
PULL_URL = "/repos/{owner}/{repo}/pulls/{pull_number}"


@dataclass(frozen=True)
class FixedFile:
    path: str
    mode: str
    text: str
    # What each applied fix does, with the rule it answers.
    changes: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FixOutcome:
    """What happened, in words the check run shows."""

    message: str
    pull_url: str | None = None


def fixable(snapshot: Snapshot) -> bool:
    return any(f.fix is not None for file in snapshot.files for f in file.analysis.findings)


def plan_fixes(snapshot: Snapshot) -> list[FixedFile]:
    """Every proven fix of the snapshot's files, file by file; files that do not change are
    left out (the commit touches nothing else)."""
    fixed: list[FixedFile] = []
    for file in snapshot.files:
        changes = tuple(
            (finding.rule_id, finding.fix.description)
            for finding in file.analysis.findings
            if finding.fix is not None
        )
        if not changes:
            continue
        text, count = _fix(
            file.text,
            snapshot.repo_config.config.engine,
            snapshot.releases.table,
            snapshot.as_of,
            snapshot.inputs.get(file.path, []),
        )
        if count and text != file.text:
            entry = snapshot.tree.entries[file.path]
            fixed.append(FixedFile(file.path, entry.mode, text, changes))
    return fixed


def _fix(
    text: str, config: Config, releases: ReleaseTable, as_of: date, inputs: list[Inputs]
) -> tuple[str, int]:
    return fix_all(text, config=config, releases=releases, as_of=as_of, inputs=inputs)


def commit_message(head_sha: str, files: list[FixedFile]) -> str:
    paths = "\n".join(f"- {file.path}" for file in files)
    return (
        "Key Python caches on the interpreter build that runs\n\n"
        "wheelwatch found dependency caches keyed on the requested Python version, which a\n"
        "pre-release ABI change turns into crashes. Fixed files:\n\n"
        f"{paths}\n\n{TRAILER} {head_sha}\n"
    )


def pull_body(head_sha: str, files: list[FixedFile]) -> str:
    lines = [
        "wheelwatch found Python dependency caches keyed on the *requested* Python version. "
        "Until a pre-release's first release candidate CPython may change its ABI, and a cache "
        "restored across that change holds wheels built for the old one (urllib3's CI crashed "
        "with SIGSEGV this way). This pull request keys each cache on the interpreter build "
        "that runs.",
        "",
        f"Every change was proven before it was offered: the file still parses, the finding "
        f"is gone and nothing new appears. Based on `{head_sha[:12]}`.",
        "",
    ]
    for file in files:
        lines.append(f"### `{file.path}`")
        for rule_id, description in file.changes:
            rule = RULES_BY_ID.get(rule_id)
            link = f"[{rule_id} {rule.name}]({rule.docs_url})" if rule else rule_id
            lines.append(f"- {link}: {description}")
        lines.append("")
    lines.append("Pressing *Fix* again, or a new push, updates this pull request.")
    return "\n".join(lines)


class ForeignCommits(Exception):
    """Someone else has pushed to the fix branch: the App does not overwrite their work."""


async def open_fix_pull_request(
    gh: GitHubAPI, repo: Repository, snapshot: Snapshot, default_branch: str, offload: Offload
) -> FixOutcome:
    """Commit every proven fix of ``snapshot`` on the fix branch and open (or update) its pull
    request. A 403 (a permission the installation has not granted) propagates."""
    if default_branch == FIX_BRANCH:  # never commit to the default branch
        return FixOutcome(f"the default branch is {FIX_BRANCH}; wheelwatch will not commit to it")
    files = await offload.run(plan_fixes, snapshot)
    if not files:
        return FixOutcome("there is no proven fix to commit")
    commit = await _commit(gh, repo, snapshot, files)
    try:
        await _move_branch(gh, repo, commit)
    except ForeignCommits:
        return FixOutcome(
            f"the branch `{FIX_BRANCH}` has commits wheelwatch did not make; it was left as "
            "it is. Delete the branch (or merge its pull request) and press Fix again."
        )
    title = "Key Python caches on the interpreter build that runs (wheelwatch)"
    body = pull_body(snapshot.sha, files)
    number, url, created = await _open_or_update_pull(
        gh, repo, default_branch, title=title, body=body
    )
    verb = "opened" if created else "updated"
    return FixOutcome(f"{verb} pull request #{number} with {_count(files)}", url)


def _count(files: list[FixedFile]) -> str:
    changes = sum(len(file.changes) for file in files)
    return (
        f"{changes} fix{'es' if changes != 1 else ''} in "
        f"{len(files)} file{'s' if len(files) != 1 else ''}"
    )


async def _commit(
    gh: GitHubAPI, repo: Repository, snapshot: Snapshot, files: list[FixedFile]
) -> str:
    entries = []
    for file in files:
        blob = await _created(gh, BLOBS_URL, repo, {"content": file.text, "encoding": "utf-8"})
        entries.append({"path": file.path, "mode": file.mode, "type": "blob", "sha": blob})
    tree = await _created(gh, TREES_URL, repo, {"base_tree": snapshot.tree.sha, "tree": entries})
    message = commit_message(snapshot.sha, files)
    data = {"message": message, "tree": tree, "parents": [snapshot.sha]}
    # A commit made twice (its first answer lost) is a harmless unreferenced object.
    return await _created(gh, COMMITS_URL, repo, data)


async def _created(gh: GitHubAPI, url: str, repo: Repository, data: Mapping[str, object]) -> str:
    """POST an object named by its content: repeating it when the answer is lost is safe."""

    async def create() -> str:
        answer = await gh.post(url, repo.url_vars(), data=data)
        return str(answer["sha"])

    return await write_once(create, _nothing, what=f"POST {url}")


async def _nothing() -> None:
    """For writes whose repetition is harmless: nothing to look for before repeating."""
    return None


async def _branch_tip(gh: GitHubAPI, repo: Repository) -> str | None:
    try:
        data = await gh.getitem(GET_REF_URL, repo.url_vars(ref=FIX_REF.removeprefix("refs/")))
    except gidgethub.BadRequest as exc:
        if exc.status_code == 404:
            return None
        raise
    return str(data["object"]["sha"])


async def _made_by_us(gh: GitHubAPI, repo: Repository, sha: str) -> bool:
    data = await gh.getitem(COMMIT_URL, repo.url_vars(commit_sha=sha))
    return any(line.startswith(TRAILER) for line in str(data.get("message", "")).splitlines())


async def _move_branch(gh: GitHubAPI, repo: Repository, commit: str) -> None:
    tip = await _branch_tip(gh, repo)
    if tip is None:

        async def create() -> str:
            await gh.post(REFS_URL, repo.url_vars(), data={"ref": FIX_REF, "sha": commit})
            return commit

        async def find() -> str | None:
            return commit if await _branch_tip(gh, repo) == commit else None

        try:
            await write_once(create, find, what=f"create {FIX_REF}")
            return
        except gidgethub.BadRequest as exc:
            if exc.status_code != 422:
                raise
            # Created meanwhile (by an earlier try whose answer was lost, or by someone else).
            tip = await _branch_tip(gh, repo)
            if tip is None or tip == commit:
                return
    if tip == commit:
        return
    if not await _made_by_us(gh, repo, tip):
        raise ForeignCommits(tip)

    async def update() -> str:
        # Forced: the new commit sits on the checked commit, not on the old fix.
        url_vars = repo.url_vars(ref=FIX_REF.removeprefix("refs/"))
        await gh.patch(REF_URL, url_vars, data={"sha": commit, "force": True})
        return commit

    async def moved() -> str | None:
        return commit if await _branch_tip(gh, repo) == commit else None

    await write_once(update, moved, what=f"update {FIX_REF}")


async def _open_pull(gh: GitHubAPI, repo: Repository) -> dict[str, object] | None:
    url_vars = repo.url_vars(head=f"{repo.owner}:{FIX_BRANCH}", state="open", per_page=100)
    async for pull in gh.getiter(OPEN_PULLS_URL, url_vars):
        return dict(pull)
    return None


async def _open_or_update_pull(
    gh: GitHubAPI, repo: Repository, base: str, *, title: str, body: str
) -> tuple[int, str | None, bool]:
    """The pull request's number and URL, and whether it was created now."""
    existing = await _open_pull(gh, repo)
    if existing is None:

        async def create() -> dict[str, object]:
            data = {"title": title, "head": FIX_BRANCH, "base": base, "body": body}
            answer = await gh.post(PULLS_URL, repo.url_vars(), data=data)
            return dict(answer)

        try:
            created = await write_once(create, lambda: _open_pull(gh, repo), what="open pull")
            return int(str(created["number"])), _url(created), True
        except gidgethub.BadRequest as exc:
            if exc.status_code != 422:
                raise
            existing = await _open_pull(gh, repo)  # opened meanwhile
            if existing is None:
                raise
    number = int(str(existing["number"]))
    url_vars = repo.url_vars(pull_number=number)

    async def update() -> None:
        await gh.patch(PULL_URL, url_vars, data={"title": title, "body": body})

    # Setting the same title and body twice is harmless: no lookup needed before repeating.
    await write_once(update, _nothing, what=f"update pull #{number}")
    return number, _url(existing), False


def _url(pull: dict[str, object]) -> str | None:
    url = pull.get("html_url")
    return str(url) if url else None


PERMISSIONS_NEEDED = (
    "Committing workflow files needs the permissions **Contents: write** and **Workflows: "
    "write**, opening the pull request **Pull requests: write**. An owner of the installation "
    "can accept them under *Settings → GitHub Apps → wheelwatch → Configure*; then press Fix "
    "again."
)


async def try_fix_pull_request(
    gh: GitHubAPI, repo: Repository, snapshot: Snapshot, default_branch: str, offload: Offload
) -> FixOutcome:
    """:func:`open_fix_pull_request`, with a refusal (403) turned into words, never a retry."""
    try:
        return await open_fix_pull_request(gh, repo, snapshot, default_branch, offload)
    except gidgethub.BadRequest as exc:
        if exc.status_code != 403:
            raise
        log.warning("%s: fix pull request refused: %s", repo.full_name, exc)
        return FixOutcome(f"GitHub refused to write the fix ({exc}). {PERMISSIONS_NEEDED}")
