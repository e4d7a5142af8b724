"""What the App remembers by content: workflow texts by blob SHA, analyses by their inputs.

A blob SHA names a file's content for ever, so a text read once never needs reading again,
and an analysis depends only on that text, the repository configuration, the release table,
the date and the inputs callers pass: the key holds all five (:func:`analysis_key`). A push
that changes no workflow therefore reads no workflow file and analyses nothing.

:class:`ContentCache` is the small interface the App uses; :class:`MemoryCache` keeps the
entries in this process, bounded by an estimate of their size. Another store (Redis, for
several processes) only has to implement ``get`` and ``put``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Generic, Protocol, TypeVar

from cachetools import LRUCache

from bot import __version__
from bot.engine import Analysis, FileError
from bot.engine.expressions import Value
from bot.engine.versions import ReleaseTable

V = TypeVar("V")

# Added to each entry's size for its key and the LRU's bookkeeping.
ENTRY_OVERHEAD = 256
# An analysis holds its findings' messages and fixes: about this much per finding.
FINDING_BYTES = 2048


class ContentCache(Protocol[V]):
    async def get(self, key: str) -> V | None: ...

    async def put(self, key: str, value: V, size: int) -> None: ...


class MemoryCache(Generic[V]):
    """An LRU in this process, bounded by the sizes given to :meth:`put` (plus overhead)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: LRUCache[str, tuple[V, int]] = LRUCache(
            max(1, max_bytes), getsizeof=lambda entry: entry[1] + ENTRY_OVERHEAD
        )

    async def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    async def put(self, key: str, value: V, size: int) -> None:
        if not self.max_bytes:
            return
        try:
            self._entries[key] = (value, size)
        except ValueError:  # larger than the whole cache: not kept
            self._entries.pop(key, None)

    @property
    def bytes(self) -> int:
        return int(self._entries.currsize)

    def __len__(self) -> int:
        return len(self._entries)


Text = str | FileError


@dataclasses.dataclass
class AnalysisCache:
    """The two content-addressed caches one App process shares across installations.

    Blob SHAs are the same in every repository that holds the same bytes, and an analysis
    depends on nothing a token could hide, so sharing across installations leaks nothing:
    an installation only asks for SHAs its own tree listed.
    """

    texts: ContentCache[Text]
    analyses: ContentCache[Analysis]

    @classmethod
    def in_memory(cls, max_bytes: int) -> AnalysisCache:
        """Half of ``max_bytes`` for texts, half for analyses."""
        return cls(MemoryCache(max_bytes // 2), MemoryCache(max_bytes // 2))


def text_size(text: Text) -> int:
    return len(text) if isinstance(text, str) else len(text.message)


def analysis_size(analysis: Analysis) -> int:
    return FINDING_BYTES * (len(analysis.findings) + 1)


def _canonical(value: object) -> object:
    if isinstance(value, set | frozenset):
        return sorted(str(item) for item in value)
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


def digest(value: object) -> str:
    """A stable digest of a configuration or a release table (dataclasses of plain data)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    text = json.dumps(value, sort_keys=True, default=_canonical)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def table_digest(table: ReleaseTable) -> str:
    return digest(table)


def analysis_key(
    blob_sha: str,
    *,
    config_digest: str,
    table_digest: str,
    as_of: date,
    inputs: Sequence[Mapping[str, Value]],
) -> str:
    """Everything an analysis depends on, the engine's version included."""
    given = hashlib.sha256(repr([sorted(i.items()) for i in inputs]).encode()).hexdigest()[:32]
    parts = (__version__, blob_sha, config_digest, table_digest, as_of.isoformat(), given)
    return "analysis:" + ":".join(parts)
