"""Jupyter notebooks: linted as one program, findings by cell, fixes written back into the cells only."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

CUDNN = "torch.backends.cudnn.benchmark = True"


def code_cell(source: str | list[str], outputs: list | None = None, count: int | None = None) -> dict:
    return {"cell_type": "code", "execution_count": count, "metadata": {}, "outputs": outputs or [], "source": source}


def markdown_cell(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": [text]}


def notebook(*cells: dict, language: str = "python") -> dict:
    return {
        "cells": list(cells),
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": language, "name": "python3"},
            "language_info": {"name": language},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_notebook(path: Path, document: dict, indent: int | None = 1) -> str:
    # nbformat's own layout: indent 1, non-ASCII kept, a final newline.
    text = json.dumps(document, indent=indent, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return text


def findings(path: Path, *args: str) -> list[dict]:
    result = run_cli("check", path.name, "--format", "json", *args, cwd=path.parent)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


MAGICS = notebook(
    markdown_cell("# Training\n"),
    code_cell(["%matplotlib inline\n", "!pip install torch\n", "import torch\n", "files = !ls\n", "torch.manual_seed?"]),
    code_cell(["%%time\n", "for epoch in range(2):\n", "    !echo $epoch\n", f"{CUDNN}\n"]),
    code_cell("%%bash\nif [ -n \"$x\" ]; then echo 'torch.backends.cudnn.benchmark = True'; fi\n"),
    code_cell(["x = 1\n", CUDNN]),
)


def test_magics_are_masked_and_findings_name_the_cell(tmp_path: Path) -> None:
    path = tmp_path / "train.ipynb"
    write_notebook(path, MAGICS)
    found = findings(path, "--select", "RPL201,RPL001")
    # No syntax error from the IPython lines; the %%bash cell is not Python; lines count within cells.
    assert [(f["code"], f["cell"], f["line"], f["column"]) for f in found] == [
        ("RPL201", 3, 4, 1),
        ("RPL201", 5, 2, 1),
    ]
    text = run_cli("check", "train.ipynb", "--select", "RPL201", cwd=tmp_path).stdout
    assert text.splitlines()[0].startswith("train.ipynb:cell 3:4:1: RPL201 [*] ")


def test_notebooks_in_the_tree_are_linted(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    write_notebook(tmp_path / "notebooks" / "explore.ipynb", notebook(code_cell(["import torch\n", CUDNN])))
    (tmp_path / "train.py").write_text(f"import torch\n{CUDNN}\n")
    result = run_cli("check", ".", "--select", "RPL201", "--output-format", "concise", cwd=tmp_path)
    assert result.stdout.splitlines()[:2] == [
        line + " [*] `torch.backends.cudnn.benchmark` is enabled: cuDNN may choose different algorithms on each run"
        for line in ("notebooks/explore.ipynb:cell 1:2:1: RPL201", "train.py:2:1: RPL201")
    ]


def test_fix_changes_only_the_fixed_cell_source(tmp_path: Path) -> None:
    outputs = [
        {"name": "stdout", "output_type": "stream", "text": ["epoch 0 loss 0.93\n"]},
        {"data": {"image/png": "iVBORw0KGgo=", "text/plain": ["<Figure>"]}, "metadata": {}, "output_type": "display_data"},
    ]
    document = notebook(
        markdown_cell("Données d'entraînement\n"),
        code_cell(["%load_ext autoreload\n", "import torch\n", "import numpy as np"], count=1),
        code_cell(["model = torch.nn.Linear(2, 2)\n", CUDNN], outputs=outputs, count=2),
        code_cell("print('untouched')  # é", count=3),
    )
    document["cells"][2]["metadata"] = {"tags": ["train"], "collapsed": False}
    path = tmp_path / "train.ipynb"
    before = write_notebook(path, document)

    result = run_cli("check", "--fix", "--select", "RPL201", "train.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    after = path.read_text(encoding="utf-8")
    # Exactly one line of the file changed: the fixed line of the fixed cell.
    changed = [(old, new) for old, new in zip(before.splitlines(), after.splitlines()) if old != new]
    assert changed == [('    "torch.backends.cudnn.benchmark = True"', '    "torch.backends.cudnn.benchmark = False"')]
    assert len(before.splitlines()) == len(after.splitlines())
    fixed = json.loads(after)
    assert list(fixed) == list(document)
    assert fixed["cells"][2]["outputs"] == outputs and fixed["cells"][2]["metadata"] == {"tags": ["train"], "collapsed": False}
    assert fixed["cells"][1]["source"] == document["cells"][1]["source"]  # magic kept as written

    # Re-reading gives the same notebook: nothing left to fix, nothing rewritten.
    again = run_cli("check", "--fix", "--select", "RPL201", "train.ipynb", cwd=tmp_path)
    assert again.returncode == 0 and path.read_text(encoding="utf-8") == after


def test_fix_keeps_the_file_layout_and_string_sources(tmp_path: Path) -> None:
    document = notebook(code_cell(f"import torch\n{CUDNN}\n"), code_cell(["print(1)"]))
    path = tmp_path / "compact.ipynb"
    before = write_notebook(path, document, indent=None)
    assert run_cli("check", "--fix", "compact.ipynb", cwd=tmp_path).returncode == 0
    after = path.read_text(encoding="utf-8")
    assert after == before.replace(CUDNN, CUDNN.replace("True", "False"))


def test_a_notebook_is_one_program(tmp_path: Path) -> None:
    # Deterministic mode in cell 2 needs CUBLAS_WORKSPACE_CONFIG before `import torch` in cell 1;
    # the fix lands in cell 1, after the cell magic that must stay first.
    document = notebook(
        code_cell(["%%capture\n", "import torch"]),
        markdown_cell("Now make it deterministic.\n"),
        code_cell(["torch.use_deterministic_algorithms(True)\n"]),
    )
    path = tmp_path / "det.ipynb"
    write_notebook(path, document)
    assert [(f["code"], f["cell"], f["line"]) for f in findings(path, "--select", "RPL203", "--torch-version", "1.13")] == [
        ("RPL203", 3, 1)
    ]
    result = run_cli("check", "--fix", "--select", "RPL203", "--torch-version", "1.13", "det.ipynb", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert cells[0]["source"] == [
        "%%capture\n",
        "import os\n",
        'os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")\n',
        "import torch",
    ]
    assert cells[1:] == document["cells"][1:]


def test_a_notebook_is_a_program_for_the_seeding_rules(tmp_path: Path) -> None:
    # Module-level code that draws random numbers, no seed: the seed goes after the imports, past the magics.
    document = notebook(
        code_cell(["%load_ext autoreload\n", "%autoreload 2\n", "import torch"]),
        code_cell(["model = torch.nn.Linear(2, 2)"]),
    )
    path = tmp_path / "explore.ipynb"
    write_notebook(path, document)
    assert [(f["code"], f["cell"], f["line"]) for f in findings(path, "--select", "RPL101")] == [("RPL101", 2, 1)]
    assert run_cli("check", "--fix", "--select", "RPL101", "explore.ipynb", cwd=tmp_path).returncode == 0
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert cells[0]["source"] == document["cells"][0]["source"]
    assert cells[1]["source"] == ["torch.manual_seed(0)\n", "model = torch.nn.Linear(2, 2)"]


def test_diff_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "train.ipynb"
    before = write_notebook(path, notebook(code_cell(["import torch\n", CUDNN])))
    result = run_cli("check", "--diff", "train.ipynb", cwd=tmp_path)
    assert result.returncode == 1 and "+torch.backends.cudnn.benchmark = False" in result.stdout
    assert path.read_text(encoding="utf-8") == before


def test_other_kernels_are_not_linted(tmp_path: Path) -> None:
    path = tmp_path / "analysis.ipynb"
    write_notebook(path, notebook(code_cell("library(torch)\nx <- 1\n"), language="R"))
    assert findings(path) == []


def test_a_broken_notebook_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    (tmp_path / "old.ipynb").write_text('{"worksheets": []}', encoding="utf-8")
    result = run_cli("check", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "repro-lint: error: broken.ipynb: not a notebook: invalid JSON at line 1: Expecting value",
        "repro-lint: error: old.ipynb: not a notebook: no 'cells' list (nbformat 4 is required)",
    ]


def test_diff_is_per_cell_and_shows_what_fix_writes(tmp_path: Path) -> None:
    path = tmp_path / "explore.ipynb"
    write_notebook(path, notebook(
        code_cell("import torch"), markdown_cell("# Setup"), code_cell(["x = 1\n", CUDNN]),
    ))
    diff = run_cli("check", "--diff", "explore.ipynb", cwd=tmp_path).stdout
    assert diff.splitlines()[:2] == ["--- a/explore.ipynb:cell 3", "+++ b/explore.ipynb:cell 3"]
    assert "cell 1" not in diff  # unchanged cells are not shown
    # The cell text after the diff is exactly what --fix writes into the cell.
    new_cell = [line[1:] for line in diff.splitlines()[3:] if line[:1] in (" ", "+")]
    run_cli("check", "--fix", "explore.ipynb", cwd=tmp_path)
    written = json.loads(path.read_text(encoding="utf-8"))["cells"][2]["source"]
    assert "".join(written).splitlines() == new_cell
