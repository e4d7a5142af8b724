"""The detection engine: workflow text in, findings and fixes out. No I/O, no HTTP.

analysis = analyse(text, config=Config(), as_of=date.today())
for finding in analysis.findings: ...
"""

from bot.engine.analysis import analyse, fix_all
from bot.engine.config import CONFIG_PATH, Config, ConfigError, parse_config
from bot.engine.findings import Analysis, FileError, Finding, Fix, Span, TextEdit, apply_edits
from bot.engine.rules import RULES, RULES_BY_ID, Rule

__all__ = [
    "CONFIG_PATH",
    "RULES",
    "RULES_BY_ID",
    "Analysis",
    "Config",
    "ConfigError",
    "FileError",
    "Finding",
    "Fix",
    "Rule",
    "Span",
    "TextEdit",
    "analyse",
    "apply_edits",
    "fix_all",
    "parse_config",
]
