"""The data-loading rules against real DataLoader runs: the scripts in `tests/data/dataloader/`
run as separate processes, before and after `repro-lint --fix`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data" / "dataloader"
PYTHON = Path(sys.executable)

pytestmark = pytest.mark.slow


def run_scripts(*scripts: Path) -> list[str]:
    """Run each script in its own fresh interpreter, all at once; return their outputs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    processes = [
        subprocess.Popen([str(PYTHON), str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for script in scripts
    ]
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        outputs.append(stdout.strip())
    return outputs


def codes(cli, script: Path, select: str) -> list[tuple[str, int]]:
    result = cli("--select", select, "--format", "json", "--exit-zero", str(script))
    return [(finding["code"], finding["line"]) for finding in json.loads(result.stdout)]


def test_fix_makes_augmented_loader_reproducible(cli, tmp_path: Path) -> None:
    script = tmp_path / "augmented_digest.py"
    shutil.copy(DATA / script.name, script)
    assert {code for code, _ in codes(cli, script, "RPL3")} == {"RPL301", "RPL302"}

    before = run_scripts(script, script)
    assert before[0] != before[1], "unseeded worker augmentation gave the same digest twice"

    assert cli("--select", "RPL3", "--fix", str(script)).returncode == 0
    fixed = script.read_bytes()
    after = run_scripts(script, script)
    assert after[0] == after[1], "the fixed script is still not reproducible"
    assert after[0] not in before

    second = cli("--select", "RPL3", "--fix", str(script))
    assert second.returncode == 0
    assert script.read_bytes() == fixed, "a second --fix changed the script"
    assert codes(cli, script, "RPL3") == []


def test_rng_built_in_init_repeats_across_workers(cli) -> None:
    script = DATA / "shared_rng.py"
    (output,) = run_scripts(script)
    by_worker: dict[int, list[float]] = {}
    for worker, value in json.loads(output):
        by_worker.setdefault(worker, []).append(value)
    assert sorted(by_worker) == [0, 1]
    assert by_worker[0] == by_worker[1], "the workers drew different values"
    assert len(set(by_worker[0])) == len(by_worker[0]), "one worker repeated a value: not the bug under test"

    constructor_line = next(
        number for number, line in enumerate(script.read_text().splitlines(), start=1) if "default_rng" in line
    )
    assert codes(cli, script, "RPL304") == [("RPL304", constructor_line)]
