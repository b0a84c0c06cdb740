from __future__ import annotations

from collections.abc import Iterator

from repro_lint.results import SYNTAX_ERROR
from repro_lint.rule import Rule, RuleContext, Violation


class SyntaxErrorRule(Rule):
    """
    What it does:
        Reports a file that is not valid Python 3, at the position where parsing stopped.

    Why it matters:
        A file that does not parse cannot be checked. The rest of the run goes on,
        so one broken file does not hide the findings in the others.

    Example:
        def train(:
            pass

    Use instead:
        def train():
            pass

    Fix safety:
        No fix: the engine reports this code itself when parsing fails.
    """

    code = SYNTAX_ERROR
    name = "syntax-error"
    summary = "The file is not valid Python and could not be checked"
    severity = "error"
    markers = ()

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        return iter(())
