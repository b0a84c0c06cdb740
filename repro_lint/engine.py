"""The engine: source text in, findings and fixed text out. No printing, no argument parsing.

A run has two passes. The project pass parses every file once, builds its
`FileFacts` and reduces it to a summary; the summaries form `ProjectFacts`.
The rule pass runs every enabled rule over each file's facts, then applies
fixes, re-linting until nothing changes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from repro_lint.config import Settings, relative_posix
from repro_lint.config_files import config_file_options
from repro_lint.document import locate_findings
from repro_lint.effects import SEEDED
from repro_lint.facts import FileFacts
from repro_lint.fixes import apply_fixes
from repro_lint.identity import ModuleIdentity, module_identity
from repro_lint.parse_limits import too_complex
from repro_lint.positions import node_positions
from repro_lint.project import FileSummary, ProjectFacts, summarize
from repro_lint.results import FileOutcome, Finding, FixInfo, syntax_error_finding
from repro_lint.rule import Fix, Rule, RuleContext, Violation
from repro_lint.source import SourceFile
from repro_lint.suppression import NoqaMap
from repro_lint.text_edits import fix_text_edits

MAX_FIX_ROUNDS = 8


@dataclass
class ParsedFile:
    path: Path
    display: str
    source: SourceFile
    facts: FileFacts


class Engine:
    def __init__(
        self,
        settings: Settings,
        rule_classes: Sequence[type[Rule]],
        *,
        apply_noqa: bool = True,
        describe_fix_edits: bool = False,
    ):
        self.settings = settings
        # flake8 applies its noqa comments itself (and can be told not to); the plugin turns ours off.
        self.apply_noqa = apply_noqa
        # Fixes as text replacements cost a code generation each: only reports that show them ask.
        self.describe_fix_edits = describe_fix_edits
        self.rule_classes = {cls.code: cls for cls in rule_classes}
        self.rules = [cls() for cls in rule_classes if settings.enabled(cls.code)]

    # -- the project ----------------------------------------------------

    def project(self, all_facts: Iterable[FileFacts]) -> ProjectFacts:
        return self.project_from([summarize(facts) for facts in all_facts])

    def project_from(self, summaries: Sequence[FileSummary]) -> ProjectFacts:
        defaults = (default for summary in summaries for default in summary.options.values())
        return ProjectFacts(list(summaries), seed_function_effects(self.settings.seed_functions),
                            config_file_options(defaults, self.settings.project_root))

    # -- single files ----------------------------------------------------

    def module_identity(self, path: Path) -> ModuleIdentity:
        return module_identity(path, self.settings.project_root)

    def parse(self, source: SourceFile, display: str) -> ParsedFile | Finding:
        beyond = too_complex(source.text)
        if beyond is not None:
            return syntax_error_finding(display, beyond.message, beyond.line, beyond.column)
        try:
            module = cst.parse_module(source.data)
        except cst.ParserSyntaxError as error:
            return self._syntax_error(display, error, source.text)
        except RecursionError:
            return self._too_deep(display)
        try:
            facts = FileFacts(module, self.module_identity(source.path))
        except RecursionError:
            return self._too_deep(display)
        return ParsedFile(source.path, display, source, facts)

    def unparsed_outcome(self, source: SourceFile, display: str, error: Finding) -> FileOutcome:
        """The outcome of a file that did not parse: its syntax error, unless de-selected or `# noqa`."""
        findings = self._filter([error], source.path, source.text)
        return FileOutcome(display, findings=locate_findings(source, findings))

    def lint(self, item: ParsedFile, project: ProjectFacts, fix: bool) -> FileOutcome:
        """`lint_parsed`, with findings in the file's own coordinates; a crash is the file's error."""
        try:
            outcome = self.lint_parsed(item, project, fix=fix)
        except Exception as error:  # noqa: BLE001 - one bad file must not end the run
            return FileOutcome(item.display, error=internal_error(item.display, error))
        outcome.findings = locate_findings(item.source, outcome.findings)
        return outcome

    def lint_parsed(self, item: ParsedFile, project: ProjectFacts, fix: bool) -> FileOutcome:
        outcome = FileOutcome(item.display, original=item.source.text)
        facts = item.facts
        found = self._located(facts, project, item)
        fixable_before = self._fixable(found)
        for _ in range(MAX_FIX_ROUNDS if fix else 0):
            fixes = [v.fix for v, _ in found if v.fix is not None and self._applies(v.fix)]
            if not fixes:
                break
            new_module, applied = apply_fixes(facts.module, fixes)
            try:
                reparsed = cst.parse_module(new_module.code)
            except cst.ParserSyntaxError as error:
                reason = error.message.splitlines()[0]
                outcome.error = f"{item.display}: a fix produced invalid code ({reason}); file left unchanged"
                facts = item.facts
                found = self._located(facts, project, item)
                break
            facts = FileFacts(reparsed, facts.identity)
            found = self._located(facts, project, item)
        if facts is not item.facts and facts.module.code != item.source.text:
            outcome.fixed = facts.module.code
            # Counted as the report counted them: the fixable findings the fixes made go away
            # (one seeding block can settle several findings, and a fix can make another's moot).
            outcome.fixes_applied = max(fixable_before - self._fixable(found), 0)
        outcome.findings = [finding for _, finding in found]
        return outcome

    # -- internals -------------------------------------------------------

    def _located(
        self, facts: FileFacts, project: ProjectFacts, item: ParsedFile
    ) -> list[tuple[Violation, Finding]]:
        """The file's violations with positions, minus those suppressed or de-selected."""
        # The parsed file's text is at hand; only a fixed module needs a code generation.
        text = item.source.text if facts is item.facts else facts.module.code
        context = RuleContext(
            facts=facts,
            project=project,
            torch_version=self.settings.torch_version,
            seed=self.settings.seed,
            seed_functions=self.settings.seed_functions,
            strict=self.settings.strict,
            is_test_code=_is_test_path(item.path, self.settings.project_root),
        )
        found: list[tuple[Rule, Violation]] = []
        imports_project_code = project.imports_project_code(facts.module_name)
        for rule in self.rules:
            # The markers screen out files that cannot trigger a rule, unless the file calls into
            # other linted modules: a script that never names torch can train through them.
            if not any(marker in text for marker in rule.markers) and not imports_project_code:
                continue
            if not self.settings.enabled(rule.code, item.path):
                continue
            found.extend((rule, violation) for violation in rule.check(context))
        if not found:
            return []
        # Positions cost a code generation with bookkeeping: only files with findings pay,
        # and only for the top-level statements that hold the findings.
        positions = node_positions(facts.module, [violation.node for _, violation in found])
        noqa = NoqaMap(text if self.apply_noqa else "")
        located: dict[tuple[str, int, int, str], tuple[Violation, Finding]] = {}
        for rule, violation in found:
            where = positions[violation.node]
            if noqa.suppresses(where.start.line, rule.code):
                continue
            fix = violation.fix
            finding = Finding(
                code=rule.code,
                name=rule.name,
                message=violation.message,
                path=item.display,
                line=where.start.line,
                column=where.start.column + 1,
                end_line=where.end.line,
                end_column=where.end.column + 1,
                severity=rule.severity,
                fix=self._fix_info(facts.module, fix) if fix else None,
                op=violation.op,
            )
            located.setdefault((finding.code, finding.line, finding.column, finding.message), (violation, finding))
        return sorted(located.values(), key=lambda pair: pair[1].sort_key)

    def _fix_info(self, module: cst.Module, fix: Fix) -> FixInfo:
        edits = fix_text_edits(module, fix) if self.describe_fix_edits else ()
        return FixInfo(fix.applicability, fix.message, edits)

    def _fixable(self, found: list[tuple[Violation, Finding]]) -> int:
        return sum(1 for violation, _ in found if violation.fix is not None and self._applies(violation.fix))

    def _applies(self, fix: Fix) -> bool:
        return fix.applicability.applies(self.settings.unsafe_fixes)

    def _filter(self, findings: list[Finding], path: Path, text: str) -> list[Finding]:
        noqa = NoqaMap(text if self.apply_noqa else "")
        return sorted(
            (f for f in findings if self.settings.enabled(f.code, path) and not noqa.suppresses(f.line, f.code)),
            key=lambda f: f.sort_key,
        )

    def _too_deep(self, display: str) -> Finding:
        return syntax_error_finding(display, "syntax error: nesting too deep to parse", 1, 1)

    def _syntax_error(self, display: str, error: cst.ParserSyntaxError, text: str) -> Finding:
        # CPython's parser places the error more precisely than libcst's; ask it only on failure.
        libcst_message = error.message.strip().splitlines()[0] if error.message.strip() else "invalid syntax"
        # The native parser's "error at L:C" (1-based line, 0-based column) is where it stopped;
        # `raw_line` can be the line after it.
        stopped = re.search(r"error at (\d+):(\d+)", libcst_message)
        if stopped:
            line, column = int(stopped.group(1)), int(stopped.group(2)) + 1
        else:
            line, column = max(error.raw_line, 1), error.raw_column + 1
        try:
            ast.parse(text)
        except SyntaxError as python_error:
            line, column = python_error.lineno or 1, python_error.offset or 1
            message = f"syntax error: {python_error.msg}"
        except (ValueError, RecursionError, MemoryError):
            message = f"syntax error: {libcst_message}"
        else:
            # Valid Python that libcst's grammar lacks, e.g. `(x): int = 1`: say so, not "syntax error".
            message = f"not checked: libcst cannot parse this valid Python ({libcst_message})"
        return syntax_error_finding(display, message, line, column)


def _is_test_path(path: Path, root: Path) -> bool:
    """A file pytest collects by default (`test_*.py`, `*_test.py`, `conftest.py`), or one in a `tests/`
    folder of the project."""
    name = path.name
    if name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
        return True
    folders = relative_posix(path, root).split("/")[:-1]
    return any(folder in ("tests", "test") for folder in folders)


def internal_error(display: str, error: BaseException) -> str:
    lines = str(error).splitlines()
    return f"{display}: internal error: {type(error).__name__}" + (f": {lines[0]}" if lines else "")


def seed_function_effects(names: Sequence[str]) -> dict[str, frozenset[str]]:
    """Config `seed-functions`: project helpers that seed every global RNG."""
    every = frozenset(SEEDED.values())
    return {name: every for name in names}


def display_path(path: Path) -> str:
    """The path as given, or relative to the working directory when it is under it."""
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()
