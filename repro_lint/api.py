"""The way in for every front end: the CLI, `verify`, the flake8 plugin and the tests.

- `Linter` lints files as `repro-lint check` does: each file with the settings of
  its nearest configuration, project facts joined across all of them, in worker
  processes, with the cache.
- `Workspace` holds one project's facts, built once, and lints one file's text
  at a time against them, as a plugin that is handed files one by one must.

Both load the rules through the registry and build `Engine`s; nothing else
needs to know how an engine is put together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro_lint.config import Overrides, Settings, SettingsResolver, load_settings
from repro_lint.discovery import discover
from repro_lint.engine import Engine
from repro_lint.facts import FileFacts
from repro_lint.project import ProjectFacts, summarize
from repro_lint.results import FileOutcome, Finding
from repro_lint.rule import Rule
from repro_lint.source import SourceError, SourceFile, read_source


def _registered_rules() -> list[type[Rule]]:
    from repro_lint.rules import all_rules

    return all_rules()


@dataclass
class LintRun:
    outcomes: list[FileOutcome]  # one per file linted, sorted by path
    errors: list[str] = field(default_factory=list)  # files that could not be found, read or checked

    @property
    def findings(self) -> list[Finding]:
        return sorted((f for o in self.outcomes for f in o.findings), key=lambda f: f.sort_key)

    @property
    def checked(self) -> int:
        return sum(1 for o in self.outcomes if not o.error)


class Linter:
    """A run's configuration: command-line `overrides` on top of each file's nearest
    `[tool.repro-lint]`, or of `config` for every file. Raises `ConfigError` on bad settings."""

    def __init__(
        self,
        overrides: Overrides | None = None,
        config: Path | None = None,
        *,
        describe_fix_edits: bool = False,
    ):
        self.rules = _registered_rules()
        self.resolver = SettingsResolver((r.code for r in self.rules), overrides or Overrides(), config)
        self.describe_fix_edits = describe_fix_edits
        self._engines: dict[int, Engine] = {}

    def settings_for(self, path: Path) -> Settings:
        return self.resolver.for_path(path)

    def engine_for(self, path: Path) -> Engine:
        settings = self.settings_for(path)
        if id(settings) not in self._engines:
            self._engines[id(settings)] = Engine(settings, self.rules, describe_fix_edits=self.describe_fix_edits)
        return self._engines[id(settings)]

    def discover(self, paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
        """The files under `paths` that the first path's settings do not exclude, and the paths that failed."""
        found = discover(list(paths), self.settings_for(paths[0]))
        return found.files, found.errors

    def lint_paths(self, paths: Sequence[Path], *, fix: bool = False, write: bool = False, jobs: int = 1,
                   cache: bool = False) -> LintRun:
        """Discover the files under `paths` and lint them, as `lint_files` does."""
        files, errors = self.discover(paths)
        run = self.lint_files(files, anchor=paths[0], fix=fix, write=write, jobs=jobs, cache=cache)
        run.errors[:0] = errors
        return run

    def lint_files(
        self,
        files: Sequence[Path | SourceFile],
        *,
        anchor: Path | None = None,
        fix: bool = False,
        write: bool = False,
        jobs: int = 1,
        cache: bool = False,
    ) -> LintRun:
        """Lint `files` (paths, or sources already read) as one project.

        `anchor` (default: the first file) decides the settings that build the project and
        key the cache. `fix` computes fixes; `write` also writes the fixed files.
        """
        from repro_lint.cache import open_cache
        from repro_lint.runner import run_files

        if not files and anchor is None:
            return LintRun([])
        first = anchor if anchor is not None else _path_of(files[0])
        # Settings errors surface here, before any work, rather than in a worker.
        engines = {_path_of(f): self.engine_for(_path_of(f)) for f in files}
        main = self.engine_for(first)
        outcomes = run_files(
            main, files, fix=fix, write=write, jobs=jobs,
            cache=open_cache(main) if cache else None, engine_for=engines.__getitem__,
        )
        return LintRun(outcomes, [o.error for o in outcomes if o.error])


def _path_of(entry: Path | SourceFile) -> Path:
    return entry.path if isinstance(entry, SourceFile) else entry


class Workspace:
    """One project root's settings and facts, for linting its files one at a time.

    The facts come from every Python file under `root` that the settings include.
    A file outside that set (excluded, unsaved, stdin) is linted with its own facts
    added. `apply_noqa=False` leaves `# noqa` to a host that handles it (flake8).
    """

    def __init__(self, root: Path, overrides: Overrides | None = None, *, apply_noqa: bool = True,
                 describe_fix_edits: bool = False):
        rules = _registered_rules()
        self.settings = load_settings(root, (rule.code for rule in rules), overrides or Overrides())
        self.engine = Engine(self.settings, rules, apply_noqa=apply_noqa, describe_fix_edits=describe_fix_edits)
        facts: list[FileFacts] = []
        paths: set[Path] = set()
        for file in discover([root], self.settings).files:
            if file.suffix != ".py":
                continue  # a notebook is a program of its own; no other file imports it
            try:
                parsed = self.engine.parse(read_source(file), str(file))
            except SourceError:
                continue
            if not isinstance(parsed, Finding):
                facts.append(parsed.facts)
                paths.add(file.resolve())
        self.project = self.engine.project(facts)
        self._paths = frozenset(paths)

    def lint_source(self, source: SourceFile, display: str) -> FileOutcome:
        """`source`, a file of this workspace (saved or not), linted and positioned as `display`."""
        parsed = self.engine.parse(source, display)
        if isinstance(parsed, Finding):
            return self.engine.unparsed_outcome(source, display, parsed)
        return self.engine.lint(parsed, self._project_with(source.path, parsed.facts), fix=False)

    def _project_with(self, path: Path, facts: FileFacts) -> ProjectFacts:
        if path.resolve() in self._paths:
            return self.project
        return ProjectFacts([*self.project.summaries, summarize(facts)], self.project.extra_effects,
                            self.project.config_options)

