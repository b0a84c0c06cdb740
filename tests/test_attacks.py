"""Attacks the way users' machines make them: filesystem faults, signals, odd notebooks, bad
configuration, and scripts that `verify --run` cannot trust. The fast part of
`benchmarks/attack.py` (which generates and mutates programs); see docs/reliability.md.

Every case drives the installed command line and checks what a user would see: one line per
problem, the documented exit code, no traceback, every file either as it was or completely
fixed, no temporary file left, no process left.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, children_of, is_alive, wait_until

if sys.platform != "linux":  # pragma: no cover
    pytest.skip("POSIX permissions, signals, /proc and tmpfs", allow_module_level=True)

FIXABLE = "import torch\n\ntorch.backends.cudnn.benchmark = True\n"
FIXED = "import torch\n\ntorch.backends.cudnn.benchmark = False\n"
NOBODY = 65534
TEMP_MARKERS = (".repro-lint.tmp", ".tmp-")


def repro_lint(*args: str, cwd: Path, as_user: bool = False, timeout: float = 120,
               memory: int | None = None) -> subprocess.CompletedProcess:
    """The command line's result; `memory` caps its address space (bytes), for inputs that would read without end."""
    command = [str(BIN / "repro-lint"), *args]
    if as_user and os.geteuid() == 0:
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}

    def cap() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env,
                            preexec_fn=cap)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert "internal error" not in result.stdout + result.stderr, result.stderr
    return result


def errors(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("repro-lint: error:")]


