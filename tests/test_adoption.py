"""Gradual adoption on a codebase with findings: `--add-noqa`, `--baseline`, `--write-baseline`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import write

BAD = "import torch\ntorch.backends.cudnn.benchmark = True\n"


# -- --add-noqa ---------------------------------------------------------------

MESSY = '''import torch
torch.backends.cudnn.benchmark = True  # fast, noqa: later
x = torch.randn(3)  # NOQA:RPL999 keep this
loader = torch.utils.data.DataLoader(range(9), num_workers=2, shuffle=True, doc="""
# not a comment
""")
torch.use_deterministic_algorithms(False)  # noqa:RPL9,RPL8
'''

MESSY_AFTER = '''import torch
torch.backends.cudnn.benchmark = True  # fast, noqa: later  # noqa: RPL201
x = torch.randn(3)  # NOQA:RPL999, RPL101 keep this
loader = torch.utils.data.DataLoader(range(9), num_workers=2, shuffle=True, doc="""
# not a comment
""")  # noqa: RPL301, RPL302
torch.use_deterministic_algorithms(False)  # noqa:RPL9,RPL8, RPL202
'''


def test_add_noqa_suppresses_every_finding_and_is_idempotent(cli, tmp_path: Path) -> None:
    write(tmp_path, "train.py", MESSY)
    before = cli("check", "--no-cache", "--format", "json", ".", cwd=tmp_path)
    assert before.returncode == 1
    assert sorted(f["code"] for f in json.loads(before.stdout)) == ["RPL101", "RPL201", "RPL202", "RPL301", "RPL302"]

    added = cli("--add-noqa", "--no-cache", ".", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert added.stderr == "Added 5 noqa codes in 1 file.\n"
    # Codes merge into an existing noqa comment (its spelling and the rest of the comment kept); a
    # multi-line statement gets its comment after the string it opens, where noqa comments are read.
    assert (tmp_path / "train.py").read_text() == MESSY_AFTER

    after = cli("check", "--no-cache", ".", cwd=tmp_path)
    assert after.returncode == 0, after.stdout
    assert after.stdout == "All checks passed.\n"

    again = cli("--add-noqa", "--no-cache", ".", cwd=tmp_path)
    assert again.returncode == 0
    assert again.stderr == "Added 0 noqa codes in 0 files.\n"
    assert (tmp_path / "train.py").read_text() == MESSY_AFTER


def test_add_noqa_keeps_crlf_bom_permissions_and_writes_atomically(cli, tmp_path: Path) -> None:
    path = write(tmp_path, "a.py", b"\xef\xbb\xbfimport torch\r\ntorch.backends.cudnn.benchmark = True\r\nx = 1")
    os.chmod(path, 0o640)
    result = cli("--add-noqa", "--no-cache", "a.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert path.read_bytes() == (
        b"\xef\xbb\xbfimport torch\r\ntorch.backends.cudnn.benchmark = True  # noqa: RPL201\r\nx = 1"
    )
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".repro_lint_cache")) == ["a.py"]


def test_add_noqa_in_a_notebook_cell(cli, tmp_path: Path) -> None:
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# title"]},
            {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
             "source": ["import torch\n", "torch.backends.cudnn.benchmark = True"]},
        ],
        "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = write(tmp_path, "explore.ipynb", json.dumps(notebook, indent=1) + "\n")
    result = cli("--add-noqa", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    cells = json.loads(path.read_text())["cells"]
    assert cells[1]["source"] == ["import torch\n", "torch.backends.cudnn.benchmark = True  # noqa: RPL201"]
    assert cli("check", "--no-cache", ".", cwd=tmp_path).returncode == 0


def test_add_noqa_leaves_files_that_do_not_parse(cli, tmp_path: Path) -> None:
    write(tmp_path, "broken.py", 'x = """\n')
    write(tmp_path, "ok.py", BAD)
    result = cli("--add-noqa", "--no-cache", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert "repro-lint: warning: 1 file that does not parse got no `# noqa` (RPL001 remains)" in result.stderr
    assert (tmp_path / "broken.py").read_text() == 'x = """\n'
    assert (tmp_path / "ok.py").read_text().endswith("= True  # noqa: RPL201\n")


def test_add_noqa_refuses_fix_and_stdin(cli, tmp_path: Path) -> None:
    write(tmp_path, "a.py", BAD)
    for extra in (["--fix"], ["--diff"], ["--baseline", "b.json"]):
        result = cli("--add-noqa", *extra, "a.py", cwd=tmp_path)
        assert result.returncode == 2
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith("repro-lint: error: --add-noqa cannot be combined")
    assert cli("--add-noqa", "-", cwd=tmp_path, stdin=BAD).returncode == 2
    assert (tmp_path / "a.py").read_text() == BAD


# -- baselines ----------------------------------------------------------------


def test_baseline_hides_known_findings_across_line_moves_and_reports_new_ones(cli, tmp_path: Path) -> None:
    write(tmp_path, "src/train.py", BAD)
    written = cli("check", "--no-cache", "--write-baseline", "baseline.json", ".", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert written.stderr == "Wrote 1 finding to the baseline baseline.json.\n"
    document = json.loads((tmp_path / "baseline.json").read_text())
    assert document["version"] == 1
    [entry] = document["findings"]
    assert (entry["path"], entry["code"], entry["line"]) == ("src/train.py", "RPL201", 2)
    assert len(entry["fingerprint"]) == 32

    clean = cli("check", "--no-cache", "--baseline", "baseline.json", ".", cwd=tmp_path)
    assert (clean.returncode, clean.stdout) == (0, "All checks passed.\n")
    assert clean.stderr == "repro-lint: 1 finding in the baseline not shown\n"

    # Lines added above the baselined finding: it moves to line 5 and stays baselined.
    write(tmp_path, "src/train.py", "import torch\n\n# setup\nx = 1\ntorch.backends.cudnn.benchmark = True\n")
    moved = cli("check", "--no-cache", "--baseline", "baseline.json", ".", cwd=tmp_path)
    assert (moved.returncode, moved.stdout) == (0, "All checks passed.\n")

    # A new finding is reported, the baselined one still is not.
    write(tmp_path, "src/train.py",
          "import torch\n\n# setup\nx = 1\ntorch.backends.cudnn.benchmark = True\n"
          "torch.use_deterministic_algorithms(False)\n")
    new = cli("check", "--no-cache", "--output-format", "concise", "--baseline", "baseline.json", ".", cwd=tmp_path)
    assert new.returncode == 1
    assert [line.split(" ")[:2] for line in new.stdout.splitlines()[:-1]] == [["src/train.py:6:1:", "RPL202"]]

    # A second identical finding in the same file is new too: occurrences are counted.
    write(tmp_path, "src/train.py", "import torch\n" + "torch.backends.cudnn.benchmark = True\n" * 2)
    twice = cli("check", "--no-cache", "--baseline", "baseline.json", ".", cwd=tmp_path)
    assert twice.returncode == 1
    assert twice.stdout.splitlines()[0].startswith("src/train.py:3:1: RPL201")


def test_baseline_paths_are_relative_to_the_baseline_file(cli, tmp_path: Path) -> None:
    write(tmp_path, "proj/a.py", BAD)
    assert cli("check", "--no-cache", "--write-baseline", "proj/base.json", "proj", cwd=tmp_path).returncode == 0
    assert json.loads((tmp_path / "proj/base.json").read_text())["findings"][0]["path"] == "a.py"
    # From inside the project, and from elsewhere with an absolute path: the same entry matches.
    assert cli("check", "--no-cache", "--baseline", "base.json", ".", cwd=tmp_path / "proj").returncode == 0
    result = cli("check", "--no-cache", "--baseline", str(tmp_path / "proj/base.json"), str(tmp_path / "proj"),
                 cwd=tmp_path.parent)
    assert result.returncode == 0, result.stdout


def test_bad_baseline_is_one_error_line(cli, tmp_path: Path) -> None:
    write(tmp_path, "a.py", BAD)
    write(tmp_path, "bad.json", "{not json")
    write(tmp_path, "other.json", '{"version": 7}')
    for name, words in (("missing.json", "no such baseline file"), ("bad.json", "invalid JSON"),
                        ("other.json", "not a repro-lint baseline")):
        result = cli("check", "--no-cache", "--baseline", name, "a.py", cwd=tmp_path)
        assert result.returncode == 2
        assert len(result.stderr.splitlines()) == 1 and words in result.stderr, result.stderr
    both = cli("check", "--baseline", "bad.json", "--write-baseline", "x.json", "a.py", cwd=tmp_path)
    assert both.returncode == 2 and "--write-baseline cannot be combined" in both.stderr


# -- rules --ops and the catalog's range -----------------------------------------


def test_rules_ops_outside_the_catalog_range(cli) -> None:
    older = cli("rules", "--ops", "--torch-version", "0.3")
    assert older.returncode == 2
    assert older.stdout == ""
    assert older.stderr == (
        "repro-lint: error: --torch-version: 0.3 is older than the oldest torch the catalog knows (1.8)\n"
    )
    newer = cli("rules", "--ops", "--torch-version", "9.9")
    assert newer.returncode == 0
    assert newer.stderr.startswith("repro-lint: warning: torch 9.9 is newer than the catalog's newest facts")
    assert len(newer.stderr.splitlines()) == 1
    assert newer.stdout.startswith("Nondeterministic PyTorch ops for torch 9.9")


def test_subcommand_help(cli) -> None:
    for command, words in (("rules", "--ops"), ("verify", "--run"), ("rule", "code")):
        result = cli(command, "--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"usage: repro-lint {command}"), result.stdout
        assert words in result.stdout
