"""Lint and fix large amounts of real code, and prove nothing crashed and nothing broke.

    python benchmarks/corpus_sweep.py [--corpus torch numpy libcst stdlib] [--every N] [--jobs N]

Each corpus (the installed torch, numpy and libcst packages, the running
interpreter's standard library) is copied, `.py` files only, into a temporary
folder, and there:

1. `repro-lint check` (JSON output): files, findings per code, RPL001 files,
   errors. Internal errors must be 0.
2. `repro-lint check --fix --unsafe-fixes` on the copy, then:
   - every changed file parses (`ast`) and compiles (`py_compile`);
   - a second `--fix` changes nothing;
   - every file without a fixable finding is byte-identical to the original;
   - re-linting reports no fixable finding and nothing the first check did not.

Writes `benchmarks/results/corpus_sweep.json` and `.md` (or `--output`).
The exit status is 1 when any check fails. `tests/test_corpus_slice.py` runs
the same checks on a slice of torch.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import json
import os
import platform
import py_compile
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
REPRO_LINT = Path(sys.executable).parent / "repro-lint"


def corpus_roots() -> dict[str, Path]:
    roots = {}
    for package in ("torch", "numpy", "libcst"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin is not None:
            roots[package] = Path(spec.origin).parent
    roots["stdlib"] = Path(sysconfig.get_paths()["stdlib"])
    return roots


def copy_sources(root: Path, destination: Path, every: int) -> int:
    """Copy every `every`-th `.py` file under `root` (sorted), skipping site-packages; return the count."""
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.relative_to(root).parts)
    for source in files[::every]:
        target = destination / source.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return len(files[::every])


def snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.blake2b(p.read_bytes(), digest_size=16).hexdigest()
        for p in sorted(folder.rglob("*.py"))
    }


def lint(folder: Path, jobs: int, *extra: str) -> tuple[list[dict], list[str], float]:
    """Findings (paths relative to `folder`), error lines, wall seconds."""
    command = [str(REPRO_LINT), "check", ".", "--format", "json", "--no-cache", "--exit-zero", "-j", str(jobs), *extra]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=folder, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    if result.returncode not in (0, 2) or "Traceback" in result.stderr:
        errors.append(f"exit status {result.returncode}: {result.stderr.strip()[-2000:]}")
    try:
        findings = json.loads(result.stdout) if result.stdout.strip() else []
    except json.JSONDecodeError:
        errors.append("output is not JSON")
        findings = []
    return findings, errors, elapsed


@dataclass
class CorpusResult:
    name: str
    files: int
    check_seconds: float = 0.0
    findings: dict[str, int] = field(default_factory=dict)
    syntax_error_files: list[str] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)
    other_errors: list[str] = field(default_factory=list)
    fix_seconds: float = 0.0
    files_fixed: int = 0
    fixable_findings: int = 0
    problems: list[str] = field(default_factory=list)  # failed fix checks

    @property
    def ok(self) -> bool:
        return not self.internal_errors and not self.problems


def sweep(name: str, root: Path, every: int, jobs: int, work: Path) -> CorpusResult:
    folder = work / name
    folder.mkdir()
    (folder / "pyproject.toml").write_text("[tool.repro-lint]\n")  # the copy is its own project
    result = CorpusResult(name, copy_sources(root, folder, every))

    findings, errors, result.check_seconds = lint(folder, jobs)
    result.findings = dict(sorted(Counter(f["code"] for f in findings).items()))
    result.syntax_error_files = sorted({f["path"] for f in findings if f["code"] == "RPL001"})
    result.internal_errors = [e for e in errors if "internal error" in e or e.startswith("exit status")]
    result.other_errors = [e for e in errors if e not in result.internal_errors]

    fixable = [f for f in findings if f.get("fix")]
    result.fixable_findings = len(fixable)
    with_fixes = {f["path"] for f in fixable}
    before = snapshot(folder)
    _, fix_errors, result.fix_seconds = lint(folder, jobs, "--fix", "--unsafe-fixes")
    result.internal_errors += [e for e in fix_errors if "internal error" in e or e.startswith("exit status")]
    after = snapshot(folder)
    changed = sorted(path for path in after if after[path] != before.get(path))
    result.files_fixed = len(changed)
    for path in changed:
        if path not in with_fixes:
            result.problems.append(f"{path}: changed, but had no fixable finding")
        data = (folder / path).read_bytes()
        try:
            ast.parse(data, filename=path)
            py_compile.compile(str(folder / path), cfile=str(work / "compiled.pyc"), doraise=True)
        except (SyntaxError, ValueError, py_compile.PyCompileError) as error:
            result.problems.append(f"{path}: does not compile after --fix: {str(error).splitlines()[0]}")

    _, _, _ = lint(folder, jobs, "--fix", "--unsafe-fixes")
    again = snapshot(folder)
    result.problems += [f"{path}: a second --fix changed it" for path in again if again[path] != after.get(path)]

    relinted, _, _ = lint(folder, jobs, "--unsafe-fixes")
    result.problems += [
        f"{f['path']}:{f['line']}: {f['code']} still fixable after --fix" for f in relinted if f.get("fix")
    ]
    unfixable_before = Counter((f["path"], f["code"]) for f in findings if not f.get("fix"))
    for (path, code), count in Counter((f["path"], f["code"]) for f in relinted if not f.get("fix")).items():
        if count > unfixable_before[(path, code)] and path in changed:
            result.problems.append(f"{path}: {code} reported {count - unfixable_before[(path, code)]} more times after --fix")
    return result


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def markdown(results: list[CorpusResult], every: int, jobs: int) -> str:
    lines = [
        "# Corpus sweep",
        "",
        f"Machine: {machine()}. `--jobs {jobs}`, " + ("every file." if every == 1 else f"every {every}th file."),
        "Command: `python benchmarks/corpus_sweep.py" + (f" --every {every}" if every != 1 else "") + "`.",
        "",
        "| corpus | files | check (s) | findings | RPL001 files | internal errors | other errors "
        "| fixable findings | files fixed | fix (s) | fix check failures |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.files} | {r.check_seconds:.1f} | {sum(r.findings.values())} | {len(r.syntax_error_files)} "
            f"| {len(r.internal_errors)} | {len(r.other_errors)} | {r.fixable_findings} | {r.files_fixed} "
            f"| {r.fix_seconds:.1f} | {len(r.problems)} |"
        )
    codes = sorted({code for r in results for code in r.findings})
    lines += ["", "Findings per code:", "", "| code | " + " | ".join(r.name for r in results) + " |",
              "| --- |" + " ---: |" * len(results)]
    for code in codes:
        lines.append(f"| {code} | " + " | ".join(str(r.findings.get(code, 0)) for r in results) + " |")
    for r in results:
        for title, items in (("RPL001 (not valid Python 3)", r.syntax_error_files), ("Errors", r.other_errors),
                             ("Internal errors", r.internal_errors), ("Fix check failures", r.problems)):
            if items:
                lines += ["", f"{r.name}, {title}:", ""] + [f"- `{item}`" for item in items[:50]]
                if len(items) > 50:
                    lines.append(f"- … and {len(items) - 50} more")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    roots = corpus_roots()
    parser.add_argument("--corpus", nargs="+", choices=sorted(roots), default=sorted(roots))
    parser.add_argument("--every", type=int, default=1, help="take every N-th file of each corpus")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for corpus_sweep.json/.md")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="repro-lint-sweep-") as temp:
        for name in args.corpus:
            result = sweep(name, roots[name], args.every, args.jobs, Path(temp))
            print(f"{name}: {result.files} files, {sum(result.findings.values())} findings, "
                  f"{len(result.internal_errors)} internal errors, {result.files_fixed} fixed, "
                  f"{len(result.problems)} fix check failures", flush=True)
            results.append(result)
    args.output.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine(), "every": args.every, "jobs": args.jobs, "corpora": [asdict(r) for r in results]}
    (args.output / "corpus_sweep.json").write_text(json.dumps(data, indent=2) + "\n")
    (args.output / "corpus_sweep.md").write_text(markdown(results, args.every, args.jobs))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
