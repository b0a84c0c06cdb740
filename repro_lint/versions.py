"""torch versions as the linter compares them: `(major, minor)` tuples."""

from __future__ import annotations

import re

Version = tuple[int, int]

_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:[.+\-]?[0-9A-Za-z][0-9A-Za-z.+\-_]*)?\s*$")


def parse_version(text: str) -> Version:
    """``"2.13"``, ``"2.13.0+cpu"``, ``"1.8"``, ``"2.1.0a0+git1234"`` -> ``(major, minor)``.

    Raises ValueError for anything that does not start with ``MAJOR.MINOR``.
    """
    if not isinstance(text, str):
        raise ValueError(f"torch version must be a string, got {type(text).__name__}")
    match = _VERSION.match(text)
    if match is None:
        raise ValueError(f"not a torch version: {text!r} (expected MAJOR.MINOR, e.g. 2.13)")
    return int(match.group(1)), int(match.group(2))


def format_version(version: Version) -> str:
    return f"{version[0]}.{version[1]}"
