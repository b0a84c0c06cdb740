"""`--format sarif`: valid against the official SARIF 2.1.0 schema, with fixes and stable fingerprints."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from conftest import run_cli

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
BAD = (
    "import torch\n"
    "from torch.backends import cudnn\n"
    "\n"
    "torch.backends.cudnn.benchmark = True\n"
    "cudnn.benchmark = True\n"
    "torch.use_deterministic_algorithms(False)\n"
)


def sarif(*args: str, cwd: Path) -> dict:
    result = run_cli("check", "--format", "sarif", *args, cwd=cwd)
    assert result.returncode in (0, 1), result.stderr
    document = json.loads(result.stdout)
    jsonschema.validate(document, SCHEMA, cls=jsonschema.Draft7Validator)
    return document


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(BAD)
    return tmp_path


def test_valid_with_rules_results_and_fixes(project: Path) -> None:
    run = sarif("src", "--select", "RPL2", cwd=project)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    listed = run_cli("rules", cwd=project).stdout.splitlines()[1:]
    assert [rule["id"] for rule in rules] == [line.split()[0] for line in listed]
    for rule in rules:
        assert rule["name"] and rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["helpUri"].startswith("https://")
    results = run["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results] == [
        ("RPL201", 4), ("RPL201", 5), ("RPL202", 6)
    ]
    for result in results:
        assert result["level"] == "warning" and result["message"]["text"]
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        location = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert location == {"uri": "src/train.py", "uriBaseId": "%SRCROOT%"}
        assert result["fixes"][0]["artifactChanges"][0]["artifactLocation"] == location
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.resolve().as_uri() + "/"


def test_fixes_reproduce_what_fix_writes(project: Path) -> None:
    """Applying a result's replacements to the file gives what `--fix` writes for that finding."""
    (project / "one.py").write_text("import torch\n\ntorch.use_deterministic_algorithms(False)\nx = 1\n")
    (result,) = sarif("one.py", "--select", "RPL202", cwd=project)["runs"][0]["results"]
    (fix,) = result["fixes"]
    assert fix["properties"]["applicability"] == "unsafe"
    lines = (project / "one.py").read_text().splitlines(keepends=True)
    for replacement in reversed(fix["artifactChanges"][0]["replacements"]):
        region = replacement["deletedRegion"]
        assert region["startColumn"] == region["endColumn"] == 1  # whole lines
        lines[region["startLine"] - 1 : region["endLine"] - 1] = [replacement["insertedContent"]["text"]]
    assert run_cli("check", "--fix", "--unsafe-fixes", "--select", "RPL202", "one.py", cwd=project).returncode == 0
    assert "".join(lines) == (project / "one.py").read_text()


def test_no_findings_is_valid(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text("import torch\n")
    assert sarif("clean.py", cwd=tmp_path)["runs"][0]["results"] == []


def test_fingerprints_are_distinct_and_survive_unrelated_edits(project: Path) -> None:
    def fingerprints() -> list[str]:
        results = sarif("src", "--select", "RPL2", cwd=project)["runs"][0]["results"]
        return [r["partialFingerprints"]["reproLint/v1"] for r in results]

    before = fingerprints()
    assert len(set(before)) == len(before)  # the two identical RPL201 findings differ
    source = project / "src" / "train.py"
    source.write_text('"""Training."""\n\nBATCH = 32\n\n' + source.read_text())
    assert fingerprints() == before


def test_paths_outside_the_working_directory_are_file_uris(project: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (result, *_) = sarif(str(project / "src" / "train.py"), "--select", "RPL2", cwd=elsewhere)["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": (project / "src" / "train.py").resolve().as_uri()}


def test_notebook_results_name_the_cell(tmp_path: Path) -> None:
    notebook = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": BAD}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "nb.ipynb").write_text(json.dumps(notebook))
    (result, *_) = sarif("nb.ipynb", "--select", "RPL2", cwd=tmp_path)["runs"][0]["results"]
    assert result["properties"] == {"notebookCell": 1}
    assert "fixes" not in result  # lines of a cell are not lines of the .ipynb file
