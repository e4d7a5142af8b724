"""The detection engine: workflow text in, findings and fixes out. No I/O, no HTTP.

analysis = analyse(text, as_of=date.today(), releases=ReleaseTable.shipped())
for finding in analysis.findings: ...

The engine is pure: the caller passes the day and the release table (``ReleaseTable.shipped()``
reads the shipped one); the engine reads no clock, and importing it reads no file.
"""

from bot.engine.analysis import analyse, fix_all
from bot.engine.config import Config
from bot.engine.findings import Analysis, FileError, Finding, Fix, Span, TextEdit, apply_edits
from bot.engine.rules import RULES, RULES_BY_ID, Rule
from bot.engine.versions import ReleaseTable

__all__ = [
    "RULES",
    "RULES_BY_ID",
    "Analysis",
    "Config",
    "FileError",
    "Finding",
    "Fix",
    "ReleaseTable",
    "Rule",
    "Span",
    "TextEdit",
    "analyse",
    "apply_edits",
    "fix_all",
]
