"""Reading and writing source files without ever losing one.

Files are read as bytes and decoded as PEP 263 says (BOM, coding cookie).
libcst keeps the encoding, line endings and trailing newline, so writing
`module.bytes` back round-trips. Writes are atomic: temp file, then rename.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path


class SourceError(Exception):
    """A file that cannot be read, decoded or written. The message is one line."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    data: bytes
    text: str
    encoding: str
    mtime_ns: int


def read_source(path: Path) -> SourceFile:
    try:
        # Opening a FIFO blocks until someone writes, and /dev/zero never ends: check first.
        _require_regular(path, os.stat(path))
        with open(path, "rb") as handle:
            stat_result = os.fstat(handle.fileno())
            _require_regular(path, stat_result)
            data = handle.read()
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied") from None
    except OSError as error:
        raise SourceError(f"{path}: cannot read: {error.strerror or error}") from None
    text, encoding = decode_source(data, path)
    return SourceFile(path, data, text, encoding, stat_result.st_mtime_ns)


_KIND_OF_MODE = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                 (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _require_regular(path: Path, stat_result: os.stat_result) -> None:
    if stat.S_ISREG(stat_result.st_mode):
        return
    kind = next((name for test, name in _KIND_OF_MODE if test(stat_result.st_mode)), "a special file")
    raise SourceError(f"{path}: is {kind}, not a regular file")


def decode_source(data: bytes, path: Path | str = "<source>") -> tuple[str, str]:
    if b"\x00" in data:
        raise SourceError(f"{path}: binary file (contains NUL bytes)")
    cookie_error: str | None = None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        # Invalid UTF-8 in the first two lines also lands here; say so plainly.
        encoding, cookie_error = "utf-8", error.msg
        if data.startswith(codecs.BOM_UTF8) and error.msg.startswith("encoding problem"):
            cookie_error = "starts with a UTF-8 byte order mark but its coding cookie names another encoding"
    try:
        text = data.decode(encoding)
        if cookie_error:
            raise SourceError(f"{path}: {cookie_error}")
        return text, encoding
    except UnicodeDecodeError as error:
        raise SourceError(
            f"{path}: cannot decode as {encoding} at byte {error.start}; add a coding cookie (PEP 263)"
        ) from None
    except LookupError:
        raise SourceError(f"{path}: unknown source encoding {encoding!r}") from None


def write_source(source: SourceFile, new_data: bytes) -> None:
    """Replace the file's content atomically, keeping its permissions.

    Refuses when the file changed since it was read, or is read-only. A
    symbolic link stays a link: its target is written (as editors, black and ruff do).
    """
    path = source.path
    target = Path(os.path.realpath(path))
    try:
        current = os.stat(target)
        unchanged = current.st_mtime_ns == source.mtime_ns and _read_bytes(target) == source.data
    except FileNotFoundError:
        raise SourceError(f"{path}: deleted while being fixed; not written") from None
    except OSError as error:
        raise SourceError(f"{path}: cannot write: {error.strerror or error}") from None
    if not unchanged:
        raise SourceError(f"{path}: changed on disk while being fixed; not overwritten")
    if not os.access(target, os.W_OK):
        raise SourceError(f"{path}: read-only; fix not written")
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".repro-lint.tmp", dir=target.parent)
    except OSError as error:
        # The write is atomic (a temporary file beside the file, then a rename): a folder that takes
        # no new file (read-only, full) cannot be written to even where the file itself could be.
        raise SourceError(f"{path}: cannot write: cannot create a temporary file in its folder "
                          f"({error.strerror or error}); fix not written") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(new_data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, stat.S_IMODE(current.st_mode))
        if (current.st_uid, current.st_gid) != (os.geteuid(), os.getegid()):
            _keep_owner(temp_name, current)
        os.replace(temp_name, target)
    except BaseException as error:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise SourceError(f"{path}: cannot write: {error.strerror or error}") from None
        raise


def _keep_owner(temp_name: str, current: os.stat_result) -> None:
    """Root fixing a user's file leaves it the user's; others cannot give files away, and keep what they can."""
    for uid, gid in ((current.st_uid, current.st_gid), (-1, current.st_gid)):
        try:
            os.chown(temp_name, uid, gid)
            return
        except OSError:
            continue


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()
