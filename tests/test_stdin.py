"""`repro-lint check --stdin-filename PATH -`: the source comes from stdin and is reported as PATH."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

BAD = "import torch\n\ntorch.backends.cudnn.benchmark = True\n"
FIXED = BAD.replace("True", "False")


def test_reports_as_the_named_file(tmp_path: Path) -> None:
    result = run_cli("check", "--stdin-filename", "src/train.py", "-", cwd=tmp_path, stdin=BAD)
    assert result.returncode == 1
    assert result.stdout.startswith("src/train.py:3:1: RPL201 [*] ")
    assert not (tmp_path / "src").exists()
    (finding,) = json.loads(
        run_cli("check", "--stdin-filename", "src/train.py", "--format", "json", "-", cwd=tmp_path, stdin=BAD).stdout
    )
    assert (finding["path"], finding["line"], finding["column"]) == ("src/train.py", 3, 1)


def test_clean_source_and_plain_dash(tmp_path: Path) -> None:
    assert run_cli("check", "-", cwd=tmp_path, stdin="import torch\n").returncode == 0
    assert run_cli("check", "-", cwd=tmp_path, stdin=BAD).stdout.startswith("-:3:1: RPL201")


def test_settings_apply_to_the_named_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.repro-lint]\nper-file-ignores = { "scripts/*" = ["RPL201"] }\nextend-exclude = ["vendored"]\n'
    )
    assert run_cli("check", "--stdin-filename", "scripts/bench.py", "-", cwd=tmp_path, stdin=BAD).returncode == 0
    assert run_cli("check", "--stdin-filename", "train.py", "-", cwd=tmp_path, stdin=BAD).returncode == 1
    # Like a named file, excluded only with --force-exclude.
    assert run_cli("check", "--stdin-filename", "vendored/x.py", "-", cwd=tmp_path, stdin=BAD).returncode == 1
    excluded = run_cli("check", "--force-exclude", "--stdin-filename", "vendored/x.py", "-", cwd=tmp_path, stdin=BAD)
    assert excluded.returncode == 0 and excluded.stdout == ""
    assert excluded.stderr == "repro-lint: warning: no Python files to check (the settings exclude it)\n"


def test_fix_writes_the_fixed_source_to_stdout(tmp_path: Path) -> None:
    result = run_cli("check", "--fix", "--stdin-filename", "train.py", "-", cwd=tmp_path, stdin=BAD)
    assert result.returncode == 0
    assert result.stdout == FIXED
    assert "All checks passed." in result.stderr
    assert not (tmp_path / "train.py").exists()
    # Nothing to fix: the source comes back unchanged.
    same = run_cli("check", "--fix", "--stdin-filename", "train.py", "-", cwd=tmp_path, stdin=FIXED)
    assert same.stdout == FIXED


def test_diff(tmp_path: Path) -> None:
    result = run_cli("check", "--diff", "--stdin-filename", "train.py", "-", cwd=tmp_path, stdin=BAD)
    assert result.returncode == 1
    assert "-torch.backends.cudnn.benchmark = True\n+torch.backends.cudnn.benchmark = False" in result.stdout


def test_notebook_from_stdin(tmp_path: Path) -> None:
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": BAD}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    text = json.dumps(notebook, indent=1) + "\n"
    result = run_cli("check", "--stdin-filename", "nb.ipynb", "-", cwd=tmp_path, stdin=text)
    assert result.stdout.startswith("nb.ipynb:cell 1:3:1: RPL201")
    fixed = run_cli("check", "--fix", "--stdin-filename", "nb.ipynb", "-", cwd=tmp_path, stdin=text)
    assert fixed.stdout == text.replace("benchmark = True", "benchmark = False")


def test_syntax_error(tmp_path: Path) -> None:
    result = run_cli("check", "--stdin-filename", "broken.py", "--format", "json", "-", cwd=tmp_path, stdin="def f(:\n")
    assert [f["code"] for f in json.loads(result.stdout)] == ["RPL001"]


def test_misuse_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("")
    for args in (["-", "a.py"], ["--stdin-filename", "x.py", "a.py"]):
        result = run_cli("check", *args, cwd=tmp_path, stdin=BAD)
        assert result.returncode == 2
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("repro-lint: error: ")
    undecodable = run_cli("check", "-", cwd=tmp_path, stdin="# coding: nonsense\n")
    assert undecodable.returncode == 2 and undecodable.stderr.count("\n") == 1
