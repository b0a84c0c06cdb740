"""The persistent cache: what it reuses, and exactly what invalidates it."""

from __future__ import annotations

from pathlib import Path

import pytest

import repro_lint.cache
from repro_lint.cache import CACHE_DIR, open_cache
from repro_lint.config import Overrides, load_settings
from repro_lint.engine import Engine
from repro_lint.rules import all_rules
from repro_lint.runner import run_files

TRAIN = """\
import torch

from utils import configure_cuda

if __name__ == "__main__":
    configure_cuda()
    torch.use_deterministic_algorithms(True)
"""
SETS_ENV = """\
import os


def configure_cuda():
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":16:8")
"""
SETS_NOTHING = """\
def configure_cuda():
    pass
"""
UNRELATED = """\
import torch

torch.backends.cudnn.benchmark = True
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.repro-lint]\ntorch-version = "1.13"\n')
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "utils.py").write_text(SETS_ENV)
    (tmp_path / "unrelated.py").write_text(UNRELATED)
    return tmp_path


class Counting:
    """Runs the linter as the CLI does and records which files libcst parsed."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self.parsed: list[str] = []
        original = Engine.parse

        def parse(engine, source, display):
            self.parsed.append(Path(display).name)
            return original(engine, source, display)

        monkeypatch.setattr(Engine, "parse", parse)

    def run(self, overrides: Overrides | None = None) -> dict[str, list[str]]:
        self.parsed.clear()
        rules = all_rules()
        settings = load_settings(self.root, (r.code for r in rules), overrides)
        engine = Engine(settings, rules)
        files = sorted(self.root.glob("*.py"))
        outcomes = run_files(engine, files, jobs=1, cache=open_cache(engine))
        return {Path(o.path).name: [f.code for f in o.findings] for o in outcomes}


def test_second_run_parses_nothing_and_reports_the_same(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting(project, monkeypatch)
    first = counting.run()
    # train.py is parsed twice: its helper lives in utils.py, known only after pass 1.
    assert sorted(counting.parsed) == ["train.py", "train.py", "unrelated.py", "utils.py"]
    assert (project / CACHE_DIR).is_dir()
    second = counting.run()
    assert counting.parsed == []
    assert second == first == {"train.py": [], "unrelated.py": ["RPL201"], "utils.py": []}


def test_changed_content_is_linted_again(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting(project, monkeypatch)
    counting.run()
    (project / "unrelated.py").write_text(UNRELATED.replace("True", "False"))
    assert counting.run()["unrelated.py"] == []
    assert counting.parsed == ["unrelated.py"]


def test_changed_settings_start_from_an_empty_cache(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting(project, monkeypatch)
    counting.run()
    result = counting.run(Overrides(torch_version="2.13"))
    assert set(counting.parsed) == {"train.py", "unrelated.py", "utils.py"}
    assert result["unrelated.py"] == ["RPL201"]


def test_another_tool_version_starts_from_an_empty_cache(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting(project, monkeypatch)
    counting.run()
    monkeypatch.setattr(repro_lint.cache, "__version__", "999.0")
    counting.run()
    assert set(counting.parsed) == {"train.py", "unrelated.py", "utils.py"}


def test_a_helper_that_changes_relints_exactly_the_files_that_depend_on_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = Counting(project, monkeypatch)
    assert counting.run()["train.py"] == []
    (project / "utils.py").write_text(SETS_NOTHING)
    result = counting.run()
    assert result["train.py"] == ["RPL203"]  # deterministic mode, and nothing sets the workspace now
    assert sorted(counting.parsed) == ["train.py", "utils.py"]  # unrelated.py asked nothing of utils
    (project / "utils.py").write_text(SETS_ENV)
    assert counting.run()["train.py"] == []


def test_a_damaged_cache_is_an_empty_one(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting(project, monkeypatch)
    first = counting.run()
    for stored in (project / CACHE_DIR).glob("*.pickle"):
        stored.write_bytes(b"not a pickle")
    assert counting.run() == first
    assert set(counting.parsed) == {"train.py", "unrelated.py", "utils.py"}


def test_no_cache_writes_nothing(project: Path, cli) -> None:
    result = cli("check", ".", "--no-cache", cwd=project)
    assert result.returncode == 1, result.stderr
    assert not (project / CACHE_DIR).exists()


def test_the_code_fingerprint_covers_the_packages_folders_only(tmp_path, monkeypatch) -> None:
    # An editable install's `__path__` may also name the checkout's root; what lies there
    # (a virtual environment, fixtures) is not repro-lint's code.
    import repro_lint
    from repro_lint.cache import code_fingerprint

    before = code_fingerprint()
    monkeypatch.setattr(repro_lint, "__path__", [*repro_lint.__path__, str(tmp_path)])
    (tmp_path / "unrelated.py").write_text("x = 1\n")
    assert code_fingerprint() == before
