"""`flake8 --select RPL` reports what `repro-lint check` reports: a real flake8 run over every fixture.

The CLI side is the `Linter` that `repro-lint check` runs, called in this process: one
subprocess per fixture spent minutes starting interpreters. `test_cli` runs the real CLI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import BIN
from fixture_harness import DEFAULT_TORCH_VERSION, Case, collect_cases, expected_findings

from repro_lint.api import Linter
from repro_lint.config import Overrides
from repro_lint.reporters.json_format import finding_dict

CASES = collect_cases()
FLAKE8_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<code>[A-Z]+\d+) (?P<message>.*)$")
BAD = "import torch\n\ntorch.backends.cudnn.benchmark = True\n"

Row = tuple[str, int, int, str, str]  # file, line, column, code, message


def run_flake8(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    # --isolated: no setup.cfg/tox.ini from around the temp folder.
    return subprocess.run(
        [str(BIN / "flake8"), "--isolated", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


def flake8_rows(output: str) -> set[Row]:
    rows = set()
    for line in output.splitlines():
        match = FLAKE8_LINE.match(line)
        assert match, f"unexpected flake8 output: {line!r}"
        path = Path(match["path"]).as_posix().removeprefix("./")
        rows.add((path, int(match["line"]), int(match["column"]), match["code"], match["message"]))
    return rows


def case_project(case: Case, destination: Path) -> Path:
    """The case as its own project: a folder with a pyproject.toml, so both tools find the same root."""
    root = destination / f"{case.code}-{case.path.stem}"
    if case.is_project:
        shutil.copytree(case.path, root)
    else:
        root.mkdir()
        shutil.copy2(case.path, root / case.path.name)
    marker = root / "pyproject.toml"  # a case may bring its own, with [tool.repro-lint]
    if not marker.exists():
        marker.write_text("[project]\nname = 'fixture'\n")
    return root


def case_options(case: Case) -> tuple[str, str, tuple[str, ...]]:
    """--select, the torch version, and the extra flags of the CLI and of flake8."""
    strict = ("--strict", "--repro-lint-strict") if case.options.get("strict") else ()
    return (
        str(case.options.get("select", case.code)),
        str(case.options.get("torch-version", DEFAULT_TORCH_VERSION)),
        strict,
    )


@pytest.fixture(scope="module")
def both_tools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[set[Row], set[Row]]]:
    """For each case id: (flake8's findings, the CLI's findings).

    The CLI's linter runs once per case, since it makes one project of the files it
    is given. flake8 runs once per set of options over all those cases' roots,
    which also makes it keep one project per root.
    """
    base = tmp_path_factory.mktemp("fixture-projects")
    roots = {case.id: case_project(case, base) for case in CASES}
    groups: dict[tuple[str, str, tuple[str, ...]], list[Case]] = {}
    for case in CASES:
        groups.setdefault(case_options(case), []).append(case)

    def cli(case: Case) -> set[Row]:
        select, version, strict = case_options(case)
        overrides = Overrides(select=select.split(","), torch_version=version, strict=True if strict else None)
        root = roots[case.id]
        run = Linter(overrides).lint_paths([root])
        assert not run.errors, run.errors
        rows = (finding_dict(finding) for finding in run.findings)  # as `--format json` prints them
        return {(Path(str(f["path"])).relative_to(root).as_posix(), f["line"], f["column"], f["code"], f["message"])
                for f in rows}

    def flake8(options: tuple[str, str, tuple[str, ...]], cases: list[Case]) -> dict[str, set[Row]]:
        select, version, strict = options
        folders = [roots[case.id].name for case in cases]
        result = run_flake8("--select", select, "--repro-lint-torch-version", version, *strict[1:], *folders, cwd=base)
        assert result.returncode in (0, 1), result.stdout + result.stderr
        by_folder: dict[str, set[Row]] = {folder: set() for folder in folders}
        for path, *rest in flake8_rows(result.stdout):
            folder, _, relative = path.partition("/")
            by_folder[folder].add((relative, *rest))
        return {case.id: by_folder[roots[case.id].name] for case in cases}

    with ThreadPoolExecutor(max_workers=2) as pool:
        flake8_runs = [pool.submit(flake8, options, cases) for options, cases in groups.items()]
        # In this thread, while flake8 runs: a run keeps its workers' context in the runner module.
        from_cli = {case.id: cli(case) for case in CASES}
        from_flake8 = {case_id: rows for run in flake8_runs for case_id, rows in run.result().items()}
        return {case.id: (from_flake8[case.id], from_cli[case.id]) for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_flake8_reports_what_the_cli_reports(case: Case, both_tools: dict[str, tuple[set[Row], set[Row]]]) -> None:
    from_flake8, from_cli = both_tools[case.id]
    assert from_flake8 == from_cli
    assert {(path, line, code) for path, line, _, code, _ in from_flake8} == expected_findings(case)


def test_columns_are_flake8s_one_based_columns(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("import torch\n\nif True:\n    torch.backends.cudnn.benchmark = True\n")
    result = run_flake8("--select", "RPL", "bad.py", cwd=tmp_path)
    assert result.stdout.startswith("bad.py:4:5: RPL201 "), result.stdout


def test_noqa_is_flake8s(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("import torch\n\ntorch.backends.cudnn.benchmark = True  # noqa: RPL201\n")
    assert run_flake8("--select", "RPL", "bad.py", cwd=tmp_path).stdout == ""
    # With flake8's noqa switched off the finding shows: the plugin did not filter it a second time.
    disabled = run_flake8("--select", "RPL", "--disable-noqa", "bad.py", cwd=tmp_path)
    assert disabled.stdout.startswith("bad.py:3:1: RPL201 ")


def test_project_facts_come_from_the_project_root(tmp_path: Path) -> None:
    # The helper that sets CUBLAS_WORKSPACE_CONFIG lives in another file than the one flake8 checks.
    (tmp_path / ".git").mkdir()
    (tmp_path / "helpers.py").write_text(
        "import os\n\ndef setup():\n    os.environ['CUBLAS_WORKSPACE_CONFIG'] = ':4096:8'\n"
    )
    (tmp_path / "train.py").write_text(
        "import torch\nfrom helpers import setup\n\nsetup()\ntorch.use_deterministic_algorithms(True)\n"
    )
    (tmp_path / "other.py").write_text("import torch\n\ntorch.use_deterministic_algorithms(True)\n")
    result = run_flake8("--select", "RPL203", "--repro-lint-torch-version", "1.13", "train.py", "other.py", cwd=tmp_path)
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["other.py"]


def test_torch_version_comes_from_the_option_or_the_config(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("import torch\n\ntorch.use_deterministic_algorithms(True)\n")
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\ntorch-version = '1.13'\n")
    assert "RPL203" in run_flake8("--select", "RPL", "train.py", cwd=tmp_path).stdout
    newer = run_flake8("--select", "RPL", "--repro-lint-torch-version", "2.13", "train.py", cwd=tmp_path)
    assert newer.stdout == ""


def test_bad_torch_version_option_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    result = run_flake8("--select", "RPL", "--repro-lint-torch-version", "latest", "bad.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "--repro-lint-torch-version: 'latest' is not a torch version" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_stdin(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "flake8"), "--isolated", "--select", "RPL", "--stdin-display-name", "train.py", "-"],
        cwd=tmp_path, input=BAD, capture_output=True, text=True, timeout=120,
    )
    assert result.stdout.startswith("train.py:3:1: RPL201 ")


def test_project_facts_are_built_once_per_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked in process (jobs=1) to count the builds: one per project root, not one per file."""
    from flake8.api import legacy
    from flake8.main.options import JobsArgument

    from repro_lint.api import Workspace

    for name in ("a", "b"):
        project = tmp_path / name
        project.mkdir()
        (project / "pyproject.toml").write_text("")
        for index in range(3):
            (project / f"m{index}.py").write_text(BAD)
    built: list[Path] = []
    original = Workspace.__init__

    def counting(self, root: Path, *args, **kwargs) -> None:
        built.append(root)
        original(self, root, *args, **kwargs)

    monkeypatch.setattr(Workspace, "__init__", counting)
    monkeypatch.chdir(tmp_path)
    report = legacy.get_style_guide(select=["RPL"], jobs=JobsArgument("1")).check_files(["a", "b"])
    assert report.total_errors == 6
    assert sorted(built) == [(tmp_path / "a").resolve(), (tmp_path / "b").resolve()]


def test_bad_config_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\nbogus = 1\n")
    (tmp_path / "a.py").write_text(BAD)
    (tmp_path / "b.py").write_text(BAD)
    for jobs in ("1", "2"):
        result = run_flake8("--select", "RPL", "--jobs", jobs, "a.py", "b.py", cwd=tmp_path)
        assert result.returncode == 1
        assert "[tool.repro-lint] unknown key 'bogus'" in result.stdout
        assert "Traceback" not in result.stdout + result.stderr
