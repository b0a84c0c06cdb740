"""The CI-sized sweep (issue 8): a third of torch's sources checked, a twelfth of them fixed.

`benchmarks/corpus_sweep.py` runs the full sweep over torch, numpy, libcst and
the standard library; this test runs the same checks where CI can afford them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

import corpus_sweep  # noqa: E402

torch_root = corpus_sweep.corpus_roots().get("torch")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(torch_root is None, reason="torch is not installed"),
]


def test_a_third_of_torch_is_checked_without_internal_error(tmp_path: Path) -> None:
    files = corpus_sweep.copy_sources(torch_root, tmp_path, every=3)
    (tmp_path / "pyproject.toml").write_text("[tool.repro-lint]\n")
    assert files > 700
    findings, errors, _ = corpus_sweep.lint(tmp_path, 2)
    assert errors == []
    assert findings, "torch's own sources have findings"
    assert all(f["path"] and f["line"] >= 1 and f["column"] >= 1 for f in findings)


def test_fixing_a_slice_of_torch_keeps_every_file_valid_and_is_idempotent(tmp_path: Path) -> None:
    result = corpus_sweep.sweep("torch", torch_root, every=12, jobs=2, work=tmp_path)
    assert result.internal_errors == []
    assert result.problems == []
    assert result.files_fixed > 0
