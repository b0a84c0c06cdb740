"""What a run produces: findings, their fixes, and one outcome per file.

Plain data, shared by the engine, the runner, the cache, the reporters, the
flake8 plugin and `verify`; nothing here knows how findings are made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from repro_lint.text_edits import TextEdit

SYNTAX_ERROR = "RPL001"


class Applicability(str, Enum):
    """How far a fix can be trusted, as ruff grades them.

    SAFE: the program computes the same thing, minus the nondeterminism; `--fix` applies it.
    UNSAFE: it can change what the program computes or make it raise; only `--unsafe-fixes`.
    """

    SAFE = "safe"
    UNSAFE = "unsafe"

    def __str__(self) -> str:
        return self.value

    def applies(self, unsafe_fixes: bool) -> bool:
        """Whether `--fix` applies a fix of this grade (with `--unsafe-fixes` when `unsafe_fixes`)."""
        return self is Applicability.SAFE or unsafe_fixes


@dataclass(frozen=True)
class FixInfo:
    applicability: Applicability
    message: str
    edits: tuple[TextEdit, ...] = ()  # only with Engine(describe_fix_edits=True)


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    message: str
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    severity: str
    fix: FixInfo | None = None
    cell: int | None = None  # in a notebook: the 1-based cell number, and `line` counts within the cell
    op: str | None = None  # the catalog op id a finding about an op names (what `verify` probes)

    @property
    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (self.path, self.cell or 0, self.line, self.column, self.code)

    def fixable(self, unsafe_fixes: bool) -> bool:
        """Whether `--fix` (with `--unsafe-fixes` when `unsafe_fixes`) fixes this finding."""
        return self.fix is not None and self.fix.applicability.applies(unsafe_fixes)


@dataclass
class FileOutcome:
    """What happened to one file."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    original: str | None = None
    fixed: str | None = None  # new text when fixes changed it
    fixes_applied: int = 0
    error: str | None = None


def syntax_error_finding(path: str, message: str, line: int, column: int) -> Finding:
    return Finding(SYNTAX_ERROR, "syntax-error", message, path, line, column, line, column, "error")
