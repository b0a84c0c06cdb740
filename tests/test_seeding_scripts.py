"""The proof that the seeding fixes work: real scripts, run as real processes.

Each script in `tests/data/seeding/` draws from an unseeded RNG and prints a digest
of its numbers. As written, two runs print different digests. After
`repro-lint --fix` on a copy, two runs print the same digest, and a second
`--fix` changes nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent / "data" / "seeding"
CASES = sorted(p.name for p in SCRIPTS.glob("*.py"))


def run_script(path: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, cwd=path.parent
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def fix(path: Path) -> subprocess.CompletedProcess[str]:
    # The seeding rules only: the proof is about them, not about the rest of the rule set.
    return subprocess.run(
        [sys.executable, "-m", "repro_lint", "--select", "RPL1", "--fix", str(path)],
        capture_output=True, text=True, timeout=60, cwd=path.parent,
    )


@pytest.mark.parametrize("name", CASES)
def test_fix_makes_two_runs_identical(name: str, tmp_path: Path) -> None:
    script = tmp_path / name
    shutil.copy(SCRIPTS / name, script)
    assert run_script(script) != run_script(script), "the script is reproducible before fixing"

    first = fix(script)
    assert first.returncode == 0, first.stdout + first.stderr
    fixed = script.read_text(encoding="utf-8")
    assert fixed != (SCRIPTS / name).read_text(encoding="utf-8")
    assert run_script(script) == run_script(script), f"still irreproducible after --fix:\n{fixed}"

    second = fix(script)
    assert second.returncode == 0, second.stdout + second.stderr
    assert script.read_text(encoding="utf-8") == fixed, "a second --fix changed the code"


def test_scripts_are_present() -> None:
    assert {"model_sgd.py", "shuffled_split.py", "numpy_augment.py", "random_sampling.py"} <= set(CASES)
