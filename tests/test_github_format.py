"""`--format github`: GitHub Actions workflow commands, escaped as GitHub requires."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

MESSAGE = "`torch.backends.cudnn.benchmark` is enabled: cuDNN may choose different algorithms on each run"


def annotations(*args: str, cwd: Path) -> list[str]:
    result = run_cli("check", "--format", "github", *args, cwd=cwd)
    assert result.returncode == 1, result.stderr
    return result.stdout.splitlines()


def test_single_line_finding(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import torch\n\ntorch.backends.cudnn.benchmark = True\n")
    assert annotations("train.py", cwd=tmp_path) == [
        f"::warning file=train.py,line=3,col=1,endLine=3,endColumn=31,title=RPL201::RPL201 {MESSAGE}"
    ]


def test_multi_line_finding_has_no_columns(tmp_path: Path) -> None:
    # GitHub rejects col/endColumn when line and endLine differ.
    (tmp_path / "train.py").write_text('import torch\n\nsetattr(\n    torch.backends.cudnn, "benchmark", True\n)\n')
    (line,) = annotations("train.py", "--select", "RPL201", cwd=tmp_path)
    assert line.startswith("::warning file=train.py,line=3,endLine=5,title=RPL201::RPL201 ")


def test_properties_and_message_are_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "runs,v2:100%"
    folder.mkdir()
    (folder / "train.py").write_text("import torch\n\ntorch.backends.cudnn.benchmark = True\n")
    (line,) = annotations(".", cwd=tmp_path)
    assert line.startswith("::warning file=runs%2Cv2%3A100%25/train.py,line=3,")
    # In the message only %, CR and LF are escaped: its colons stay.
    assert line.endswith(f"::RPL201 {MESSAGE}")


def test_notebook_findings_annotate_the_file_and_name_the_cell(tmp_path: Path) -> None:
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Setup\n"]},
            {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
             "source": ["import torch\n", "torch.backends.cudnn.benchmark = True"]},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "explore.ipynb").write_text(json.dumps(notebook, indent=1))
    assert annotations("explore.ipynb", "--select", "RPL201", cwd=tmp_path) == [
        f"::warning file=explore.ipynb,title=RPL201::RPL201 cell 2, line 2: {MESSAGE}"
    ]


def test_message_escapes_percent_and_newlines() -> None:
    from repro_lint.results import Finding
    from repro_lint.reporters.github_format import annotation

    finding = Finding("RPL201", "cudnn-benchmark-enabled", "50% of runs\r\ndiffer", "a,b.py", 1, 1, 1, 5, "error")
    assert annotation(finding) == (
        "::error file=a%2Cb.py,line=1,col=1,endLine=1,endColumn=5,title=RPL201::RPL201 50%25 of runs%0D%0Adiffer"
    )