def leftovers(*roots: Path) -> list[str]:
    return [str(p) for root in roots for p in root.rglob("*") if any(m in p.name for m in TEMP_MARKERS)]


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder other users can enter (pytest's tmp_path is closed to them)."""
    root = Path(tempfile.mkdtemp(prefix="repro-lint-attack-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        for folder, dirnames, _ in os.walk(root):
            for name in dirnames:
                os.chmod(os.path.join(folder, name), 0o755)
        shutil.rmtree(root, ignore_errors=True)


def needs_unprivileged_user(root: Path) -> None:
    if os.geteuid() != 0:
        return
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to drop root")
    probe = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                            "test", "-x", str(BIN / "repro-lint")], cwd=root)
    if probe.returncode != 0:
        pytest.skip("the unprivileged user cannot reach this checkout's virtual environment")


# -- filesystem faults ------------------------------------------------------------------


def test_read_only_file_and_read_only_folder_with_fix(shared_dir: Path) -> None:
    # As a user, not root: root writes any file and any folder.
    needs_unprivileged_user(shared_dir)
    root = shared_dir
    (root / "pyproject.toml").write_text("[tool.repro-lint]\n")
    (root / "good.py").write_text(FIXABLE)
    (root / "locked.py").write_text(FIXABLE)
    (root / "locked.py").chmod(0o444)
    (root / "sealed").mkdir()
    (root / "sealed" / "inside.py").write_text(FIXABLE)
    (root / "sealed" / "inside.py").chmod(0o666)  # the file is writable, its folder is not
    (root / "sealed").chmod(0o555)
    if os.geteuid() == 0:
        os.chown(root / "good.py", NOBODY, NOBODY)
        root.chmod(0o777)  # the user may put the temporary file beside good.py
    result = repro_lint("check", "--fix", "--no-cache", ".", cwd=root, as_user=True)
    assert result.returncode == 2
    assert errors(result) == [
        "repro-lint: error: locked.py: read-only; fix not written",
        "repro-lint: error: sealed/inside.py: cannot write: cannot create a temporary file in its folder "
        "(Permission denied); fix not written",
    ]
    assert (root / "good.py").read_text() == FIXED
    assert (root / "locked.py").read_text() == FIXABLE
    assert (root / "sealed" / "inside.py").read_text() == FIXABLE
    assert leftovers(root) == []


def test_a_fix_that_cannot_be_written_still_reports_the_findings(shared_dir: Path) -> None:
    needs_unprivileged_user(shared_dir)
    (shared_dir / "pyproject.toml").write_text("[tool.repro-lint]\n")
    (shared_dir / "locked.py").write_text(FIXABLE)
    (shared_dir / "locked.py").chmod(0o444)
    result = repro_lint("check", "--fix", "--no-cache", ".", cwd=shared_dir, as_user=True)
    assert errors(result) == ["repro-lint: error: locked.py: read-only; fix not written"]
    assert "locked.py:3:1: RPL201" in result.stdout


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_files_deleted_or_changed_between_read_and_write(tmp_path: Path) -> None:
    # Every file is read before the workers start and written after they are done: a change made
    # while the workers run falls between the read and the write.
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    padding = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(200))
    files = [tmp_path / f"m{i:03}.py" for i in range(24)]
    for file in files:
        file.write_text(FIXABLE + padding)
    deleted, edited = files[10], files[20]
    process = subprocess.Popen([str(BIN / "repro-lint"), "check", "--fix", "--no-cache", "-j", "2", "."],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_until(lambda: len(children_of(process.pid)) == 2), "the run never started its workers"
    deleted.unlink()
    edited.write_text(FIXABLE + padding + "# edited meanwhile\n")
    _, stderr = process.communicate(timeout=300)
    assert "Traceback" not in stderr, stderr
    assert process.returncode == 2, stderr
    assert [line for line in stderr.splitlines() if "error" in line] == [
        "repro-lint: error: m010.py: deleted while being fixed; not written",
        "repro-lint: error: m020.py: changed on disk while being fixed; not overwritten",
    ]
    assert not deleted.exists()
    assert edited.read_text() == FIXABLE + padding + "# edited meanwhile\n"
    for file in files:
        if file not in (deleted, edited):
            assert file.read_text() == FIXED + padding
    assert leftovers(tmp_path) == []


def test_symlinks_leaving_the_tree(tmp_path: Path) -> None:
    tree, outside = tmp_path / "tree", tmp_path / "outside"
    tree.mkdir()
    (outside / "pkg").mkdir(parents=True)
    (tree / "pyproject.toml").write_text("[tool.repro-lint]\n")
    (outside / "target.py").write_text(FIXABLE)
    (outside / "pkg" / "mod.py").write_text(FIXABLE)
    (tree / "link.py").symlink_to("../outside/target.py")
    (tree / "pkg").symlink_to(outside / "pkg", target_is_directory=True)
    (tree / "dangling.py").symlink_to(tmp_path / "gone" / "gone.py")
    if os.geteuid() == 0:
        os.chown(outside / "target.py", 1234, 1234)  # root's fix must not take a user's file
    result = repro_lint("check", "--fix", "--no-cache", ".", cwd=tree)
    assert result.returncode == 2
    assert errors(result) == ["repro-lint: error: dangling.py: no such file"]
    # The link is still a link; the file it points to has the fix, and keeps its owner.
    assert (tree / "link.py").is_symlink() and os.readlink(tree / "link.py") == "../outside/target.py"
    assert (outside / "target.py").read_text() == FIXED
    if os.geteuid() == 0:
        assert (os.stat(outside / "target.py").st_uid, os.stat(outside / "target.py").st_gid) == (1234, 1234)
    # A symlinked folder is not entered.
    assert (outside / "pkg" / "mod.py").read_text() == FIXABLE
    assert (tree / "dangling.py").is_symlink()
    assert leftovers(tree, outside) == []
    assert sorted(p.name for p in outside.iterdir()) == ["pkg", "target.py"]


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not permitted'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(folder: Path) -> None:
    with open(folder / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 512)
        except OSError:
            pass


def test_full_disk_leaves_the_file_and_no_temporary_file(full_disk: Path) -> None:
    padding = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(300))
    (full_disk / "pyproject.toml").write_text("[tool.repro-lint]\n")
    (full_disk / "big.py").write_text(FIXABLE + padding)
    fill(full_disk)
    result = repro_lint("check", "--fix", ".", cwd=full_disk)  # with the cache: its write fails too
    assert result.returncode == 2
    assert errors(result) == ["repro-lint: error: big.py: cannot write: No space left on device"]
    assert (full_disk / "big.py").read_text() == FIXABLE + padding
    assert leftovers(full_disk) == []
    # With room again, the same command fixes the file.
    (full_disk / "filler").unlink()
    result = repro_lint("check", "--fix", ".", cwd=full_disk)
    assert (result.returncode, errors(result)) == (0, [])
    assert (full_disk / "big.py").read_text() == FIXED + padding
    assert leftovers(full_disk) == []


