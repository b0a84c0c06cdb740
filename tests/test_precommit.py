"""The pre-commit hooks, run by a real `pre-commit try-repo` against a copy of this working tree.

pre-commit builds the hook's environment with pip, so these tests need the
package index; they skip when it cannot be reached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from conftest import BIN, REPO

pytestmark = [pytest.mark.network, pytest.mark.slow]

BAD = "import torch\n\ntorch.backends.cudnn.benchmark = True\n"
CLEAN = "import torch\n\ntorch.backends.cudnn.benchmark = False\n"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def index_reachable() -> bool:
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/").rstrip("/") + "/libcst/"
    try:
        with urllib.request.urlopen(index, timeout=10):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This working tree as it is now (tracked and untracked, not ignored), committed in a repository of its own."""
    if not index_reachable():
        pytest.skip("the package index is unreachable; pre-commit cannot build the hook environment")
    copy = tmp_path_factory.mktemp("hook-repo")
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO)
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    git("init", "-q", cwd=copy)
    git("add", "-A", cwd=copy)
    git("-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "snapshot", cwd=copy)
    return copy


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One cache for the module: the hook environment is built once and shared by both hooks.
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    git("init", "-q", cwd=tmp_path)
    return tmp_path


def try_repo(hook_repo: Path, home: Path, hook: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    git("add", "-A", cwd=cwd)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIRTUAL_ENV"))}
    env["PRE_COMMIT_HOME"] = str(home)
    return subprocess.run(
        [str(BIN / "pre-commit"), "try-repo", str(hook_repo), hook, "--all-files", "--color", "never"],
        cwd=cwd, capture_output=True, text=True, env=env, timeout=600,
    )


def test_check_hook_fails_on_findings_and_passes_clean_code(hook_repo: Path, pre_commit_home: Path, project: Path) -> None:
    (project / "train.py").write_text(BAD)
    failed = try_repo(hook_repo, pre_commit_home, "repro-lint", project)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "repro-lint" in failed.stdout and "Failed" in failed.stdout
    assert "train.py:3:1: RPL201 [*] `torch.backends.cudnn.benchmark` is enabled" in failed.stdout
    assert (project / "train.py").read_text() == BAD

    (project / "train.py").write_text(CLEAN)
    passed = try_repo(hook_repo, pre_commit_home, "repro-lint", project)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout


def test_fix_hook_modifies_files_and_then_passes(hook_repo: Path, pre_commit_home: Path, project: Path) -> None:
    (project / "train.py").write_text(BAD)
    fixed = try_repo(hook_repo, pre_commit_home, "repro-lint-fix", project)
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr
    assert "files were modified by this hook" in fixed.stdout
    assert (project / "train.py").read_text() == CLEAN

    again = try_repo(hook_repo, pre_commit_home, "repro-lint-fix", project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Passed" in again.stdout


def test_config_excludes_apply_to_the_files_pre_commit_passes(
    hook_repo: Path, pre_commit_home: Path, project: Path
) -> None:
    (project / "pyproject.toml").write_text('[tool.repro-lint]\nextend-exclude = ["third_party"]\n')
    (project / "third_party").mkdir()
    (project / "third_party" / "vendored.py").write_text(BAD)
    result = try_repo(hook_repo, pre_commit_home, "repro-lint", project)
    assert result.returncode == 0, result.stdout + result.stderr
