"""The persistent cache, `.repro_lint_cache/` in the project root.

One file per combination of tool code and result-relevant settings: its name
is a hash of the tool version, a fingerprint of the installed repro-lint code,
the Python and libcst versions, the resolved settings (selection, target torch
version, seed, seed functions, per-file ignores, unsafe fixes) and the
engine's reporting options. Change any of them and the run starts from an
empty cache.

Inside, each linted file has an entry keyed by its absolute path, valid while
the file's content hash and module identity (its name, and what its imports mean) are unchanged. An entry holds:

- the file's `FileSummary` for the project pass, so that unchanged files are
  never parsed again;
- its findings;
- the answers its rules got from `ProjectFacts`. A change in another file
  (a seed helper that now seeds less) invalidates exactly the files whose
  rules asked about it: the runner re-asks the logged questions and re-lints
  the file when an answer differs.

The cache is an optimisation only: an unreadable, corrupt or unwritable cache
is ignored, and the run behaves as with `--no-cache`.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro_lint import __version__
from repro_lint.config import Settings
from repro_lint.identity import ModuleIdentity
from repro_lint.project import FileSummary, Query

if TYPE_CHECKING:
    from repro_lint.engine import Engine

CACHE_DIR = ".repro_lint_cache"
# Cache files of other settings or tool versions kept beside the current one.
KEEP_FILES = 8
_FORMAT = 2


@dataclass(frozen=True)
class CachedFile:
    digest: str
    module: ModuleIdentity
    summary: FileSummary | None  # None: the file did not parse
    findings: tuple[Any, ...]  # engine Findings
    answers: dict[Query, Any]
    fixable: int  # findings whose fix `--fix` would apply


def content_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def code_fingerprint() -> str:
    """The installed repro-lint code: an editable install changes without a version bump."""
    import repro_lint
    import repro_lint.rules

    stamps = []
    # The folders of the packages' own `__init__.py`: an editable install's `__path__` can also
    # name the project root, whose walk would cover the virtual environment.
    for package in (repro_lint, repro_lint.rules):
        for root, dirnames, filenames in os.walk(os.path.dirname(str(package.__file__))):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith((".py", ".toml")):
                    stat = os.stat(os.path.join(root, name))
                    stamps.append(f"{root}/{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.blake2b("\n".join(stamps).encode(), digest_size=16).hexdigest()


def run_fingerprint(settings: Settings, rule_codes: Iterable[str], engine_options: Iterable[object]) -> str:
    import libcst

    parts = [
        f"format {_FORMAT}",
        f"repro-lint {__version__} {code_fingerprint()}",
        f"python {sys.version}",
        f"libcst {getattr(libcst, '__version__', '?')}",
        f"rules {sorted(rule_codes)}",
        f"engine {list(engine_options)}",
        f"root {settings.project_root}",
        f"select {settings.select} {settings.extend_select} ignore {settings.ignore}",
        f"per-file-ignores {settings.per_file_ignores}",
        f"torch {settings.torch_version} unsafe-fixes {settings.unsafe_fixes} strict {settings.strict}",
        f"seed {settings.seed} seed-functions {settings.seed_functions}",
    ]
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()


class Cache:
    def __init__(self, directory: Path, fingerprint: str):
        self.directory = directory
        self.path = directory / f"{fingerprint}.pickle"
        self.entries: dict[str, CachedFile] = {}
        self.dirty = False
        try:
            # Not a FIFO (opening one blocks) nor a device: only a regular file is a cache.
            if not stat.S_ISREG(os.stat(self.path).st_mode):
                raise OSError(f"{self.path}: not a regular file")
            with open(self.path, "rb") as handle:
                stored = pickle.load(handle)
            if isinstance(stored, dict):
                self.entries = stored
        except Exception:  # noqa: BLE001 - a missing or damaged cache is an empty one
            self.entries = {}

    def lookup(self, path: Path, digest: str, module: ModuleIdentity) -> CachedFile | None:
        entry = self.entries.get(_key(path))
        if entry is None or entry.digest != digest or entry.module != module:
            return None
        return entry

    def store(self, path: Path, entry: CachedFile) -> None:
        key = _key(path)
        if self.entries.get(key) != entry:
            self.entries[key] = entry
            self.dirty = True

    def save(self) -> None:
        """Write the cache atomically; give up silently where the folder is not writable."""
        if not self.dirty:
            return
        try:
            self.directory.mkdir(exist_ok=True)
            _mark_folder(self.directory)
            fd, temp = tempfile.mkstemp(prefix=".tmp-", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    pickle.dump(self.entries, handle, protocol=pickle.HIGHEST_PROTOCOL)
                os.replace(temp, self.path)
            except BaseException:
                os.unlink(temp)
                raise
            self._prune()
        except OSError:
            return
        self.dirty = False

    def _prune(self) -> None:
        files = sorted(self.directory.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[KEEP_FILES:]:
            old.unlink(missing_ok=True)


def _key(path: Path) -> str:
    return os.path.abspath(path)


def _mark_folder(directory: Path) -> None:
    """Keep the cache out of git and out of backups."""
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Created by repro-lint.\n*\n")
    tag = directory / "CACHEDIR.TAG"
    if not tag.exists():
        tag.write_text("Signature: 8a477f597d28d172789f06886806bc55\n# The repro-lint cache.\n")


def open_cache(engine: Engine) -> Cache:
    """The cache for this engine's settings, in the project root."""
    fingerprint = run_fingerprint(
        engine.settings,
        (rule.code for rule in engine.rules),
        (engine.apply_noqa, engine.describe_fix_edits),
    )
    return Cache(engine.settings.project_root / CACHE_DIR, fingerprint)