def test_read_only_filesystem(full_disk: Path) -> None:
    # The same small tmpfs, remounted read-only: EROFS rather than a permission.
    (full_disk / "pyproject.toml").write_text("[tool.repro-lint]\n")
    (full_disk / "a.py").write_text(FIXABLE)
    done = subprocess.run(["mount", "-o", "remount,ro", str(full_disk)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only here ({done.stderr.strip()})")
    result = repro_lint("check", "--fix", ".", cwd=full_disk)
    assert result.returncode == 2
    assert errors(result) == ["repro-lint: error: a.py: read-only; fix not written"]
    assert (full_disk / "a.py").read_text() == FIXABLE


def test_read_only_cache_folder(shared_dir: Path) -> None:
    needs_unprivileged_user(shared_dir)
    root = shared_dir
    (root / "pyproject.toml").write_text("[tool.repro-lint]\n")
    (root / "good.py").write_text(FIXABLE)
    (root / "clean.py").write_text("import torch\n")
    first = repro_lint("check", ".", cwd=root)  # root fills the cache
    assert first.returncode == 1
    cache = root / ".repro_lint_cache"
    before = {p.name: p.read_bytes() for p in cache.iterdir()}
    cache.chmod(0o555)
    (root / "clean.py").write_text("import torch\nimport random\n")  # a change the cache cannot store
    result = repro_lint("check", ".", cwd=root, as_user=True)
    assert (result.returncode, errors(result)) == (1, [])
    assert result.stdout == first.stdout
    assert {p.name: p.read_bytes() for p in cache.iterdir()} == before
    assert leftovers(root) == []


def test_cache_path_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    (tmp_path / "good.py").write_text(FIXABLE)
    (tmp_path / ".repro_lint_cache").write_text("not a folder\n")
    result = repro_lint("check", "--fix", ".", cwd=tmp_path)
    assert (result.returncode, errors(result)) == (0, [])
    assert (tmp_path / "good.py").read_text() == FIXED
    assert (tmp_path / ".repro_lint_cache").read_text() == "not a folder\n"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_gitignore_that_is_not_a_regular_file_is_no_gitignore(tmp_path: Path, kind: str) -> None:
    # Reading it would block (a FIFO waits for a writer) or never end (/dev/zero).
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    (tmp_path / "good.py").write_text(FIXABLE)
    if kind == "fifo":
        os.mkfifo(tmp_path / ".gitignore")
    else:
        (tmp_path / ".gitignore").symlink_to("/dev/zero")
    result = repro_lint("check", "--no-cache", ".", cwd=tmp_path, timeout=60, memory=3 * 2**30)
    assert (result.returncode, errors(result)) == (1, [])
    assert result.stdout.startswith("good.py:3:1: RPL201")


def test_a_cache_file_that_is_a_fifo_is_no_cache(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    (tmp_path / "good.py").write_text(FIXABLE)
    first = repro_lint("check", ".", cwd=tmp_path)
    [stored] = (tmp_path / ".repro_lint_cache").glob("*.pickle")
    stored.unlink()
    os.mkfifo(stored)  # opening it would wait for a writer
    result = repro_lint("check", ".", cwd=tmp_path, timeout=60)
    assert (result.returncode, errors(result), result.stdout) == (1, [], first.stdout)
    assert stored.is_file()  # replaced by a real cache
    assert leftovers(tmp_path) == []


# -- signals -------------------------------------------------------------------------------


def processes_in(folder: Path) -> list[int]:
    """Live processes whose working directory is `folder`: what a run there left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if os.readlink(entry / "cwd") == str(folder) and is_alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.parametrize("signum, code, message", [
    (signal.SIGINT, 130, "interrupted"),  # Ctrl-C in a terminal
    (signal.SIGHUP, 129, "hangup"),  # the terminal or the ssh connection went away
], ids=["SIGINT", "SIGHUP"])
def test_a_signal_during_a_long_parallel_fix(tmp_path: Path, signum: int, code: int, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    padding = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(200))
    files = []
    for package in range(3):  # a tree, not one folder
        folder = tmp_path / f"pkg{package}" / "sub"
        folder.mkdir(parents=True)
        for i in range(12):
            files.append(folder / f"m{i:02}.py")
            files[-1].write_text(FIXABLE + padding)
    process = subprocess.Popen([str(BIN / "repro-lint"), "check", "--fix", "--jobs", "2", "."], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert wait_until(lambda: len(children_of(process.pid)) == 2), "the run never started its workers"
    workers = children_of(process.pid)
    os.killpg(process.pid, signum)  # to the whole group, as the terminal sends it
    _, stderr = process.communicate(timeout=300)
    assert "Traceback" not in stderr, stderr
    if process.returncode == code:
        assert stderr.strip().splitlines()[-1] == f"repro-lint: error: {message}"
    else:  # the run finished before the signal
        assert process.returncode == 0, stderr
    for file in files:
        assert file.read_text() in (FIXABLE + padding, FIXED + padding), file
    assert leftovers(tmp_path) == []
    assert wait_until(lambda: not any(is_alive(pid) for pid in workers)), "workers outlived the run"
    assert wait_until(lambda: processes_in(tmp_path) == []), processes_in(tmp_path)
    if signum == signal.SIGINT:
        # The next run finishes the job.
        result = repro_lint("check", "--fix", ".", cwd=tmp_path, timeout=300)
        assert (result.returncode, errors(result)) == (0, [])
        assert all(file.read_text() == FIXED + padding for file in files)


# -- notebooks -------------------------------------------------------------------------------


def rich_notebook() -> dict:
    return {
        "cells": [
            {"cell_type": "markdown", "id": "md1", "metadata": {}, "source": ["# Title\n", "![img](attachment:a.png)"],
             "attachments": {"a.png": {"image/png": "iVBORw0KGgo="}}},
            {"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {"tags": ["setup"]},
             "outputs": [{"name": "stdout", "output_type": "stream", "text": ["Collecting torch\n"]}],
             "source": ["%matplotlib inline\n", "!pip install torch\n", "import torch\n", "files = !ls\n"]},
            {"cell_type": "code", "execution_count": 2, "id": "c2", "metadata": {"collapsed": False},
             "outputs": [
                 {"data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure>"]}, "metadata": {},
                  "output_type": "display_data"},
                 {"data": {"text/plain": ["tensor([1.])"]}, "execution_count": 2, "metadata": {},
                  "output_type": "execute_result"}],
             "source": ["torch.backends.cudnn.benchmark = True\n", "x = torch.ones(3)\n", "x"]},
            {"cell_type": "code", "execution_count": 3, "id": "c3", "metadata": {}, "outputs": [],
             "source": ["%%bash\n", "echo hi\n"]},
            {"cell_type": "code", "execution_count": None, "id": "c4", "metadata": {},
             "outputs": [{"ename": "E", "evalue": "v", "output_type": "error", "traceback": ["..."]}],
             "source": "%%time\ny = torch.ones(2)\ntorch.ones?\n"},
            {"cell_type": "raw", "id": "r1", "metadata": {}, "source": ["raw text"]},
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python", "version": "3.11.0"}, "custom": {"ünï": "çødé"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


@pytest.mark.parametrize("layout", ["lf", "crlf", "bom"])
def test_notebook_fix_changes_only_the_fixed_cells_source(tmp_path: Path, layout: str) -> None:
    def encoded(document: dict) -> bytes:
        text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
        if layout == "crlf":  # as git's autocrlf checks notebooks out on Windows
            text = text.replace("\n", "\r\n")
        return (b"\xef\xbb\xbf" if layout == "bom" else b"") + text.encode()

    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    path = tmp_path / "nb.ipynb"
    path.write_bytes(encoded(rich_notebook()))
    result = repro_lint("check", "--fix", "--unsafe-fixes", "--no-cache", "nb.ipynb", cwd=tmp_path)
    assert (result.returncode, errors(result)) == (0, [])
    expected = rich_notebook()
    expected["cells"][2]["source"] = ["torch.backends.cudnn.benchmark = False\n", "x = torch.ones(3)\n", "x"]
    assert json.loads(path.read_bytes().decode("utf-8-sig")) == expected
    assert path.read_bytes() == encoded(expected)  # the layout, line endings and BOM as read
    result = repro_lint("check", "--fix", "--unsafe-fixes", "--no-cache", "nb.ipynb", cwd=tmp_path)
    assert (result.returncode, errors(result), path.read_bytes()) == (0, [], encoded(expected))


@pytest.mark.parametrize("content, message", [
    (json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                 "worksheets": [{"cells": [{"cell_type": "code", "input": [FIXABLE], "language": "python",
                                            "outputs": []}]}]}),
     "not a notebook: no 'cells' list (nbformat 4 is required)"),
    ('{"cells": [', "not a notebook: invalid JSON at line 1: Expecting value"),
    (json.dumps({"cells": [{"cell_type": "code", "source": 7}], "nbformat": 4}),
     "not a notebook: cell 1 has a source that is not text"),
], ids=["nbformat-3", "truncated-json", "source-not-text"])
def test_notebooks_that_cannot_be_read_are_one_line_and_untouched(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    (tmp_path / "bad.ipynb").write_text(content)
    (tmp_path / "good.py").write_text(FIXABLE)
    result = repro_lint("check", "--fix", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert errors(result) == [f"repro-lint: error: bad.ipynb: {message}"]
    assert (tmp_path / "bad.ipynb").read_text() == content
    assert (tmp_path / "good.py").read_text() == FIXED


def test_a_notebook_fix_with_no_cell_to_go_in_through_stdin(tmp_path: Path) -> None:
    # The seed would go before the first cell, a %%bash cell: the editor's buffer must stay as it was.
    notebook = {"cells": [
        {"cell_type": "code", "execution_count": None, "id": "b", "metadata": {}, "outputs": [],
         "source": ["%%bash\n", "echo hi\n"]},
        {"cell_type": "code", "execution_count": None, "id": "c", "metadata": {}, "outputs": [],
         "source": ["import torch\n", "x = torch.randn(3)\n"]}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    data = json.dumps(notebook, indent=1) + "\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run([str(BIN / "repro-lint"), "check", "--fix", "--no-cache", "--stdin-filename", "nb.ipynb",
                             "-"], cwd=tmp_path, input=data, capture_output=True, text=True, timeout=120, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2
    assert result.stdout == data
    assert errors(result) == ["repro-lint: error: nb.ipynb: a fix would go before the %%bash cell that starts the "
                              "notebook; not written"]


# -- configuration -----------------------------------------------------------------------------

CONFIG_CASES = [
    ('select = 1', "select must be a list of strings"),
    ('extend-select = [1]', "extend-select must be a list of strings"),
    ('ignore = "RPL999"', "ignore: unknown rule code or prefix 'RPL999'"),
    ('select = ["RPL1", "XYZ9"]', "select: unknown rule code or prefix 'XYZ9'"),
    ('per-file-ignores = 3', "per-file-ignores must be a table of glob = [codes]"),
    ('per-file-ignores = { "a.py" = 5 }', "per-file-ignores.a.py must be a list of strings"),
    ('per-file-ignores = { "a.py" = ["RPL777"] }', "per-file-ignores.a.py: unknown rule code or prefix 'RPL777'"),
    ('exclude = 2', "exclude must be a list of strings"),
    ('extend-exclude = { a = 1 }', "extend-exclude must be a list of strings"),
    ('torch-version = "abc"', "torch-version: 'abc' is not a torch version like 2.13"),
    ('torch-version = [2]', 'torch-version must be a quoted string, e.g. torch-version = "2.13"'),
    ('torch-version = 2.10', 'torch-version must be a quoted string, e.g. torch-version = "2.13"'),
    ('unsafe-fixes = "yes"', "unsafe-fixes must be true or false"),
    ('strict = 1', "strict must be true or false"),
    ('seed = "0"', "seed must be an integer from 0 to 2**32 - 1"),
    ('seed = -1', "seed must be an integer from 0 to 2**32 - 1"),
    ('seed = 4294967296', "seed must be an integer from 0 to 2**32 - 1"),
    ('seed-functions = ["a", 1]', "seed-functions must be a list of strings"),
    ('bogus = 1', "unknown key 'bogus'"),
]


@pytest.mark.parametrize("line, message", CONFIG_CASES, ids=[case[0].split()[0] + ":" + case[0].split("= ")[1][:12]
                                                             for case in CONFIG_CASES])
def test_a_key_with_a_wrong_value_is_one_line_naming_it(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.repro-lint]\n{line}\n")
    (tmp_path / "good.py").write_text(FIXABLE)
    result = repro_lint("check", "--fix", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"repro-lint: error: {tmp_path / 'pyproject.toml'}: [tool.repro-lint] {message}"]
    assert result.stdout == ""
    assert (tmp_path / "good.py").read_text() == FIXABLE  # nothing is linted, nothing written


def test_malformed_toml_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.repro-lint]\nselect = ["RPL1"\n')
    (tmp_path / "good.py").write_text(FIXABLE)
    result = repro_lint("check", "--fix", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"repro-lint: error: {tmp_path / 'pyproject.toml'}: invalid TOML: ")
    assert (tmp_path / "good.py").read_text() == FIXABLE


@pytest.mark.parametrize("content", ['tool = 1\n', 'tool = "repro-lint"\n'])
def test_a_tool_key_that_is_not_a_table_is_no_configuration(tmp_path: Path, content: str) -> None:
    """It holds no [tool.repro-lint] table: the defaults apply, as for a pyproject.toml without one."""
    (tmp_path / "pyproject.toml").write_text(content)
    (tmp_path / "good.py").write_text(FIXABLE)
    result = repro_lint("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "error" not in result.stderr


def test_huge_per_file_ignores(tmp_path: Path) -> None:
    table = "".join(f'"gen/file_{i}.py" = ["RPL1", "RPL2"]\n' for i in range(5_000))
    (tmp_path / "pyproject.toml").write_text(f"[tool.repro-lint.per-file-ignores]\n{table}\"good.py\" = [\"RPL2\"]\n")
    (tmp_path / "good.py").write_text(FIXABLE)
    (tmp_path / "other.py").write_text(FIXABLE)
    result = repro_lint("check", "--no-cache", ".", cwd=tmp_path)
    assert (result.returncode, errors(result)) == (1, [])
    assert [line.split(":")[0] for line in result.stdout.splitlines() if "RPL201" in line] == ["other.py"]
    bad = table + '"good.py" = ["RPL2", "NOPE"]\n'
    (tmp_path / "pyproject.toml").write_text(f"[tool.repro-lint.per-file-ignores]\n{bad}")
    result = repro_lint("check", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"repro-lint: error: {tmp_path / 'pyproject.toml'}: [tool.repro-lint] "
                                          "per-file-ignores.good.py: unknown rule code or prefix 'NOPE'"]


# -- verify --run: scripts it cannot trust -------------------------------------------------------

LOOPS_AND_FORKS = """
import os, subprocess, sys, time
children = []
pid = os.fork()
if pid == 0:
    while True:
        time.sleep(1)
children.append(pid)
children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]).pid)
with open(sys.argv[1], "w") as handle:
    handle.write(" ".join(map(str, children)))
