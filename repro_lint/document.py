"""What the engine lints: a file's Python source, however the file stores it.

A `.py` file is its own source. A notebook's source is its joined code cells
(see `repro_lint.notebook`): findings are mapped back to cells and fixes are
written back into the notebook JSON. The engine goes through these three
functions and never needs to know which kind of file it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from repro_lint.notebook import NotebookSource, is_notebook, locate, notebook_bytes, read_notebook
from repro_lint.source import SourceFile, decode_source, read_source, write_source

if TYPE_CHECKING:
    from repro_lint.results import Finding


def read_document(path: Path, data: bytes | None = None) -> SourceFile:
    """The source to lint for `path`; `data`, when given, is the file's content (read from stdin)."""
    if is_notebook(path):
        return read_notebook(path, data)
    if data is None:
        return read_source(path)
    text, encoding = decode_source(data, path)
    return SourceFile(path, data, text, encoding, 0)


def locate_findings(source: SourceFile, findings: Sequence[Finding]) -> list[Finding]:
    """Findings in the file's own coordinates (a notebook's: cell and line in the cell)."""
    if isinstance(source, NotebookSource):
        return [locate(source, finding) for finding in findings]
    return list(findings)


def document_bytes(source: SourceFile, fixed_text: str) -> bytes:
    """The whole file's new content once its source has become `fixed_text`."""
    if isinstance(source, NotebookSource):
        return notebook_bytes(source, fixed_text)
    return fixed_text.encode(source.encoding)


def original_bytes(source: SourceFile) -> bytes:
    """The whole file's content as read."""
    return source.file.data if isinstance(source, NotebookSource) else source.data


def write_document(source: SourceFile, fixed_text: str) -> None:
    file = source.file if isinstance(source, NotebookSource) else source
    write_source(file, document_bytes(source, fixed_text))
