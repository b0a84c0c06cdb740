"""Worker processes give the single-process result, and one file's crash stays that file's."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from repro_lint.api import Linter
from repro_lint.rules import all_rules

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Every fixture file: single files and multi-file projects, many rules, cross-file helpers."""
    shutil.copytree(REPO / "fixtures", tmp_path / "fixtures")
    (tmp_path / "pyproject.toml").write_text('[tool.repro-lint]\ntorch-version = "1.13"\n')
    return tmp_path


def lint(root: Path, jobs: int, fix: bool = False) -> list:
    return Linter().lint_files(sorted(root.rglob("*.py")), fix=fix, jobs=jobs).outcomes


def test_workers_give_the_single_process_result_in_the_same_order(project: Path) -> None:
    single = lint(project, jobs=1)
    assert sum(len(o.findings) for o in single) > 50
    assert lint(project, jobs=2) == single
    assert lint(project, jobs=3, fix=True) == lint(project, jobs=1, fix=True)


def test_a_crash_in_a_rule_is_that_files_error(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = next(project.rglob("RPL201/aliases.py"))
    rule = next(r for r in all_rules() if r.code == "RPL201")
    original = rule.check

    def check(self, ctx):
        if "c2.benchmark = True  # expect" in ctx.facts.module.code:  # only in that file
            raise ValueError("boom")
        return original(self, ctx)

    assert "c2.benchmark = True  # expect" in target.read_text()
    monkeypatch.setattr(rule, "check", check)
    single = lint(project, jobs=1)
    parallel = lint(project, jobs=2)
    assert parallel == single
    crashed = [o for o in parallel if o.error]
    assert [o.error for o in crashed] == [f"{crashed[0].path}: internal error: ValueError: boom"]
    assert crashed[0].path.endswith("RPL201/aliases.py")
    assert sum(len(o.findings) for o in parallel) > 50


def test_a_worker_that_dies_loses_only_its_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = os.getpid()
    rule = next(r for r in all_rules() if r.code == "RPL202")
    original = rule.check

    def check(self, ctx):
        if os.getpid() != parent and ctx.facts.module_name.rpartition(".")[2] == "safe_only":
            os._exit(3)  # as a segfault in a C extension would
        return original(self, ctx)

    expected = {o.path: o for o in lint(project, jobs=1)}
    monkeypatch.setattr(rule, "check", check)
    outcomes = lint(project, jobs=2)
    died = [o for o in outcomes if o.error]
    assert [o.error for o in died] == [f"{died[0].path}: internal error: the worker process died"]
    assert died[0].path.endswith("RPL202/safe_only.py")
    assert [o for o in outcomes if not o.error] == [o for p, o in expected.items() if p != died[0].path]


def test_a_signal_while_the_pool_starts_is_not_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGTERM can arrive inside `submit` while the pool starts its manager thread; shutting the
    pool down must not replace the signal's exception with "cannot join thread" (seen in CI)."""
    import threading
    from concurrent.futures import process

    from repro_lint import runner

    class Stopped(BaseException):
        pass

    def interrupted_start(self: process.ProcessPoolExecutor) -> None:
        self._executor_manager_thread = threading.Thread(target=lambda: None)  # never started
        raise Stopped

    monkeypatch.setattr(process.ProcessPoolExecutor, "_start_executor_manager_thread", interrupted_start)
    with pytest.raises(Stopped):
        runner._run_pool(len, [(b"x",), (b"y",)], [0, 1], 2, [None, None])
