"""The fake GitHub's Git store: blobs, trees, commits and refs, in memory.

Enough of Git for the App's whole-repository reads (a recursive tree, blobs) and for the fix
pull request it writes through the Git data API, so a test can materialise a branch and run
the engine on it. Trees are kept flat (every blob by its full path); blob SHAs are Git's own
(``sha1("blob <size>\\0" + content)``), tree and commit SHAs only need to be unique.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

MODE_FILE = "100644"


def blob_sha(raw: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest()


@dataclass(frozen=True)
class Entry:
    mode: str
    sha: str


@dataclass
class Commit:
    sha: str
    tree: str
    parents: list[str]
    message: str
    author: dict[str, str]


@dataclass
class GitStore:
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, dict[str, Entry]] = field(default_factory=dict)  # sha -> path -> entry
    commits: dict[str, Commit] = field(default_factory=dict)
    refs: dict[tuple[str, str], str] = field(default_factory=dict)  # (repo, refs/heads/x) -> sha
    default_branches: dict[str, str] = field(default_factory=dict)
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    # -- objects -----------------------------------------------------------------------------

    def add_blob(self, raw: bytes) -> str:
        sha = blob_sha(raw)
        self.blobs[sha] = raw
        return sha

    def add_tree(self, entries: dict[str, Entry]) -> str:
        listing = json.dumps({p: [e.mode, e.sha] for p, e in sorted(entries.items())})
        sha = hashlib.sha1(b"tree " + listing.encode()).hexdigest()
        self.trees[sha] = dict(entries)
        return sha

    def add_commit(
        self, tree: str, parents: list[str], message: str, author: dict[str, str]
    ) -> Commit:
        # A serial number makes every commit unique, as a timestamp does in Git.
        seed = f"{tree} {parents} {message} {author} {next(self._serial)}"
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), tree, parents, message, author)
        self.commits[commit.sha] = commit
        return commit

    # -- what tests use to set up and read repositories ----------------------------------------

    def commit_files(
        self,
        repo: str,
        files: dict[str, str],
        *,
        branch: str | None = None,
        parent: str | None = None,
        message: str = "a commit",
        author: str = "Monalisa Octocat",
    ) -> str:
        """Commit ``files`` (path -> text; on top of ``parent``'s, or the branch head's), move
        ``branch`` to it, and return its SHA."""
        if parent is None and branch is not None:
            parent = self.refs.get((repo, f"refs/heads/{branch}"))
        entries = dict(self.trees[self.commits[parent].tree]) if parent else {}
        for path, text in files.items():
            entries[path] = Entry(MODE_FILE, self.add_blob(text.encode()))
        person = {"name": author, "email": "octocat@example.com", "date": "2026-12-01T00:00:00Z"}
        commit = self.add_commit(
            self.add_tree(entries), [parent] if parent else [], message, person
        )
        if branch is not None:
            self.refs[(repo, f"refs/heads/{branch}")] = commit.sha
        return commit.sha

    def files_at(self, commit_sha: str) -> dict[str, str]:
        """Every file of a commit, as text: the branch materialised."""
        tree = self.trees[self.commits[commit_sha].tree]
        return {path: self.blobs[entry.sha].decode() for path, entry in tree.items()}

    def branch_head(self, repo: str, branch: str) -> str | None:
        return self.refs.get((repo, f"refs/heads/{branch}"))

    # -- what the endpoints answer ------------------------------------------------------------

    def resolve_tree(self, repo: str, name: str) -> str | None:
        """A tree SHA, a commit SHA or a branch name, as GitHub resolves ``{tree_sha}``."""
        if name in self.trees:
            return name
        if name in self.commits:
            return self.commits[name].tree
        head = self.refs.get((repo, f"refs/heads/{name.removeprefix('heads/')}"))
        return self.commits[head].tree if head else None

    def tree_listing(self, tree_sha: str) -> list[dict[str, Any]]:
        """The recursive listing: every blob, and every directory above one, as ``tree``."""
        entries = self.trees[tree_sha]
        directories = {
            "/".join(path.split("/")[:depth])
            for path in entries
            for depth in range(1, path.count("/") + 1)
        }
        listing: list[dict[str, Any]] = [
            {
                "path": d,
                "mode": "040000",
                "type": "tree",
                "sha": hashlib.sha1(d.encode()).hexdigest(),
            }
            for d in directories
        ]
        listing += [
            {
                "path": path,
                "mode": entry.mode,
                "type": "blob",
                "sha": entry.sha,
                "size": len(self.blobs[entry.sha]),
            }
            for path, entry in entries.items()
        ]
        return sorted(listing, key=lambda item: item["path"])

    def is_ancestor(self, ancestor: str, commit: str) -> bool:
        seen, stack = set(), [commit]
        while stack:
            sha = stack.pop()
            if sha == ancestor:
                return True
            if sha in seen or sha not in self.commits:
                continue
            seen.add(sha)
            stack.extend(self.commits[sha].parents)
        return False
