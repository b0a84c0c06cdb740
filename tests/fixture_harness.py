"""Runs the fixtures in `fixtures/`: inputs with their expected findings marked inline.

Layout, one folder per code:
- `fixtures/RPL201/<case>.py`: a single-file case. A line that must produce a
  finding ends with `# expect: RPL201` (several: `# expect: RPL201, RPL202`).
  A marker may also pin the 1-based column and a fragment of the message:
  `# expect: RPL301:14 "lacks worker_init_fn"`. Every other line must produce none. Optional header lines
  `# fixture: torch-version=1.13, unsafe-fixes, strict, select=RPL2` set the options;
  by default only the folder's code is selected and the target is torch 2.13.
- `fixtures/RPL201/<case>.fixed.py`: the expected result of `--fix`. A case
  with an applicable fix must have one.
- `fixtures/RPL101/<case>/`: a multi-file project case, linted as one project.
  Options come from `<case>/fixture.toml` (same keys as the header, TOML syntax).
  The expected fixed tree is `<case>.fixed/`, holding the files that change.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from repro_lint.api import Linter, LintRun
from repro_lint.config import Overrides
from repro_lint.results import Finding

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEFAULT_TORCH_VERSION = "2.13"
_MARK = r'RPL\d{3}(?::\d+)?(?:\s+"[^"]*")?'
_EXPECT = re.compile(rf"#\s*expect:\s*(?P<marks>{_MARK}(?:\s*,\s*{_MARK})*)")
_ONE_MARK = re.compile(r'(?P<code>RPL\d{3})(?::(?P<column>\d+))?(?:\s+"(?P<fragment>[^"]*)")?')
_HEADER = re.compile(r"^#\s*fixture:\s*(?P<options>.*)$")


@dataclass
class Case:
    code: str
    path: Path  # a file, or a project folder
    options: dict[str, object] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.code}/{self.path.name}"

    @property
    def is_project(self) -> bool:
        return self.path.is_dir()

    @property
    def fixed_path(self) -> Path:
        if self.is_project:
            return self.path.with_name(self.path.name + ".fixed")
        return self.path.with_name(self.path.stem + ".fixed.py")

    def files(self) -> list[Path]:
        if not self.is_project:
            return [self.path]
        return sorted(p for p in self.path.rglob("*.py"))


def collect_cases() -> list[Case]:
    cases = []
    for folder in sorted(p for p in FIXTURES.iterdir() if p.is_dir()):
        for entry in sorted(folder.iterdir()):
            if entry.name.endswith((".fixed", ".fixed.py")) or entry.name.startswith((".", "_")):
                continue
            if entry.is_dir():
                options = _project_options(entry)
            elif entry.suffix == ".py":
                options = _header_options(entry.read_text(encoding="utf-8"))
            else:
                continue
            cases.append(Case(folder.name, entry, options))
    return cases


def _header_options(text: str) -> dict[str, object]:
    options: dict[str, object] = {}
    for line in text.splitlines()[:5]:
        match = _HEADER.match(line.strip())
        if not match:
            continue
        for item in match.group("options").split(","):
            key, _, value = item.strip().partition("=")
            options[key.strip()] = value.strip() if value else True
    return options


def _project_options(folder: Path) -> dict[str, object]:
    config = folder / "fixture.toml"
    if not config.is_file():
        return {}
    with open(config, "rb") as handle:
        return dict(tomllib.load(handle))


@dataclass(frozen=True)
class Marker:
    """One `# expect:` item: a finding of `code` on `line`, perhaps at `column` and saying `fragment`."""

    file: str
    line: int
    code: str
    column: int | None = None
    fragment: str | None = None

    @property
    def place(self) -> tuple[str, int, str]:
        return (self.file, self.line, self.code)

    def describes(self, finding: Finding) -> bool:
        return (self.column is None or finding.column == self.column) and (
            self.fragment is None or self.fragment in finding.message
        )


def markers(case: Case) -> list[Marker]:
    found = []
    for file in case.files():
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            match = _EXPECT.search(line)
            if match:
                for mark in _ONE_MARK.finditer(match.group("marks")):
                    column = int(mark.group("column")) if mark.group("column") else None
                    found.append(Marker(_relative(case, file), number, mark.group("code"), column,
                                        mark.group("fragment")))
    return found


def expected_findings(case: Case) -> set[tuple[str, int, str]]:
    return {marker.place for marker in markers(case)}


def _relative(case: Case, file: Path) -> str:
    return file.relative_to(case.path).as_posix() if case.is_project else file.name


def linter_for(case: Case) -> Linter:
    select = case.options.get("select", case.code)
    return Linter(Overrides(
        select=[str(select)],
        torch_version=str(case.options.get("torch-version", DEFAULT_TORCH_VERSION)),
        unsafe_fixes=bool(case.options.get("unsafe-fixes", False)),
        strict=bool(case.options.get("strict", False)),
    ))


def lint(case: Case, root: Path | None = None, fix: bool = False, write: bool = False) -> LintRun:
    """The case's files (or their copies under `root`) linted as one project, as `repro-lint check` would."""
    base = root if root is not None else case.path
    files: list[Path] = sorted(base.rglob("*.py")) if base.is_dir() else [base]
    return linter_for(case).lint_files(files, fix=fix, write=write)


def findings_by_place(run: LintRun, base: Path) -> dict[tuple[str, int, str], list[Finding]]:
    """The run's findings, keyed as markers are: (file relative to the case, line, code)."""
    found: dict[tuple[str, int, str], list[Finding]] = {}
    for outcome in run.outcomes:
        assert outcome.error is None, outcome.error
        for finding in outcome.findings:
            path = Path(finding.path).resolve()
            name = path.relative_to(base.resolve()).as_posix() if base.is_dir() else path.name
            found.setdefault((name, finding.line, finding.code), []).append(finding)
    return found


def copy_case(case: Case, destination: Path) -> Path:
    """Copy the case into `destination`; return the copy's path (file or folder)."""
    target = destination / case.path.name
    if case.is_project:
        shutil.copytree(case.path, target)
    else:
        shutil.copy2(case.path, target)
    return target


def parses(text: str) -> bool:
    try:
        cst.parse_module(text)
        compile(text, "<fixed>", "exec")
    except (cst.ParserSyntaxError, SyntaxError):
        return False
    return True
