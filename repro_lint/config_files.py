"""Option defaults that live in a YAML config file the command line names by default.

Research code often declares one option, `--config` with a default such as
`config/ade20k/pspnet50.yaml`, and reads every other setting from that file (`cfg.arch`,
`cfg.manual_seed`). Run as documented, the program takes those values, so an `if cfg.arch == "psa":`
is as false as one on an argparse default.

Only the plain `key: value` lines of such a file are read, at any nesting depth, and a key is
known by its last name: the loaders of this style flatten the sections into one namespace. A
key given two values is UNKNOWN. The file is read where it is, relative to the project root.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from repro_lint.argparse_defaults import UNKNOWN

_CONFIG_SUFFIXES = (".yaml", ".yml")
_MAX_CONFIG_BYTES = 1 << 20
_KEY_VALUE = re.compile(r"^\s*(?P<key>[A-Za-z_][\w-]*)\s*:(?:\s+(?P<value>.*?))?\s*$")
_NUMBER = re.compile(r"^[-+]?(\d[\d_]*)?(\.\d*)?([eE][-+]?\d+)?$")


def config_file_options(defaults: Iterable[Any], root: Path) -> dict[str, Any]:
    """The settings of every YAML file under `root` that an option names as its default."""
    options: dict[str, Any] = {}
    for default in defaults:
        if not (isinstance(default, str) and default.endswith(_CONFIG_SUFFIXES)):
            continue
        for key, value in _read(root / default).items():
            options[key] = value if options.get(key, value) == value else UNKNOWN
    return options


def _read(path: Path) -> Mapping[str, Any]:
    try:
        if not path.is_file() or path.stat().st_size > _MAX_CONFIG_BYTES:
            return {}
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    lines = [line for line in map(_without_comment, text.splitlines()) if line.strip()]
    found: dict[str, Any] = {}
    empty: list[str] = []
    for line, following in zip(lines, [*lines[1:], ""]):
        match = _KEY_VALUE.match(line)
        if match is None:
            continue
        key, raw = match.group("key"), match.group("value")
        if raw is None:
            # `key:` alone opens a section when indented keys follow; otherwise it is YAML's null.
            if _indent(following) <= _indent(line):
                empty.append(key)
            continue
        value = _scalar(raw)
        found[key] = value if found.get(key, value) == value else UNKNOWN
    for key in empty:
        found.setdefault(key, None)
    return found


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _without_comment(line: str) -> str:
    # A ` #` outside quotes starts a comment; values with quotes are rare in these files and kept whole.
    if "'" in line or '"' in line:
        return line.rstrip()
    return re.sub(r"(^|\s)#.*$", "", line).rstrip()


def _scalar(raw: str) -> Any:
    if raw in ("null", "Null", "NULL", "~"):
        return None
    if raw in ("true", "True", "TRUE", "yes", "Yes", "on", "On"):
        return True
    if raw in ("false", "False", "FALSE", "no", "No", "off", "Off"):
        return False
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    if raw[0] in "[{&*!|>":
        return UNKNOWN  # a collection, an anchor or a block: not a value an `if` compares
    if _NUMBER.match(raw) and any(c.isdigit() for c in raw):
        try:
            return int(raw.replace("_", ""))
        except ValueError:
            return float(raw.replace("_", ""))
    return raw
