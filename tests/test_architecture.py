"""Dependencies point one way: the core never imports a rule; only the registry loads them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "repro_lint"
# Every core module, so that a new one is checked without being listed (`__main__` runs the CLI).
CORE = sorted(
    "repro_lint." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    for path in [*PACKAGE.glob("*.py"), *PACKAGE.glob("reporters/*.py")]
    if path.stem not in ("__init__", "__main__")
)


def loaded_rule_modules(script: str) -> list[str]:
    check = f"""
import sys
{script}
print("\\n".join(sorted(m for m in sys.modules if m.startswith("repro_lint.rules."))))
"""
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_importing_the_core_loads_no_rule_module() -> None:
    assert loaded_rule_modules("\n".join(f"import {module}" for module in CORE)) == []


def test_linting_a_file_without_the_registry_loads_no_rule_module(tmp_path) -> None:
    (tmp_path / "train.py").write_text("import torch\nx = torch.randn(3)\n")
    script = f"""
from pathlib import Path
from repro_lint.config import load_settings
from repro_lint.engine import Engine
from repro_lint.runner import run_files
engine = Engine(load_settings(Path({str(tmp_path)!r}), ()), ())
run_files(engine, [Path({str(tmp_path / "train.py")!r})])
"""
    assert loaded_rule_modules(script) == []


def test_the_registry_loads_every_rule_module() -> None:
    assert "repro_lint.rules.unseeded_torch_rng" in loaded_rule_modules(
        "from repro_lint.rules import all_rules\nall_rules()"
    )


def test_a_checkout_uses_its_own_rules_whatever_checkout_is_installed(tmp_path) -> None:
    """The test venv holds an editable install of one checkout; code run from a copy of it
    must load the copy's rules, not the installed checkout's."""
    copy = tmp_path / "other-checkout"
    for part in ("repro_lint", "rules"):
        shutil.copytree(PACKAGE.parent / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PACKAGE.parent / "pyproject.toml", copy)
    script = "import repro_lint.rules, repro_lint.catalog.loading as c; print(repro_lint.rules.__file__)"
    result = subprocess.run([sys.executable, "-c", script], cwd=copy, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).resolve() == (copy / "rules" / "__init__.py").resolve()
