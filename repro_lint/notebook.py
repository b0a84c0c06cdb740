"""Jupyter notebooks: the code cells joined into one program, and fixes written back cell by cell.

A notebook runs its code cells in order in one interpreter, so the rules see
them as one module (which also makes it a program for the seeding rules).
IPython syntax that is not Python (`%magic`, `!shell`, `x = !cmd`, `name?`,
cell magics) is masked line for line with `pass`, so that line numbers in the
joined program stay those of the cells.

Writing back maps each line of the fixed program to the cell it came from:
unchanged lines get their original (unmasked) text back, new lines go to the
cell of the code around them. Only the `source` of cells whose code changed
is replaced; outputs, metadata, key order and the JSON layout stay as read.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repro_lint.source import SourceError, SourceFile, decode_source, read_source
from repro_lint.text_edits import physical_lines

if TYPE_CHECKING:
    from repro_lint.results import Finding

NOTEBOOK_SUFFIX = ".ipynb"
# Cell magics whose body is Python run in the kernel: only their first line is masked.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})

_LINE_MAGIC = re.compile(r"^\s*[%!]")
_ASSIGNED_MAGIC = re.compile(r"^\s*[A-Za-z_][\w.,\s]*=\s*[%!]")
_HELP = re.compile(r"^\s*(\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")
_CELL_MAGIC = re.compile(r"^%%(\w+)")


@dataclass(frozen=True)
class CodeCell:
    index: int  # position in the notebook's `cells` list, 0-based
    first_line: int  # the 1-based line where the cell starts in the joined program
    lines: tuple[str, ...]  # the cell's source lines as written, each ending in a newline
    ends_with_newline: bool  # whether the stored source ends with one (Jupyter's usually does not)
    magic: str | None  # the cell magic (`%%time`: "time") the cell starts with; nothing may go before it


@dataclass(frozen=True)
class NotebookSource(SourceFile):
    """A notebook as the engine sees it: `data`/`text` are the joined, masked code cells."""

    file: SourceFile  # the .ipynb file itself, for writing back
    cells: tuple[CodeCell, ...]


def is_notebook(path: Path) -> bool:
    return path.suffix == NOTEBOOK_SUFFIX


def read_notebook(path: Path, data: bytes | None = None) -> NotebookSource:
    """Read a notebook from `path`, or from `data` given as the content of `path`."""
    if data is None:
        file = read_source(path)
    else:
        text, encoding = decode_source(data, path)
        file = SourceFile(path, data, text, encoding, 0)
    document = _load_json(file)
    code_cells: list[CodeCell] = []
    program: list[str] = []
    if _is_python(document):
        for index, cell in enumerate(document["cells"]):
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            source = _cell_text(cell, path, index)
            lines = tuple(line if line.endswith(("\n", "\r")) else line + "\n" for line in physical_lines(source))
            magic = _CELL_MAGIC.match(source)
            magic_name = magic.group(1) if magic else None
            code_cells.append(CodeCell(index, len(program) + 1, lines, source.endswith("\n"), magic_name))
            program.extend(_masked(lines, magic_name))
    text = "".join(program)
    return NotebookSource(path, text.encode("utf-8"), text, "utf-8", file.mtime_ns, file, tuple(code_cells))


def locate(source: NotebookSource, finding: Finding) -> Finding:
    """The finding with its line counted within its cell, and the cell's 1-based number."""
    cell = _cell_at(source, finding.line)
    if cell is None:
        return finding
    offset = cell.first_line - 1
    return dataclasses.replace(
        finding,
        cell=cell.index + 1,
        line=finding.line - offset,
        end_line=max(finding.end_line - offset, 1),
    )


def notebook_bytes(source: NotebookSource, fixed_program: str) -> bytes:
    """The notebook file's new content once its joined program has become `fixed_program`."""
    new_sources = _split_into_cells(source, fixed_program)
    document = _load_json(source.file)
    for cell, text in zip(source.cells, new_sources):
        stored = document["cells"][cell.index]
        if _cell_text(stored, source.path, cell.index) == text:
            continue
        stored["source"] = physical_lines(text) if isinstance(stored["source"], list) else text
    # The file's own encoding: "utf-8-sig" keeps a byte order mark the notebook started with.
    return _dump_like(document, source.file.text).encode(source.file.encoding)


def changed_cells(source: NotebookSource, fixed_program: str) -> list[tuple[int, str, str]]:
    """The code cells `fixed_program` changes: (1-based cell number, source before, source after),
    the texts `--fix` writes into the cells."""
    document = _load_json(source.file)
    changed = []
    for cell, text in zip(source.cells, _split_into_cells(source, fixed_program)):
        before = _cell_text(document["cells"][cell.index], source.path, cell.index)
        if before != text:
            changed.append((cell.index + 1, before, text))
    return changed


# -- reading ---------------------------------------------------------------


def _load_json(file: SourceFile) -> dict[str, Any]:
    try:
        document = json.loads(file.text)
    except json.JSONDecodeError as error:
        raise SourceError(f"{file.path}: not a notebook: invalid JSON at line {error.lineno}: {error.msg}") from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise SourceError(f"{file.path}: not a notebook: no 'cells' list (nbformat 4 is required)")
    return document


