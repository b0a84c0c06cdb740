"""What a rule is: a class with a code, a name, a summary, its documentation and a `check`.

Rules observe; the engine acts. A rule yields `Violation`s, each pointing at a
CST node and optionally carrying a `Fix`. Rules never print, write files or
read configuration: what they may depend on arrives in `RuleContext`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import libcst as cst

from repro_lint.argparse_defaults import off_by_default
from repro_lint.project import enclosing_function
from repro_lint.results import Applicability

if TYPE_CHECKING:
    from repro_lint.facts import AssignSite, CallSite, FileFacts, Scope
    from repro_lint.project import ProjectFacts

SAFE = Applicability.SAFE
UNSAFE = Applicability.UNSAFE


@dataclass(frozen=True, eq=False)
class Replace:
    """Replace `node` by `replacement`; nodes are matched by identity."""

    node: cst.CSTNode
    replacement: cst.CSTNode


@dataclass(frozen=True, eq=False)
class Insert:
    """Insert statements (source text) before or after `anchor`, a statement in a block."""

    anchor: cst.BaseStatement
    code: str
    after: bool = False


@dataclass(frozen=True)
class AddImport:
    """Ensure `import <module>` (or `import <module> as <alias>`) at the top of the module."""

    module: str
    alias: str | None = None


Edit = Replace | Insert | AddImport


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    message: str
    edits: tuple[Edit, ...]


@dataclass(frozen=True, eq=False)
class Violation:
    node: cst.CSTNode
    message: str
    fix: Fix | None = None
    op: str | None = None  # the catalog op id, for a finding about an op


@dataclass(frozen=True)
class RuleContext:
    """What a rule may know about the file and the run."""

    facts: FileFacts
    project: ProjectFacts
    torch_version: tuple[int, int]
    seed: int
    seed_functions: tuple[str, ...] = ()
    strict: bool = False  # report robustness advice too (see `Settings.strict`)
    is_test_code: bool = False  # a file pytest or unittest collects: its random inputs are not a training run
    options: dict[str, object] = field(default_factory=dict)

    def reports(self, strict_reason: str | None) -> bool:
        """Whether to report a finding that is robustness advice for `strict_reason` (None: a real problem)."""
        return strict_reason is None or self.strict

    @property
    def runs_in_a_program(self) -> bool:
        """The file is a program, or a linted program imports it (directly or through project modules)."""
        return self.project.runs_in_a_program(self.facts.module_name)

    # Questions about the programs that run `node`, in `scope`: those that call its function, where
    # some program does by name, else those that run the file (see `ProjectFacts._programs_running`).

    def runs_in_a_program_at(self, scope: Scope, node: cst.CSTNode) -> bool:
        return self.project.runs_in_a_program(self.facts.module_name, self._function(scope, node))

    def false_guard(self, site: CallSite | AssignSite) -> cst.BaseExpression | None:
        """The test of an `if` around `site` that is false with the defaults of the command-line
        options: this file's parser's, another file's, or those of a config file a parser names."""
        return off_by_default(site, self.facts, self.project.may_hold_by_default) if site.guards else None

    def trained_at(self, scope: Scope, node: cst.CSTNode) -> bool:
        """Some program that runs this code computes gradients."""
        return self.project.trained_by_a_program(self.facts.module_name, self._function(scope, node))

    def only_evaluated_at(self, scope: Scope, node: cst.CSTNode) -> bool:
        """Every program that runs this code loads trained weights and computes no gradients."""
        return self.project.only_evaluated(self.facts.module_name, self._function(scope, node))

    def only_self_tested_at(self, scope: Scope, node: cst.CSTNode) -> bool:
        """Only `__main__` blocks of modules the project imports run this code (see `SELF_TEST`)."""
        return self.project.only_self_tested(self.facts.module_name, self._function(scope, node))

    def effects_at(self, scope: Scope, node: cst.CSTNode) -> frozenset[str]:
        """What this file's code and the helpers it calls do, plus what every program that runs
        this code does (see `repro_lint.effects`)."""
        function = self._function(scope, node)
        return self.project.file_effects(self.facts) | self.project.program_effects(self.facts.module_name, function)

    def _function(self, scope: Scope, node: cst.CSTNode) -> str:
        return enclosing_function(scope, self.facts, node)


# Why a finding is robustness advice only, reported in strict mode.
NO_PROGRAM = "no linted program runs this code"
NO_TRAINING = "no linted program that runs this code computes gradients, so this backward never runs"
OFF_BY_DEFAULT = "programs run this code only with command-line options that are off by default"
TEST_CODE = "test code, not a training run"
SELF_TEST = "the __main__ block of a module the project imports: a self-test, not a training run"


def strict_note(reason: str | None) -> str:
    """The message suffix of a finding that only strict mode reports, saying why."""
    return f" (strict: {reason})" if reason else ""


DOC_SECTIONS = ("What it does", "Why it matters", "Example", "Use instead", "Fix safety")
_CODE_PATTERN = re.compile(r"^RPL\d{3}$")
_NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")


class Rule:
    """Base class. Subclasses set the class attributes and implement `check`."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    fix_applicability: ClassVar[Applicability | None] = None  # the best grade its fixes have
    severity: ClassVar[str] = "warning"
    # A file containing none of these substrings cannot trigger the rule.
    markers: ClassVar[tuple[str, ...]] = ("torch",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        raise NotImplementedError

    @classmethod
    def documentation(cls) -> str:
        return _dedent_doc(cls.__doc__ or "")

    @classmethod
    def doc_section(cls, title: str) -> str:
        """The text under `title` in the rule's docstring ('' when absent)."""
        doc = cls.documentation()
        match = re.search(rf"^{re.escape(title)}:?\s*\n(.*?)(?=^[A-Z][A-Za-z ]+:\s*$|\Z)", doc, re.M | re.S)
        return match.group(1).strip("\n") if match else ""

    @classmethod
    def validate_definition(cls) -> None:
        if not _CODE_PATTERN.match(cls.code):
            raise ValueError(f"{cls.__name__}: code {cls.code!r} must look like RPL123")
        if not _NAME_PATTERN.match(cls.name):
            raise ValueError(f"{cls.__name__}: name {cls.name!r} must be kebab-case")


def _dedent_doc(doc: str) -> str:
    import inspect

    return inspect.cleandoc(doc)


def code_blocks(section: str) -> str:
    """The indented code inside a docstring section, dedented."""
    import textwrap

    lines = [line for line in section.splitlines()]
    return textwrap.dedent("\n".join(lines)).strip("\n") + "\n"
