"""The command line as users run it: a real subprocess of the installed `repro-lint`."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from conftest import REPO, write

BAD = "import torch\n\ntorch.backends.cudnn.benchmark = True\n"
CLEAN = "import torch\n\ntorch.backends.cudnn.benchmark = False\n"




def test_version_and_module_entry(cli, tmp_path: Path) -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("repro-lint ")
    import subprocess
    import sys

    module = subprocess.run([sys.executable, "-m", "repro_lint", "--version"], capture_output=True, text=True)
    assert module.stdout == result.stdout


def test_exit_codes_and_text_output(cli, tmp_path: Path) -> None:
    write(tmp_path, "bad.py", BAD)
    write(tmp_path, "clean.py", CLEAN)
    result = cli("check", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "bad.py:3:1: RPL201 [*] `torch.backends.cudnn.benchmark` is enabled: cuDNN may choose different "
        "algorithms on each run",
        "  help: Set `torch.backends.cudnn.benchmark` to False",
        "Found 1 finding (1 fixable with --fix).",
    ]
    assert cli("clean.py", cwd=tmp_path).returncode == 0
    assert cli("bad.py", "--exit-zero", cwd=tmp_path).returncode == 0


def test_default_path_is_the_working_directory(cli, tmp_path: Path) -> None:
    write(tmp_path, "pkg/bad.py", BAD)
    result = cli(cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("pkg/bad.py:3:1: RPL201")


def test_output_is_sorted_by_path_line_column_code(cli, tmp_path: Path) -> None:
    write(tmp_path, "b.py", BAD)
    write(tmp_path, "a.py", "import torch\ntorch.backends.cudnn.deterministic = False\n" + BAD)
    result = cli(".", "--format", "json", cwd=tmp_path)
    keys = [(f["path"], f["line"], f["column"], f["code"]) for f in json.loads(result.stdout)]
    assert keys == sorted(keys)
    assert [k[0] for k in keys] == ["a.py", "a.py", "b.py"]


def test_json_format(cli, tmp_path: Path) -> None:
    write(tmp_path, "bad.py", BAD)
    result = cli("bad.py", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    (finding,) = json.loads(result.stdout)
    assert finding == {
        "code": "RPL201",
        "name": "cudnn-benchmark-enabled",
        "message": finding["message"],
        "path": "bad.py",
        "line": 3,
        "column": 1,
        "end_line": 3,
        "end_column": 31,
        "severity": "warning",
        "fix": {"applicability": "safe", "message": "Set `torch.backends.cudnn.benchmark` to False"},
        "cell": None,
        "op": None,
    }


def test_github_format(cli, tmp_path: Path) -> None:
    write(tmp_path, "bad.py", BAD)
    result = cli("bad.py", "--format", "github", cwd=tmp_path)
    assert result.stdout.startswith(
        "::warning file=bad.py,line=3,col=1,endLine=3,endColumn=31,title=RPL201::RPL201 `torch.backends"
    )


def test_sarif_format_is_json_with_results(cli, tmp_path: Path) -> None:
    write(tmp_path, "bad.py", BAD)
    document = json.loads(cli("bad.py", "--format", "sarif", cwd=tmp_path).stdout)
    (result,) = document["runs"][0]["results"]
    assert result["ruleId"] == "RPL201"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 3


def test_diff_prints_and_writes_nothing(cli, tmp_path: Path) -> None:
    path = write(tmp_path, "bad.py", BAD)
    result = cli("--diff", "bad.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "-torch.backends.cudnn.benchmark = True\n+torch.backends.cudnn.benchmark = False\n" in result.stdout
    assert path.read_text() == BAD
    assert cli("--diff", "bad.py", cwd=tmp_path).stdout == result.stdout


def test_fix_writes_and_second_fix_changes_nothing(cli, tmp_path: Path) -> None:
    path = write(tmp_path, "bad.py", BAD)
    os.chmod(path, 0o640)
    result = cli("--fix", "bad.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert path.read_text() == CLEAN
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert "Fixed 1 finding in 1 file." in result.stderr
    again = cli("check", "--fix", "bad.py", cwd=tmp_path)
    assert again.returncode == 0 and path.read_text() == CLEAN


def test_fix_keeps_crlf_bom_and_missing_trailing_newline(cli, tmp_path: Path) -> None:
    original = "\ufeffimport torch\r\n\r\ntorch.backends.cudnn.benchmark = True  # fast\r\nx = 1"
    path = write(tmp_path, "crlf.py", original.encode("utf-8"))
    assert cli("--fix", "crlf.py", cwd=tmp_path).returncode == 0
    assert path.read_bytes() == original.replace("True", "False").encode("utf-8")


def test_latin1_coding_cookie_round_trips(cli, tmp_path: Path) -> None:
    original = "# -*- coding: latin-1 -*-\nimport torch\nname = 'café'\ntorch.backends.cudnn.benchmark = True\n"
    path = write(tmp_path, "legacy.py", original.encode("latin-1"))
    assert cli("--fix", "legacy.py", cwd=tmp_path).returncode == 0
    assert path.read_bytes() == original.replace("True", "False").encode("latin-1")


def test_unsafe_fixes_need_the_flag(cli, tmp_path: Path) -> None:
    source = "import torch\ntorch.use_deterministic_algorithms(False)\n"
    path = write(tmp_path, "det.py", source)
    result = cli("--fix", "det.py", cwd=tmp_path)
    assert result.returncode == 1 and path.read_text() == source
    assert "RPL202 `torch.use" in result.stdout  # no [*]: the fix is unsafe
    assert cli("--fix", "--unsafe-fixes", "det.py", cwd=tmp_path).returncode == 0
    assert path.read_text() == source.replace("False", "True")


def test_syntax_error_is_a_finding_and_others_are_still_linted(cli, tmp_path: Path) -> None:
    write(tmp_path, "broken.py", "def train(:\n    pass\n")
    write(tmp_path, "bad.py", BAD)
    result = cli(".", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    findings = {(f["path"], f["code"]) for f in json.loads(result.stdout)}
    assert findings == {("broken.py", "RPL001"), ("bad.py", "RPL201")}
    (broken,) = [f for f in json.loads(result.stdout) if f["code"] == "RPL001"]
    assert broken["line"] == 1 and broken["message"].startswith("syntax error:")


def test_unreadable_and_undecodable_files_are_errors_but_the_rest_is_linted(cli, tmp_path: Path) -> None:
    write(tmp_path, "bad.py", BAD)
    write(tmp_path, "latin.py", "x = 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "dangling.py").symlink_to(tmp_path / "missing.py")
    result = cli(".", cwd=tmp_path)
    assert result.returncode == 2
    errors = result.stderr.splitlines()
    assert any(e.startswith("repro-lint: error: latin.py: cannot decode as utf-8") for e in errors), errors
    assert any(e.startswith("repro-lint: error: dangling.py: no such file") for e in errors), errors
    assert "Traceback" not in result.stderr
    assert "bad.py:3:1: RPL201" in result.stdout


def test_nonexistent_path(cli, tmp_path: Path) -> None:
    result = cli("nope.py", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "repro-lint: error: nope.py: no such file or directory"


def test_noqa(cli, tmp_path: Path) -> None:
    write(tmp_path, "n.py", "import torch\ntorch.backends.cudnn.benchmark = True  # noqa: RPL201\n")
    assert cli("n.py", cwd=tmp_path).returncode == 0


def test_select_and_ignore(cli, tmp_path: Path) -> None:
    write(tmp_path, "bad.py", BAD + "torch.backends.cudnn.deterministic = False\n")
    codes = lambda *a: {f["code"] for f in json.loads(cli("bad.py", "--format", "json", *a, cwd=tmp_path).stdout)}
    assert codes() == {"RPL201", "RPL202"}
    assert codes("--select", "RPL202") == {"RPL202"}
    assert codes("--ignore", "RPL20") == set()
    assert codes("--select", "RPL2", "--ignore", "RPL201") == {"RPL202"}


def test_unknown_select_code_is_a_usage_error(cli, tmp_path: Path) -> None:
    result = cli("--select", "XYZ999", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "repro-lint: error: --select: unknown rule code or prefix 'XYZ999'\n"


def test_bad_config(cli, tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.repro-lint]\nselcet = ['RPL2']\n")
    result = cli(".", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().endswith("[tool.repro-lint] unknown key 'selcet'")
    write(tmp_path, "pyproject.toml", "[tool.repro-lint]\nseed = 'zero'\n")
    assert "seed must be an integer from 0 to 2**32 - 1" in cli(".", cwd=tmp_path).stderr
    write(tmp_path, "pyproject.toml", "[tool.repro-lint\n")
    result = cli(".", cwd=tmp_path)
    assert result.returncode == 2 and "invalid TOML" in result.stderr and "Traceback" not in result.stderr


def test_config_select_per_file_ignores_and_exclude(cli, tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", """
[tool.repro-lint]
select = ["RPL2"]
per-file-ignores = { "scripts/*.py" = ["RPL201"] }
extend-exclude = ["generated"]
""")
    write(tmp_path, "scripts/bench.py", BAD)
    write(tmp_path, "generated/out.py", BAD)
    write(tmp_path, "ignored_by_git/x.py", BAD)
    write(tmp_path, ".gitignore", "ignored_by_git/\n")
    write(tmp_path, "train.py", BAD)
    result = cli(".", "--output-format", "concise", cwd=tmp_path)
    assert result.stdout.splitlines()[:-1] == [line for line in result.stdout.splitlines()[:-1] if line.startswith("train.py")]
    assert "train.py:3:1: RPL201" in result.stdout
    # A file named explicitly is linted even when excluded, unless --force-exclude.
    assert cli("generated/out.py", cwd=tmp_path).returncode == 1
    assert cli("generated/out.py", "--force-exclude", cwd=tmp_path).returncode == 0


def test_skips_virtualenvs_and_hidden_folders(cli, tmp_path: Path) -> None:
    write(tmp_path, "venv2/pyvenv.cfg", "home = /usr\n")
    write(tmp_path, "venv2/lib/bad.py", BAD)
    write(tmp_path, ".hidden/bad.py", BAD)
    write(tmp_path, "node_modules/bad.py", BAD)
    assert cli(".", cwd=tmp_path).returncode == 0


def test_torch_version_sources(cli, tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\ndependencies = ["torchvision", "torch>=1.13,<3"]\n')
    # A lower bound installs the newest release it allows today (the catalog's newest, 2.15).
    assert "2.15 (from pyproject.toml [project].dependencies (torch>=1.13,<3))" in cli("--show-settings", cwd=tmp_path).stdout
    write(tmp_path, "requirements.txt", "torch>=2.0,<2.4\n")
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n')
    assert "2.3 (from requirements.txt (torch>=2.0,<2.4))" in cli("--show-settings", cwd=tmp_path).stdout
    write(tmp_path, "requirements.txt", "torch==2.0.1\n")
    assert "2.0 (from requirements.txt (torch==2.0.1))" in cli("--show-settings", cwd=tmp_path).stdout
    assert "2.1 (from --torch-version)" in cli("--show-settings", "--torch-version", "2.1", cwd=tmp_path).stdout
    result = cli("--torch-version", "banana", cwd=tmp_path)
    assert result.returncode == 2 and "--torch-version: 'banana' is not a torch version" in result.stderr


def test_torch_version_from_a_companion_package(cli, tmp_path: Path) -> None:
    # Each torchvision, torchaudio and torchtext release requires one torch release.
    for requirements, expected in [
        ("torch\ntorchvision==0.16.2\n", "2.1 (from requirements.txt (torchvision==0.16.2, which pins torch))"),
        ("torchaudio==2.4.1\n", "2.4 (from requirements.txt (torchaudio==2.4.1, which pins torch))"),
        ("torchvision==0.13.1\n", "1.12 (from requirements.txt (torchvision==0.13.1, which pins torch))"),
        ("numpy\ntorch\ntorchtext\n", "2.3 (from requirements.txt (torchtext, which pins torch))"),
        ("torch>=2.5\ntorchvision==0.21.0\n", "2.15 (from requirements.txt (torch>=2.5))"),
    ]:
        write(tmp_path, "requirements.txt", requirements)
        assert expected in cli("--show-settings", cwd=tmp_path).stdout, requirements


def test_rules_table_and_rule_docs(cli) -> None:
    table = cli("rules").stdout.splitlines()
    assert table[0].split() == ["code", "name", "fixable", "summary"]
    assert any(line.startswith("RPL201  cudnn-benchmark-enabled") for line in table)
    doc = cli("rule", "RPL201").stdout
    assert doc.startswith("## RPL201 `cudnn-benchmark-enabled`")
    for section in ("What it does", "Why it matters", "Example", "Use instead", "Fix safety"):
        assert f"### {section}\n" in doc
    assert cli("rule", "RPL999").returncode == 2


def test_examples_show_every_backend_flag_rule_and_fix_cleanly(cli, tmp_path: Path) -> None:
    project = tmp_path / "examples"
    shutil.copytree(REPO / "examples", project)
    before = json.loads(cli(".", "--format", "json", cwd=project).stdout)
    assert {"RPL201", "RPL202", "RPL203"} <= {f["code"] for f in before}
    cli("--fix", ".", cwd=project)
    snapshot = {p: p.read_bytes() for p in project.rglob("*.py")}
    after = json.loads(cli(".", "--format", "json", cwd=project).stdout)
    assert not {"RPL201", "RPL202", "RPL203"} & {f["code"] for f in after if f["fix"] and f["fix"]["applicability"] == "safe"}
    cli("--fix", ".", cwd=project)
    assert {p: p.read_bytes() for p in project.rglob("*.py")} == snapshot


def test_a_folder_named_explicitly_is_walked_even_inside_an_excluded_one(cli, tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.repro-lint]\n")
    write(tmp_path, ".venv/lib/site-packages/pkg/bad.py", BAD)
    write(tmp_path, ".venv/lib/site-packages/pkg/.cache/bad.py", BAD)
    assert cli(".", cwd=tmp_path).returncode == 0
    result = cli(".venv/lib/site-packages/pkg", "--output-format", "concise", cwd=tmp_path)
    assert result.stdout.splitlines()[0].startswith(".venv/lib/site-packages/pkg/bad.py:3:1: RPL201")
    assert len(result.stdout.splitlines()) == 2  # the hidden folder below it is still skipped


def test_torch_versions_beyond_the_catalog(cli, tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("import torch\n")
    newer = cli("check", "--no-cache", "--torch-version", "9.9", "ok.py", cwd=tmp_path)
    assert newer.returncode == 0
    assert newer.stderr.startswith("repro-lint: warning: torch 9.9 is newer than the catalog's newest facts")
    assert len(newer.stderr.splitlines()) == 1
    older = cli("check", "--no-cache", "--torch-version", "0.3", "ok.py", cwd=tmp_path)
    assert older.returncode == 2
    assert older.stderr == "repro-lint: error: --torch-version: 0.3 is older than the oldest torch the catalog knows (1.8)\n"


def test_help_lists_the_commands(cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in ("check", "rules", "rule", "verify", "server"):
        assert f"  {command} " in result.stdout, result.stdout


def test_statistics_prints_counts_instead_of_findings(cli, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("import torch\ntorch.backends.cudnn.benchmark = True\nx = torch.randn(3)\n")
    result = cli("check", "--no-cache", "--statistics", "a.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "1  RPL101  [*]  unseeded-torch-rng",
        "1  RPL201  [*]  cudnn-benchmark-enabled",
        "Found 2 findings (2 fixable with --fix).",
    ]


def test_fix_counts_agree_with_the_report(cli, tmp_path: Path) -> None:
    project = tmp_path / "examples"
    shutil.copytree(REPO / "examples", project)
    report = cli("check", "--no-cache", ".", cwd=project)
    fixable = int(re.search(r"\((\d+) fixable with --fix", report.stdout).group(1))
    diff = cli("check", "--no-cache", "--diff", ".", cwd=project)
    assert re.search(rf"^Would fix {fixable} findings in \d+ files\.$", diff.stderr, re.M), diff.stderr
    fixed = cli("check", "--no-cache", "--fix", ".", cwd=project)
    assert re.search(rf"^Fixed {fixable} findings in \d+ files\.$", fixed.stderr, re.M), fixed.stderr
    remaining = int(re.search(r"Found (\d+) findings", fixed.stdout).group(1))
    before = int(re.search(r"Found (\d+) findings", report.stdout).group(1))
    assert before - remaining == fixable


def test_each_file_gets_its_nearest_configuration_in_either_order(cli, tmp_path: Path) -> None:
    for name, table in (("a", 'ignore = ["RPL201"]'), ("b", 'select = ["RPL201"]')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pyproject.toml").write_text(f"[tool.repro-lint]\n{table}\n")
        (tmp_path / name / "train.py").write_text(
            "import torch\ntorch.backends.cudnn.benchmark = True\nx = torch.randn(3)\n")
    expected = ["a/train.py:3:5: RPL101", "b/train.py:2:1: RPL201"]
    for order in (["a/train.py", "b/train.py"], ["b/train.py", "a/train.py"], ["b", "a"]):
        result = cli("check", "--no-cache", "--output-format", "concise", *order, cwd=tmp_path)
        found = [" ".join(line.split()[:2]) for line in result.stdout.splitlines()[:-1]]
        assert found == expected, (order, result.stdout)


def test_full_output_says_what_each_fix_does_and_concise_is_one_line(cli, tmp_path: Path) -> None:
    write(tmp_path, "a.py", "import torch\ntorch.backends.cudnn.benchmark = True\n"
                            "torch.use_deterministic_algorithms(False)\nx = torch.randn(3)\n")
    lines = cli("check", "--no-cache", "--select", "RPL2", "a.py", cwd=tmp_path).stdout.splitlines()
    assert lines == [
        "a.py:2:1: RPL201 [*] `torch.backends.cudnn.benchmark` is enabled: cuDNN may choose different "
        "algorithms on each run",
        "  help: Set `torch.backends.cudnn.benchmark` to False",
        "a.py:3:1: RPL202 `torch.use_deterministic_algorithms(False)` lets PyTorch use nondeterministic kernels",
        "  help: Call `torch.use_deterministic_algorithms(True)` (ops without a deterministic implementation "
        "will then raise) (unsafe: needs --unsafe-fixes)",
        "Found 2 findings (1 fixable with --fix; 1 more with --unsafe-fixes).",
    ]
    unsafe = cli("check", "--no-cache", "--select", "RPL202", "--unsafe-fixes", "a.py", cwd=tmp_path)
    assert unsafe.stdout.splitlines()[1] == (
        "  help: Call `torch.use_deterministic_algorithms(True)` (ops without a deterministic implementation "
        "will then raise)")
    concise = cli("check", "--no-cache", "--select", "RPL2", "--output-format", "concise", "a.py", cwd=tmp_path)
    assert concise.stdout.splitlines() == [lines[0], lines[2], lines[4]]
    full = cli("check", "--no-cache", "--select", "RPL2", "--output-format", "full", "a.py", cwd=tmp_path)
    assert full.stdout.splitlines() == lines
    as_json = cli("check", "--no-cache", "--output-format", "json", "a.py", cwd=tmp_path)
    assert as_json.stdout == cli("check", "--no-cache", "--format", "json", "a.py", cwd=tmp_path).stdout
    clash = cli("check", "--format", "json", "--output-format", "concise", "a.py", cwd=tmp_path)
    assert clash.returncode == 2 and len(clash.stderr.splitlines()) == 1
    # --statistics: the counts, not the findings nor their help.
    stats = cli("check", "--no-cache", "--select", "RPL2", "--statistics", "a.py", cwd=tmp_path)
    assert stats.stdout.splitlines() == [
        "1  RPL201  [*]  cudnn-benchmark-enabled",
        "1  RPL202  [ ]  determinism-disabled",
        "Found 2 findings (1 fixable with --fix; 1 more with --unsafe-fixes).",
    ]


def test_noqa_counts_lines_as_python_does_past_a_form_feed(cli, tmp_path: Path) -> None:
    """`str.splitlines` also splits at a form feed; Python does not, so the noqa line must not shift."""
    write(tmp_path, "paged.py", "import torch\n\x0c# page two\ntorch.backends.cudnn.benchmark = True  # noqa: RPL201\n")
    result = cli("paged.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout


def test_text_output_puts_the_first_sentence_on_the_finding_line(cli, tmp_path: Path) -> None:
    write(tmp_path, "pool.py", "import torch\n\nx = torch.randn(8, 4, requires_grad=True)\n"
          "torch.nn.functional.interpolate(x[None, None], scale_factor=2, mode='bilinear').sum().backward()\n")
    lines = cli("pool.py", "--torch-version", "2.13", "--select", "RPL401", cwd=tmp_path).stdout.splitlines()
    assert lines[0].startswith("pool.py:4:1: RPL401 ") and "Workaround" not in lines[0]
    assert lines[1].startswith("  workaround: ")
    concise = cli("pool.py", "--torch-version", "2.13", "--select", "RPL401", "--output-format", "concise",
                  cwd=tmp_path).stdout.splitlines()
    assert concise[0].startswith("pool.py:4:1: RPL401 ") and "Workaround: " in concise[0]


def test_json_names_a_file_whose_name_is_not_utf8_in_valid_unicode(cli, tmp_path: Path) -> None:
    (tmp_path / os.fsdecode(b"bad\xff.py")).write_text(BAD)
    result = cli(".", "--format", "json", cwd=tmp_path)
    assert "\\udc" not in result.stdout  # a lone surrogate escape: strict JSON readers reject it
    (finding,) = json.loads(result.stdout)
    assert finding["path"] == "bad\ufffd.py"