def _is_python(document: dict[str, Any]) -> bool:
    """Notebooks of other kernels (R, Julia) have no Python to lint."""
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        return True
    for key, field in (("language_info", "name"), ("kernelspec", "language")):
        section = metadata.get(key)
        if isinstance(section, dict) and isinstance(section.get(field), str):
            return section[field].lower() == "python"
    return True


def _cell_text(cell: dict[str, Any], path: Path, index: int) -> str:
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise SourceError(f"{path}: not a notebook: cell {index + 1} has a source that is not text")


def _masked(lines: tuple[str, ...], cell_magic: str | None) -> list[str]:
    """The cell's lines with IPython-only syntax replaced by Python that does nothing.

    A top-level magic becomes a comment, so that magics above the imports do
    not end the import header where fixes put setup code; an indented one
    becomes `pass`, which keeps its block non-empty. A cell magic line and a
    whole cell in another language become `pass` statements, so that no fix
    lands before the magic or inside the foreign cell.
    """
    if cell_magic is not None and cell_magic not in PYTHON_CELL_MAGICS:
        return ["pass\n"] * len(lines)
    masked: list[str] = []
    continued: str | None = None  # the placeholder, while a magic goes on after a backslash
    for number, line in enumerate(lines):
        body = line.rstrip("\r\n")
        if continued is None:
            if number == 0 and cell_magic is not None:
                continued = "pass\n"
            elif _is_ipython_line(body):
                indent = body[: len(body) - len(body.lstrip())]
                continued = indent + "pass\n" if indent else "#\n"
            else:
                masked.append(line)
                continue
        masked.append(continued)
        if not body.endswith("\\"):
            continued = None
    return masked


def _is_ipython_line(line: str) -> bool:
    return bool(_LINE_MAGIC.match(line) or _ASSIGNED_MAGIC.match(line) or _HELP.match(line))


def _cell_at(source: NotebookSource, line: int) -> CodeCell | None:
    """The cell holding `line`; lines past the end (a syntax error at EOF) belong to the last cell."""
    found = None
    for cell in source.cells:
        if cell.lines and cell.first_line <= line:
            found = cell
    return found


# -- writing ---------------------------------------------------------------


def _split_into_cells(source: NotebookSource, fixed_program: str) -> list[str]:
    """The new source of each code cell, in `source.cells` order."""
    old = physical_lines(source.text)
    new = physical_lines(fixed_program)
    owner: list[int] = []  # for each line of the old program: its position in source.cells
    original: list[str] = []  # ... and its text as written in the cell
    for position, cell in enumerate(source.cells):
        owner.extend([position] * len(cell.lines))
        original.extend(cell.lines)
    pieces: list[list[str]] = [[] for _ in source.cells]
    after_magic: list[list[str]] = [[] for _ in source.cells]  # new lines that belong right after a cell magic
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag == "equal":
            for line in range(old_start, old_end):
                pieces[owner[line]].append(original[line])
            continue
        # The rules never see IPython lines, so a fix that rewrote the code around one did not mean to drop it.
        for line in range(old_start, old_end):
            if old[line] != original[line]:
                pieces[owner[line]].append(original[line])
        if new_end > new_start:
            target, after = _target_cell(source, owner, old_start, old_end)
            (after_magic if after else pieces)[target].extend(new[new_start:new_end])
    for lines, extra in zip(pieces, after_magic):
        lines[1:1] = extra
    texts = []
    for cell, lines in zip(source.cells, pieces):
        text = "".join(lines)
        if not cell.ends_with_newline and text.endswith("\n"):
            text = text[:-1]
        texts.append(text)
    return texts


def _target_cell(source: NotebookSource, owner: list[int], old_start: int, old_end: int) -> tuple[int, bool]:
    """Where lines a fix put at `old_start` (replacing up to `old_end`) go: a cell, and whether
    right after its cell magic line."""
    if old_end > old_start:
        return owner[old_start], False
    if old_start == len(owner):
        return owner[-1], False  # appended at the end: the last cell
    following = owner[old_start]
    magic = source.cells[following].magic
    if magic is None or (old_start > 0 and owner[old_start - 1] == following):
        return following, False
    # Before a cell that starts with a cell magic: after the magic when the cell is Python,
    # else at the end of the cell before.
    if magic in PYTHON_CELL_MAGICS:
        return following, True
    if old_start > 0:
        return owner[old_start - 1], False
    raise SourceError(f"{source.path}: a fix would go before the %%{magic} cell that starts the notebook; not written")


def _dump_like(document: dict[str, Any], original_text: str) -> str:
    """JSON in the layout the file already had, its line endings included (a notebook checked out
    with CRLF keeps them)."""
    if "\r\n" not in original_text:
        return _dump_in_layout(document, original_text)
    # json.dumps escapes the newlines inside strings: every line break it writes is one of the layout's.
    return _dump_in_layout(document, original_text.replace("\r\n", "\n")).replace("\n", "\r\n")


def _dump_in_layout(document: dict[str, Any], original_text: str) -> str:
    """JSON in the layout the file already had, or nbformat's (indent 1) when none reproduces it."""
    original = json.loads(original_text)
    ending = "\n" if original_text.endswith("\n") else ""
    for indent in (1, 2, 4, None):
        for ensure_ascii in (False, True):
            if json.dumps(original, indent=indent, ensure_ascii=ensure_ascii) + ending == original_text:
                return json.dumps(document, indent=indent, ensure_ascii=ensure_ascii) + ending
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"
