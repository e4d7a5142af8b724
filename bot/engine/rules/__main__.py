"""``python -m bot.engine.rules --write-docs``: regenerate docs/rules.md and the README's
rule table from the registry (run from the repository root). Without the flag, print the
rules page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.engine.rules import RULES
from bot.engine.rules.docs import rules_page, with_rules_table


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.engine.rules", description=__doc__)
    parser.add_argument(
        "--write-docs", action="store_true", help="write docs/rules.md and README.md"
    )
    args = parser.parse_args()
    if not args.write_docs:
        sys.stdout.write(rules_page(RULES))
        return
    Path("docs/rules.md").write_text(rules_page(RULES), encoding="utf-8")
    readme = Path("README.md")
    readme.write_text(with_rules_table(readme.read_text(encoding="utf-8"), RULES), encoding="utf-8")


if __name__ == "__main__":
    main()
