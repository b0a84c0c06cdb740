"""Baselines: the findings a codebase had when it adopted repro-lint, to report only new ones.

A baseline is a JSON file:

    {"version": 1, "tool": "repro-lint", "findings": [
        {"path": "src/train.py", "code": "RPL201", "fingerprint": "…", "line": 12, "message": "…"}]}

`path` is relative to the folder that holds the baseline file, so the file can be
committed and used from any working directory. A finding matches a baseline entry
by path, code and fingerprint: the SARIF `partialFingerprints` value
(`repro_lint.reporters.sarif_format.fingerprints`), computed over that path. It
depends on the rule, the file and the message and not on the line, so edits above
a finding keep it baselined. `line` and `message` are there for people reading it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

from repro_lint.reporters.sarif_format import fingerprints
from repro_lint.results import Finding

VERSION = 1


class BaselineError(Exception):
    """A baseline file that cannot be read or written; the message is one line."""


Key = tuple[str, str, str]  # path (relative to the baseline's folder), code, fingerprint


def _relative(path: str, folder: Path) -> str:
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(folder).as_posix()
    except ValueError:
        return Path(os.path.relpath(absolute, folder)).as_posix()


def _keyed(findings: Sequence[Finding], folder: Path) -> list[tuple[Key, Finding]]:
    """Each finding with its key; fingerprints count occurrences, so they are computed in sorted order."""
    ordered = sorted(findings, key=lambda f: f.sort_key)
    rebased = [dataclasses.replace(f, path=_relative(f.path, folder)) for f in ordered]
    return [((r.path, r.code, key), f) for r, f, key in zip(rebased, ordered, fingerprints(rebased))]


def _folder(baseline: Path) -> Path:
    return Path(os.path.abspath(baseline)).parent


def write_baseline(baseline: Path, findings: Sequence[Finding]) -> int:
    """Write `findings` as the baseline file `baseline` (atomically); returns how many it holds."""
    entries = [
        {"path": path, "code": code, "fingerprint": key, "line": f.line, "message": f.message}
        | ({"cell": f.cell} if f.cell is not None else {})
        for (path, code, key), f in _keyed(findings, _folder(baseline))
    ]
    document = {"version": VERSION, "tool": "repro-lint", "findings": entries}
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    temp = baseline.with_name(f".{baseline.name}.repro-lint.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, baseline)
    except OSError as error:
        try:
            temp.unlink()
        except OSError:
            pass
        raise BaselineError(f"{baseline}: cannot write the baseline: {error.strerror or error}") from None
    return len(entries)


def read_baseline(baseline: Path) -> set[Key]:
    try:
        document = json.loads(baseline.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BaselineError(f"{baseline}: no such baseline file (write one with --write-baseline)") from None
    except OSError as error:
        raise BaselineError(f"{baseline}: cannot read the baseline: {error.strerror or error}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise BaselineError(f"{baseline}: not a repro-lint baseline (invalid JSON: {error})") from None
    entries = document.get("findings") if isinstance(document, dict) else None
    if not isinstance(entries, list) or document.get("version") != VERSION:
        raise BaselineError(f"{baseline}: not a repro-lint baseline (version {VERSION} with a findings list)")
    keys: set[Key] = set()
    for entry in entries:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str)
                                                  for k in ("path", "code", "fingerprint")):
            raise BaselineError(f"{baseline}: not a repro-lint baseline (an entry lacks path, code or fingerprint)")
        keys.add((entry["path"], entry["code"], entry["fingerprint"]))
    return keys


def new_findings(findings: Sequence[Finding], baseline: Path, keys: set[Key]) -> list[Finding]:
    """The findings that `keys` (read from `baseline`) does not hold, in sorted order."""
    return [f for key, f in _keyed(findings, _folder(baseline)) if key not in keys]
