"""Every bad input gets one line (or a finding) and the documented exit code, never a traceback.

Exit codes: 0 clean, 1 findings, 2 an error (the other files are still linted
and reported), 130 interrupted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import BIN, children_of, is_alive, wait_until

from repro_lint import cli
from repro_lint.api import Linter
from repro_lint.engine import Engine
from repro_lint.parse_limits import MAX_DEPTH, too_complex
from repro_lint.project import FileSummary, ProjectFacts

FIXABLE = "import torch\n\ntorch.backends.cudnn.benchmark = True\n"
FIXED = "import torch\n\ntorch.backends.cudnn.benchmark = False\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    (tmp_path / "good.py").write_text(FIXABLE)
    return tmp_path


def check(cli_run, root: Path, *args: str) -> tuple[int, list[str], str]:
    result = cli_run("check", *args, "--no-cache", cwd=root)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("repro-lint: error:")]
    return result.returncode, errors, result.stdout


def assert_good_still_linted(stdout: str) -> None:
    assert "good.py:3:1: RPL201" in stdout


def test_nonexistent_path(cli, project: Path) -> None:
    code, errors, out = check(cli, project, "missing.py", "good.py")
    assert (code, errors) == (2, ["repro-lint: error: missing.py: no such file or directory"])
    assert_good_still_linted(out)


def test_folder_symlink_loop(cli, project: Path) -> None:
    (project / "pkg").mkdir()
    (project / "pkg" / "loop").symlink_to(project / "pkg", target_is_directory=True)
    (project / "pkg" / "mod.py").write_text(FIXABLE)
    code, errors, out = check(cli, project, ".")
    assert (code, errors) == (1, [])
    assert "pkg/mod.py:3:1: RPL201" in out
    assert_good_still_linted(out)


def test_unreadable_file(project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    # Tests may run as root, who reads any file: deny the read itself.
    locked = project / "locked.py"
    locked.write_text(FIXABLE)
    real_open = open

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, Path)) and Path(file).resolve() == locked:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded_open)
    monkeypatch.chdir(project)
    code = cli.main(["check", "--no-cache", "-j", "1", "locked.py", "good.py"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines() == ["repro-lint: error: locked.py: permission denied"]
    assert_good_still_linted(out)


def as_unprivileged_user(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Root reads every folder: drop to `nobody`, so that permissions count."""
    if os.geteuid() == 0:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="needs setpriv to drop root")
def test_unreadable_folder_is_one_line_and_the_rest_is_linted() -> None:
    root = Path(tempfile.mkdtemp(prefix="repro-lint-perm-"))  # pytest's tmp_path is closed to other users
    try:
        root.chmod(0o755)
        (root / "good.py").write_text(FIXABLE)
        (root / "locked").mkdir()
        (root / "locked" / "hidden.py").write_text(FIXABLE)
        (root / "locked").chmod(0)
        if as_unprivileged_user(["test", "-x", str(BIN / "repro-lint")], root).returncode != 0:
            pytest.skip("the unprivileged user cannot reach this checkout's virtual environment")
        result = as_unprivileged_user([str(BIN / "repro-lint"), "check", "--no-cache", "."], root)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 2
        assert result.stderr.splitlines() == ["repro-lint: error: ./locked: cannot read folder (Permission denied)"]
        assert_good_still_linted(result.stdout)
        assert "All checks passed." not in result.stdout
    finally:
        (root / "locked").chmod(0o755)
        shutil.rmtree(root)


@pytest.mark.parametrize("args, setup, expected_code, expected_stderr", [
    (["missing.py"], None, 2, "repro-lint: error: missing.py: no such file or directory"),
    (["chek", "."], None, 2, "repro-lint: error: unknown command 'chek' (did you mean 'check'?); "
                              "`repro-lint --help` lists them"),
    (["latin.py"], b"x = '\xe9'\n", 2, "repro-lint: error: latin.py: cannot decode as utf-8 at byte 5; "
                                        "add a coding cookie (PEP 263)"),
    (["empty"], None, 0, "repro-lint: warning: no Python files to check (under empty)"),
])
def test_all_checks_passed_only_when_files_were_checked(cli, tmp_path: Path, args, setup, expected_code,
                                                        expected_stderr) -> None:
    (tmp_path / "empty").mkdir()
    if setup is not None:
        (tmp_path / "latin.py").write_bytes(setup)
    result = cli(*args, "--no-cache", cwd=tmp_path)
    assert (result.returncode, result.stderr.strip()) == (expected_code, expected_stderr)
    assert result.stdout == ""


