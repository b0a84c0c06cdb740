"""Settings: `[tool.repro-lint]` in pyproject.toml, merged with the command line.

Everything is validated here, so that a bad key or value stops the run with
one line that names it, before any file is read.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from repro_lint.versions import parse_version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_EXCLUDE = (
    ".*",
    "__pycache__",
    "venv",
    "env",
    "build",
    "dist",
    "site-packages",
    "node_modules",
)
PROJECT_MARKERS = ("pyproject.toml", ".git")


class ConfigError(Exception):
    """A bad setting. The message is one line naming the key or option."""


@dataclass(frozen=True)
class Settings:
    project_root: Path
    config_path: Path | None = None
    select: tuple[str, ...] = ("RPL",)
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    torch_version: tuple[int, int] = (0, 0)
    torch_version_source: str = ""
    unsafe_fixes: bool = False
    strict: bool = False  # also the robustness advice, not only what makes runs differ today
    seed: int = 0
    seed_functions: tuple[str, ...] = ()
    force_exclude: bool = False

    def enabled(self, code: str, path: Path | None = None) -> bool:
        if not code.startswith((*self.select, *self.extend_select)):
            return False
        if self.ignore and code.startswith(self.ignore):
            return False
        if path is not None and self.per_file_ignores:
            relative = relative_posix(path, self.project_root)
            for pattern, codes in self.per_file_ignores:
                if _glob_match(relative, pattern) and code.startswith(codes):
                    return False
        return True

    def is_excluded(self, path: Path, name_only: bool = False) -> bool:
        """Whether an exclude pattern matches `path`.

        With `name_only`, a pattern without a slash is matched against the last component
        alone: the walk checks each folder as it enters it, so the folders above the one the
        user named (say, a package inside `.venv`) do not exclude it.
        """
        relative = relative_posix(path, self.project_root)
        for pattern in (*self.exclude, *self.extend_exclude):
            if name_only and "/" not in pattern.rstrip("/"):
                if fnmatch.fnmatchcase(path.name, pattern.rstrip("/")):
                    return True
            elif _glob_match(relative, pattern):
                return True
        return False

    def describe(self) -> str:
        version = ".".join(map(str, self.torch_version))
        rows = [
            ("project root", str(self.project_root)),
            ("config file", str(self.config_path) if self.config_path else "(none)"),
            ("target torch version", f"{version} (from {self.torch_version_source})"),
            ("select", ", ".join(self.select)),
            ("extend-select", ", ".join(self.extend_select)),
            ("ignore", ", ".join(self.ignore)),
            ("per-file-ignores", "; ".join(f"{p}: {', '.join(c)}" for p, c in self.per_file_ignores)),
            ("exclude", ", ".join(self.exclude)),
            ("extend-exclude", ", ".join(self.extend_exclude)),
            ("unsafe-fixes", str(self.unsafe_fixes).lower()),
            ("strict", "true (robustness advice too)" if self.strict
             else "false (only what makes runs differ or raise)"),
            ("seed", str(self.seed)),
            ("seed-functions", ", ".join(self.seed_functions)),
        ]
        width = max(len(key) for key, _ in rows)
        return "\n".join(f"{key.ljust(width)}  {value}" for key, value in rows)


def relative_posix(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _glob_match(relative: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    if fnmatch.fnmatchcase(relative, pattern):
        return True
    parts = relative.split("/")
    if "/" not in pattern:
        return any(fnmatch.fnmatchcase(part, pattern) for part in parts)
    # A pattern with a slash also matches everything under a matching folder.
    return any(fnmatch.fnmatchcase("/".join(parts[:i]), pattern) for i in range(1, len(parts)))


def find_project_root(start: Path) -> Path:
    start = start.resolve()
    current = start if start.is_dir() else start.parent
    for folder in (current, *current.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return current


def find_config(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.repro-lint] table."""
    start = start.resolve()
    current = start if start.is_dir() else start.parent
    for folder in (current, *current.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            tool = load_toml(candidate).get("tool", {})
            if isinstance(tool, dict) and "repro-lint" in tool:
                return candidate
    return None


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None


@dataclass
class Overrides:
    """Settings given on the command line (None: not given)."""

    select: list[str] | None = None
    ignore: list[str] | None = None
    extend_select: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    torch_version: str | None = None
    unsafe_fixes: bool | None = None
    strict: bool | None = None
    force_exclude: bool = False


_KEYS = {
    "select", "ignore", "extend-select", "per-file-ignores", "exclude", "extend-exclude",
    "torch-version", "unsafe-fixes", "strict", "seed", "seed-functions",
}


def load_settings(
    start: Path,
    known_codes: Iterable[str],
    overrides: Overrides | None = None,
    config_file: Path | None = None,
) -> Settings:
    overrides = overrides or Overrides()
    codes = tuple(known_codes)
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"--config: {config_file}: no such file")
        config_path: Path | None = config_file
    else:
        config_path = find_config(start)
    root = config_path.resolve().parent if config_path else find_project_root(start)
    table: dict[str, Any] = {}
    if config_path is not None:
        tool = load_toml(config_path).get("tool", {})
        found = tool.get("repro-lint", {}) if isinstance(tool, dict) else None
        if not isinstance(found, dict):
            raise ConfigError(f"{config_path}: [tool.repro-lint] must be a table")
        table = found
    where = f"{config_path}: [tool.repro-lint]" if config_path else ""
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"{where} unknown key {unknown[0]!r}")

    settings = Settings(project_root=root, config_path=config_path)
    changes: dict[str, Any] = {}
    for key in ("select", "ignore", "extend-select"):
        if key in table:
            changes[key.replace("-", "_")] = _selectors(table[key], f"{where} {key}", codes)
    for key in ("exclude", "extend-exclude", "seed-functions"):
        if key in table:
            changes[key.replace("-", "_")] = tuple(_string_list(table[key], f"{where} {key}"))
    if "per-file-ignores" in table:
        value = table["per-file-ignores"]
        if not isinstance(value, dict):
            raise ConfigError(f"{where} per-file-ignores must be a table of glob = [codes]")
        changes["per_file_ignores"] = tuple(
            (pattern, _selectors(v, f"{where} per-file-ignores.{pattern}", codes)) for pattern, v in value.items()
        )
    for key in ("unsafe-fixes", "strict"):
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"{where} {key} must be true or false")
            changes[key.replace("-", "_")] = table[key]
    if "seed" in table:
        seed = table["seed"]
        # torch.manual_seed takes any 64-bit seed, numpy's and the workers' 32 bits only.
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
            raise ConfigError(f"{where} seed must be an integer from 0 to 2**32 - 1")
        changes["seed"] = seed

    if overrides.select is not None:
        changes["select"] = _selectors(overrides.select, "--select", codes)
        changes["extend_select"] = ()
    if overrides.extend_select is not None:
        changes["extend_select"] = _selectors(overrides.extend_select, "--extend-select", codes)
    if overrides.ignore is not None:
        changes["ignore"] = (*changes.get("ignore", settings.ignore), *_selectors(overrides.ignore, "--ignore", codes))
    if overrides.exclude:
        changes["extend_exclude"] = (*changes.get("extend_exclude", ()), *overrides.exclude)
    if overrides.unsafe_fixes is not None:
        changes["unsafe_fixes"] = overrides.unsafe_fixes
    if overrides.strict is not None:
        changes["strict"] = overrides.strict
    changes["force_exclude"] = overrides.force_exclude

    version, source = _target_torch_version(overrides.torch_version, table.get("torch-version"), where, root)
    changes["torch_version"] = version
    changes["torch_version_source"] = source
    return replace(settings, **changes)


