"""Which files to lint: walk the given paths, skip excluded folders and .gitignore'd files."""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from repro_lint.config import Settings, relative_posix

SOURCE_SUFFIXES = (".py", ".ipynb")  # notebooks: see repro_lint.notebook


@dataclass(frozen=True)
class Discovery:
    files: list[Path]
    errors: list[str]


def discover(paths: list[Path], settings: Settings) -> Discovery:
    ignore = GitIgnore.load(settings.project_root)
    files: list[Path] = []
    errors: list[str] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for path in paths:
        if not path.exists() and not path.is_symlink():
            errors.append(f"{path}: no such file or directory")
        elif path.is_dir():
            for found in _walk(path, settings, ignore, errors):
                add(found)
        elif settings.force_exclude and (settings.is_excluded(path) or ignore.ignored(path)):
            continue
        else:
            add(path)  # a file named explicitly is always linted
    return Discovery(files, errors)


def _walk(root: Path, settings: Settings, ignore: GitIgnore, errors: list[str]) -> list[Path]:
    found: list[Path] = []

    def unreadable(error: OSError) -> None:
        errors.append(f"{error.filename}: cannot read folder ({error.strerror or error})")

    # followlinks=False: a symlinked folder is not entered, so loops cannot happen.
    for folder, dirnames, filenames in os.walk(root, followlinks=False, onerror=unreadable):
        base = Path(folder)
        kept = []
        for name in sorted(dirnames):
            child = base / name
            skipped = settings.is_excluded(child, name_only=True) or ignore.ignored(child, is_dir=True)
            if skipped or _is_virtualenv(child):
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            child = base / name
            if settings.is_excluded(child, name_only=True) or ignore.ignored(child):
                continue
            found.append(child)
    return found


def _is_virtualenv(path: Path) -> bool:
    try:
        return (path / "pyvenv.cfg").is_file()
    except OSError:  # an unreadable folder: os.walk reports it
        return False


def _regular_file_lines(path: Path) -> list[str]:
    """The lines of `path`; none when it is missing, unreadable or not a regular file
    (a FIFO would block the run, a link to /dev/zero would never end)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return []
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


class GitIgnore:
    """The project root's .gitignore: enough of git's rules for what linters meet."""

    def __init__(self, root: Path, patterns: list[tuple[str, bool, bool, bool]]):
        self.root = root
        self.patterns = patterns  # (pattern, negated, directory_only, anchored)

    @classmethod
    def load(cls, root: Path) -> GitIgnore:
        patterns = []
        for line in _regular_file_lines(root / ".gitignore"):
            line = line.rstrip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line[1:] if negated else line
            directory_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            patterns.append((line.lstrip("/"), negated, directory_only, anchored))
        return cls(root, patterns)

    def ignored(self, path: Path, is_dir: bool = False) -> bool:
        if not self.patterns:
            return False
        relative = relative_posix(path, self.root)
        if relative.startswith(("../", "/")):
            return False
        result = False
        for pattern, negated, directory_only, anchored in self.patterns:
            if directory_only and not is_dir:
                continue
            if anchored:
                hit = fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(relative, pattern + "/*")
            else:
                hit = fnmatch.fnmatchcase(relative.rsplit("/", 1)[-1], pattern)
            if hit:
                result = not negated
        return result