def test_errors_beside_clean_files_are_not_called_a_pass(cli, project: Path) -> None:
    (project / "good.py").write_text("import torch\n")
    (project / "latin.py").write_bytes(b"x = '\xe9'\n")
    result = cli("check", "--no-cache", ".", cwd=project)
    assert result.returncode == 2
    assert result.stdout == "No findings in the 1 file checked; 1 could not be checked (see above).\n"


def test_binary_file_named_py(cli, project: Path) -> None:
    (project / "blob.py").write_bytes(b"\x7fELF\x02\x01\x00\x00binary")
    code, errors, out = check(cli, project, ".")
    assert (code, errors) == (2, ["repro-lint: error: blob.py: binary file (contains NUL bytes)"])
    assert_good_still_linted(out)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs and devices")
def test_a_fifo_or_device_named_py_is_one_line_not_a_hang(cli, project: Path) -> None:
    # Reading either would never end: a FIFO waits for a writer, /dev/zero never runs dry.
    os.mkfifo(project / "pipe.py")
    (project / "zero.py").symlink_to("/dev/zero")
    code, errors, out = check(cli, project, ".")
    assert (code, errors) == (2, ["repro-lint: error: pipe.py: is a FIFO, not a regular file",
                                  "repro-lint: error: zero.py: is a character device, not a regular file"])
    assert_good_still_linted(out)


def test_a_bom_contradicted_by_the_coding_cookie(cli, project: Path) -> None:
    (project / "bom.py").write_bytes(b"\xef\xbb\xbf# -*- coding: latin-1 -*-\nx = 1\n")
    code, errors, out = check(cli, project, ".")
    assert (code, errors) == (2, ["repro-lint: error: bom.py: starts with a UTF-8 byte order mark but its "
                                  "coding cookie names another encoding"])
    assert_good_still_linted(out)


def test_invalid_utf8_without_cookie(cli, project: Path) -> None:
    (project / "latin.py").write_bytes(b"x = '\xe9'\n")
    code, errors, out = check(cli, project, ".")
    assert code == 2 and len(errors) == 1
    assert errors[0].startswith("repro-lint: error: latin.py: cannot decode as utf-8 at byte 5")
    assert_good_still_linted(out)


def test_latin1_cookie_round_trips_through_fix(cli, project: Path) -> None:
    original = b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + FIXABLE.encode()
    (project / "latin.py").write_bytes(original)
    code, errors, _ = check(cli, project, "latin.py", "--fix")
    assert (code, errors) == (0, [])
    assert (project / "latin.py").read_bytes() == original.replace(b"= True", b"= False")


def test_crlf_and_missing_final_newline_are_kept(cli, project: Path) -> None:
    (project / "crlf.py").write_bytes(FIXABLE.replace("\n", "\r\n").encode())
    (project / "open_end.py").write_bytes(FIXABLE.rstrip("\n").encode())
    code, errors, _ = check(cli, project, "crlf.py", "open_end.py", "--fix")
    assert (code, errors) == (0, [])
    assert (project / "crlf.py").read_bytes() == FIXED.replace("\n", "\r\n").encode()
    assert (project / "open_end.py").read_bytes() == FIXED.rstrip("\n").encode()


def test_empty_file(cli, project: Path) -> None:
    (project / "empty.py").write_bytes(b"")
    code, errors, out = check(cli, project, "empty.py")
    assert (code, errors) == (0, [])
    assert "empty.py" not in out


