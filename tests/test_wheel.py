"""The built wheel installs into a fresh venv and runs from another directory, rules and catalog included."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def test_wheel_installs_and_lints(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist), str(REPO)],
        check=True,
    )
    (wheel,) = dist.glob("repro_lint-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "repro_lint/rules/cudnn_benchmark_enabled.py" in names
    assert any(n.startswith("repro_lint/rules/catalog/") and n.endswith(".toml") for n in names)
    assert not any(n.startswith(("rules/", "tests/", "fixtures/")) for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The test venv already holds libcst; reuse its wheel cache through pip's normal resolution.
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], check=True)

    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "train.py").write_text(
        "import torch\ntorch.backends.cudnn.benchmark = True\ntorch.use_deterministic_algorithms(True)\n"
    )
    result = subprocess.run(
        [str(venv / "bin" / "repro-lint"), "check", "train.py", "--torch-version", "1.13"],
        cwd=work, capture_output=True, text=True,
    )
    assert result.returncode == 1, result.stderr
    assert "train.py:2:1: RPL201" in result.stdout
    assert "train.py:3:1: RPL203" in result.stdout
    rules = subprocess.run([str(venv / "bin" / "repro-lint"), "rules"], cwd=work, capture_output=True, text=True)
    assert "RPL201" in rules.stdout