class SettingsResolver:
    """Each file's settings, as ruff finds them: those of its nearest `pyproject.toml` with a
    `[tool.repro-lint]` table, command-line options on top; with `--config`, that file's for all."""

    def __init__(self, known_codes: Iterable[str], overrides: Overrides, config_file: Path | None = None):
        self.codes = tuple(known_codes)
        self.overrides = overrides
        self.config_file = config_file
        self._config_of_folder: dict[Path, Path | None] = {}
        self._by_config: dict[Path | None, Settings] = {}

    def for_path(self, path: Path) -> Settings:
        if self.config_file is not None:
            config: Path | None = self.config_file
        else:
            folder = path.resolve()
            folder = folder if folder.is_dir() else folder.parent
            if folder not in self._config_of_folder:
                self._config_of_folder[folder] = find_config(folder)
            config = self._config_of_folder[folder]
        if config not in self._by_config:
            start = config.parent if config is not None else path
            self._by_config[config] = load_settings(start, self.codes, self.overrides, self.config_file)
        return self._by_config[config]


def _string_list(value: Any, label: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{label} must be a list of strings")
    return value


def _selectors(value: Any, label: str, codes: tuple[str, ...]) -> tuple[str, ...]:
    items = []
    for raw in _string_list(value, label):
        for item in raw.split(","):
            item = item.strip().upper()
            if not item:
                continue
            if item == "ALL":
                item = "RPL"
            if not any(code.startswith(item) for code in codes):
                raise ConfigError(f"{label}: unknown rule code or prefix {item!r}")
            items.append(item)
    return tuple(items)


def parse_torch_version(text: str, label: str) -> tuple[int, int]:
    try:
        return parse_version(str(text))
    except ValueError:
        raise ConfigError(f"{label}: {text!r} is not a torch version like 2.13") from None


def _target_torch_version(
    cli_value: str | None, config_value: Any, where: str, root: Path
) -> tuple[tuple[int, int], str]:
    if cli_value is not None:
        return _known_version(cli_value, "--torch-version"), "--torch-version"
    if config_value is not None:
        if not isinstance(config_value, str):
            # `torch-version = 2.10` is the float 2.1: a quoted version cannot be misread.
            raise ConfigError(f'{where} torch-version must be a quoted string, e.g. torch-version = "2.13"')
        return _known_version(config_value, f"{where} torch-version"), "config torch-version"
    declared = declared_torch_requirement(root)
    if declared is not None:
        return declared
    installed = installed_torch_version()
    if installed is not None:
        return installed, "installed torch package"
    from repro_lint.catalog import load_catalog

    return load_catalog().newest_version, "newest version in the catalog"


def _known_version(text: str, label: str) -> tuple[int, int]:
    """A version the user asked for: one the catalog has facts for, or a newer one (its newest facts apply)."""
    from repro_lint.catalog import load_catalog

    version = parse_torch_version(text, label)
    oldest = load_catalog().oldest_version
    if version < oldest:
        oldest_text = _dotted_version(oldest)
        raise ConfigError(f"{label}: {text} is older than the oldest torch the catalog knows ({oldest_text})")
    return version


def _dotted_version(version: tuple[int, int]) -> str:
    return ".".join(map(str, version))


_REQUIREMENT = re.compile(r"^\s*torch\s*(\[[^\]]*\])?\s*(?P<spec>[^;#]*)", re.IGNORECASE)
_LOWER_BOUND = re.compile(r"(>=|==|~=|>)\s*(\d+\.\d+)")
_PIN = re.compile(r"(?<![<>!~=])==\s*(\d+\.\d+)")
_COMPATIBLE = re.compile(r"~=\s*(\d+)\.(\d+)(\.\d+)?")
_UPPER_BOUND = re.compile(r"(<=|<)\s*(\d+\.\d+)")
_LAST_1X_MINOR = 13  # torch 1.13 was the last 1.x release


def declared_torch_requirement(root: Path) -> tuple[tuple[int, int], str] | None:
    """The torch that installing the project's declared requirement gets today: its pin, else the
    newest release the catalog knows that the bounds allow (`torch>=1.5` installs a current torch)."""
    pyproject = root / "pyproject.toml"
    candidates: list[tuple[str, str]] = []
    if pyproject.is_file():
        try:
            data = load_toml(pyproject)
        except ConfigError:
            data = {}
        for requirement in data.get("project", {}).get("dependencies", []) or []:
            if isinstance(requirement, str):
                candidates.append((requirement, "pyproject.toml [project].dependencies"))
    for requirements in sorted(root.glob("requirements*.txt")):
        try:
            lines = requirements.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        candidates.extend((line, requirements.name) for line in lines)
    for requirement, source in candidates:
        match = _REQUIREMENT.match(requirement)
        if not match or re.match(r"^\s*torch[a-z_-]", requirement, re.IGNORECASE):
            continue
        installed = _torch_installed_by(match.group("spec"), source)
        if installed is not None:
            return installed, f"{source} ({requirement.strip()})"
    for requirement, source in candidates:
        implied = _torch_of_companion(requirement)
        if implied is not None:
            return implied, f"{source} ({requirement.strip()}, which pins torch)"
    return None


def _torch_installed_by(spec: str, source: str) -> tuple[int, int] | None:
    """The torch release a requirement's specifier resolves to: its `==` pin, else the newest
    release up to the catalog's newest that its bounds allow; None without a version in it."""
    pin = _PIN.search(spec)
    if pin:
        return parse_torch_version(pin.group(1), source)
    lower = _LOWER_BOUND.search(spec)
    if lower is None and not _UPPER_BOUND.search(spec):
        return None
    oldest = parse_torch_version(lower.group(2), source) if lower is not None else (1, 0)
    allowed = [version for version in _torch_releases() if version >= oldest]
    compatible = _COMPATIBLE.search(spec)
    if compatible:  # `~=2.1` allows any 2.x from 2.1, `~=2.1.0` only 2.1.x
        major, minor = int(compatible.group(1)), int(compatible.group(2))
        allowed = [v for v in allowed if (v == (major, minor) if compatible.group(3) else v[0] == major)]
    for operator_, bound in _UPPER_BOUND.findall(spec):
        limit = parse_torch_version(bound, source)
        allowed = [v for v in allowed if (v <= limit if operator_ == "<=" else v < limit)]
    return max(allowed, default=oldest)


def _torch_releases() -> list[tuple[int, int]]:
    from repro_lint.catalog import load_catalog

    newest = load_catalog().newest_version
    return [(1, minor) for minor in range(_LAST_1X_MINOR + 1)] + [(2, minor) for minor in range(newest[1] + 1)]


_COMPANION = re.compile(r"^\s*(?P<name>torchvision|torchaudio|torchtext)\s*(\[[^\]]*\])?\s*(?P<spec>[^;#]*)$", re.I)
# torchtext's last release, 0.18, requires torch 2.3.0: a project that needs it gets that torch.
_LAST_TORCHTEXT_TORCH = (2, 3)


def _torch_of_companion(requirement: str) -> tuple[int, int] | None:
    """The torch a companion package's `==` pin implies, each of its releases requiring one torch
    release: torchvision 0.15 needs torch 2.0 (and 0.14 needs 1.13), torchaudio and torchtext
    follow their own numbering. Any torchtext but an old pin installs with torch 2.3."""
    match = _COMPANION.match(requirement)
    if not match:
        return None
    name = match.group("name").lower()
    pin = _PIN.search(match.group("spec"))
    if pin is None:  # the newest release that fits; for torchtext, whatever its bounds, that is 0.18
        return _LAST_TORCHTEXT_TORCH if name == "torchtext" else None
    major, minor = parse_version(pin.group(1))
    if name == "torchaudio" and major >= 1:
        return (major, minor)  # torchaudio 2.x goes with torch 2.x
    if major != 0:
        return None
    first_of_2 = 15  # torchvision 0.15, torchtext 0.15 and torchaudio 2.0 came with torch 2.0
    if name == "torchaudio":
        return (1, minor)
    return (2, minor - first_of_2) if minor >= first_of_2 else (1, minor - 1)


def installed_torch_version() -> tuple[int, int] | None:
    """The installed torch's version, from package metadata: torch itself is never imported."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
    try:
        return parse_version(version)
    except ValueError:
        return None
