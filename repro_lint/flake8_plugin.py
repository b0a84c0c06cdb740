"""The flake8 plugin: `flake8 --select RPL` reports what `repro-lint check` reports.

It runs the same engine. Each file's project root (the nearest folder with a
`pyproject.toml` or `.git`) gives the settings (`[tool.repro-lint]`) and the
project-wide facts, computed once per root and process and shared by every
file flake8 checks there. flake8 applies `# noqa` and the selection itself,
so the engine's own noqa handling is off here.
"""

from __future__ import annotations

import argparse
import ast
import tokenize
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from repro_lint import __version__
from repro_lint.config import ConfigError, Overrides, find_project_root, load_settings, parse_torch_version
from repro_lint.source import SourceError, SourceFile

if TYPE_CHECKING:  # the engine imports libcst and the rules: only once a file is checked
    from repro_lint.api import Workspace


class ReproLintChecker:
    name = "repro-lint"
    version = __version__

    torch_version: ClassVar[str | None] = None
    strict: ClassVar[bool | None] = None
    _workspaces: ClassVar[dict[Path, Workspace]] = {}

    def __init__(self, tree: ast.AST, filename: str, lines: Sequence[str]):
        # `tree` is flake8's ast, unused: asking for it makes this a once-per-file plugin.
        self.filename = filename
        self.lines = lines

    @classmethod
    def add_options(cls, manager: Any) -> None:
        manager.add_option(
            "--repro-lint-torch-version",
            metavar="X.Y",
            parse_from_config=True,
            help="torch version the code targets (default: [tool.repro-lint] torch-version, "
            "the project's torch requirement, the installed torch)",
        )
        manager.add_option(
            "--repro-lint-strict",
            action="store_true",
            parse_from_config=True,
            help="also report robustness advice (default: [tool.repro-lint] strict)",
        )

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        from flake8.exceptions import ExecutionError

        value = options.repro_lint_torch_version
        if value is not None:
            try:
                parse_torch_version(value, "--repro-lint-torch-version")
            except ConfigError as error:
                raise ExecutionError(str(error)) from None
        cls.torch_version = value
        cls.strict = True if options.repro_lint_strict else None
        cls._workspaces = {}
        # Check the working directory's config here, in flake8's main process: an error
        # raised in `--jobs` workers can leave flake8's process pool waiting forever.
        from repro_lint.rules import all_rules

        try:
            load_settings(Path.cwd(), (rule.code for rule in all_rules()), Overrides(torch_version=value))
        except ConfigError as error:
            raise ExecutionError(str(error)) from None

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        from flake8.exceptions import ExecutionError

        path = self._path()
        try:
            workspace = self._workspace(path)
        except ConfigError as error:
            # flake8 stops with "There was a critical error ..." and this one line.
            raise ExecutionError(str(error)) from None
        try:
            source = _source_from_lines(path, self.lines)
        except SourceError:
            return  # undecodable text: flake8 reports it itself (E902)
        outcome = workspace.lint_source(source, self.filename)
        if outcome.error:
            raise ExecutionError(outcome.error)
        for finding in outcome.findings:
            # flake8 columns are 0-based (it adds 1 when printing); the engine's are 1-based.
            yield finding.line, finding.column - 1, f"{finding.code} {finding.message}", type(self)

    def _path(self) -> Path:
        return Path.cwd() / "stdin.py" if self.filename in ("stdin", "-") else Path(self.filename)

    @classmethod
    def _workspace(cls, path: Path) -> Workspace:
        from repro_lint.api import Workspace

        root = find_project_root(path)
        if root not in cls._workspaces:
            overrides = Overrides(torch_version=cls.torch_version, strict=cls.strict)
            cls._workspaces[root] = Workspace(root, overrides, apply_noqa=False)
        return cls._workspaces[root]


def _source_from_lines(path: Path, lines: Sequence[str]) -> SourceFile:
    """The text flake8 read, as a source: encoded back the way its coding cookie says."""
    text = "".join(lines)
    data = text.encode("utf-8")
    encoding, _ = tokenize.detect_encoding(iter(data.splitlines(True)).__next__)
    try:
        data = text.encode(encoding)
    except (LookupError, UnicodeEncodeError) as error:
        raise SourceError(f"{path}: cannot encode as {encoding}: {error}") from None
    return SourceFile(path, data, text, encoding, 0)