while True:
    pass
"""


def verify(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run([str(BIN / "repro-lint"), "verify", "--quiet", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=300, env=env)
    assert "internal error" not in result.stdout + result.stderr
    return result


def test_verify_run_timeout_holds_and_no_child_survives(tmp_path: Path) -> None:
    (tmp_path / "spin.py").write_text(LOOPS_AND_FORKS)
    result = verify("--run", "spin.py", "--timeout", "2", "--", str(tmp_path / "pids"), cwd=tmp_path)
    assert result.returncode == 2
    assert "run 1 timed out after 2 s" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    children = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
    assert len(children) == 2
    assert wait_until(lambda: not any(is_alive(pid) for pid in children)), "the script's children survived"


def test_verify_run_a_child_in_its_own_session_does_not_survive(tmp_path: Path) -> None:
    script = LOOPS_AND_FORKS.replace('"import time; time.sleep(600)"]', '"import time; time.sleep(600)"], '
                                     'start_new_session=True')
    (tmp_path / "spin.py").write_text(script)
    verify("--run", "spin.py", "--timeout", "2", "--", str(tmp_path / "pids"), cwd=tmp_path)
    children = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
    try:
        assert wait_until(lambda: not any(is_alive(pid) for pid in children)), "a child in its own session survived"
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_verify_run_a_failing_chatty_script_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "chatty.py").write_text(
        "import sys\nfor i in range(60_000):\n    print('line', i, 'x' * 80)\n"
        "x = input()\n"  # stdin is closed: EOFError, exit 1
    )
    result = verify("--run", "chatty.py", "--timeout", "60", cwd=tmp_path)
    assert result.returncode == 2
    assert "run 1 exited with code 1" in result.stdout
    assert "EOFError" in result.stdout  # the tail of the script's own output
    assert len(result.stdout) + len(result.stderr) < 20_000  # of about 5 MB printed


# -- a slice of benchmarks/attack.py ---------------------------------------------------------


def test_a_slice_of_the_attack_harness() -> None:
    """One seeded input of each cheap family, linted and fixed together as the harness does."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        import attack
    finally:
        sys.path.pop(0)
    import random

    corpus = attack.Corpus(attack.corpus_files())
    inputs = []
    for family in attack.FAMILIES:
        if family in ("big-file", "long-line"):  # the long runs' business
            continue
        inputs.extend(attack.make_inputs(family, random.Random(f"slice/{family}"), corpus, 1))
    harness = attack.Harness([str(BIN / "repro-lint")], limit=300, big_limit=300, jobs=2, batch=len(inputs))
    counts = attack.Counts()
    harness.attack(inputs, counts)
    assert counts.tried == len(inputs)
    assert (counts.crashes, counts.hangs, counts.corruptions) == (0, 0, 0), counts.failures