def test_five_megabyte_generated_file(cli, project: Path) -> None:
    line = 'TABLE_{} = "' + "x" * 10_000 + '"\n'
    body = "".join(line.format(i) for i in range(500))
    (project / "generated.py").write_text(FIXABLE + body)
    assert (project / "generated.py").stat().st_size > 5_000_000
    code, errors, out = check(cli, project, ".")
    assert (code, errors) == (1, [])
    assert "generated.py:3:1: RPL201" in out
    assert_good_still_linted(out)


@pytest.mark.parametrize("source", [
    "x = " + "(" * 3000 + "1" + ")" * 3000 + "\n",
    "x = " + "1 + " * 5000 + "1\n",
    "x = " + "[" * 1000 + "]" * 1000 + "\n",
    "x = " + "1 + " * 1000 + "1\n",
    "x = a" + ".b()" * 1000 + "\n",
])
def test_nesting_deeper_than_the_parser_or_traversal_can_go(cli, project: Path, source: str) -> None:
    (project / "deep.py").write_text("import torch\n" + source)
    code, errors, out = check(cli, project, ".")
    deep = [line for line in out.splitlines() if line.startswith("deep.py")]
    assert (code, errors) == (1, [])
    assert len(deep) == 1 and "RPL001" in deep[0], deep
    assert any(reason in deep[0] for reason in ("not checked: ", "too many nested parentheses")), deep
    assert_good_still_linted(out)


def test_nesting_within_the_limit_is_linted() -> None:
    assert too_complex("x = " + "-" * (MAX_DEPTH - 10) + "1\n") is None
    assert too_complex("x = " + "-" * (MAX_DEPTH + 10) + "1\n") is not None
    assert too_complex("def f(\n") is None  # an ordinary syntax error is libcst's to report


def lint_in_process(root: Path, files: list[Path], **kwargs) -> list:
    return Linter().lint_files(files, anchor=root, **kwargs).outcomes


def test_file_changed_between_read_and_write_is_not_overwritten(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = project / "good.py"
    edited = FIXABLE + "# edited meanwhile\n"
    original_lint = Engine.lint

    def lint_then_edit(engine, item, project_facts, fix):
        outcome = original_lint(engine, item, project_facts, fix)
        target.write_text(edited)
        return outcome

    monkeypatch.setattr(Engine, "lint", lint_then_edit)
    [outcome] = lint_in_process(project, [target], fix=True, write=True)
    assert outcome.error == f"{target}: changed on disk while being fixed; not overwritten"
    assert target.read_text() == edited


def test_read_only_file_with_a_fix(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = project / "good.py"
    target.chmod(0o444)
    # As root every file is writable: make the permission check see what a user would.
    monkeypatch.setattr("repro_lint.source.os.access", lambda path, mode: Path(path) != target)
    [outcome] = lint_in_process(project, [target], fix=True, write=True)
    assert outcome.error == f"{target}: read-only; fix not written"
    assert target.read_text() == FIXABLE
    assert sorted(p.name for p in project.iterdir()) == ["good.py", "pyproject.toml"]


def test_invalid_pyproject(cli, project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.repro-lint\nselect = \n")
    code, errors, _ = check(cli, project, ".")
    assert code == 2 and len(errors) == 1
    assert errors[0].startswith(f"repro-lint: error: {project / 'pyproject.toml'}: invalid TOML")


def test_unknown_select_code(cli, project: Path) -> None:
    code, errors, _ = check(cli, project, ".", "--select", "RPL999")
    assert (code, errors) == (2, ["repro-lint: error: --select: unknown rule code or prefix 'RPL999'"])


def test_reexport_cycles_resolve() -> None:
    # Found in torch's own package: re-exports whose prefixes lead back to each other.
    project = ProjectFacts([
        FileSummary("a", {}, frozenset(), {"b": "c.d.e"}, frozenset()),
        FileSummary("c", {}, frozenset(), {"d": "a.b.f"}, frozenset()),
    ])
    assert project.effects_of("a.b.q") == frozenset()
    assert project.canonical("c.d.x") == project.canonical("c.d.x")


def test_interrupted_fix_leaves_no_partial_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    files, padding = fixable_tree(tmp_path, files=150, helpers=300)
    fixed_text = FIXED + padding
    process = subprocess.Popen(
        [str(BIN / "repro-lint"), "check", "--fix", "--no-cache", "-j", "2", "."],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    time.sleep(2.5)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr, stderr
    if process.returncode == 130:
        assert stderr.strip().splitlines()[-1] == "repro-lint: error: interrupted"
    else:  # the run finished before the signal
        assert process.returncode == 0
    for file in files:
        assert file.read_text() in (FIXABLE + padding, fixed_text)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".repro-lint.tmp")]


if sys.platform == "win32":  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX signals and symlinks")


def fixable_tree(root: Path, files: int, helpers: int) -> tuple[list[Path], str]:
    """`files` files, each a fixable finding followed by `helpers` small functions."""
    padding = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n\n" for i in range(helpers))
    paths = [root / f"m{i:03}.py" for i in range(files)]
    for path in paths:
        path.write_text(FIXABLE + padding)
    return paths, padding



@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_do_not_outlive_a_killed_parent(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    fixable_tree(tmp_path, files=200, helpers=300)
    process = subprocess.Popen(
        [str(BIN / "repro-lint"), "check", "--no-cache", "-j", "2", "."],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_until(lambda: len(children_of(process.pid)) == 2), "the run never started its workers"
        workers = children_of(process.pid)
        process.kill()
        process.wait()
        assert wait_until(lambda: not any(is_alive(pid) for pid in workers)), "workers outlived their parent"
    finally:
        process.kill()


def test_form_feeds_in_the_indentation_do_not_stop_a_fix(cli, project: Path) -> None:
    source = "import torch\ndef f():\n\x0c\tx = torch.randn(3)\n\x0c\treturn x\nx = torch.randn(3)\n"
    (project / "feeds.py").write_text(source)
    code, errors, _ = check(cli, project, "feeds.py", "--fix")
    assert (code, errors) == (0, [])
    fixed = (project / "feeds.py").read_text()
    assert fixed == source.replace("import torch\n", "import torch\ntorch.manual_seed(0)\n", 1)
    compile(fixed, "feeds.py", "exec")
    code, errors, _ = check(cli, project, "feeds.py", "--fix")
    assert (code, errors, (project / "feeds.py").read_text()) == (0, [], fixed)


def test_two_fix_runs_at_once_leave_every_file_whole(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    files, padding = fixable_tree(tmp_path, files=30, helpers=50)
    runs = [
        subprocess.Popen([str(BIN / "repro-lint"), "check", "--fix", "-j", "2", "."], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=600)
        assert "Traceback" not in stderr, stderr
        assert run.returncode in (0, 2), stderr  # 2: the other run changed a file between read and write
    for file in files:
        assert file.read_text() == FIXED + padding
    leftovers = [p.name for p in tmp_path.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


@pytest.mark.parametrize("to_group", [False, True])
def test_sigterm_during_fix_leaves_every_file_whole(tmp_path: Path, to_group: bool) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    files, padding = fixable_tree(tmp_path, files=150, helpers=300)
    process = subprocess.Popen(
        [str(BIN / "repro-lint"), "check", "--fix", "--no-cache", "-j", "2", "."],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    assert wait_until(lambda: len(children_of(process.pid)) == 2), "the run never started its workers"
    workers = children_of(process.pid)
    if to_group:
        os.killpg(process.pid, signal.SIGTERM)  # as a supervisor stops a job
    else:
        process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=300)
    assert "Traceback" not in stderr, stderr
    if process.returncode == 128 + signal.SIGTERM:
        assert stderr.strip().splitlines()[-1] == "repro-lint: error: terminated"
    else:  # the run finished before the signal
        assert process.returncode == 0, stderr
    for file in files:
        assert file.read_text() in (FIXABLE + padding, FIXED + padding)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".repro-lint.tmp")]
    assert wait_until(lambda: not any(is_alive(pid) for pid in workers))
